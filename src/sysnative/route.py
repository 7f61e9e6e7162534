"""Where each pinned project comes from: the routing rule, as pure functions."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from packaging.utils import NormalizedName

from sysnative.classify import Classification, Kind
from sysnative.mapping import MappingEntry
from sysnative.models import Route


class Fallback(str, enum.Enum):
    ERROR = "error"
    WHEEL = "wheel"


@dataclass(frozen=True)
class RoutePolicy:
    native_fallback: Fallback = Fallback.ERROR
    force_system: frozenset[NormalizedName] = frozenset()
    force_pypi: frozenset[NormalizedName] = frozenset()


@dataclass(frozen=True)
class Decision:
    project: NormalizedName
    route: Route
    reason: str
    #: The distro package to ask the provider for (system routes).
    package: str | None = None
    #: A native project taking the index's platform wheel.
    native_wheel: bool = False


@dataclass(frozen=True)
class Unroutable:
    """A native project that can come neither from the system nor (by policy) the index."""

    project: NormalizedName
    why: str


def decide(
    project: NormalizedName,
    classification: Classification,
    entry: MappingEntry | None,
    policy: RoutePolicy,
) -> Decision | Unroutable:
    """Route one project before the provider has been asked anything.

    ``--pypi`` and ``--system`` win; a pure project goes to the index; a native project goes
    to the system when the mapping knows it, and otherwise to the fallback policy.
    """
    if project in policy.force_pypi:
        if classification.wheel is None:
            return Unroutable(project, f"--pypi {project} was given, but {classification.reason}")
        return Decision(
            project,
            Route.PYPI,
            f"--pypi {project}",
            native_wheel=classification.kind is Kind.NATIVE,
        )
    if project in policy.force_system:
        if entry is None or not entry.packages:
            return Unroutable(
                project,
                f"--system {project} was given, but no mapping names a system package for it",
            )
        return Decision(project, Route.SYSTEM, f"--system {project}", package=entry.packages[0])
    if classification.kind is Kind.PURE:
        return Decision(project, Route.PYPI, classification.reason)
    if entry is not None and entry.packages:
        return Decision(project, Route.SYSTEM, classification.reason, package=entry.packages[0])
    return fallback(project, classification, "no system package is mapped for it", policy)


def fallback(
    project: NormalizedName,
    classification: Classification,
    why: str,
    policy: RoutePolicy,
) -> Decision | Unroutable:
    """A native project the system cannot provide: the ``--native-fallback`` policy decides."""
    if policy.native_fallback is Fallback.WHEEL and classification.wheel is not None:
        return Decision(
            project,
            Route.PYPI,
            f"{classification.reason}; {why}; platform wheel (--native-fallback wheel)",
            native_wheel=True,
        )
    return Unroutable(project, f"{classification.reason}, and {why}")
