"""Where each pinned project comes from: the routing rule, as pure functions.

The first question is whether the chosen release is pure or native, answered from its files
(:func:`classify`); the second, for a native one, whether the system provides it
(:func:`decide`, with the user's :class:`RoutePolicy` where the rule alone does not decide).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sysnative.models import FileKind, IndexFile, Route

if TYPE_CHECKING:  # the command line imports this module before it starts the system side
    from packaging.utils import NormalizedName

    from sysnative.mapping.table import MappingEntry
    from sysnative.resolve import Candidate


class Kind(str, enum.Enum):
    PURE = "pure"
    NATIVE = "native"
    #: No wheel for the target, and an sdist sysnative may build (``--allow-build``): whether
    #: the project is pure or native is known only once it is built.
    SOURCE = "source"


#: The reason of a release built from its sdist (plan rows, ``--report``).
BUILT_FROM_SDIST = "built from sdist (no wheel for the target)"
#: The reason of a release that has no wheel, when building is not allowed.
ONLY_AN_SDIST = "native: only an sdist, which sysnative builds only with --allow-build"


@dataclass(frozen=True)
class Classification:
    kind: Kind
    #: The file to install from the index: the pure wheel, (native) the best platform one,
    #: or (source) the sdist to build.
    wheel: IndexFile | None
    reason: str


def classify(candidate: Candidate) -> Classification:
    """Pure when the chosen version has a compatible wheel whose tags are all ``py*-none-any``.

    Native: only platform wheels (compiled code built by someone other than the system's
    integrator), or no wheel at all and building not allowed (the index listing then gives
    the version no file: an sdist is a usable file only with ``--allow-build``). Source: no
    wheel, and an sdist that ``--allow-build`` lets sysnative build.
    """
    pure = next((f for f in candidate.files if f.is_pure), None)
    if pure is not None:
        return Classification(Kind.PURE, pure, "pure wheel")
    wheels = [f for f in candidate.files if f.kind is FileKind.WHEEL]
    if wheels:
        return Classification(Kind.NATIVE, wheels[0], "native: only platform wheels")
    sdist = next((f for f in candidate.files if f.kind is FileKind.SDIST), None)
    if sdist is not None:
        return Classification(Kind.SOURCE, sdist, BUILT_FROM_SDIST)
    return Classification(Kind.NATIVE, None, ONLY_AN_SDIST)


class Fallback(str, enum.Enum):
    ERROR = "error"
    WHEEL = "wheel"


@dataclass(frozen=True)
class RoutePolicy:
    """How projects are routed where the rule alone does not decide.

    The two fallbacks are different cases. A native project the system does not package
    (no mapping names a package, or the provider cannot provide the one named) has no system
    answer at all: by default it takes the index's platform wheel, marked in the plan, as a
    user who asked for it expects. A native project the system *does* package, but at a
    version a requirement refuses, is a choice between the system's build and the
    requirement: by default that is explained, not decided silently.

    ``allow_build`` (``--allow-build``) lets a release with no wheel for the target be built
    from its sdist (the index listing then offers it; see ``classify``'s ``Kind.SOURCE``).
    Here it only shapes the hints: an option already in use is not suggested again.
    """

    #: A native project the system does not package (``--unpackaged-native``).
    unpackaged: Fallback = Fallback.WHEEL
    #: A native project whose system version conflicts with a requirement
    #: (``--system-conflict``).
    conflict: Fallback = Fallback.ERROR
    force_system: frozenset[NormalizedName] = frozenset()
    force_pypi: frozenset[NormalizedName] = frozenset()
    #: Build sdists of releases that have no wheel for the target (``--allow-build``).
    allow_build: bool = False


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
    #: What to try: only options that can work here and are not in use already.
    hint: str = ""


def decide(
    project: NormalizedName,
    classification: Classification,
    entry: MappingEntry | None,
    policy: RoutePolicy,
) -> Decision | Unroutable:
    """Route one project before the provider has been asked anything.

    ``--pypi`` and ``--system`` win; a pure project goes to the index; a native project goes
    to the system when the mapping knows it, and otherwise to the fallback policy. A release
    to build from its sdist (``--allow-build``) goes to the system when the mapping knows
    the project (the distro's build is preferred to one made here, and a project without
    wheels is often native), and is built otherwise (also when the provider then turns out
    not to have the package: :func:`fallback`).
    """
    if project in policy.force_pypi:
        if classification.wheel is None:
            package = entry.packages[0] if entry is not None and entry.packages else None
            return Unroutable(
                project,
                f"--pypi {project} was given, but {classification.reason}",
                _hint(project, classification, policy, mapped=package),
            )
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
                _hint(project, classification, policy),
            )
        return Decision(project, Route.SYSTEM, f"--system {project}", package=entry.packages[0])
    if entry is not None and entry.pypi_only:
        # A mapping layer (the user's, the project's, the distro's) says: never the system.
        said = (
            f"the mapping layer {entry.layer} ({entry.origin}) says {project} always comes "
            "from the index"
        )
        if classification.wheel is None:
            return Unroutable(
                project,
                f"{said}, but {classification.reason}",
                _hint(project, classification, policy),
            )
        return Decision(project, Route.PYPI, said, native_wheel=classification.kind is Kind.NATIVE)
    if classification.kind is Kind.PURE:
        return Decision(project, Route.PYPI, classification.reason)
    if entry is not None and entry.packages:
        reason = classification.reason
        if classification.kind is Kind.SOURCE:
            reason = "no wheel for the target: the system's build, not one from the sdist"
        return Decision(project, Route.SYSTEM, reason, package=entry.packages[0])
    if classification.kind is Kind.SOURCE:
        return Decision(project, Route.PYPI, classification.reason)
    return fallback(project, classification, "no system package is mapped for it", policy)


def fallback(
    project: NormalizedName,
    classification: Classification,
    why: str,
    policy: RoutePolicy,
    *,
    package: str | None = None,
) -> Decision | Unroutable:
    """A native project the system does not package: the ``--unpackaged-native`` policy
    decides.

    ``package`` is the system package the mapping names when the provider cannot provide it
    (``None``: the mapping names none). A release to build from its sdist (``--allow-build``)
    is built: ``--unpackaged-native`` is about the index's platform wheels.
    """
    if classification.kind is Kind.SOURCE:
        return Decision(project, Route.PYPI, f"{classification.reason}; {why}")
    if policy.unpackaged is Fallback.WHEEL and classification.wheel is not None:
        return Decision(
            project,
            Route.PYPI,
            f"{classification.reason}; {why}; the index's platform wheel",
            native_wheel=True,
        )
    return Unroutable(
        project,
        f"{classification.reason}, and {why}",
        _hint(project, classification, policy, unavailable=package),
    )


def system_conflict_hint(
    project: NormalizedName, wheel_available: bool | None, policy: RoutePolicy
) -> str:
    """What to try when the system's version of ``project`` does not satisfy a requirement.

    The index is an alternative only when it has a wheel that satisfies the requirement
    (``wheel_available``; ``None`` when unknown), and each option is named only when it is
    not in use already.
    """
    first = "Relax the requirement to accept the system's version"
    if wheel_available is False:
        if not policy.allow_build:
            return (
                f"{first}: the index has no wheel of {project} that satisfies it, and "
                "sysnative builds sdists only with --allow-build."
            )
        if project in policy.force_pypi:
            return f"{first}: the index has no wheel or sdist of {project} that satisfies it."
        return (
            f"{first}; or, if the index has an sdist of {project} that satisfies it, build "
            f"that instead of taking the system's package with --pypi {project}."
        )
    options = []
    if project not in policy.force_pypi:
        options.append(f"take {project} from the index instead with --pypi {project}")
    if policy.conflict is not Fallback.WHEEL:
        options.append(
            "let every such conflict fall back to the index's platform wheel with "
            "--system-conflict wheel"
        )
    if not options:
        return f"{first}."
    return f"{first}; or " + ", or ".join(options) + "."


def _hint(
    project: NormalizedName,
    classification: Classification,
    policy: RoutePolicy,
    *,
    mapped: str | None = None,
    unavailable: str | None = None,
) -> str:
    """What to try for a native project nobody can provide, in this situation.

    ``mapped``: the mapping names this system package (and it was not asked for);
    ``unavailable``: the mapping names this package but the provider cannot provide it;
    neither: the mapping names no package. The index's options (``--pypi``, the wheel
    fallback) need a wheel; options already given are not suggested again.
    """
    has_wheel = classification.wheel is not None
    forced_system = project in policy.force_system
    forced_pypi = project in policy.force_pypi
    options = []
    # The index first: those options work right away.
    if not has_wheel and not policy.allow_build:
        options.append(f"build {project} here from its sdist with --allow-build")
    if has_wheel and not forced_pypi:
        if forced_system:
            how = (
                "build its sdist"
                if classification.kind is Kind.SOURCE
                else "take the index's wheel"
            )
            options.append(f"drop --system {project} and {how} with --pypi {project}")
        else:
            if policy.unpackaged is not Fallback.WHEEL:
                options.append(
                    f"take the index's platform wheel for {project} with --unpackaged-native wheel"
                )
            options.append(f"take it from the index regardless with --pypi {project}")
    if mapped is not None:
        options.append(f"drop --pypi for it to take it from the system ({mapped})")
    elif unavailable is not None:
        options.append(
            f"make {unavailable} available to the system package manager (enable the "
            "repository that has it and update the package lists)"
        )
    else:
        force = "" if forced_system else f" and force it with --system {project}"
        instead = " instead of --pypi" if forced_pypi else ""
        options.append(
            f"if the system packages {project}, name that package in a mapping entry"
            f"{force}{instead}"
        )
        options.append(f"install {project} with the system package manager yourself")
    options.append(f"loosen the requirements that bring {project} in")
    text = "Try: " + "; or ".join(options) + "."
    if not has_wheel:
        building = "sysnative builds only with --allow-build" if not policy.allow_build else ""
        text = (
            f"{project} has no wheel for this target, only an sdist"
            + (f", which {building}" if building else "")
            + f". {text}"
        )
    return text
