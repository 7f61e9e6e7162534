"""The one exception hierarchy of sysnative.

Every error a user can cause or meet derives from :class:`SysnativeError`. Each carries the
message (what happened) and a hint (what to try); ``cli`` turns them into a one-paragraph
message and a non-zero exit, and shows a traceback only with ``-v``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sysnative.checks.preflight import Problem
    from sysnative.install.selfguard import SelfConflict


class SysnativeError(Exception):
    """Base class: ``str(err)`` says what happened, ``hint`` says what to try."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(SysnativeError):
    """The command line or a configuration value is wrong."""

    exit_code = 2


class RequirementsError(SysnativeError):
    """A requirement, requirements file or constraints file cannot be parsed."""


class IndexFailure(SysnativeError):
    """Talking to a package index failed (unreachable, bad status, bad data)."""


class ProjectNotFound(SysnativeError):
    """No configured index knows a project."""

    def __init__(self, project: str, indexes: tuple[str, ...]) -> None:
        where = ", ".join(indexes) if indexes else "no index"
        super().__init__(
            f"No project named {project!r} was found on {where}.",
            "Check the spelling of the name, or the --index-url / --extra-index-url options.",
        )
        self.project = project
        self.indexes = indexes


class HashMismatch(SysnativeError):
    """A downloaded file does not match the hash it was expected to have.

    ``announcer`` says where the expected hash came from ("the index announced", or the lock
    file that records it), so the message blames the right party.
    """

    def __init__(
        self,
        filename: str,
        url: str,
        expected: str,
        actual: str,
        hint: str | None = None,
        *,
        announcer: str = "the index announced",
    ) -> None:
        super().__init__(
            f"The file {filename} from {url} does not match the hash {announcer}: "
            f"expected sha256 {expected}, got {actual}.",
            hint,
        )
        self.filename = filename
        self.url = url
        self.expected = expected
        self.actual = actual

    def announced_by(self, announcer: str, hint: str) -> HashMismatch:
        """The same mismatch, for an expected hash that came from ``announcer``."""
        return HashMismatch(
            self.filename, self.url, self.expected, self.actual, hint, announcer=announcer
        )


class EnvironmentProbeError(SysnativeError):
    """The target interpreter could not be asked about itself."""


class MappingError(SysnativeError):
    """A mapping file is malformed or holds unsafe data."""


class ConfigError(SysnativeError):
    """A configuration file or ``SYSNATIVE_*`` variable is invalid (named with the key)."""


class ProviderError(SysnativeError):
    """The system package manager is missing, failed, or answered something unexpected."""


class ProviderUnavailable(ProviderError):
    """The requested provider's tools are not on this machine."""


class ResolutionError(SysnativeError):
    """No set of versions satisfies the requirements (with the system's versions fixed)."""


class NativeConflict(ResolutionError):
    """A native project cannot come from the system, and the fallback policy says stop."""


class BuildError(SysnativeError):
    """Preparing the metadata of an sdist, or building a wheel from it (``--allow-build``),
    failed or timed out; ``project`` and ``version`` name the release, ``output`` holds the
    tail of pip's output."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        project: str = "",
        version: str = "",
        output: str = "",
    ) -> None:
        super().__init__(message, hint)
        self.project = project
        self.version = version
        self.output = output


# -- Target checks, venvs and marker metadata.


class TargetRefused(SysnativeError):
    """The target environment cannot work with the system's packages; nothing was changed.

    Renders every problem as its own paragraph followed by the command that fixes it, so
    one run shows everything to fix instead of one problem per attempt.
    """

    def __init__(self, target: str, problems: Sequence[Problem]) -> None:
        paragraphs = []
        for problem in problems:
            lines = [problem.message, f"  fix: {problem.fix}"]
            lines += [f"   or: {alternative}" for alternative in problem.alternatives]
            paragraphs.append("\n".join(lines))
        super().__init__(
            f"sysnative will not install into {target}:\n\n" + "\n\n".join(paragraphs),
            "Nothing was changed. `sysnative doctor` shows the whole environment.",
        )
        self.target = target
        self.problems = tuple(problems)


class VenvError(SysnativeError):
    """``sysnative venv`` could not make the environment asked for."""


class MarkerError(SysnativeError):
    """Marker metadata for a system package could not be written or removed."""


# -- The system step: privileges, dpkg's lock, and a transaction that went wrong.


class PrivilegeError(SysnativeError):
    """Installing system packages needs root, and neither root nor password-less sudo is here.

    The message carries the exact command, so the user can run it as root and retry.
    """

    def __init__(self, message: str, hint: str | None = None, *, command: str = "") -> None:
        super().__init__(message, hint)
        #: The exact install command (shell-quoted) the user can run as root.
        self.command = command


class PackageManagerLocked(ProviderError):
    """Another package manager held the system package manager's lock (dpkg's, dnf's, rpm's)
    for longer than sysnative waits; nothing changed."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        lock: str = "",
        pid: int | None = None,
        process: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        #: The lock file the package manager could not take (``.../lock-frontend``, ...).
        self.lock = lock
        #: The process holding it, when it could be told.
        self.pid = pid
        self.process = process


class SystemStepError(ProviderError):
    """The system package transaction ran, and the package manager's records do not show the
    planned result.

    ``state`` describes, one line each, what the package manager now records for every
    package of the transaction (dpkg's status and ``dpkg --audit``, rpm's database, conda's
    ``conda-meta``, brew's list); ``undo`` holds the commands that revert what this run
    changed; ``retry`` the commands that finish it instead.
    """

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        state: tuple[str, ...] = (),
        undo: tuple[str, ...] = (),
        retry: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, hint)
        self.state = state
        self.undo = undo
        self.retry = retry


# -- The wheel step: pip installing the staged wheels, and its rollback.


class WheelStepError(SysnativeError):
    """Installing the wheels failed or was interrupted; what this run installed was removed.

    ``installed`` names what pip had installed when it stopped (``"name version"``),
    ``removed`` what was uninstalled again, ``not_restored`` what could not be brought back
    to its state before the run (a distribution upgraded in place), and ``commands`` the
    commands that restore it by hand. An interrupted step exits like an interrupt (130).
    """

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        installed: tuple[str, ...] = (),
        removed: tuple[str, ...] = (),
        not_restored: tuple[str, ...] = (),
        commands: tuple[str, ...] = (),
        interrupted: bool = False,
    ) -> None:
        super().__init__(message, hint)
        self.installed = installed
        self.removed = removed
        self.not_restored = not_restored
        self.commands = commands
        self.interrupted = interrupted
        if interrupted:
            self.exit_code = 130


# -- The running sysnative itself.


class SelfChangeRefused(SysnativeError):
    """The plan would change a distribution the running sysnative needs, in a directory it
    loads it from (see :mod:`sysnative.install.selfguard`); nothing was changed.

    ``conflicts`` holds each offending change with the requirement it breaks and where.
    """

    def __init__(self, target: str, conflicts: Sequence[SelfConflict]) -> None:
        import shlex

        lines = "\n".join(f"    {conflict.describe()}" for conflict in conflicts)
        hint = (
            "Install sysnative in an environment of its own, one that sees neither this "
            "target's site-packages nor the system's (`pipx install sysnative`, or a venv "
            "made for it alone), and install into this environment from there with "
            f"`--python {shlex.quote(target)}`."
        )
        if any(not conflict.unmet for conflict in conflicts):
            hint += (
                " To upgrade sysnative itself, use what installed it (`pipx upgrade "
                "sysnative`, or pip in sysnative's own environment)."
            )
        super().__init__(
            "The plan would break the running sysnative, during this run or the next: it "
            "changes what sysnative itself needs, where sysnative loads it from. Nothing was "
            f"changed.\n{lines}",
            hint,
        )
        self.target = target
        self.conflicts = tuple(conflicts)


class TrialImportError(SysnativeError):
    """A native wheel from the index cannot be imported in the target beside the system's
    packages (found by the trial import before the wheel step)."""

    def __init__(
        self, message: str, hint: str | None = None, *, failures: tuple[object, ...] = ()
    ) -> None:
        super().__init__(message, hint)
        #: The :class:`sysnative.install.trialimport.ImportFailure` values.
        self.failures = failures
