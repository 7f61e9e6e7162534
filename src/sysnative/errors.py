"""The one exception hierarchy of sysnative.

Every error a user can cause or meet derives from :class:`SysnativeError`. Each carries the
message (what happened) and a hint (what to try); ``cli`` turns them into a one-paragraph
message and a non-zero exit, and shows a traceback only with ``-v``.
"""

from __future__ import annotations


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
    """A downloaded file does not match the hash the index announced."""


class EnvironmentProbeError(SysnativeError):
    """The target interpreter could not be asked about itself."""


class MappingError(SysnativeError):
    """A mapping file is malformed or holds unsafe data."""


class ProviderError(SysnativeError):
    """The system package manager is missing, failed, or answered something unexpected."""


class ProviderUnavailable(ProviderError):
    """The requested provider's tools are not on this machine."""


class ResolutionError(SysnativeError):
    """No set of versions satisfies the requirements (with the system's versions fixed)."""


class NativeConflict(ResolutionError):
    """A native project cannot come from the system, and the fallback policy says stop."""
