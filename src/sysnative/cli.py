"""Command line: ``sysnative install ...`` (pip's conventions), ``main(argv) -> int``.

The only module that configures logging, prints, and maps errors to exit codes.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from sysnative import __version__
from sysnative.commands import cache, lock
from sysnative.commands.options import (
    add_planning_arguments,
    add_provider_argument,
    effective_config,
    start_planning,
)
from sysnative.errors import SysnativeError

if TYPE_CHECKING:
    from sysnative.config import Config
    from sysnative.install import execute
    from sysnative.models import Plan
    from sysnative.protocols import SystemQuery
    from sysnative.session import PlanRequest, SystemSide
    from sysnative.target import TargetEnvironment

logger = logging.getLogger("sysnative")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sysnative",
        description="Install pure-Python wheels from the package index and native projects "
        "from the system package manager.",
    )
    parser.add_argument("--version", action="version", version=f"sysnative {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    install = sub.add_parser(
        "install",
        help="install requirements (like pip install; --system-native routes native code to "
        "the system)",
        description="Without --system-native, the arguments go to `pip install` unchanged.",
    )
    add_planning_arguments(install)
    install.add_argument(
        "--system-native",
        action="store_true",
        help="pure wheels from the index, native projects from the system",
    )
    install.add_argument(
        "--no-system-native",
        action="store_true",
        help="hand everything to pip, even when the configuration turns the mode on",
    )
    install.add_argument(
        "--dry-run", action="store_true", help="compute and show the plan, change nothing"
    )
    install.add_argument(
        "--report", metavar="FILE", help="write the plan as versioned JSON ('-' for stdout)"
    )
    install.add_argument(
        "--break-system-packages",
        action="store_true",
        help="allow installing into an externally managed (PEP 668) Python, as in pip",
    )
    install.add_argument(
        "--lock-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long to wait for another package manager's lock (default: 120)",
    )
    install.add_argument(
        "--lock",
        metavar="FILE",
        help="install exactly what a pylock.toml written by `sysnative lock` records "
        "(no resolution; implies --system-native)",
    )
    _add_venv_parser(sub)
    _add_doctor_parser(sub)
    lock.add_parsers(sub)
    _add_map_parser(sub)
    _add_config_parser(sub)
    cache.add_parser(sub)
    return parser


def run() -> int:
    """The ``sysnative`` program: :func:`main` in a process that ends with it.

    Python's cycle collector is off for the run. Planning builds a few hundred thousand
    long-lived objects (index listings, metadata, candidates), and collecting them again and
    again freed nothing (a cold plan of an xarray set peaks at the same 92 MB either way)
    while stopping every thread: 0.2 s of that plan's 1.7 s. At exit the objects are frozen,
    which spares the interpreter's final full collection (30 ms).
    """
    gc.disable()
    try:
        return main()
    finally:
        gc.freeze()


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["install"]:
        try:
            native = _system_native(args_list[1:])
        except SysnativeError as exc:
            _print_error(exc, 0)
            return exc.exit_code
        if not native:
            return _hand_to_pip([a for a in args_list[1:] if a != "--no-system-native"])
    parser = _parser()
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    verbose = getattr(args, "verbose", 0) - getattr(args, "quiet", 0)
    with _logging_to_stderr(verbose):
        return _dispatch(args, verbose)


def _dispatch(args: argparse.Namespace, verbose: int) -> int:
    try:
        if args.command == "venv":
            return _venv(args)
        if args.command == "doctor":
            return _doctor(args)
        if args.command in ("lock", "export"):
            return lock.run(args, verbose)
        if args.command == "map":
            return _map(args)
        if args.command == "config":
            return _config(args)
        if args.command == "cache":
            return cache.run(args)
        if args.lock:
            return lock.install_from_lock(args, verbose)
        return _install(args, verbose)
    except SysnativeError as exc:
        _print_error(exc, verbose)
        return exc.exit_code
    except KeyboardInterrupt:
        print("Interrupted; nothing was changed.", file=sys.stderr)
        return 130


def _system_native(args: Sequence[str]) -> bool:
    """Whether ``install`` ARGS use the system-native mode.

    ``--system-native`` and ``--lock`` say yes, ``--no-system-native`` says no, and otherwise
    the configuration decides (a distribution may turn the mode on by default).
    """
    if "--no-system-native" in args:
        return False
    if any(a == "--system-native" or a == "--lock" or a.startswith("--lock=") for a in args):
        return True
    from sysnative import config

    return config.load().system_native


def _hand_to_pip(args: list[str]) -> int:
    from sysnative.runner import run_passthrough

    return run_passthrough([sys.executable, "-m", "pip", "install", *args])


@contextlib.contextmanager
def _logging_to_stderr(verbose: int) -> Iterator[None]:
    """sysnative's log lines on the standard error of this call, at the level ``-v``/``-q``
    ask for; the logger is left as it was found afterwards, so that ``main`` can be called
    again in the same process (tests do) without writing to a stream that has gone."""
    level = logging.DEBUG if verbose > 0 else logging.INFO if verbose == 0 else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    form = "%(message)s" if verbose <= 0 else "%(name)s: %(message)s"
    if verbose >= 2:  # -vv: when and where, for following concurrent work
        form = "%(relativeCreated)6dms %(threadName)s " + form
    handler.setFormatter(logging.Formatter(form))
    saved = (logger.handlers[:], logger.level, logger.propagate)
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved


def _print_error(exc: SysnativeError, verbose: int) -> None:
    if verbose > 0:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    print(f"error: {exc.message}", file=sys.stderr)
    if exc.hint:
        print(f"hint: {exc.hint}", file=sys.stderr)


#: How many times a trial import that fails sends the plan back for older releases.
TRIAL_RETRIES = 3


def _install(args: argparse.Namespace, verbose: int) -> int:
    """Plan and install; when the trial import refuses a platform wheel, plan again with
    the release lines before it (:func:`older_than`), at most :data:`TRIAL_RETRIES` times.
    The system step of the first attempt is done by then: the next plans see it installed,
    and only the index side changes. When no older release fits, the trial import's own
    error stands."""
    import dataclasses

    from packaging.requirements import Requirement

    from sysnative.errors import TrialImportError
    from sysnative.install.trialimport import ImportFailure
    from sysnative.models import UserRequirement

    config = effective_config(args)
    request, system = start_planning(args, config)
    asked = request.requirements
    excluded: list[UserRequirement] = []
    last: TrialImportError | None = None
    for attempt in range(TRIAL_RETRIES + 1):
        constraints = (*asked.constraints, *excluded)
        request = dataclasses.replace(
            request, requirements=dataclasses.replace(asked, constraints=constraints)
        )
        try:
            return _install_once(args, verbose, config, request, system)
        except TrialImportError as exc:
            last = exc
        except SysnativeError:
            if last is None:
                raise
            raise last from None  # no older release fits: the first refusal says why
        tried = sorted(
            {(f.project, f.version) for f in last.failures if isinstance(f, ImportFailure)}
        )
        if attempt == TRIAL_RETRIES or not tried:
            raise last
        system = None  # the first session stopped it; the next one starts its own
        for project, version in tried:
            excluded.append(
                UserRequirement(Requirement(older_than(project, version)), "the trial import")
            )
        if verbose >= 0:
            shown = ", ".join(f"{p} {v}" for p, v in tried)
            print(
                f"note: {shown} cannot be imported beside the system's packages; "
                "planning again with an older release",
                file=sys.stderr,
            )
    raise AssertionError("unreachable")


def older_than(project: str, version: str) -> str:
    """The constraint that asks for the release line before ``version``: one built before
    it is likelier to suit older system libraries than the next patch of the same line
    (``pyarrow<26.0`` after pyarrow 26.0.1; ``lib<2.0.0`` after 2.0.0)."""
    from packaging.version import InvalidVersion, Version

    try:
        parsed = Version(version)
    except InvalidVersion:
        return f"{project}!={version}"
    line = ".".join(str(part) for part in (*parsed.release, 0)[:2])
    if Version(line) < parsed:
        return f"{project}<{line}"
    return f"{project}<{version}"


def _install_once(
    args: argparse.Namespace,
    verbose: int,
    config: Config,
    request: PlanRequest,
    system: SystemSide | None,
) -> int:
    from sysnative.commands import report
    from sysnative.session import planning_session

    with planning_session(request, system=system) as session:
        plan, target, provider = session.plan, session.target, session.provider
        if args.report:
            report.write_report(plan, args.report)
        show = verbose >= 0 and args.report != "-"
        if show:
            print(report.render_table(plan))
            print()
            for note in report.notes(plan):
                print(f"note: {note}")
        if args.dry_run:
            # A real install refuses this in execute(); a dry run says so too (exit 1).
            from sysnative.install import selfguard

            selfguard.refuse_self_changes(
                plan,
                target=target.executable,
                purelib=target.purelib,
                system_dirs=provider.site_dirs(),
            )
            if show:
                _warn_unseen(plan, target, provider)
                unchecked = _not_checked_in_dry_run(plan)
                if unchecked:
                    print(f"note: {unchecked}")
                print(report.summary(plan) + report.dry_run_suffix(plan))
            return 0
        from sysnative import probe
        from sysnative.install import execute
        from sysnative.install.staging import TerminalProgress, notify_stderr

        result = execute.execute(
            plan,
            target=target,
            provider=provider,
            mapping=session.mapping,
            http=session.index.http,
            cache=session.cache,
            options=execute.InstallOptions(
                break_system_packages=args.break_system_packages,
                lock_timeout=config.lock_timeout,
                allow_sudo=config.allow_sudo,
                show_provider_output=verbose > 0,
            ),
            progress=TerminalProgress.for_stream(sys.stderr, quiet=verbose < 0),
            notify=None if verbose < 0 else notify_stderr,
            probe=probe.probe,
            builder=session.builder,
        )
    # With ``--report -`` stdout carries the JSON alone: the summary goes to stderr.
    out = sys.stderr if args.report == "-" else sys.stdout
    return report_result(result, provider.name, verbose, out=out)


def _not_checked_in_dry_run(plan: Plan) -> str | None:
    """What a dry run cannot check: whether the plan's native wheels import beside the
    system's packages (the trial import needs the system step done)."""
    natives = [f"{r.name} {r.version}" for r in plan.packages if r.native_wheel]
    if not natives:
        return None
    return (
        f"not checked by a dry run: whether {', '.join(natives)} "
        f"{'imports' if len(natives) == 1 else 'import'} beside the system's packages. A real "
        "install tries after the system step, before the wheel step, and plans an older "
        "release when one cannot be imported."
    )


def _warn_unseen(plan: Plan, target: TargetEnvironment, provider: SystemQuery) -> None:
    missing = [d for d in provider.site_dirs() if not target.sees(d)]
    if missing and plan.system:
        print(
            f"warning: {target.executable} cannot see {', '.join(missing)}, so the "
            "system packages would not be importable there. Use a venv created with "
            "`sysnative venv PATH` (or --system-site-packages from the system's python3)."
        )


def report_result(
    result: execute.InstallResult, provider: str, verbose: int, *, out: TextIO | None = None
) -> int:
    """The human summary of a real install: what came from where; exit 1 on new problems.

    The summary goes to ``out`` (default: stdout), warnings and errors to stderr.
    """
    out = sys.stdout if out is None else out
    if not result.changed and not result.new_problems:
        if verbose >= 0:
            print(
                f"Nothing to do: all {len(result.already_present)} packages of the plan are "
                "already installed.",
                file=out,
            )
        return 0
    lines = []
    if result.system_installed:
        asked = ", ".join(f"{name} {version}" for name, version in result.system_requested)
        extra = len(result.system_installed) - len(result.system_requested)
        lines.append(
            f"Installed with {provider}: {asked}"
            + (f" (and {extra} dependencies)" if extra > 0 else "")
        )
    if result.wheels_installed:
        built = {(w.project, w.version) for w in result.built}
        lines.append(
            "Installed from the index: "
            + ", ".join(
                f"{w.project} {w.version}"
                + (" (built from its sdist)" if (w.project, w.version) in built else "")
                for w in result.wheels_installed
            )
        )
    if result.markers:
        lines.append(
            "Recorded system packages for pip and importlib.metadata: "
            + ", ".join(path.name for path in result.markers)
        )
    if result.already_present:
        count = len(result.already_present)
        lines.append(f"Already installed: {count} package{'s' if count != 1 else ''}.")
    if verbose >= 0:
        print("\n".join(lines), file=out)
    for name in result.unverified:
        print(
            f"warning: the index published no sha256 for {name}; it was hashed on download, "
            "so nothing vouches for its content.",
            file=sys.stderr,
        )
    for problem in result.old_problems:
        print(f"warning: {problem.describe()} (already so before this run)", file=sys.stderr)
    if result.distro_problems:
        print(
            f"warning: the {provider} packages just installed declare requirements that "
            f"{provider} does not install with them (pip check reports them too; the "
            "distribution built its packages to work without them):",
            file=sys.stderr,
        )
        for problem in result.distro_problems:
            print(f"    {problem.describe()}", file=sys.stderr)
    if result.new_problems:
        print("error: after the install, requirements are not met:", file=sys.stderr)
        for problem in result.new_problems:
            print(f"    {problem.describe()}", file=sys.stderr)
        print(
            "hint: the packages stay installed; install a version that fits, or report the "
            "plan (--dry-run --report FILE) as a sysnative bug.",
            file=sys.stderr,
        )
        return 1
    return 0


# -- sysnative venv / sysnative doctor ---------------------------------------------------------


def _add_venv_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    venv = sub.add_parser(
        "venv",
        help="make a venv that sees the system's packages (for install --system-native)",
        description="Make a venv at PATH with the Python the system's packages are built for, "
        "--system-site-packages and pip.",
    )
    venv.add_argument("path", metavar="PATH", help="where to make the venv")
    add_provider_argument(venv)
    venv.add_argument(
        "--clear",
        action="store_true",
        help="replace an existing venv at PATH (what is installed in it is removed)",
    )


def _add_doctor_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = sub.add_parser(
        "doctor",
        help="check whether install --system-native can work with a target, and how to fix it",
        description="Exit status 0 when the target is usable for install --system-native, "
        "1 otherwise.",
    )
    doctor.add_argument(
        "--python",
        metavar="PATH",
        help="target interpreter or venv (default: the active venv, else this interpreter)",
    )
    add_provider_argument(doctor)
    doctor.add_argument(
        "--break-system-packages",
        action="store_true",
        help="check as if installing into an externally managed Python were allowed",
    )
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")


def _venv(args: argparse.Namespace) -> int:
    import shlex

    from sysnative import probe
    from sysnative.checks import preflight
    from sysnative.commands.venv import activation_lines, create_venv
    from sysnative.errors import TargetRefused
    from sysnative.providers import select_provider

    config = effective_config(args)
    provider = select_provider(config.provider, options=config.all_provider_options)
    interpreter = provider.interpreter()
    created = create_venv(args.path, interpreter, clear=args.clear)
    made = probe.probe(str(created.python))
    problems = preflight.check_target(
        made,
        probe.probe(interpreter),
        provider.site_dirs(),
        break_system_packages=False,
    )
    if problems:  # made with the provider's Python, so only a broken system gets here
        raise TargetRefused(str(created.path), problems)
    print(
        f"Created {created.path}: Python {made.python_full_version} from {interpreter}, "
        f"seeing the system's packages ({', '.join(provider.site_dirs())}), pip "
        f"{created.pip_version}."
    )
    print("Activate it with:")
    for line in activation_lines(args.path):
        print(f"  {line}")
    print("or install into it without activating:")
    print(f"  sysnative install --system-native --python {shlex.quote(args.path)} REQ...")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    import json

    from sysnative.commands import doctor

    config = effective_config(args)
    diagnosis = doctor.diagnose(
        args.python, config.provider, break_system_packages=args.break_system_packages
    )
    if args.json:
        print(json.dumps(doctor.to_json(diagnosis), indent=2))
    else:
        print(doctor.render_text(diagnosis))
    return 0 if diagnosis.usable else 1


# -- sysnative map / sysnative config ----------------------------------------------------------


def _add_map_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mapping = sub.add_parser(
        "map",
        help="show which system package provides each project, and from which mapping layer",
        description="Show the layered mapping for each NAME (built-in data, "
        "$XDG_DATA_DIRS/external-packaging-metadata-mappings, site and user config, "
        "pyproject.toml [tool.sysnative.mapping.<ecosystem>], --mapping) and, when the "
        "ecosystem's package manager is on this machine, whether the package exists.",
    )
    mapping.add_argument("names", nargs="*", metavar="NAME", help="PyPI project names")
    mapping.add_argument(
        "--ecosystem",
        metavar="E",
        help="debian, ubuntu, fedora, conda-forge, homebrew, arch "
        "(default: the configured or detected provider's)",
    )
    mapping.add_argument("--json", action="store_true", help="print JSON")
    mapping.add_argument(
        "--mapping",
        action="append",
        default=[],
        metavar="FILE",
        help="a mapping file stacked over every other layer (repeatable)",
    )
    mapping.add_argument(
        "--check",
        metavar="FILE",
        help="validate a mapping file and exit (errors name the file and the entry)",
    )
    mapping.add_argument("--no-query", action="store_true", help="do not ask the package manager")


def _add_config_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = sub.add_parser(
        "config",
        help="show the effective configuration and where each value comes from",
        description="Layers, lowest first: the site config.toml, the user config.toml, "
        "SYSNATIVE_* environment variables, command-line flags.",
    )
    actions = config.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="print every effective value and its source")
    show.add_argument("--json", action="store_true", help="print JSON")


def _map(args: argparse.Namespace) -> int:
    import json

    from sysnative.commands import map
    from sysnative.errors import ProviderError, UsageError
    from sysnative.mapping import files as mapping
    from sysnative.providers import select_provider

    if args.check:
        table = mapping.load_file(args.check, ecosystem=args.ecosystem, layer="--check")
        rule = f"; naming rule {', '.join(table.rule.templates)}" if table.rule else ""
        print(f"{args.check}: valid, {len(table)} entries for {table.ecosystem}{rule}.")
        return 0
    if not args.names:
        raise UsageError(
            "Give project names to look up, or --check FILE.",
            "For example: sysnative map numpy Pillow",
        )
    config = effective_config(args)
    provider = None
    ecosystem = args.ecosystem
    if ecosystem is None or ecosystem in map.ECOSYSTEM_PROVIDERS:
        name = map.ECOSYSTEM_PROVIDERS[ecosystem] if ecosystem else config.provider
        try:
            provider = select_provider(name, options=config.all_provider_options)
        except ProviderError as exc:
            if ecosystem is None:
                raise UsageError(
                    f"Cannot tell which ecosystem to show: {exc.message}",
                    "Name one with --ecosystem (debian, ubuntu, fedora, conda-forge, "
                    "homebrew, arch).",
                ) from None
    if ecosystem is None:
        assert provider is not None
        ecosystem = provider.ecosystem
    if args.no_query or (provider is not None and provider.ecosystem != ecosystem):
        provider = None  # apt on Debian cannot answer for Ubuntu's names honestly
    table = mapping.load_layers(
        ecosystem,
        files=config.mapping_files,
        site_files=config.site_mapping_files,
        user_files=config.user_mapping_files,
        project_dir=Path.cwd(),
    )
    rows = map.describe(args.names, table, provider)
    if args.json:
        print(json.dumps(map.to_json(rows), indent=2))
    else:
        print(map.render_text(rows))
    return 0


def _config(args: argparse.Namespace) -> int:
    import json

    from sysnative import config as configuration
    from sysnative.providers import MachineFacts, detect

    settings = configuration.load()
    rows = configuration.describe(settings)
    detected = None
    if settings.provider is None:
        detected = detect(MachineFacts.current())
    if args.json:
        print(
            json.dumps(
                {
                    "files": [
                        {"layer": layer, "path": str(path), "exists": path.is_file()}
                        for layer, path in configuration.config_files()
                    ],
                    "settings": rows,
                    "detected_provider": detected,
                },
                indent=2,
            )
        )
        return 0
    for layer, path in configuration.config_files():
        state = "read" if path in settings.files else "absent"
        print(f"{layer} config: {path} ({state})")
    print()
    width = max(len(str(row["key"])) for row in rows)
    for row in rows:
        value = row["value"]
        shown = json.dumps(value) if not isinstance(value, str) else value or '""'
        if row["key"] == "provider" and not value:
            shown = f'"" (detected: {detected or "none"})'
        print(f"{str(row['key']).ljust(width)} = {shown}  [{row['source']}]")
    return 0
