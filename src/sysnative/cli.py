"""Command line: ``sysnative install ...`` (pip's conventions), ``main(argv) -> int``.

The only module that configures logging, prints, and maps errors to exit codes.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from sysnative import __version__
from sysnative.errors import SysnativeError
from sysnative.route import Fallback

if TYPE_CHECKING:
    from sysnative import execute
    from sysnative.environment import TargetEnvironment
    from sysnative.models import Plan
    from sysnative.providers.base import SystemQuery

logger = logging.getLogger("sysnative")

PROVIDERS = ("apt",)


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
    install.add_argument("requirements", nargs="*", metavar="REQ", help="PEP 508 requirements")
    install.add_argument(
        "-r",
        "--requirement",
        action="append",
        default=[],
        metavar="FILE",
        dest="requirement_files",
        help="install from a requirements file",
    )
    install.add_argument(
        "-c",
        "--constraint",
        action="append",
        default=[],
        metavar="FILE",
        dest="constraint_files",
        help="constrain versions with this file",
    )
    install.add_argument(
        "--system-native",
        action="store_true",
        help="pure wheels from the index, native projects from the system",
    )
    install.add_argument(
        "--dry-run", action="store_true", help="compute and show the plan, change nothing"
    )
    install.add_argument(
        "--report", metavar="FILE", help="write the plan as versioned JSON ('-' for stdout)"
    )
    install.add_argument(
        "--python",
        metavar="PATH",
        help="target interpreter or venv (default: the active venv, else this interpreter)",
    )
    install.add_argument(
        "--provider",
        choices=PROVIDERS,
        default=None,
        help="system package manager (default: detected)",
    )
    install.add_argument("-i", "--index-url", metavar="URL", help="base URL of the package index")
    install.add_argument(
        "--extra-index-url",
        action="append",
        default=[],
        metavar="URL",
        help="extra index URLs, as in pip",
    )
    install.add_argument(
        "--native-fallback",
        choices=[f.value for f in Fallback],
        default=Fallback.ERROR.value,
        help="when the system cannot provide a native project: stop with an "
        "explanation (error, default) or take the index's platform wheel",
    )
    install.add_argument(
        "--system",
        action="append",
        default=[],
        metavar="NAME",
        help="always take NAME from the system",
    )
    install.add_argument(
        "--pypi",
        action="append",
        default=[],
        metavar="NAME",
        help="always take NAME from the index",
    )
    install.add_argument(
        "--break-system-packages",
        action="store_true",
        help="allow installing into an externally managed (PEP 668) Python, as in pip",
    )
    install.add_argument(
        "--lock-timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="how long to wait for another package manager's lock (default: 120)",
    )
    install.add_argument(
        "--refresh",
        action="store_true",
        help="ignore cached index pages (metadata stays cached: it is immutable)",
    )
    install.add_argument("-v", "--verbose", action="count", default=0, help="more output")
    install.add_argument("-q", "--quiet", action="count", default=0, help="less output")
    _add_venv_parser(sub)
    _add_doctor_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["install"] and "--system-native" not in args_list:
        return _hand_to_pip(args_list[1:])
    parser = _parser()
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    verbose = getattr(args, "verbose", 0) - getattr(args, "quiet", 0)
    _configure_logging(verbose)
    try:
        if args.command == "venv":
            return _venv(args)
        if args.command == "doctor":
            return _doctor(args)
        return _install(args, verbose)
    except SysnativeError as exc:
        _print_error(exc, verbose)
        return exc.exit_code
    except KeyboardInterrupt:
        print("Interrupted; nothing was changed.", file=sys.stderr)
        return 130


def _hand_to_pip(args: list[str]) -> int:
    from sysnative.runner import run_passthrough

    return run_passthrough([sys.executable, "-m", "pip", "install", *args])


def _configure_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 0 else logging.INFO if verbose == 0 else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    form = "%(message)s" if verbose <= 0 else "%(name)s: %(message)s"
    if verbose >= 2:  # -vv: when and where, for following concurrent work
        form = "%(relativeCreated)6dms %(threadName)s " + form
    handler.setFormatter(logging.Formatter(form))
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def _print_error(exc: SysnativeError, verbose: int) -> None:
    if verbose > 0:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    print(f"error: {exc.message}", file=sys.stderr)
    if exc.hint:
        print(f"hint: {exc.hint}", file=sys.stderr)


def _install(args: argparse.Namespace, verbose: int) -> int:
    from sysnative import environment, execute, report, requirements
    from sysnative.planning import PlanRequest, planning_session, route_policy
    from sysnative.staging import TerminalProgress

    request = PlanRequest(
        requirements=requirements.collect(
            args.requirements, args.requirement_files, args.constraint_files
        ),
        policy=route_policy(args.native_fallback, args.system, args.pypi),
        python=args.python,
        provider=args.provider,
        index_url=args.index_url,
        extra_index_urls=tuple(args.extra_index_url),
        refresh=args.refresh,
    )
    with planning_session(request) as session:
        plan, target, provider = session.plan, session.target, session.provider
        if args.report:
            report.write_report(plan, args.report)
        show = verbose >= 0 and args.report != "-"
        if show:
            print(report.render_table(plan))
            print()
            for note in plan.notes:
                print(f"note: {note}")
        if args.dry_run:
            if show:
                _warn_unseen(plan, target, provider)
                print(report.summary(plan) + " (dry run: nothing was changed)")
            return 0
        result = execute.execute(
            plan,
            target=target,
            provider=provider,
            mapping=session.mapping,
            http=session.index.http,
            cache=session.cache,
            options=execute.InstallOptions(
                break_system_packages=args.break_system_packages,
                lock_timeout=args.lock_timeout,
                show_provider_output=verbose > 0,
            ),
            progress=TerminalProgress.for_stream(sys.stderr, quiet=verbose < 0),
            probe=environment.probe,
        )
    # With ``--report -`` stdout carries the JSON alone: the summary goes to stderr.
    out = sys.stderr if args.report == "-" else sys.stdout
    return _report_result(result, provider.name, verbose, out=out)


def _warn_unseen(plan: Plan, target: TargetEnvironment, provider: SystemQuery) -> None:
    missing = [d for d in provider.site_dirs() if not target.sees(d)]
    if missing and plan.system:
        print(
            f"warning: {target.executable} cannot see {', '.join(missing)}, so the "
            "system packages would not be importable there. Use a venv created with "
            "`sysnative venv PATH` (or --system-site-packages from the system's python3)."
        )


def _report_result(
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
        lines.append(
            "Installed from the index: "
            + ", ".join(f"{w.project} {w.version}" for w in result.wheels_installed)
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
    venv.add_argument("--provider", choices=PROVIDERS, default=None, help="system package manager")
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
    doctor.add_argument(
        "--provider", choices=PROVIDERS, default=None, help="system package manager"
    )
    doctor.add_argument(
        "--break-system-packages",
        action="store_true",
        help="check as if installing into an externally managed Python were allowed",
    )
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")


def _venv(args: argparse.Namespace) -> int:
    import shlex

    from sysnative import checks, environment
    from sysnative.errors import TargetRefused
    from sysnative.providers import select_provider
    from sysnative.venvtool import activation_lines, create_venv

    provider = select_provider(args.provider)
    interpreter = provider.interpreter()
    created = create_venv(args.path, interpreter, clear=args.clear)
    made = environment.probe(str(created.python))
    problems = checks.check_target(
        made,
        environment.probe(interpreter),
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

    from sysnative import doctor

    diagnosis = doctor.diagnose(
        args.python, args.provider, break_system_packages=args.break_system_packages
    )
    if args.json:
        print(json.dumps(doctor.to_json(diagnosis), indent=2))
    else:
        print(doctor.render_text(diagnosis))
    return 0 if diagnosis.usable else 1
