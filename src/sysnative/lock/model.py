"""The values of a lock: the machine and Python it was made for, its system rows, its wheels.

A lock (:class:`Lock`) says everything a later install needs to reproduce a plan without
resolving and without asking the index for metadata: the system side (which distro
package at which exact version, on which distro release and architecture) and the index
side (which wheel, with its URL, size and sha256). These are frozen values only;
:mod:`sysnative.lock.document` writes and reads them as ``pylock.toml``,
:mod:`sysnative.lock.from_plan` makes them from a plan and :mod:`sysnative.lock.replay`
turns them back into one. The errors of reading or using a lock are here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from packaging.markers import Marker
from packaging.utils import NormalizedName
from packaging.version import Version

from sysnative import __version__
from sysnative.errors import SysnativeError
from sysnative.models import ClosureItem
from sysnative.target import TargetEnvironment

__all__ = [
    "CREATED_BY",
    "ENVIRONMENT_KEYS",
    "LOCK_VERSION",
    "TOOL_FORMAT",
    "Difference",
    "Lock",
    "LockError",
    "LockMachine",
    "LockMismatch",
    "LockTarget",
    "LockedSystem",
    "LockedWheel",
    "target_facts",
]

#: The PEP 751 version sysnative writes (and the major version it reads).
LOCK_VERSION = "1.0"
#: ``created-by``.
CREATED_BY = "sysnative"
#: The version of the ``[tool.sysnative]`` schema; bump on any incompatible change.
TOOL_FORMAT = 1

#: Marker variables that name the environment a lock is for (``environments``). The
#: kernel's ``platform_release``/``platform_version`` are recorded but never compared: they
#: change with every kernel update and say nothing about which wheels or packages work.
ENVIRONMENT_KEYS = ("implementation_name", "python_version", "sys_platform", "platform_machine")


class LockError(SysnativeError):
    """A lock file cannot be used: unreadable, malformed, not written by sysnative, of an
    unknown version, or inconsistent. Raised before anything is changed; the message names
    the file and the part that is wrong, the hint how to get a usable lock (usually: write
    it again with ``sysnative lock``)."""


@dataclass(frozen=True)
class Difference:
    """One fact the lock and this machine disagree on."""

    what: str
    locked: str
    here: str

    def describe(self) -> str:
        return f"{self.what}: the lock says {self.locked}, here it is {self.here}"


class LockMismatch(LockError):
    """The lock was made for another machine (distro, release, architecture, provider or
    target Python). Its exact distro versions would not exist or not work here, so nothing
    is installed; ``differences`` lists each fact as the lock has it and as it is here."""

    def __init__(
        self, message: str, hint: str | None = None, *, differences: Sequence[Difference] = ()
    ) -> None:
        super().__init__(message, hint)
        self.differences = tuple(differences)


@dataclass(frozen=True)
class LockMachine:
    """What the distro versions in a lock are valid for."""

    provider: str
    distro_id: str
    distro_version: str
    #: The package manager's native architecture (``dpkg --print-architecture``); ``None``
    #: when the provider could not tell.
    architecture: str | None = None


@dataclass(frozen=True)
class LockTarget:
    """The Python a lock was made for."""

    python_version: str
    python_full_version: str
    #: ``implementation_name`` (``cpython``).
    implementation: str
    #: The whole PEP 508 marker environment of the target, as probed.
    markers: Mapping[str, str] = field(default_factory=dict)

    @property
    def environment_marker(self) -> str:
        """The PEP 751 ``environments`` entry: implementation, version, OS and machine."""
        parts = [
            f"{key} == {_marker_value(self.markers[key])}"
            for key in ENVIRONMENT_KEYS
            if key in self.markers
        ]
        return str(Marker(" and ".join(parts)))

    @property
    def requires_python(self) -> str:
        return f"=={self.python_version}.*"

    def describe(self) -> str:
        name = self.markers.get("platform_python_implementation") or self.implementation
        return f"{name} {self.python_version}"


def _marker_value(value: str) -> str:
    """A marker string literal (PEP 508 has no escapes: pick the quote the value lacks)."""
    return f"'{value}'" if '"' in value else f'"{value}"'


def target_facts(target: TargetEnvironment) -> LockTarget:
    """The lock's view of a probed target."""
    return LockTarget(
        python_version=target.python_version,
        python_full_version=target.python_full_version,
        implementation=target.markers.get("implementation_name", ""),
        markers=dict(sorted(target.markers.items())),
    )


@dataclass(frozen=True)
class LockedSystem:
    """One project the system provides, as locked."""

    project: NormalizedName
    version: Version
    #: The distro package and its exact version; ``None`` for a project the target already
    #: saw in the system's site dir without a package the mapping could name.
    package: str | None
    distro_version: str | None
    architecture: str | None = None
    #: Asked for by name (True) or only a dependency of those (False).
    requested: bool = False
    #: Already installed when the lock was made (then it is not in the closure).
    installed: bool = False
    reason: str = ""
    required_by: tuple[str, ...] = ()
    #: The mapping's ``dist_names`` (``None``: registered under its own name; ``()``:
    #: registers no metadata) and ``registers_version``, for the marker step.
    dist_names: tuple[str, ...] | None = None
    registers_version: str | None = None


@dataclass(frozen=True)
class LockedWheel:
    """One wheel from the index, as locked: always with its sha256 and size."""

    project: NormalizedName
    version: Version
    filename: str
    url: str
    sha256: str
    #: Always known in a lock sysnative writes; ``None`` only when reading one without it.
    size: int | None
    #: The index base URL the file was listed on (PEP 751 ``packages.index``); ``None``
    #: for find-links locations.
    index: str | None = None
    reason: str = ""
    required_by: tuple[str, ...] = ()
    native_wheel: bool = False


@dataclass(frozen=True)
class Lock:
    """A whole lock: the machine and Python it is for, the system rows with the distro
    packages the system step installed (``closure``), and the wheels from the index."""

    machine: LockMachine
    target: LockTarget
    system: tuple[LockedSystem, ...] = ()
    closure: tuple[ClosureItem, ...] = ()
    wheels: tuple[LockedWheel, ...] = ()
    #: The requirements and constraints the lock was made from (for "lock again" hints).
    requirements: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    sysnative_version: str = __version__
    #: PEP 751 ``environments`` and ``requires-python`` as read (``None``: from ``target``).
    environments: tuple[str, ...] | None = None
    requires_python: str | None = None

    @property
    def environment_markers(self) -> tuple[str, ...]:
        if self.environments is not None:
            return self.environments
        return (self.target.environment_marker,)

    @property
    def python_specifier(self) -> str:
        if self.requires_python is not None:
            return self.requires_python
        return self.target.requires_python
