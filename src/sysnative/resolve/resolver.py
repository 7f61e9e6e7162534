"""Run resolvelib and turn its answer (or its failure) into sysnative values."""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib import BaseReporter, ResolutionImpossible, ResolutionTooDeep, Resolver
from resolvelib.resolvers import Criterion

from sysnative.errors import ResolutionError
from sysnative.models import SystemProvision, UserRequirement
from sysnative.protocols import IndexClient
from sysnative.resolve.model import PYTHON, ROOT, Candidate, Req, Unavailable
from sysnative.resolve.provider import FixedProject, SysnativeProvider
from sysnative.target import TargetEnvironment

logger = logging.getLogger(__name__)

MAX_ROUNDS = 20_000
#: The time bound of one resolution: past it, the search stops with an explanation.
MAX_SECONDS = 120.0
#: Seconds between two progress lines.
PROGRESS_EVERY = 5.0

__all__ = [
    "Conflict",
    "FixedProject",
    "Resolution",
    "ResolutionConflict",
    "constraint_map",
    "resolve",
]


@dataclass(frozen=True)
class Resolution:
    """The chosen candidate of every project, and who required it."""

    #: Base candidates (no extras) by project name, in a stable order.
    candidates: Mapping[NormalizedName, Candidate]
    #: The extras that were asked for, by project.
    extras: Mapping[NormalizedName, frozenset[NormalizedName]]
    #: Every requirement edge that reached each project.
    requirements: Mapping[NormalizedName, tuple[Req, ...]]
    #: Extras of system-provided projects whose requirements could not be read (neither the
    #: index has that version's metadata nor the target has it installed): not in the plan.
    unknown_extras: Mapping[NormalizedName, frozenset[NormalizedName]] = field(default_factory=dict)


@dataclass(frozen=True)
class Conflict:
    """The requirements on one project that no candidate could satisfy together."""

    project: NormalizedName
    requirements: tuple[Req, ...]
    #: When the project is fixed by the system, what the system provides.
    system: SystemProvision | None = None
    #: Why the project cannot be installed at all (a native project nobody can provide).
    unavailable: Unavailable | None = None
    #: The provider's upgrade of the installed ``system`` package, when there is one.
    upgrade: SystemProvision | None = None
    #: Index releases the requirements accept but the target cannot use, and why.
    excluded: tuple[tuple[Version, str], ...] = ()
    #: Whether some index release the requirements accept has a wheel for the target
    #: (``None``: unknown). Without one, ``--pypi`` and the wheel fallback cannot help.
    wheel_available: bool | None = None

    def describe(self, python_version: str) -> str:
        lines = [f"  {r.describe()}" for r in self.requirements]
        if self.project == PYTHON:
            lines.append(f"  the target interpreter is Python {python_version}")
        elif self.unavailable is not None:
            lines.append(f"  {self.project} cannot be installed: {self.unavailable.why}")
        elif self.system is not None:
            s = self.system
            state = "installed" if s.installed else "available"
            source = s.provider
            if s.package:
                source = f"{s.provider} package {s.package} {s.distro_version}".rstrip()
            upgrade = ""
            if self.upgrade is not None:
                u = self.upgrade
                upgrade = f", and {u.provider} can upgrade it to {u.version} ({u.distro_version})"
            lines.append(
                f"  the system provides {s.project} {s.version} ({source}, {state}){upgrade}"
            )
        lines.extend(_describe_excluded(self.project, self.excluded, python_version))
        return "\n".join(lines)

    @property
    def python_excluded(self) -> bool:
        """Every release the requirements accept is left out by its Requires-Python."""
        return bool(self.excluded) and all(
            why.startswith(_REQUIRES_PYTHON) for _, why in self.excluded
        )


_REQUIRES_PYTHON = "requires Python "


def _describe_excluded(
    project: NormalizedName, excluded: tuple[tuple[Version, str], ...], python_version: str
) -> list[str]:
    """``app 2.0 is left out: it requires Python >=3.10, and the target ... is Python 3.9``."""
    groups: dict[str, list[Version]] = {}
    for version, why in excluded:
        groups.setdefault(why, []).append(version)
    lines = []
    for why, versions in groups.items():
        shown = ", ".join(str(v) for v in versions[:3])
        if len(versions) > 3:
            shown += f" and {len(versions) - 3} more"
        subject, each = ("is", "it") if len(versions) == 1 else ("are", "each")
        tail = ""
        if why.startswith(_REQUIRES_PYTHON):
            tail = f", and the target interpreter is Python {python_version}"
        lines.append(f"  {project} {shown} {subject} left out: {each} {why}{tail}")
    return lines


class ResolutionConflict(ResolutionError):
    """Resolution failed; ``conflicts`` says on which projects and why."""

    def __init__(self, message: str, hint: str, conflicts: tuple[Conflict, ...]) -> None:
        super().__init__(message, hint)
        self.conflicts = conflicts


def _on_a_terminal(line: str) -> None:
    """Progress for a person watching: shown on a terminal only, not in logs of CI runs."""
    if sys.stderr.isatty():
        logger.info("%s", line)


class _OutOfTime(Exception):
    """The resolution ran past its time bound (raised from the reporter)."""


class _Reporter(BaseReporter[Req, Candidate, str]):
    """Logs each step, counts what was rejected and because of what, says every few seconds
    on a terminal what the search is doing, and stops it at its time bound.

    ``clock``: a monotonic clock in seconds (a seam for tests); ``progress``: where the
    progress lines go (``None``: nowhere).
    """

    def __init__(
        self,
        *,
        max_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        progress: Callable[[str], object] | None = None,
        started: float | None = None,
    ) -> None:
        self.clock = clock
        self.started = clock() if started is None else started
        self.max_seconds = max_seconds
        self.progress = progress
        self.next_progress = self.started + PROGRESS_EVERY
        self.rounds = 0
        #: Rejected releases by project, and the requirement that turned each one down.
        self.rejected: Counter[NormalizedName] = Counter()
        self.blockers: dict[NormalizedName, Counter[NormalizedName]] = {}
        #: The first requirement seen for each (rejected project, dependency) pair.
        self.examples: dict[tuple[NormalizedName, NormalizedName], Req] = {}

    def starting_round(self, index: int) -> None:
        self.rounds = index
        self._tick()

    def _tick(self) -> None:
        """Stop past the bound; a progress line when one is due. Called at each round and
        each rejection (one round can reject a hundred releases, each read from the index)."""
        now = self.clock()
        if now - self.started > self.max_seconds:
            raise _OutOfTime
        if self.progress is not None and now >= self.next_progress:
            self.next_progress = now + PROGRESS_EVERY
            self.progress(f"Resolving: {now - self.started:.0f} s, {self.summary()}")

    def pinning(self, candidate: Candidate) -> None:
        logger.debug("pinning %s", candidate)

    def rejecting_candidate(
        self, criterion: Criterion[Req, Candidate], candidate: Candidate
    ) -> None:
        logger.debug("rejecting %s", candidate)
        self.rejected[candidate.name] += 1
        blocking = self.blockers.setdefault(candidate.name, Counter())
        for info in criterion.information:
            if info.parent == candidate:
                dependency = info.requirement.name
                blocking[dependency] += 1
                self.examples.setdefault((candidate.name, dependency), info.requirement)
                break
        self._tick()

    def summary(self) -> str:
        """``1,200 rounds; backtracking over uvicorn (71 releases rejected) ...``"""
        text = f"{self.rounds:,} rounds"
        busiest = self.rejected.most_common(3)
        if busiest:
            shown = ", ".join(f"{name} ({count} releases rejected)" for name, count in busiest)
            text += f"; backtracking over {shown}"
        return text

    def out_of_time(
        self, fixed: Collection[NormalizedName], *, rounds: bool = False
    ) -> ResolutionError:
        """The error for a search stopped at its bound (of time; of rounds with ``rounds``);
        ``fixed``: the projects the system fixes (a blocking one of those can be taken from
        the index instead)."""
        spent = f"{self.clock() - self.started:.0f} s" if rounds else f"{self.max_seconds:.0f} s"
        lines = [
            f"Gave up after {spent} and {self.rounds:,} resolution rounds: "
            "no combination of releases found yet."
        ]
        for name, count in self.rejected.most_common(3):
            line = f"  {name}: its releases were rejected {count:,} times"
            blocking = self.blockers.get(name)
            if blocking:
                dependency, times = blocking.most_common(1)[0]
                example = self.examples[(name, dependency)].describe()
                line += f", {times:,} of them on {dependency} (for example {example})"
            lines.append(line)
        fixed_blockers = [
            dependency
            for name, _ in self.rejected.most_common(3)
            for dependency, _ in self.blockers.get(name, Counter()).most_common(1)
            if dependency in fixed
        ]
        if fixed_blockers:
            first = fixed_blockers[0]
            hint = (
                f"The system's version of {first} is fixed in this search, and the releases "
                f"above need another: take {first} from the index with --pypi {first}, or "
                "pin the projects above (-c) to releases that accept the system's version"
            )
        else:
            hint = (
                "Narrow the search with a constraints file (-c): tighter bounds on the "
                "projects above"
            )
        return ResolutionError("\n".join(lines), hint + ".")


def resolve(
    requirements: Iterable[UserRequirement],
    constraints: Iterable[UserRequirement],
    *,
    index: IndexClient,
    target: TargetEnvironment,
    fixed: Mapping[NormalizedName, FixedProject] | None = None,
    unavailable: Mapping[NormalizedName, Unavailable] | None = None,
    max_seconds: float = MAX_SECONDS,
    progress: Callable[[str], object] | None = None,
    clock: Callable[[], float] = time.monotonic,
    started: float | None = None,
    max_rounds: int = MAX_ROUNDS,
) -> Resolution:
    """Resolve ``requirements`` for ``target``; raises ResolutionError with conflicts.

    The search stops after ``max_seconds`` with an error naming what it kept rejecting;
    ``progress`` gets a line about the search every few seconds (default: sysnative's log,
    on a terminal only); ``clock`` measures both, in seconds, from ``started`` (default:
    now; the planner passes its own start, so that the bound covers all its passes).
    """
    roots = list(_root_requirements(requirements, target))
    provider = SysnativeProvider(
        index,
        target,
        constraints=constraint_map(constraints, target),
        fixed=fixed,
        unavailable=unavailable or {},
    )
    index.prefetch_files(r.name for r in roots if not fixed or r.name not in fixed)
    reporter = _Reporter(
        max_seconds=max_seconds,
        clock=clock,
        progress=progress or _on_a_terminal,
        started=started,
    )
    resolver: Resolver[Req, Candidate, str] = Resolver(provider, reporter)
    try:
        result = resolver.resolve(roots, max_rounds=max_rounds)
    except _OutOfTime:
        raise reporter.out_of_time(set(fixed or ())) from None
    except ResolutionImpossible as exc:
        causes: list[Req] = [info.requirement for info in exc.causes]
        # A project whose releases were all left out as dead ends, or whose newer releases
        # were (the conflict is then between older releases than the user would get): what
        # ruled out its newest release is part of the chain to show (and, when it is a
        # system version, the one to fall back on).
        involved: list[NormalizedName | None] = [r.name for r in causes]
        involved += [r.parent_project for r in causes]
        for name in dict.fromkeys(n for n in involved if n is not None):
            dead = provider.dead_ends(name)
            if dead:
                causes.append(dead[0][1])
        raise _impossible(causes, fixed or {}, unavailable or {}, target, provider) from None
    except ResolutionTooDeep:
        raise reporter.out_of_time(set(fixed or ()), rounds=True) from None

    candidates: dict[NormalizedName, Candidate] = {}
    extras: dict[NormalizedName, frozenset[NormalizedName]] = {}
    edges: dict[NormalizedName, list[Req]] = {}
    unknown_extras: dict[NormalizedName, frozenset[NormalizedName]] = {}
    for ident, cand in result.mapping.items():
        if cand.name == PYTHON:
            continue
        if not cand.extras:
            candidates[cand.name] = cand
        elif cand.system is not None and provider.unknown_extras(cand):
            unknown = unknown_extras.get(cand.name, frozenset())
            unknown_extras[cand.name] = unknown | provider.unknown_extras(cand)
        extras[cand.name] = extras.get(cand.name, frozenset()) | cand.extras
        edges.setdefault(cand.name, []).extend(
            info.requirement for info in result.criteria[ident].information
        )
    return Resolution(
        candidates=dict(sorted(candidates.items())),
        extras=extras,
        requirements={k: tuple(v) for k, v in edges.items()},
        unknown_extras=unknown_extras,
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


def constraint_map(
    constraints: Iterable[UserRequirement], target: TargetEnvironment
) -> dict[NormalizedName, SpecifierSet]:
    """The constraints that apply to ``target``, combined per project."""
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
    unavailable: Mapping[NormalizedName, Unavailable],
    target: TargetEnvironment,
    provider: SysnativeProvider,
) -> ResolutionConflict:
    by_project: dict[NormalizedName, list[Req]] = {}
    for req in causes:
        bucket = by_project.setdefault(req.name, [])
        if req not in bucket:
            bucket.append(req)
    conflicts = tuple(
        _conflict(name, tuple(reqs), fixed, unavailable, provider)
        for name, reqs in by_project.items()
    )
    body = "\n".join(c.describe(target.python_full_version) for c in conflicts)
    system = [c for c in conflicts if c.system is not None]
    blocked = [c for c in conflicts if c.unavailable is not None]
    if blocked:
        names = ", ".join(c.project for c in blocked)
        head = (
            f"{names} is native and cannot come from the system, and no release of the "
            "projects that require it does without it:"
        )
        # The routing stage wrote the hint: it knows which options can still help.
        assert blocked[0].unavailable is not None
        hint = blocked[0].unavailable.hint
    elif system:
        names = ", ".join(c.project for c in system)
        first = system[0].project
        head = f"The system's version of {names} does not satisfy what is required:"
        if system[0].wheel_available is False:
            hint = (
                "Relax the requirement to accept the system's version: the index has no "
                f"wheel of {first} that satisfies it (sysnative never builds sdists), so "
                "neither --pypi nor --system-conflict wheel can help."
            )
        else:
            hint = (
                "Relax the requirement to accept the system's version; or take "
                f"{first} from the index instead with --pypi {first}, or let every such "
                "conflict fall back to the index's platform wheel with --system-conflict wheel."
            )
    elif any(c.project == PYTHON for c in conflicts) or any(c.python_excluded for c in conflicts):
        head = "No version fits the target interpreter's Python version:"
        hint = "Pick a target with a newer Python (--python), or pin an older release."
    elif any(c.excluded for c in conflicts):
        head = "No release the target can use satisfies these requirements:"
        hint = (
            "Loosen the requirement to accept a release the target can use, or check the "
            "versions the index has."
        )
    else:
        head = "No set of versions satisfies these requirements together:"
        hint = "Loosen one of the requirements listed above, or check the versions the index has."
    return ResolutionConflict(f"{head}\n{body}", hint, conflicts)


def _conflict(
    name: NormalizedName,
    reqs: tuple[Req, ...],
    fixed: Mapping[NormalizedName, FixedProject],
    unavailable: Mapping[NormalizedName, Unavailable],
    provider: SysnativeProvider,
) -> Conflict:
    """One conflict, with what the index and the system can say about the project."""
    if name == PYTHON:
        return Conflict(name, reqs)
    specifier = SpecifierSet()
    for req in reqs:
        specifier &= req.specifier
    excluded = tuple(
        (version, why)
        for version, why in provider.excluded_releases(name)
        if specifier.contains(version, prereleases=True)
    )
    project = fixed.get(name)
    return Conflict(
        name,
        reqs,
        system=project.provision if project is not None else None,
        unavailable=unavailable.get(name),
        upgrade=project.upgrade if project is not None else None,
        excluded=excluded,
        wheel_available=provider.wheel_satisfies(name, specifier),
    )
