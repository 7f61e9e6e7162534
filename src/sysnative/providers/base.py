"""The steps every system package manager's provider takes the same way, written once.

:class:`PackageManagerProvider` carries out one planned transaction as sysnative always does
it: check the plan's names and versions, simulate the exact transaction and compare it with
the plan (:meth:`~PackageManagerProvider.check_install`), refuse without the right to install,
run the command while another package manager holds the lock (waiting for it up to
``lock_timeout``), and ask the package database afterwards whether every package is there at
its planned version (:meth:`~PackageManagerProvider.install`,
:meth:`~PackageManagerProvider.verify`). It also writes once what every provider's
constructor, :meth:`~PackageManagerProvider.install_command` and
:meth:`~PackageManagerProvider.recovery` share. Every command goes through one seam,
:meth:`~PackageManagerProvider._run`, which runs it with :func:`sysnative.runner.run` and turns
a missing program into :class:`ProviderUnavailable`.

A provider (apt, dnf, conda, brew) supplies what differs, as small hooks:

``_init_state()``
    The provider's own attributes, set up by the shared constructor.
``_missing_tools(env)`` (classmethod)
    The programs not on ``PATH``; :meth:`available` and :meth:`_require_tools` use it.
``_simulate_exact(pairs, closure)``
    Simulate exactly these ``(name, version)`` pairs: the specs as shown to the user, the
    closure the tool would install, and what it would remove.
``_install_argv(pairs, closure, lock_timeout)``
    The transaction's argv for checked pairs, without the privilege prefix
    (:meth:`install_command` adds it).
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

and class attributes: ``grammar`` (the tool's :class:`~.common.Grammar` for names and
versions: nothing else may reach an argv), ``recovery_advice`` (what :meth:`recovery`
returns), ``unavailable_message`` (with ``{missing}``) and ``unavailable_hint``,
``program_not_found`` (how a program that could not be run is named in ``{missing}``),
``changed_since_plan`` (the hint when the simulation no longer matches the plan),
``planned_things`` (what the plan lists, in the message of an inconsistent plan),
``tool_waits_for_lock`` (True when the tool itself waits for its lock, as apt does with
``DPkg::Lock::Timeout``: a lock error is then final), ``takes_privilege_prefix`` (False when
the command never runs through sudo), ``command_env`` and ``command_options`` (every
command's extra environment, and its stdin and timeout), and the
overridable ``_spelling`` (how versions are compared: rpm spells one version several ways),
``_validate_options`` (the extra options a tool accepts) and ``_privilege_error`` (to whom
the command is handed when this user may not run it: root, or an environment's owner).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TextIO, TypeVar

from sysnative.errors import (
    PackageManagerLocked,
    PrivilegeError,
    ProviderError,
    ProviderUnavailable,
    SystemStepError,
)
from sysnative.models import ClosureItem
from sysnative.protocols import Privileges
from sysnative.providers.common import (
    Grammar,
    privilege_error,
    root_or_sudo,
    transaction_differences,
    validate_options,
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
    the cache directory, the extra options, a lock for lazily probed settings, the
    subprocess seam."""

    name: str
    ecosystem: str
    #: The tool's grammar for names and versions, checked before anything reaches an argv.
    grammar: ClassVar[Grammar]
    #: After an interrupted transaction: how to see what the tool left unfinished, and the
    #: commands that finish it (see :meth:`recovery`).
    recovery_advice: ClassVar[tuple[str, tuple[str, ...]]]
    #: Why the provider cannot run here; ``{missing}`` names the missing programs.
    unavailable_message: ClassVar[str]
    unavailable_hint: ClassVar[str]
    #: A program that could not be run, as ``{missing}`` names it.
    program_not_found: ClassVar[str] = "{program}"
    #: The hint when the tool would now install something other than the plan.
    changed_since_plan: ClassVar[str] = "Nothing was changed; make the plan again."
    #: What a plan lists to install, in the message of an inconsistent plan.
    planned_things: ClassVar[str] = "distro packages"
    #: The tool waits for its lock itself, so a lock error is final (else: try again).
    tool_waits_for_lock: ClassVar[bool] = False
    #: The command runs through the privileges' prefix (``sudo -n``) when there is one.
    takes_privilege_prefix: ClassVar[bool] = True
    #: Every command's environment (under the provider's ``env``).
    command_env: ClassVar[Mapping[str, str]] = {}
    #: Every command's options for :func:`sysnative.runner.run` (``input``, ``timeout``)
    #: unless the call gives its own; the runner's defaults when empty.
    command_options: ClassVar[Mapping[str, Any]] = {}

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        cache_dir: Path | None = None,
        options: Sequence[str] = (),
    ) -> None:
        #: Extra environment for every command.
        self._env: dict[str, str] = {**self.command_env, **(env or {})}
        #: sysnative's cache directory, for providers that keep answers or tool caches there.
        self._cache_dir = cache_dir
        #: Extra options for the tool, checked once.
        self._options: tuple[str, ...] = self._validate_options(options)
        #: Guards lazily probed settings: planning may query from two threads.
        self._lock = threading.Lock()
        self._init_state()

    def _init_state(self) -> None:
        """Hook: set up the provider's own attributes (the shared ones are set)."""

    def _validate_options(self, options: Sequence[str]) -> tuple[str, ...]:
        """Hook: the extra options as the tool may see them (any string without a NUL byte,
        unless the provider knows the tool's options better)."""
        return validate_options(options, self.name)

    @property
    def tool(self) -> str:
        """The package manager's name in messages: the provider's, unless the provider finds
        its tool at run time (conda)."""
        return self.name

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
        """Run ``argv`` with this provider's environment (``options``, over
        :attr:`command_options`, go to :func:`sysnative.runner.run`); a program that is not
        there is :class:`ProviderUnavailable`."""
        try:
            return run(argv, env=self._env or None, **{**self.command_options, **options})
        except CommandNotFound as exc:
            raise self._unavailable(self.program_not_found.format(program=exc.program)) from exc

    # -- checks before any change -----------------------------------------------------------

    def check_privileges(self) -> Privileges:
        """Root, or ``sudo -n true`` succeeds (see :func:`.common.root_or_sudo`)."""
        return root_or_sudo(self._env)

    @staticmethod
    def _spelling(version: str) -> str:
        """How a version is compared with another: as it is, unless the tool says otherwise."""
        return version

    def _checked_transaction(
        self, packages: Sequence[tuple[str, str]], closure: Sequence[ClosureItem]
    ) -> tuple[tuple[str, str], ...]:
        """Both halves of a transaction checked against the grammar; a closure without
        requested packages is an inconsistent plan (nothing would ask the package manager
        for those packages)."""
        pairs = self.grammar.pairs(packages)
        self.grammar.check_closure(closure)
        if closure and not pairs:
            raise ProviderError(
                f"The plan lists {self.planned_things} to install but no {self.grammar.thing} "
                "that asks for them: " + ", ".join(item.name for item in closure) + ".",
                "The plan is inconsistent; make it again.",
            )
        return pairs

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
        closure: Sequence[ClosureItem] = (),
    ) -> list[str]:
        """The exact argv of the transaction (see
        :meth:`sysnative.protocols.Provider.install_command`): ``packages`` checked against
        the tool's grammar, then :meth:`_install_argv`, behind the privileges' prefix. The
        plan's ``closure`` lets a provider name each package more exactly (dnf: with its
        architecture)."""
        argv = self._install_argv(self.grammar.pairs(packages), closure, lock_timeout)
        if privileges.ok and self.takes_privilege_prefix:
            return [*privileges.prefix, *argv]
        return argv

    def _install_argv(
        self, pairs: Sequence[tuple[str, str]], closure: Sequence[ClosureItem], lock_timeout: float
    ) -> list[str]:
        """Hook: the transaction's argv for checked ``pairs``, without a privilege prefix."""
        raise NotImplementedError

    @staticmethod
    def _privilege_error(why: str, argv: Sequence[str]) -> PrivilegeError:
        """Hook: this user may not run ``argv`` (``why``): hand it over (to root)."""
        return privilege_error(why, argv)

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

    def _run_transaction(
        self, argv: Sequence[str], lock_timeout: float, echo: TextIO | None
    ) -> Completed:
        """Run the transaction; while another process holds the lock, run it again every
        second until ``lock_timeout`` has passed, then :class:`PackageManagerLocked`.

        No timeout: a large transaction may run for many minutes. The command gets an empty
        stdin, so nothing it runs can wait for an answer from the terminal.
        """
        deadline = time.monotonic() + max(0.0, lock_timeout)
        while True:
            result = self._run(argv, input="", timeout=None, echo=echo)
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
        echo: TextIO | None = None,
    ) -> None:
        """Run the transaction, then confirm with the package database that the plan is
        installed.

        The tool's exit status alone is not trusted: the database is asked about every
        package of the transaction (and every requested one) whatever the tool said. Call
        :meth:`check_install` first; ``packages`` are the requested packages not installed
        yet. The tool's output is captured and quoted in errors; with ``echo`` it is also
        copied there as it comes.
        """
        pairs = self._checked_transaction(packages, closure)
        if not pairs:
            return
        self._before_install()
        argv = self.install_command(pairs, privileges, lock_timeout=lock_timeout, closure=closure)
        self._require_tools()
        if not privileges.ok:
            raise self._privilege_error(privileges.why, argv)
        result = self._run_transaction(argv, lock_timeout, echo)
        said = result.stdout + "\n" + result.stderr
        refused = self._refused_root(said) if not result.ok else None
        if refused is not None:
            raise self._privilege_error(refused, argv)
        planned = {item.name for item in closure}
        targets = (*closure, *(ClosureItem(n, v) for n, v in pairs if n not in planned))
        states = self._package_states(targets, said)
        if result.ok and all(state.ok for state in states):
            return
        raise self._step_error(result, states, privileges)

    def verify(self, closure: Sequence[ClosureItem]) -> tuple[str, ...]:
        """One line per package the database does not record as planned; ``()`` when every
        one is."""
        self.grammar.check_closure(closure)
        return tuple(state.describe() for state in self._package_states(closure) if not state.ok)

    @classmethod
    def recovery(cls) -> tuple[str, tuple[str, ...]]:
        """See :meth:`sysnative.protocols.Provider.recovery`: :attr:`recovery_advice`, which
        needs no provider set up (nor the tool on this machine)."""
        return cls.recovery_advice


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
    listed: tuple[str, Sequence[str]],
    state: tuple[str, ...],
    undo: Sequence[str],
    changed: bool,
    retry: tuple[str, ...] = (),
    retry_hint: str = "",
    undo_hint: str = "To undo what this run installed, run: ",
    more_hint: str = "",
    transaction: str = "",
) -> SystemStepError:
    """A transaction that did not end as planned, in the layout every provider shares.

    The message: ``succeeded`` when the tool exited 0, else that the ``transaction`` (named
    after ``tool`` unless given: ``"Homebrew"``) failed with ``program``'s exit status; what
    ``tool`` said (``quoted``); and one section ``listed`` as ``(heading, lines)``: what the
    database records now (``"dpkg now records"``) or what is ``"Not as planned"``. The hint:
    how to finish (``retry``, introduced by ``retry_hint``), how to undo (``undo``, introduced
    by ``undo_hint``), ``more_hint``, and when this run installed nothing (not ``changed``),
    to fix what the tool reports. ``state`` is every package's record, for the error's
    callers."""
    if result.ok:
        head = succeeded
    else:
        head = (
            f"The {transaction or tool} transaction failed ({program} exited with status "
            f"{result.returncode})."
        )
    parts = [head]
    if quoted:
        parts.append(f"{tool} said:\n" + "\n".join("    " + line for line in quoted))
    heading, lines = listed
    parts.append(f"{heading}:\n" + "\n".join("    " + line for line in lines))
    hints = []
    if retry:
        hints.append(retry_hint + retry[0])
    if undo:
        hints.append(undo_hint + " && ".join(undo))
    if more_hint:
        hints.append(more_hint)
    if not changed:
        hints.append(f"Nothing was installed. Fix what {tool} reports above and try again.")
    return SystemStepError(
        "\n".join(parts), "\n".join(hints), state=state, undo=tuple(undo), retry=retry
    )
