"""``sysnative install --lock FILE``: exactly the lock, or nothing (PEP 751).

No resolution and no index metadata: the command checks that this machine is the one the lock
was made for, rebuilds the plan from the lock and hands it to
:func:`sysnative.install.execute.execute`, the same verify-first path a planned install takes
(target checks, privileges, the provider's re-simulation of the exact versions, every wheel
downloaded and checked against the locked sha256, then the system step, the wheel step and
the verification). :class:`LockedProvider` explains the re-simulation's refusal in terms of
the lock.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TextIO

from sysnative.commands import output
from sysnative.commands.lock import machine_facts, read_lock
from sysnative.commands.options import effective_config, install_options
from sysnative.commands.progress import TerminalProgress
from sysnative.errors import ProviderError, SysnativeError, UsageError
from sysnative.models import ClosureItem, SystemPackage
from sysnative.protocols import Privileges, Provider

if TYPE_CHECKING:
    from packaging.version import Version

    from sysnative.lock.model import Lock

logger = logging.getLogger(__name__)

__all__ = ["LockedProvider", "run"]

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


def run(args: argparse.Namespace, verbose: int) -> int:
    """``sysnative install --lock FILE``: exactly the lock, or nothing."""
    from sysnative import probe
    from sysnative.cache import Cache
    from sysnative.errors import HashMismatch, ProviderUnavailable
    from sysnative.index.http import HttpClient
    from sysnative.index.pipconfig import DEFAULT_TIMEOUT
    from sysnative.install import execute, selfguard
    from sysnative.lock.credentials import with_credentials
    from sysnative.lock.model import Difference, LockError
    from sysnative.lock.replay import (
        lock_mapping,
        locked_plan,
        machine_differences,
        mismatch_error,
        missing_system_projects,
        relock_command,
    )
    from sysnative.providers import select_provider

    _refuse_planning_flags(args)
    source: str = args.lock
    lock = read_lock(source)
    config = effective_config(args)
    cache = Cache()
    try:
        provider = select_provider(
            config.provider or lock.machine.provider,
            cache_dir=cache.root,
            options=config.all_provider_options,
        )
    except ProviderUnavailable as exc:
        raise mismatch_error(
            lock,
            source,
            [Difference("package manager", lock.machine.provider, exc.message)],
        ) from exc
    target = probe.probe(probe.choose_interpreter(args.python))
    differences = machine_differences(lock, machine_facts(provider), target)
    if differences:
        raise mismatch_error(lock, source, differences)
    missing = missing_system_projects(lock, target)
    if missing:
        raise LockError(
            f"{source} relies on projects the system already had when the lock was made, "
            f"and {target.executable} does not see them. Nothing was changed.\n"
            + "\n".join("    " + line for line in missing),
            "Install them the way they were installed on the machine the lock was made on, "
            f"or make the lock again here: {relock_command(lock, source)}",
        )
    configured, timeout, cert = _pip_config(target.executable)
    plan = locked_plan(
        lock,
        installed=_installed_versions(provider, lock),
        target=target,
        urls={w.url: with_credentials(w.url, configured) for w in lock.wheels},
    )
    shown = output.present_plan(plan, verbose, args.report)
    if args.dry_run:
        # A real install refuses this in execute(); a dry run says so too (exit 1).
        selfguard.refuse_self_changes_to(plan, target, provider.site_dirs())
        if shown:
            output.show_dry_run(plan)
        return 0
    http = HttpClient(timeout=timeout or DEFAULT_TIMEOUT, cafile=cert)
    progress = TerminalProgress.for_verbosity(sys.stderr, verbose)
    try:
        result = execute.execute(
            plan,
            target=target,
            provider=LockedProvider(provider, lock, source),
            mapping=lock_mapping(lock, provider.ecosystem),
            http=http,
            cache=cache,
            options=install_options(args, config, verbose),
            progress=progress,
            notify=progress.notify,
            probe=probe.probe,
        )
    except HashMismatch as exc:
        raise exc.announced_by(
            f"{source} records",
            f"The lock was edited, or the index now serves another file under the same name. "
            "Nothing was installed. If the new file is trusted, make the lock again: "
            f"{relock_command(lock, source)}",
        ) from None
    finally:
        http.close()
    return output.show_result(
        result, provider.name, verbose, out=output.summary_stream(args.report)
    )


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
            from sysnative.lock.replay import relock_command

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
        echo: TextIO | None = None,
    ) -> None:
        self._provider.install(packages, closure, privileges, lock_timeout=lock_timeout, echo=echo)

    def verify(self, closure: Sequence[ClosureItem]) -> tuple[str, ...]:
        return self._provider.verify(closure)

    def recovery(self) -> tuple[str, tuple[str, ...]]:
        return self._provider.recovery()
