"""``sysnative lock``, ``sysnative export`` and ``sysnative install --lock`` (PEP 751).

``lock`` plans exactly like ``install --dry-run`` (:func:`sysnative.session.planning_session`)
and writes the plan as ``pylock.toml`` (:mod:`sysnative.lock.lockfile`). ``install --lock`` does
the opposite without resolving and without asking any index for metadata: it checks that
this machine is the one the lock was made for, rebuilds the plan from the lock and hands it
to :func:`sysnative.install.execute.execute`, the same verify-first path a normal install takes
(target checks, privileges, the provider's re-simulation of the exact versions, every wheel
downloaded and checked against the locked sha256, then the system step, the wheel step and
the verification). ``export`` turns a lock into a Dockerfile snippet or a shell script
(:mod:`sysnative.lock.export`).

This module does the I/O around those pure modules: probing, apt, downloads, files.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from sysnative.errors import ProviderError, SysnativeError, UsageError
from sysnative.lock import export
from sysnative.models import ClosureItem, Plan, SystemPackage
from sysnative.protocols import Privileges, Provider

if TYPE_CHECKING:
    from packaging.version import Version

    from sysnative.index.client import SimpleIndexClient
    from sysnative.lock.lockfile import Lock, LockMachine
    from sysnative.session import PlanningSession

logger = logging.getLogger(__name__)

__all__ = ["add_parsers", "install_from_lock", "run"]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``lock`` and ``export`` subcommands."""
    from sysnative.commands.options import add_planning_arguments

    lock = sub.add_parser(
        "lock",
        help="plan like install --dry-run and write the plan as a PEP 751 pylock.toml",
        description="Resolve the requirements as `install --system-native --dry-run` would and "
        "write the result, system packages included, to a PEP 751 lock file. "
        "`sysnative install --lock FILE` reproduces it on a machine like this one; "
        "`pip install --no-deps -r FILE` (pip 26.1 or newer) installs its index part.",
    )
    add_planning_arguments(lock)
    lock.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default="pylock.toml",
        help="where to write the lock: pylock.toml or pylock.NAME.toml (PEP 751), or '-' "
        "for stdout (default: pylock.toml)",
    )
    exp = sub.add_parser(
        "export",
        help="turn a lock into a Dockerfile snippet or a shell script (no sysnative needed)",
        description="Write the steps that reproduce a lock made by `sysnative lock` with "
        "apt-get, python3 -m venv and pip alone.",
    )
    exp.add_argument("lockfile", metavar="LOCK", help="a pylock.toml written by sysnative lock")
    exp.add_argument(
        "--format",
        choices=export.FORMATS,
        required=True,
        help="dockerfile: RUN steps for an image of the lock's distro release; shell: a "
        "POSIX sh script to run as root or with sudo",
    )
    exp.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    exp.add_argument(
        "--venv",
        metavar="PATH",
        help=f"where the venv goes (default: {export.DOCKER_VENV} in a Dockerfile; the "
        f"script takes it as its first argument, default {export.SHELL_VENV})",
    )


def run(args: argparse.Namespace, verbose: int) -> int:
    """Run ``lock`` or ``export``."""
    if args.command == "lock":
        return _lock(args, verbose)
    return _export(args)


# -- sysnative lock --------------------------------------------------------------------------


def _lock(args: argparse.Namespace, verbose: int) -> int:
    from sysnative.commands import report
    from sysnative.commands.options import effective_config, start_planning
    from sysnative.lock import lockfile
    from sysnative.session import planning_session

    output: str = args.output
    _check_lock_name(output)
    config = effective_config(args)
    request, system = start_planning(args, config)
    out = sys.stderr if output == "-" else sys.stdout
    with planning_session(request, system=system) as session:
        plan = session.plan
        if verbose >= 0:
            print(report.render_table(plan), file=out)
            print(file=out)
            for note in report.notes(plan):
                print(f"note: {note}", file=out)
        _refuse_builds(plan)
        plan = _complete_files(plan, session, verbose)
        lock = lockfile.lock_from_plan(
            plan,
            machine=_machine(session.provider),
            target=lockfile.target_facts(session.target),
            mapping=session.mapping,
            indexes=_indexes(plan, session.index),
            requirements=[str(r) for r in request.requirements.requirements],
            constraints=[str(c) for c in request.requirements.constraints],
        )
    text = lockfile.dumps(lockfile.to_document(lock))
    lockfile.loads(text, output)  # never write a lock that does not read back
    _write_text(output, text)
    if verbose >= 0:
        where = "stdout" if output == "-" else output
        closure = (
            f", {report.counted(len(lock.closure), 'distro package')} in the transaction"
            if lock.closure
            else ""
        )
        print(
            f"Wrote {where}: {len(lock.system)} from {lock.machine.provider}{closure}, "
            f"{report.counted(len(lock.wheels), 'wheel')} from the index; for "
            f"{lock.machine.distro_id} "
            f"{lock.machine.distro_version}"
            + (f" ({lock.machine.architecture})" if lock.machine.architecture else "")
            + f", {lock.target.describe()}.",
            file=out,
        )
    return 0


def _refuse_builds(plan: Plan) -> None:
    """A lock names the exact files to install: a wheel built here is on no index, and
    sysnative does not write sdists into locks (yet). Refused before anything is written."""
    from sysnative.commands.report import built_from_sdist

    built = [f"{r.name} {r.version}" for r in plan.pypi if built_from_sdist(r)]
    if built:
        raise UsageError(
            f"sysnative lock cannot lock {', '.join(built)}: the plan builds "
            f"{'it' if len(built) == 1 else 'them'} from sdists (--allow-build), and a lock "
            "records the exact wheels to install; sysnative does not write sdists into locks. "
            "Nothing was written.",
            "Pin a release that has a wheel for the target, take the project from the system "
            "(--system NAME, with a mapping entry naming its package), or build the wheel once "
            "(pip wheel --no-deps SDIST) and serve it from your own index or a find-links "
            "location, then lock again.",
        )


def _check_lock_name(output: str) -> None:
    """PEP 751 names: pip and other installers only read ``pylock.toml``/``pylock.*.toml``."""
    from packaging.pylock import is_valid_pylock_path

    if output != "-" and not is_valid_pylock_path(Path(output)):
        raise UsageError(
            f"{output!r} is not a lock file name PEP 751 allows.",
            "Name it pylock.toml or pylock.NAME.toml (pip reads only those), for example "
            "-o pylock.toml or -o pylock.ci.toml.",
        )


def _complete_files(plan: Plan, session: PlanningSession, verbose: int) -> Plan:
    """Every wheel of the plan with its sha256 and size: a lock must have both, and an index
    may publish neither (PEP 503 HTML pages have no sizes). Such files are downloaded once,
    through the wheel cache, and measured; an install from the lock then finds them there.
    """
    from sysnative.install import staging

    missing = [
        r.file
        for r in plan.pypi
        if r.file is not None and (r.file.sha256 is None or r.file.size is None)
    ]
    if not missing:
        return plan
    logger.debug("downloading %d wheels to learn their sha256 or size", len(missing))
    with tempfile.TemporaryDirectory(prefix="sysnative-lock-") as work:
        staged = staging.stage(
            missing,
            Path(work),
            session.index.http,
            cache=session.cache,
            progress=staging.TerminalProgress.for_stream(sys.stderr, quiet=verbose < 0),
        )
        found = {w.path.name: (w.sha256, w.path.stat().st_size, w.verified) for w in staged}
    rows = []
    for row in plan.packages:
        if row.file is not None and row.file.filename in found:
            sha256, size, verified = found[row.file.filename]
            if not verified:
                print(
                    f"warning: the index published no sha256 for {row.file.filename}; the lock "
                    "records the hash of the file downloaded now, which nothing else vouches for.",
                    file=sys.stderr,
                )
            row = replace(row, file=replace(row.file, sha256=sha256, size=size))
        rows.append(row)
    return replace(plan, packages=tuple(rows))


def _indexes(plan: Plan, index: SimpleIndexClient) -> dict[str, str | None]:
    """The index base URL each planned file was listed on (PEP 751 ``packages.index``).

    Asks the index client which of the configured indexes lists the file; its pages are
    memoised for the session, so this sends no request. Files from find-links locations
    have no index.
    """
    return {row.file.url: index.index_listing(row.file) for row in plan.pypi if row.file}


def _machine(provider: object) -> LockMachine:
    """The facts a lock is valid for: provider, distro ID and VERSION_ID, architecture."""
    from sysnative.lock.lockfile import LockMachine
    from sysnative.machine import linux_distribution

    distro = linux_distribution()

    name = getattr(provider, "name", "")
    architecture = None
    ask = getattr(provider, "native_architecture", None)
    if callable(ask):
        answer = ask()
        architecture = answer if isinstance(answer, str) and answer else None
    return LockMachine(str(name), distro.id(), distro.version(), architecture)


def _write_text(path: str, text: str) -> None:
    """Write atomically (temp file in the same directory, then rename), world-readable as
    any file a user commits; ``-`` is stdout."""
    if path == "-":
        sys.stdout.write(text)
        return
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or Path("."))
    except OSError as exc:
        raise SysnativeError(
            f"Could not write {path}: {exc.strerror or exc}.",
            "Check that the directory exists and is writable.",
        ) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- sysnative export ------------------------------------------------------------------------


def _export(args: argparse.Namespace) -> int:
    lock = _read_lock(args.lockfile)
    source = args.lockfile
    if args.format == "dockerfile":
        text = export.dockerfile(lock, source=source, venv=args.venv or export.DOCKER_VENV)
    else:
        if args.venv:
            raise UsageError(
                "--venv is for --format dockerfile; the shell script takes the venv as its "
                "first argument.",
                "Run the script as: sh SCRIPT PATH",
            )
        text = export.shell_script(lock, source=source)
    output = args.output or "-"
    _write_text(output, text)
    if output != "-" and args.format == "shell":
        mode = Path(output).stat().st_mode
        Path(output).chmod(mode | ((mode & 0o444) >> 2))  # executable where readable
    return 0


def _read_lock(path: str) -> Lock:
    from sysnative.lock import lockfile
    from sysnative.lock.lockfile import LockError

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise LockError(
            f"Cannot read the lock file {path}: {exc.strerror or exc}.",
            "Make one with `sysnative lock REQ... -o pylock.toml`.",
        ) from exc
    except UnicodeDecodeError as exc:
        raise LockError(f"{path} is not a text file: {exc}.") from exc
    return lockfile.loads(text, path)


# -- sysnative install --lock ----------------------------------------------------------------

#: ``install`` flags that only matter for planning: with ``--lock`` there is none.
_PLANNING_FLAGS = (
    ("requirements", "requirements"),
    ("requirement_files", "-r"),
    ("constraint_files", "-c"),
    ("index_url", "--index-url"),
    ("extra_index_url", "--extra-index-url"),
    ("native_fallback", "--native-fallback"),
    ("unpackaged_native", "--unpackaged-native"),
    ("system_conflict", "--system-conflict"),
    ("system", "--system"),
    ("pypi", "--pypi"),
    ("allow_build", "--allow-build"),
    ("mapping", "--mapping"),
    ("refresh", "--refresh"),
)


def install_from_lock(args: argparse.Namespace, verbose: int) -> int:
    """``sysnative install --lock FILE``: exactly the lock, or nothing."""
    from sysnative import probe
    from sysnative.cache import Cache
    from sysnative.cli import report_result
    from sysnative.commands import report
    from sysnative.commands.options import effective_config
    from sysnative.errors import HashMismatch, ProviderUnavailable
    from sysnative.index.http import HttpClient
    from sysnative.index.pipconfig import DEFAULT_TIMEOUT
    from sysnative.install import execute
    from sysnative.install.staging import TerminalProgress, notify_stderr
    from sysnative.lock import lockfile
    from sysnative.lock.lockfile import LockError
    from sysnative.providers import select_provider

    _refuse_planning_flags(args)
    source: str = args.lock
    lock = _read_lock(source)
    config = effective_config(args)
    cache = Cache()
    try:
        provider = select_provider(
            config.provider or lock.machine.provider,
            cache_dir=cache.root,
            options=config.all_provider_options,
        )
    except ProviderUnavailable as exc:
        raise lockfile.mismatch_error(
            lock,
            source,
            [lockfile.Difference("package manager", lock.machine.provider, exc.message)],
        ) from exc
    target = probe.probe(probe.choose_interpreter(args.python))
    differences = lockfile.machine_differences(lock, _machine(provider), target)
    if differences:
        raise lockfile.mismatch_error(lock, source, differences)
    missing = lockfile.missing_system_projects(lock, target)
    if missing:
        raise LockError(
            f"{source} relies on projects the system already had when the lock was made, "
            f"and {target.executable} does not see them. Nothing was changed.\n"
            + "\n".join("    " + line for line in missing),
            "Install them the way they were installed on the machine the lock was made on, "
            f"or make the lock again here: {lockfile.relock_command(lock, source)}",
        )
    configured, timeout, cert = _pip_config(target.executable)
    plan = lockfile.locked_plan(
        lock,
        installed=_installed_versions(provider, lock),
        target=target,
        urls={w.url: lockfile.with_credentials(w.url, configured) for w in lock.wheels},
    )
    if args.report:
        report.write_report(plan, args.report)
    show = verbose >= 0 and args.report != "-"
    if show:
        print(report.render_table(plan))
        print()
        for note in plan.notes:
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
            print(report.summary(plan) + " (dry run: nothing was changed)")
        return 0
    http = HttpClient(timeout=timeout or DEFAULT_TIMEOUT, cafile=cert)
    try:
        result = execute.execute(
            plan,
            target=target,
            provider=LockedProvider(provider, lock, source),
            mapping=lockfile.lock_mapping(lock, provider.ecosystem),
            http=http,
            cache=cache,
            options=execute.InstallOptions(
                break_system_packages=args.break_system_packages,
                lock_timeout=config.lock_timeout,
                allow_sudo=config.allow_sudo,
                show_provider_output=verbose > 0,
            ),
            progress=TerminalProgress.for_stream(sys.stderr, quiet=verbose < 0),
            notify=None if verbose < 0 else notify_stderr,
            probe=probe.probe,
        )
    except HashMismatch as exc:
        raise exc.announced_by(
            f"{source} records",
            f"The lock was edited, or the index now serves another file under the same name. "
            "Nothing was installed. If the new file is trusted, make the lock again: "
            f"{lockfile.relock_command(lock, source)}",
        ) from None
    finally:
        http.close()
    out = sys.stderr if args.report == "-" else sys.stdout
    return report_result(result, provider.name, verbose, out=out)


def _refuse_planning_flags(args: argparse.Namespace) -> None:
    given = [flag for attr, flag in _PLANNING_FLAGS if getattr(args, attr, None)]
    if given:
        raise UsageError(
            f"--lock installs exactly what the lock records; {', '.join(given)} "
            f"cannot change that.",
            "Drop those options, or make a new lock with them: sysnative lock ... -o pylock.toml",
        )


def _installed_versions(provider: Provider, lock: Lock) -> dict[str, str]:
    """The installed version of every distro package the lock names, from one query."""
    names = sorted({s.package for s in lock.system if s.package} | {c.name for c in lock.closure})
    found: Mapping[str, SystemPackage] = provider.query(names) if names else {}
    return {name: p.installed for name, p in found.items() if p.installed}


def _pip_config(python: str) -> tuple[tuple[str, ...], float | None, str | None]:
    """pip's index URLs, timeout and CA bundle; nothing if unreadable.

    Downloads use pip's TLS settings, and the credentials of pip's index URLs for the same
    host are put back into the locked URLs (a lock never holds them).
    """

    from sysnative.index import pipconfig

    try:
        config = pipconfig.load_index_config(python=python)
    except SysnativeError as exc:
        logger.debug("pip's configuration is not usable (%s); downloading without it", exc)
        return (), None, None
    return (*config.index_urls, *config.find_links), config.timeout, config.cert


class LockedProvider:
    """The machine's provider, with errors of the last check before the system step
    explained in terms of the lock.

    ``check_install`` re-simulates the exact transaction; when it differs from the lock
    (another dpkg state, versions the mirror no longer has), the provider's own hint
    ("make the plan again") would point the wrong way. Everything else is passed through.
    """

    def __init__(self, provider: Provider, lock: Lock, source: str) -> None:
        self._provider = provider
        self._lock = lock
        self._source = source
        self.name = provider.name
        self.ecosystem = provider.ecosystem

    def query(self, packages: Sequence[str]) -> Mapping[str, SystemPackage]:
        return self._provider.query(packages)

    def simulate(self, packages: Sequence[str]) -> tuple[ClosureItem, ...]:
        return self._provider.simulate(packages)

    def to_pep440(self, distro_version: str) -> Version | None:
        return self._provider.to_pep440(distro_version)

    def site_dirs(self) -> tuple[str, ...]:
        return self._provider.site_dirs()

    def interpreter(self) -> str:
        return self._provider.interpreter()

    def prepare(self) -> bool:
        return self._provider.prepare()

    def check_privileges(self) -> Privileges:
        return self._provider.check_privileges()

    def install_command(
        self,
        packages: Sequence[tuple[str, str]],
        privileges: Privileges,
        *,
        lock_timeout: float = 120.0,
    ) -> list[str]:
        return self._provider.install_command(packages, privileges, lock_timeout=lock_timeout)

    def check_install(
        self, packages: Sequence[tuple[str, str]], closure: Sequence[ClosureItem]
    ) -> None:
        try:
            self._provider.check_install(packages, closure)
        except ProviderError as exc:
            if type(exc) is not ProviderError:
                raise
            from sysnative.lock.lockfile import relock_command

            raise ProviderError(
                f"{exc.message}\nThe lock {self._source} cannot be reproduced exactly on this "
                "machine. Nothing was changed.",
                "The system's packages here differ from the machine the lock was made on (other "
                "packages installed, or apt's lists no longer offer the locked versions: run "
                "`apt-get update` as root and try again). A lock is best made on the same image "
                f"it is installed into: {relock_command(self._lock, self._source)}",
            ) from exc

    def install(
        self,
        packages: Sequence[tuple[str, str]],
        closure: Sequence[ClosureItem],
        privileges: Privileges,
        *,
        lock_timeout: float = 120.0,
        quiet: bool = True,
    ) -> None:
        self._provider.install(
            packages, closure, privileges, lock_timeout=lock_timeout, quiet=quiet
        )

    def verify(self, closure: Sequence[ClosureItem]) -> tuple[str, ...]:
        return self._provider.verify(closure)

    def recovery(self) -> tuple[str, tuple[str, ...]]:
        return self._provider.recovery()
