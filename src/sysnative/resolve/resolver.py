"""Run resolvelib and turn its answer (or its failure) into sysnative values."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from resolvelib import BaseReporter, ResolutionImpossible, ResolutionTooDeep, Resolver

from sysnative.environment import TargetEnvironment
from sysnative.errors import ResolutionError
from sysnative.index import IndexClient
from sysnative.models import SystemProvision
from sysnative.requirements import UserRequirement
from sysnative.resolve.model import PYTHON, ROOT, Candidate, Req
from sysnative.resolve.provider import FixedProject, SysnativeProvider

logger = logging.getLogger(__name__)

MAX_ROUNDS = 20_000

__all__ = ["Conflict", "FixedProject", "Resolution", "ResolutionConflict", "resolve"]


@dataclass(frozen=True)
class Resolution:
    """The chosen candidate of every project, and who required it."""

    #: Base candidates (no extras) by project name, in a stable order.
    candidates: Mapping[NormalizedName, Candidate]
    #: The extras that were asked for, by project.
    extras: Mapping[NormalizedName, frozenset[NormalizedName]]
    #: Every requirement edge that reached each project.
    requirements: Mapping[NormalizedName, tuple[Req, ...]]


@dataclass(frozen=True)
class Conflict:
    """The requirements on one project that no candidate could satisfy together."""

    project: NormalizedName
    requirements: tuple[Req, ...]
    #: When the project is fixed by the system, what the system provides.
    system: SystemProvision | None = None
    #: Why the project cannot be installed at all (a native project nobody can provide).
    unavailable: str | None = None

    def describe(self, python_version: str) -> str:
        lines = [f"  {r.describe()}" for r in self.requirements]
        if self.project == PYTHON:
            lines.append(f"  the target interpreter is Python {python_version}")
        elif self.unavailable is not None:
            lines.append(f"  {self.project} cannot be installed: {self.unavailable}")
        elif self.system is not None:
            s = self.system
            state = "installed" if s.installed else "available"
            lines.append(
                f"  the system provides {s.project} {s.version} "
                f"({s.provider} package {s.package} {s.distro_version}, {state})"
            )
        return "\n".join(lines)


class ResolutionConflict(ResolutionError):
    """Resolution failed; ``conflicts`` says on which projects and why."""

    def __init__(self, message: str, hint: str, conflicts: tuple[Conflict, ...]) -> None:
        super().__init__(message, hint)
        self.conflicts = conflicts


class _LogReporter(BaseReporter[Req, Candidate, str]):
    def pinning(self, candidate: Candidate) -> None:
        logger.debug("pinning %s", candidate)

    def rejecting_candidate(self, criterion: object, candidate: Candidate) -> None:
        logger.debug("rejecting %s", candidate)


def resolve(
    requirements: Iterable[UserRequirement],
    constraints: Iterable[UserRequirement],
    *,
    index: IndexClient,
    target: TargetEnvironment,
    fixed: Mapping[NormalizedName, FixedProject] | None = None,
    unavailable: Mapping[NormalizedName, str] | None = None,
) -> Resolution:
    """Resolve ``requirements`` for ``target``; raises ResolutionError with conflicts."""
    roots = list(_root_requirements(requirements, target))
    provider = SysnativeProvider(
        index,
        target,
        constraints=_constraint_map(constraints, target),
        fixed=fixed,
        unavailable=unavailable or {},
    )
    index.prefetch_files(r.name for r in roots if not fixed or r.name not in fixed)
    resolver: Resolver[Req, Candidate, str] = Resolver(provider, _LogReporter())
    try:
        result = resolver.resolve(roots, max_rounds=MAX_ROUNDS)
    except ResolutionImpossible as exc:
        causes: list[Req] = [info.requirement for info in exc.causes]
        raise _impossible(causes, fixed or {}, unavailable or {}, target) from None
    except ResolutionTooDeep as exc:
        raise ResolutionError(
            f"Gave up after {exc.round_count} resolution rounds: the requirements leave too "
            "many combinations to try.",
            "Add tighter version bounds (or a constraints file with -c) for the projects "
            "shown with -v.",
        ) from None

    candidates: dict[NormalizedName, Candidate] = {}
    extras: dict[NormalizedName, frozenset[NormalizedName]] = {}
    edges: dict[NormalizedName, list[Req]] = {}
    for ident, cand in result.mapping.items():
        if cand.name == PYTHON:
            continue
        if not cand.extras:
            candidates[cand.name] = cand
        extras[cand.name] = extras.get(cand.name, frozenset()) | cand.extras
        edges.setdefault(cand.name, []).extend(
            info.requirement for info in result.criteria[ident].information
        )
    return Resolution(
        candidates=dict(sorted(candidates.items())),
        extras=extras,
        requirements={k: tuple(v) for k, v in edges.items()},
    )


def _root_requirements(
    requirements: Iterable[UserRequirement], target: TargetEnvironment
) -> Iterable[Req]:
    for user in requirements:
        req = user.requirement
        if req.marker is not None and not req.marker.evaluate({**target.markers, "extra": ""}):
            logger.debug("skipping %s: markers do not match the target", req)
            continue
        yield Req(
            canonicalize_name(req.name),
            req.specifier,
            frozenset(canonicalize_name(e) for e in req.extras),
            parent=ROOT if user.source == "command line" else user.source,
            text=str(req).split(";")[0].strip(),
        )


def _constraint_map(
    constraints: Iterable[UserRequirement], target: TargetEnvironment
) -> dict[NormalizedName, SpecifierSet]:
    out: dict[NormalizedName, SpecifierSet] = {}
    for user in constraints:
        req = user.requirement
        if req.marker is not None and not req.marker.evaluate({**target.markers, "extra": ""}):
            continue
        name = canonicalize_name(req.name)
        out[name] = out.get(name, SpecifierSet()) & req.specifier
    return out


def _impossible(
    causes: list[Req],
    fixed: Mapping[NormalizedName, FixedProject],
    unavailable: Mapping[NormalizedName, str],
    target: TargetEnvironment,
) -> ResolutionConflict:
    by_project: dict[NormalizedName, list[Req]] = {}
    for req in causes:
        bucket = by_project.setdefault(req.name, [])
        if req not in bucket:
            bucket.append(req)
    conflicts = tuple(
        Conflict(
            name,
            tuple(reqs),
            fixed[name].provision if name in fixed and name != PYTHON else None,
            unavailable.get(name),
        )
        for name, reqs in by_project.items()
    )
    body = "\n".join(c.describe(target.python_full_version) for c in conflicts)
    system = [c for c in conflicts if c.system is not None]
    blocked = [c for c in conflicts if c.unavailable is not None]
    if blocked:
        names = ", ".join(c.project for c in blocked)
        first = blocked[0].project
        head = (
            f"{names} is native and cannot come from the system, and no release of the "
            "projects that require it does without it:"
        )
        hint = (
            f"Try --native-fallback wheel to take the index's platform wheel for {first}, "
            f"--pypi {first} to take it from the index regardless, or install it with the "
            "system package manager and map it with --system."
        )
    elif system:
        names = ", ".join(c.project for c in system)
        first = system[0].project
        head = f"The system's version of {names} does not satisfy what is required:"
        hint = (
            "Relax the requirement to accept the system's version; or take "
            f"{first} from the index instead with --pypi {first}, or let every such conflict "
            "fall back to the index's platform wheel with --native-fallback wheel."
        )
    elif any(c.project == PYTHON for c in conflicts):
        head = "No version fits the target interpreter's Python version:"
        hint = "Pick a target with a newer Python (--python), or pin an older release."
    else:
        head = "No set of versions satisfies these requirements together:"
        hint = "Loosen one of the requirements listed above, or check the versions the index has."
    return ResolutionConflict(f"{head}\n{body}", hint, conflicts)
