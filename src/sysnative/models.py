"""Frozen values that flow through the pipeline.

Nothing here does I/O. The stages (resolve, classify, route, plan, report) take and return
these values, so each stage can be tested on its own with plain data.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

# For annotations only: importing packaging's parsers costs a start-up 13 ms, and the first
# thing a planning run does (starting the system side) needs none of them.
if TYPE_CHECKING:
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.tags import Tag
    from packaging.utils import NormalizedName
    from packaging.version import Version


class FileKind(str, enum.Enum):
    WHEEL = "wheel"
    SDIST = "sdist"


@dataclass(frozen=True)
class IndexFile:
    """One distribution file listed on an index page (PEP 503 / PEP 691)."""

    project: NormalizedName
    version: Version
    filename: str
    url: str
    kind: FileKind
    #: Wheel tags; empty for sdists.
    tags: frozenset[Tag] = frozenset()
    sha256: str | None = None
    requires_python: SpecifierSet | None = None
    #: ``None`` when not yanked, else the reason (possibly empty) (PEP 592).
    yanked: str | None = None
    #: PEP 658/714: whether the index advertises a ``.metadata`` file, and its sha256.
    metadata_advertised: bool = False
    metadata_sha256: str | None = None
    size: int | None = None

    @property
    def is_pure(self) -> bool:
        """A wheel whose every tag is ``py*-none-any``."""
        return (
            self.kind is FileKind.WHEEL
            and bool(self.tags)
            and all(
                t.interpreter.startswith("py") and t.abi == "none" and t.platform == "any"
                for t in self.tags
            )
        )


@dataclass(frozen=True)
class CoreMetadata:
    """The part of a distribution's core metadata the resolver needs."""

    name: NormalizedName
    version: Version
    requires_dist: tuple[Requirement, ...] = ()
    requires_python: SpecifierSet | None = None
    provides_extra: frozenset[NormalizedName] = frozenset()


class Route(str, enum.Enum):
    SYSTEM = "system"
    PYPI = "pypi"


@dataclass(frozen=True)
class SystemPackage:
    """A distro package, as a provider reports it."""

    name: str
    #: The version the provider would install (``None``: not available).
    candidate: str | None
    #: The version installed now (``None``: not installed).
    installed: str | None = None
    architecture: str | None = None


@dataclass(frozen=True)
class ClosureItem:
    """One package that installing a set of system packages would install or upgrade."""

    name: str
    version: str
    architecture: str | None = None
    #: The version installed before, for upgrades.
    replaces: str | None = None
    #: PyPI projects the package declares it provides (rpm ``python3dist()`` provides), for
    #: providers whose mapping is a naming rule that cannot be read backwards.
    projects: tuple[str, ...] = ()


@dataclass(frozen=True)
class SystemProvision:
    """A PyPI project that the system provides (or will provide) at a fixed version."""

    project: NormalizedName
    version: Version
    provider: str
    package: str
    distro_version: str
    installed: bool
    #: True when the package is already installed and the plan leaves it alone.
    #: False when the plan installs or upgrades it.
    requested: bool = True


@dataclass(frozen=True)
class PinnedProject:
    """A project the resolution chose, before routing."""

    name: NormalizedName
    version: Version
    #: Every file of the chosen version usable on the target, best first.
    files: tuple[IndexFile, ...]
    extras: frozenset[NormalizedName] = frozenset()
    #: ``name`` strings of the projects that required this one (``"<user>"`` for the command line).
    required_by: tuple[str, ...] = ()
    #: Specifiers that reached this project, as text, for explanations.
    specifiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlannedPackage:
    """One row of the plan: a project, its version, where it comes from and why."""

    name: NormalizedName
    version: Version
    route: Route
    reason: str
    required_by: tuple[str, ...] = ()
    # system route
    provider: str | None = None
    package: str | None = None
    distro_version: str | None = None
    already_installed: bool = False
    #: True when the plan asks the provider for this package by name; False when it only
    #: comes as a dependency of those (the provider installs it, marked automatic).
    requested: bool = False
    # pypi route
    file: IndexFile | None = None
    #: True when a native project comes from the index's platform wheel (a fallback or --pypi).
    native_wheel: bool = False


@dataclass(frozen=True)
class Plan:
    packages: tuple[PlannedPackage, ...]
    provider: str
    target_python: str
    #: Distro packages the system step installs (the whole closure), in apt's order.
    system_closure: tuple[ClosureItem, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def system(self) -> tuple[PlannedPackage, ...]:
        return tuple(p for p in self.packages if p.route is Route.SYSTEM)

    @property
    def pypi(self) -> tuple[PlannedPackage, ...]:
        return tuple(p for p in self.packages if p.route is Route.PYPI)


@dataclass(frozen=True)
class UserRequirement:
    """A requirement as the user wrote it, with where it was written."""

    requirement: Requirement
    source: str
    #: ``--hash`` values given on the line (``sha256:...``), kept for later verification.
    hashes: tuple[str, ...] = ()

    def __str__(self) -> str:
        return str(self.requirement)


@dataclass(frozen=True)
class RequirementSet:
    requirements: tuple[UserRequirement, ...] = ()
    constraints: tuple[UserRequirement, ...] = ()
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()

    def merged(self, other: RequirementSet) -> RequirementSet:
        return RequirementSet(
            self.requirements + other.requirements,
            self.constraints + other.constraints,
            other.index_url or self.index_url,
            self.extra_index_urls + other.extra_index_urls,
            self.find_links + other.find_links,
        )


#: The ``INSTALLER`` of the stand-in ``.dist-info`` sysnative writes for a system package
#: (:mod:`sysnative.install.standins`); also how sysnative recognises its own stand-ins.
STANDIN_INSTALLER = "sysnative"
