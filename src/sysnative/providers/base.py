"""The steps every system package manager's provider takes the same way, written once.

:class:`PackageManagerProvider` carries out one planned transaction as sysnative always does
it: check the plan's names and versions, simulate the exact transaction and compare it with
the plan (:meth:`~PackageManagerProvider.check_install`), refuse without root, run the
command while another package manager holds the lock (waiting for it up to ``lock_timeout``),
and ask the package database afterwards whether every package is there at its planned
version (:meth:`~PackageManagerProvider.install`, :meth:`~PackageManagerProvider.verify`).
Every command goes through one seam, :meth:`~PackageManagerProvider._run`, which runs it with
:func:`sysnative.runner.run` and turns a missing program into :class:`ProviderUnavailable`.

A provider (apt, dnf) supplies what differs, as small hooks:

``_missing_tools(env)`` (classmethod)
    The programs not on ``PATH``; :meth:`available` and :meth:`_require_tools` use it.
``_validate_install_packages(packages)`` / ``_validate_closure(closure)``
    The tool's grammar for names and versions: nothing else may reach an argv.
``_simulate_exact(pairs, closure)``
    Simulate exactly these ``(name, version)`` pairs: the specs as shown to the user, the
    closure the tool would install, and what it would remove.
``_install_argv(pairs, closure, privileges, lock_timeout)``
    The transaction's argv (normally :meth:`install_command`).
``_lock_error(said, lock_timeout)``
    The lock error when the tool's output says another process holds its lock, else ``None``.
``_refused_root(said)``
    Why the tool refused to run without root, when its output says so, else ``None``.
``_package_states(closure, said)``
    The package database's record of each package (any value with ``ok`` and
    ``describe()``); ``said`` is the transaction's output, ``""`` outside :meth:`install`.
``_step_error(result, states, privileges)``
    The :class:`SystemStepError` of a transaction that did not end as planned (build it with
    :func:`step_error`).
``recovery()``
    How to finish what an interrupted transaction left.

and class attributes: ``tool`` (the name in messages), ``unavailable_message`` (with
``{missing}``) and ``unavailable_hint``, ``changed_since_plan`` (the hint when the simulation
no longer matches the plan), ``tool_waits_for_lock`` (True when the tool itself waits for its
lock, as apt does with ``DPkg::Lock::Timeout``: a lock error is then final), and
``_spelling`` (how versions are compared: rpm spells one version several ways).

Providers whose transaction has another shape (conda, brew) can override :meth:`install` or
:meth:`verify` and still share the constructor, the subprocess seam and the checks.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from sysnative.errors import (
    PackageManagerLocked,
    ProviderError,
    ProviderUnavailable,
    SystemStepError,
)
from sysnative.models import ClosureItem
from sysnative.protocols import Privileges
from sysnative.providers.common import (
    checked_transaction,
    privilege_error,
    root_or_sudo,
    transaction_differences,
)
from sysnative.runner import CommandNotFound, Completed, run

__all__ = [
    "PackageManagerProvider",
    "RecordedState",
    "locked_error",
    "quoted_failure",
    "step_error",
]


class RecordedState(Protocol):
    """What the package database records for one package of a transaction."""

    @property
    def ok(self) -> bool:
        """Installed exactly as planned."""
        ...

    def describe(self) -> str:
        """One line for the user."""
        ...


StateT = TypeVar("StateT", bound=RecordedState)


class PackageManagerProvider(Generic[StateT]):
    """The execution side of a system package manager, hooks filled in by a subclass (see
    the module docstring), and the plumbing every provider needs: the extra environment,
    the cache directory, a lock for lazily probed settings, the subprocess seam."""

    name: str
    ecosystem: str
    #: The package manager's name in messages: ``"apt"``.
    tool: str
    #: Why the provider cannot run here; ``{missing}`` names the missing programs.
    unavailable_message: ClassVar[str]
    unavailable_hint: ClassVar[str]
    #: The hint when the tool would now install something other than the plan.
    changed_since_plan: ClassVar[str] = "Nothing was changed; make the plan again."
    #: The tool waits for its lock itself, so a lock error is final (else: try again).
    tool_waits_for_lock: ClassVar[bool] = False

    def __init__(
        self, *, env: Mapping[str, str] | None = None, cache_dir: Path | None = None
    ) -> None:
        #: Extra environment for every command.
        self._env: dict[str, str] = dict(env) if env else {}
        #: sysnative's cache directory, for providers that keep answers or tool caches there.
        self._cache_dir = cache_dir
        #: Guards lazily probed settings: planning may query from two threads.
        self._lock = threading.Lock()

    # -- availability and the subprocess seam --------------------------------------------

    @classmethod
    def available(cls, env: Mapping[str, str] | None = None) -> bool:
        """Whether the tools are on ``PATH`` (``env``'s, if given)."""
        return not cls._missing_tools(env)

    @classmethod
    def _missing_tools(cls, env: Mapping[str, str] | None) -> tuple[str, ...]:
        """Hook: the programs this provider needs that are not on ``env``'s ``PATH``."""
        raise NotImplementedError

    def _require_tools(self) -> None:
        """:class:`ProviderUnavailable` naming every missing program."""
        missing = self._missing_tools(self._env)
        if missing:
            raise self._unavailable(", ".join(missing))

    def _unavailable(self, missing: str) -> ProviderUnavailable:
        return ProviderUnavailable(
            self.unavailable_message.format(missing=missing), self.unavailable_hint
        )

    def _run(self, argv: Sequence[str], **options: Any) -> Completed:
        """Run ``argv`` with this provider's environment (``options`` go to
        :func:`sysnative.runner.run`); a program that is not there is
        :class:`ProviderUnavailable`."""
        try:
            return run(argv, env=self._env or None, **options)
        except CommandNotFound as exc:
            raise self._unavailable(exc.program) from exc

    # -- checks before any change -----------------------------------------------------------

    def check_privileges(self) -> Privileges:
        """Root, or ``sudo -n true`` succeeds (see :func:`.common.root_or_sudo`)."""
        return root_or_sudo(self._env)

    @staticmethod
    def _validate_install_packages(
        packages: Iterable[tuple[str, str]],
    ) -> tuple[tuple[str, str], ...]:
        """Hook: the pairs checked against the tool's grammar, de-duplicated in order."""
        raise NotImplementedError

    @staticmethod
    def _validate_closure(closure: Sequence[ClosureItem]) -> None:
        """Hook: :class:`ProviderError` for a closure name or version the tool must not see."""
        raise NotImplementedError

    @staticmethod
    def _spelling(version: str) -> str:
        """How a version is compared with another: as it is, unless the tool says otherwise."""
        return version

    def _checked_transaction(
        self, packages: Sequence[tuple[str, str]], closure: Sequence[ClosureItem]
    ) -> tuple[tuple[str, str], ...]:
        return checked_transaction(
            packages,
            closure,
            validate_packages=self._validate_install_packages,
            validate_closure=self._validate_closure,
        )

    def _removal_error(
        self, specs: Sequence[str], removals: Sequence[str], *, now: bool = False
    ) -> ProviderError:
        """The transaction would take away a package the system has: refused."""
        return ProviderError(
            f"Installing {', '.join(specs)} with {self.tool} would {'now ' if now else ''}"
            f"remove {', '.join(removals)}.",
            f"sysnative does not remove system packages. Resolve the conflict with {self.tool} "
            "yourself, or take these projects from the index instead.",
        )

    def _simulate_exact(
        self, pairs: Sequence[tuple[str, str]], closure: Sequence[ClosureItem]
    ) -> tuple[Sequence[str], Sequence[ClosureItem], Sequence[str]]:
        """Hook: simulate exactly ``pairs``: ``(specs, simulated closure, removals)``."""
        raise NotImplementedError

    def check_install(
        self, packages: Sequence[tuple[str, str]], closure: Sequence[ClosureItem]
    ) -> None:
        """Simulate the exact transaction and compare it with the plan.

        Runs before any change. :class:`ProviderError` when the tool cannot install these
        exact versions (quoting it), would remove something, or would install a different
        set of packages or versions than ``closure`` (its package lists or the system
        changed since the plan was made). Never answered from a cache: this is the last look
        before the system changes.
        """
        pairs = self._checked_transaction(packages, closure)
        if not pairs:
            return
        specs, simulated, removals = self._simulate_exact(pairs, closure)
        if removals:
            raise self._removal_error(specs, removals, now=True)
        differences = transaction_differences(closure, simulated, self.tool, self._spelling)
        if differences:
            raise ProviderError(
                f"{self.tool} would now install something other than the plan:\n"
                + "\n".join("    " + line for line in differences),
                self.changed_since_plan,
            )

    # -- the transaction ------------------------------------------------------------------

    def install_command(
        self,
        packages: Sequence[tuple[str, str]],
        privileges: Privileges,
        *,
        lock_timeout: float = 120.0,
    ) -> list[str]:
        """The exact argv of the transaction."""
        raise NotImplementedError

    def _install_argv(
        self,
        pairs: Sequence[tuple[str, str]],
        closure: Sequence[ClosureItem],
        privileges: Privileges,
        lock_timeout: float,
    ) -> list[str]:
        """Hook: the argv :meth:`install` runs; :meth:`install_command` unless overridden."""
        return self.install_command(pairs, privileges, lock_timeout=lock_timeout)

    def _before_install(self) -> None:
        """Hook: let go of anything that must not outlive the system as it is (apt's helper)."""

    def _lock_error(self, said: str, lock_timeout: float) -> PackageManagerLocked | None:
        """Hook: the error for a lock the tool's output ``said`` it could not take."""
        return None

    def _refused_root(self, said: str) -> str | None:
        """Hook: why the tool refused to run without root, when its output ``said`` so."""
        return None

    def _package_states(self, closure: Sequence[ClosureItem], said: str = "") -> Sequence[StateT]:
        """Hook: the package database's record of every package in ``closure``."""
        raise NotImplementedError

    def _step_error(
        self, result: Completed, states: Sequence[StateT], privileges: Privileges
    ) -> SystemStepError:
        """Hook: describe a transaction that did not end as planned."""
        raise NotImplementedError

    def _run_transaction(self, argv: Sequence[str], lock_timeout: float, quiet: bool) -> Completed:
        """Run the transaction; while another process holds the lock, run it again every
        second until ``lock_timeout`` has passed, then :class:`PackageManagerLocked`.

        No timeout: a large transaction may run for many minutes. The command gets an empty
        stdin, so nothing it runs can wait for an answer from the terminal.
        """
        deadline = time.monotonic() + max(0.0, lock_timeout)
        while True:
            result = self._run(argv, input="", timeout=None, echo=None if quiet else sys.stderr)
            said = result.stdout + "\n" + result.stderr
            locked = self._lock_error(said, lock_timeout) if not result.ok else None
            if locked is None:
                return result
            if self.tool_waits_for_lock or time.monotonic() >= deadline:
                raise locked
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))

    def install(
        self,
        packages: Sequence[tuple[str, str]],
        closure: Sequence[ClosureItem],
        privileges: Privileges,
        *,
        lock_timeout: float = 120.0,
        quiet: bool = True,
    ) -> None:
        """Run the transaction, then confirm with the package database that the plan is
        installed.

        The tool's exit status alone is not trusted: the database is asked about every
        package of the transaction (and every requested one) whatever the tool said. Call
        :meth:`check_install` first; ``packages`` are the requested packages not installed
        yet. The tool's output is captured and quoted in errors; with ``quiet=False`` it is
        also copied to stderr as it comes.
        """
        pairs = self._checked_transaction(packages, closure)
        if not pairs:
            return
        self._before_install()
        argv = self._install_argv(pairs, closure, privileges, lock_timeout)
        self._require_tools()
        if not privileges.ok:
            raise privilege_error(privileges.why, argv)
        result = self._run_transaction(argv, lock_timeout, quiet)
        said = result.stdout + "\n" + result.stderr
        refused = self._refused_root(said) if not result.ok else None
        if refused is not None:
            raise privilege_error(refused, argv)
        planned = {item.name for item in closure}
        targets = (*closure, *(ClosureItem(n, v) for n, v in pairs if n not in planned))
        states = self._package_states(targets, said)
        if result.ok and all(state.ok for state in states):
            return
        raise self._step_error(result, states, privileges)

    def verify(self, closure: Sequence[ClosureItem]) -> tuple[str, ...]:
        """One line per package the database does not record as planned; ``()`` when every
        one is."""
        self._validate_closure(closure)
        return tuple(state.describe() for state in self._package_states(closure) if not state.ok)

    def recovery(self) -> tuple[str, tuple[str, ...]]:
        """See :meth:`sysnative.protocols.Provider.recovery`."""
        raise NotImplementedError


# -- messages every provider words the same way ---------------------------------------------------


def quoted_failure(detail: Sequence[str], result: Completed) -> str:
    """The lines of a failed command worth quoting, indented: ``detail`` when the parsers
    found any, else the last lines the command printed."""
    lines = list(detail)
    if not lines:
        tail = (result.stderr + "\n" + result.stdout).strip().splitlines()[-5:]
        lines = [line.strip() for line in tail if line.strip()]
    return "\n".join("    " + line for line in lines)


def locked_error(
    what: str,
    lock: str,
    pid: int | None,
    process: str | None,
    lock_timeout: float,
    *,
    running: str,
) -> PackageManagerLocked:
    """A held lock: which lock (``what`` and its file), who holds it (when known), what to
    do. ``running`` lists the programs that usually hold it."""
    who = (
        f"process {pid}" + (f" ({process})" if process else "")
        if pid is not None
        else "another process"
    )
    waited = max(0, math.ceil(lock_timeout))
    find = f"`ps -fp {pid}` shows what it is" if pid is not None else (
        f"`fuser -v {lock}` shows who holds it"
    )  # fmt: skip
    return PackageManagerLocked(
        f"{what} {lock} is held by {who}, and it was not released within {waited} seconds. "
        "Nothing was changed.",
        f"Another package manager is running: {running}. {find[0].upper() + find[1:]}. Wait "
        "for it to finish and run sysnative again; do not delete the lock file.",
        lock=lock,
        pid=pid,
        process=process,
    )


def step_error(
    result: Completed,
    *,
    tool: str,
    program: str,
    succeeded: str,
    quoted: Sequence[str],
    records: str,
    state: tuple[str, ...],
    undo: Sequence[str],
    retry: tuple[str, ...],
    retry_hint: str,
    changed: bool,
) -> SystemStepError:
    """A transaction that did not end as planned: what ``tool`` said (``quoted``), what the
    database (``records``: ``dpkg``) records now (``state``), and how to finish (``retry``,
    introduced by ``retry_hint``) or undo it. ``succeeded`` heads the message when the tool
    exited 0; ``changed`` says whether this run installed anything."""
    if result.ok:
        head = succeeded
    else:
        head = f"The {tool} transaction failed ({program} exited with status {result.returncode})."
    parts = [head]
    if quoted:
        parts.append(f"{tool} said:\n" + "\n".join("    " + line for line in quoted))
    parts.append(f"{records} now records:\n" + "\n".join("    " + line for line in state))
    hints = []
    if retry:
        hints.append(retry_hint + retry[0])
    if undo:
        hints.append("To undo what this run installed, run: " + " && ".join(undo))
    if not changed:
        hints.append(f"Nothing was installed. Fix what {tool} reports above and try again.")
    return SystemStepError(
        "\n".join(parts), "\n".join(hints), state=state, undo=tuple(undo), retry=retry
    )
