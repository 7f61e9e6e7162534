"""Is every requirement of every installed distribution met? ``pip check``, system included.

After the system step and the wheel step, the environment is judged as Python will see it:
every distribution the target can import (the first on ``sys.path`` of each name, as in
:attr:`TargetEnvironment.installed`), whether pip, apt or anything else put it there, must
find each of its base requirements satisfied by another such distribution. Markers are
evaluated for the *target* interpreter; requirements that only apply to an extra are
skipped, as nobody can tell from the metadata which extras were asked for.

A system rarely starts clean (a distro may ship a package whose metadata asks for a version
it does not ship), so :func:`new_problems` separates what this run introduced (a failure)
from what was already broken before it (a warning). Among what the run introduced,
:func:`distro_gaps` tells apart the distribution's own gaps (a system package whose metadata
asks for a project that no wheel of this run touched: Debian's python3-azure asks for pydash,
which Debian does not package), reported but not a failure: the distribution built and
tested its package without it, and nothing sysnative could have planned differently.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass

from packaging.markers import UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from sysnative.target import InstalledDistribution, TargetEnvironment


@dataclass(frozen=True)
class Unmet:
    """Distribution ``dist`` requires ``requirement``, and what is installed does not fit."""

    dist: NormalizedName
    #: The requirement as the distribution's metadata writes it.
    requirement: str
    #: The version of the required project that is installed, or ``None`` when none is
    #: (or its version is not a valid version).
    found: Version | None

    @property
    def required(self) -> NormalizedName:
        """The name of the project required."""
        return canonicalize_name(Requirement(self.requirement).name)

    def describe(self) -> str:
        """``"foo requires bar>=2, but bar 1.0 is installed"``, for messages."""
        text = self.requirement.partition(";")[0].strip()
        if self.found is None:
            return f"{self.dist} requires {text}, which is not installed"
        return f"{self.dist} requires {text}, but {self.required} {self.found} is installed"


def unmet(target: TargetEnvironment) -> tuple[Unmet, ...]:
    """Every base requirement of every visible distribution that is not satisfied.

    Sorted by distribution, then in the order its metadata lists the requirements. A
    requirement that cannot be parsed or whose marker cannot be evaluated is left out:
    it is the metadata's fault, not the environment's, and pip skips those as well.
    """
    environment = {**target.markers, "extra": ""}
    installed = visible_distributions(target)
    problems: list[Unmet] = []
    for name in sorted(installed):
        for text in installed[name].requires:
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            if requirement.marker is not None:
                try:
                    if not requirement.marker.evaluate(environment):
                        continue
                except (UndefinedComparison, UndefinedEnvironmentName):
                    continue
            found = installed.get(canonicalize_name(requirement.name))
            if found is None:
                problems.append(Unmet(name, text, None))
                continue
            if not requirement.specifier:
                continue
            if found.version is None or not requirement.specifier.contains(
                found.version, prereleases=True
            ):
                problems.append(Unmet(name, text, found.version))
    return tuple(problems)


def visible_distributions(
    target: TargetEnvironment,
) -> dict[NormalizedName, InstalledDistribution]:
    """The distributions whose location is on the target's ``sys.path``.

    Anything else a probe may list (a directory the probing script added for itself, say)
    cannot be imported by the target, so it can neither have nor meet requirements.
    """
    return {name: d for name, d in target.installed.items() if target.sees(d.location)}


def new_problems(before: Iterable[Unmet], after: Iterable[Unmet]) -> tuple[Unmet, ...]:
    """The problems in ``after`` that ``before`` did not have (the run's failures).

    A problem is the pair (distribution, requirement): when the installed version of the
    required project changed but the requirement was unmet already, the run did not
    introduce it.
    """
    known = {(u.dist, u.requirement) for u in before}
    return tuple(u for u in after if (u.dist, u.requirement) not in known)


def distro_gaps(
    problems: Iterable[Unmet],
    target: TargetEnvironment,
    system_dirs: Iterable[str],
    from_index: Iterable[NormalizedName],
) -> tuple[tuple[Unmet, ...], tuple[Unmet, ...]]:
    """``problems`` split into (this run's, the distribution's own).

    The distribution's own: the requiring distribution lives in one of the package
    manager's ``system_dirs``, and the required project is not one the run installed from
    the index (``from_index``): a wheel of ours that breaks a system package is our failure.
    """
    system = {posixpath.normpath(d) for d in system_dirs}
    ours: list[Unmet] = []
    theirs: list[Unmet] = []
    index = set(from_index)
    for problem in problems:
        dist = target.installed.get(problem.dist)
        in_system = dist is not None and posixpath.normpath(dist.location) in system
        if in_system and problem.required not in index:
            theirs.append(problem)
        else:
            ours.append(problem)
    return tuple(ours), tuple(theirs)


def old_problems(before: Iterable[Unmet], after: Iterable[Unmet]) -> tuple[Unmet, ...]:
    """The problems in ``after`` that were there before the run (warnings)."""
    known = {(u.dist, u.requirement) for u in before}
    return tuple(u for u in after if (u.dist, u.requirement) in known)
