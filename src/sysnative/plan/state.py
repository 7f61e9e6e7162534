"""What the passes of the sequential resolution learn, kept between them.

:class:`PassState` is the one mutable object of a planning run: the packages asked of the
system, the provider's answers, the install closure its simulation showed, and the projects
routed to a fallback. :mod:`sysnative.plan.sequential` fills it; :mod:`sysnative.plan.assemble`
reads it to write the plan's rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from packaging.utils import NormalizedName, canonicalize_name

from sysnative.mapping.table import MappingTable
from sysnative.models import ClosureItem, SystemPackage
from sysnative.resolve import Unavailable


@dataclass
class PassState:
    """What the passes have learnt so far: mutable, local to one planning run."""

    #: PyPI project -> distro package the plan asks the provider for.
    wanted: dict[NormalizedName, str] = field(default_factory=dict)
    #: Distro package -> what the provider said.
    packages: dict[str, SystemPackage] = field(default_factory=dict)
    closure: tuple[ClosureItem, ...] = ()
    #: Native projects the system cannot provide, routed to the index's platform wheel.
    wheel_fallback: dict[NormalizedName, str] = field(default_factory=dict)
    #: Why each project routed to the system is native (from ``classify``).
    reasons: dict[NormalizedName, str] = field(default_factory=dict)
    #: Native projects that cannot be had at all (policy ``error``): name -> why, and hint.
    unavailable: dict[NormalizedName, Unavailable] = field(default_factory=dict)
    #: System-provided projects that must not be replaced by index versions.
    pinned_to_system: set[NormalizedName] = field(default_factory=set)
    #: Installed distro packages the plan upgrades: the resolution needed the provider's
    #: newer version. Once asked for, the simulation's closure says what the system does.
    upgrades: set[str] = field(default_factory=set)
    #: Who required each wanted project when it was routed (project names).
    wanted_by: dict[NormalizedName, set[NormalizedName]] = field(default_factory=dict)
    #: Wanted projects dropped as stale once, and those wanted again after that.
    dropped: set[NormalizedName] = field(default_factory=set)
    oscillating: set[NormalizedName] = field(default_factory=set)


def remember(state: PassState, answers: Mapping[str, SystemPackage]) -> None:
    """Keep the provider's answers under the name asked and, for a virtual spec such as
    ``python3dist(numpy)``, under the real package name too (the closure uses that)."""
    for asked, info in answers.items():
        state.packages[asked] = info
        state.packages.setdefault(info.name, info)


def project_of(item: ClosureItem, mapping: MappingTable) -> NormalizedName | None:
    """The PyPI project a closure package provides: the mapping's reverse direction, else
    what the package itself declares (rpm ``python3dist()`` provides)."""
    project = mapping.reverse(item.name)
    if project is None and item.projects:
        project = canonicalize_name(item.projects[0])
    return project
