"""The resolvelib provider: the only door between the resolver and the index.

Candidates come from the index client (binary-only by default: a version is a candidate when
it has a wheel for the target, or, for a project that publishes no wheel at all, with no file,
which marks the project as native; with ``--allow-build`` a version without a wheel is a
candidate through its sdist, whose metadata is prepared by a build) and from the system
(``fixed`` projects: one candidate at the system's version, then the provider's upgrade of an
installed package, optionally followed by index versions when a pure project may be
replaced). Markers, extras and Requires-Python are evaluated for the target environment.
Releases left out of the candidates (Requires-Python, yanked, no wheel for the target) are
remembered, so a failed resolution can say why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib import AbstractProvider
from resolvelib.structs import RequirementInformation

from sysnative.errors import ProjectNotFound, SysnativeError
from sysnative.models import FileKind, IndexFile, SystemProvision
from sysnative.protocols import IndexClient
from sysnative.resolve.model import PYTHON, Candidate, Req
from sysnative.resolve.releases import Releases, list_releases
from sysnative.target import TargetEnvironment

logger = logging.getLogger(__name__)

Info = RequirementInformation[Req, Candidate]


@dataclass(frozen=True)
class FixedProject:
    """A project the system provides: it enters the resolution at this version.

    ``replaceable`` lets the resolver fall back to index versions after the system one, for
    pure projects the system happens to provide (not installed again unless a requirement
    needs a version the system lacks). ``requires`` are the system package's own requirements
    on other system-provided projects, so a replacement must still satisfy them.

    ``upgrade`` is the provider's newer version of an installed package (apt's candidate),
    offered right after the installed one: the installed version is kept whenever it
    satisfies, and the upgrade is taken only when a requirement needs it. ``requires`` are
    the installed version's and do not apply to it.
    """

    provision: SystemProvision
    replaceable: bool = False
    requires: tuple[Requirement, ...] = ()
    upgrade: SystemProvision | None = None


class SysnativeProvider(AbstractProvider[Req, Candidate, str]):
    def __init__(
        self,
        index: IndexClient,
        target: TargetEnvironment,
        *,
        constraints: Mapping[NormalizedName, SpecifierSet] | None = None,
        fixed: Mapping[NormalizedName, FixedProject] | None = None,
        unavailable: Iterable[NormalizedName] = (),
        allow_build: bool | None = None,
    ) -> None:
        """``allow_build``: versions without a wheel for the target become candidates through
        their sdists (``--allow-build``). ``None`` asks the index client (its ``allow_build``
        attribute; absent means no): the planning session's index carries the choice through
        the resolver, as pip's package finder carries its format control."""
        if allow_build is None:
            allow_build = getattr(index, "allow_build", False) is True
        self._allow_build = allow_build
        self._index = index
        self._target = target
        self._constraints = dict(constraints or {})
        self._fixed = dict(fixed or {})
        self._unavailable = frozenset(unavailable)
        self._tag_priority = target.tag_priority()
        self._python_version = Version(target.python_full_version)
        self._versions_cache: dict[NormalizedName, Releases] = {}
        self._extra_requires_cache: dict[
            tuple[NormalizedName, Version], tuple[Requirement, ...] | None
        ] = {}
        #: System candidates whose extras' requirements nobody could tell, by (name, version).
        self._unknown_extras: dict[tuple[NormalizedName, Version], set[NormalizedName]] = {}
        # Requirement objects are shared across releases (the index's parsing memo): what
        # each one means for the target is worked out once, keyed by identity; the values
        # hold their objects, so no id is reused while this provider lives.
        self._applies: dict[tuple[int, frozenset[NormalizedName]], tuple[Requirement, bool]] = {}
        self._as_req: dict[int, tuple[Requirement, NormalizedName, frozenset[NormalizedName], str]]
        self._as_req = {}
        #: Index candidates that can never be chosen (see :meth:`_dead_end`), and why.
        self._dead: dict[tuple[NormalizedName, Version, frozenset[NormalizedName]], Req | None]
        self._dead = {}
        self._blocked: dict[NormalizedName, list[tuple[Candidate, Req]]] = {}

    # -- resolvelib interface -------------------------------------------------------------

    def identify(self, requirement_or_candidate: Req | Candidate) -> str:
        return requirement_or_candidate.identifier

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, Candidate],
        candidates: Mapping[str, Iterator[Candidate]],
        information: Mapping[str, Iterator[Info]],
        backtrack_causes: Sequence[Info],
    ) -> Any:
        name = NormalizedName(identifier.partition("[")[0])
        infos = list(information[identifier])
        pinned = any(
            any(
                s.operator in ("==", "===") and "*" not in s.version
                for s in i.requirement.specifier
            )
            for i in infos
        )
        in_causes = any(c.requirement.name == name for c in backtrack_causes)
        return (
            name != PYTHON,  # Requires-Python first: cheapest and most decisive
            name not in self._fixed,  # system-fixed projects next: a single candidate
            not in_causes,
            not pinned,
            identifier,
        )

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Req]],
        incompatibilities: Mapping[str, Iterator[Candidate]],
    ) -> list[Candidate] | _LookAhead:
        reqs = list(requirements[identifier])
        if not reqs:  # resolvelib may ask for an identifier only known through incompatibilities
            return []
        name = reqs[0].name
        extras = frozenset().union(*(r.extras for r in reqs))
        bad = {c.version for c in incompatibilities[identifier]}
        specifier = SpecifierSet()
        for r in reqs:
            specifier &= r.specifier
        if name == PYTHON:
            ok = specifier.contains(self._python_version, prereleases=True)
            return [Candidate(PYTHON, self._python_version)] if ok else []
        specifier &= self._constraints.get(name, SpecifierSet())
        if name in self._unavailable:
            # A native project neither the system nor the policy can provide: no candidate,
            # so the resolver looks for releases of its dependents that do without it.
            return []

        matches: list[Candidate] = []
        fixed = self._fixed.get(name)
        if fixed is not None:
            # The installed (or planned) version first; an upgrade only when it is needed.
            for provision in (fixed.provision, fixed.upgrade):
                if provision is None:
                    continue
                version = provision.version
                if version not in bad and specifier.contains(version, prereleases=True):
                    matches.append(Candidate(name, version, extras, system=provision))
            if not fixed.replaceable:
                return matches
        explicit_pre = any(s.prereleases for s in specifier) if len(specifier) else False
        available = self._index_candidates(name)
        versions = {c.version for c in available}
        allowed = set(specifier.filter(versions, prereleases=True if explicit_pre else None))
        for cand in available:
            if cand.version in allowed and cand.version not in bad:
                matches.append(Candidate(name, cand.version, extras, cand.files))
        return _LookAhead(matches, self._index, self._dead_end)

    def is_satisfied_by(self, requirement: Req, candidate: Candidate) -> bool:
        if not requirement.specifier.contains(candidate.version, prereleases=True):
            return False
        if candidate.system is None and candidate.name != PYTHON:
            constraint = self._constraints.get(candidate.name)
            if constraint is not None and not constraint.contains(
                candidate.version, prereleases=True
            ):
                return False
        return requirement.extras <= candidate.extras

    def get_dependencies(self, candidate: Candidate) -> list[Req]:
        deps = self._dependencies(candidate)
        names = {d.name for d in deps if d.name != PYTHON}
        self._index.prefetch_files(n for n in names if n not in self._fixed)
        return deps

    def _dependencies(self, candidate: Candidate) -> list[Req]:
        if candidate.name == PYTHON:
            return []
        parent = str(candidate)
        deps: list[Req] = []
        if candidate.extras:
            deps.append(
                Req(
                    candidate.name,
                    SpecifierSet(f"=={candidate.version}"),
                    parent=parent,
                    text=f"{candidate.name}=={candidate.version}",
                )
            )
        if candidate.system is not None:
            fixed = self._fixed[candidate.name]
            if candidate.system == fixed.provision:
                deps.extend(self._requirements(fixed.requires, candidate.extras, parent))
            if candidate.extras:
                deps.extend(self._extra_requirements(candidate, parent))
        elif candidate.has_wheel:
            deps.extend(self._file_requirements(candidate, FileKind.WHEEL, parent))
        elif candidate.files and self._allow_build:
            # The index client prepares an sdist's metadata (pip runs its build backend, see
            # sysnative.install.sdists) and caches it by the sdist's hash.
            deps.extend(self._file_requirements(candidate, FileKind.SDIST, parent))
        # Without --allow-build, a candidate without a wheel has no file and no metadata: it
        # is native, and the system's package brings its dependencies.
        return deps

    def _dead_end(self, candidate: Candidate) -> Req | None:
        """The requirement that rules an index ``candidate`` out whatever else is chosen.

        A project the system fixes (not replaceable) has one version, or the installed one
        and the provider's upgrade; the target has one Python. A candidate that requires
        another version of either can never be part of a solution, so it is never offered:
        the resolver does not pin it, meet the conflict, and backtrack through unrelated
        projects to try it again (uvicorn[standard] against Debian's httptools tried every
        uvicorn release thousands of times). What was left out is remembered, so that a
        failure names the system version that blocked (:meth:`blocked_by_system`).
        """
        if candidate.system is not None or not candidate.has_wheel:
            return None
        key = (candidate.name, candidate.version, candidate.extras)
        if key in self._dead:
            return self._dead[key]
        deps = self._dependencies(candidate)
        found = next((d for d in deps if self._never_met(d, system_only=True)), None)
        if found is None:
            # The pages of the dependencies are needed next anyway: fetch them together.
            self._index.prefetch_files(d.name for d in deps if d.name not in self._fixed)
            found = next((d for d in deps if self._never_met(d, system_only=False)), None)
        self._dead[key] = found
        if found is not None:
            logger.debug("leaving out %s: %s", candidate, found.describe())
            if found.name in self._fixed:
                self._blocked.setdefault(candidate.name, []).append((candidate, found))
        return found

    def _never_met(self, dep: Req, *, system_only: bool) -> bool:
        """Whether no choice can ever satisfy ``dep``: the target's Python or the system's
        fixed version refuses it (``system_only``), or, beyond those, the project cannot be
        had at all, or the index has no candidate in its range (a listing only shrinks as
        the search adds requirements)."""
        if dep.name == PYTHON:
            return not dep.specifier.contains(self._python_version, prereleases=True)
        fixed = self._fixed.get(dep.name)
        if fixed is not None:
            if fixed.replaceable:
                return False
            versions = [p.version for p in (fixed.provision, fixed.upgrade) if p is not None]
            return not any(dep.specifier.contains(v, prereleases=True) for v in versions)
        if system_only:
            return False
        if dep.name in self._unavailable:
            return True
        try:
            available = self._index_candidates(dep.name)
        except SysnativeError:
            return False  # the resolver meets the same error and reports it
        specifier = dep.specifier & self._constraints.get(dep.name, SpecifierSet())
        return not any(specifier.contains(c.version, prereleases=True) for c in available)

    def blocked_by_system(self) -> Mapping[NormalizedName, tuple[tuple[Candidate, Req], ...]]:
        """Releases left out because they need another version of a project the system
        fixes, by project, newest first, each with the requirement at fault."""
        return {name: tuple(found) for name, found in self._blocked.items()}

    def dead_ends(self, name: NormalizedName) -> tuple[tuple[Candidate, Req], ...]:
        """Candidates of ``name`` that were never offered (see :meth:`_dead_end`), newest
        first, each with the requirement that can never be met."""
        found = [
            (Candidate(n, version, extras), req)
            for (n, version, extras), req in self._dead.items()
            if n == name and req is not None
        ]
        found.sort(key=lambda item: item[0].version, reverse=True)
        return tuple(found)

    # -- what a failed or finished resolution asks about -----------------------------------

    def excluded_releases(self, name: NormalizedName) -> tuple[tuple[Version, str], ...]:
        """Releases of ``name`` the index lists but the target cannot use, with why.

        Asked after a failure: the listing is normally cached already; when it cannot be had,
        the answer is simply empty (the resolution error must not turn into an index error).
        """
        if name == PYTHON:
            return ()
        try:
            return self._releases(name).excluded
        except SysnativeError:
            return ()

    def wheel_satisfies(self, name: NormalizedName, specifier: SpecifierSet) -> bool | None:
        """Whether some index release of ``name`` in ``specifier`` has a wheel for the target.

        ``None`` when the index cannot be asked. Used to hint only at options that can work:
        ``--pypi`` and the wheel fallback are useless for a project that publishes no wheel.
        """
        try:
            releases = self._releases(name)
        except ProjectNotFound:
            return False
        except SysnativeError:
            return None
        specifier &= self._constraints.get(name, SpecifierSet())
        return any(
            c.has_wheel and specifier.contains(c.version, prereleases=True)
            for c in releases.candidates
        )

    def unknown_extras(self, candidate: Candidate) -> frozenset[NormalizedName]:
        """Extras of a system candidate whose requirements could not be read anywhere."""
        unknown = self._unknown_extras.get((candidate.name, candidate.version), set())
        return frozenset(unknown & candidate.extras)

    # -- helpers ----------------------------------------------------------------------------

    def _file_requirements(self, candidate: Candidate, kind: FileKind, parent: str) -> list[Req]:
        """Requires-Python and Requires-Dist of ``candidate``, from the metadata of its first
        file of ``kind``."""
        file = next(f for f in candidate.files if f.kind is kind)
        metadata = self._index.get_metadata(file)
        deps: list[Req] = []
        if metadata.requires_python is not None and str(metadata.requires_python):
            deps.append(
                Req(
                    PYTHON,
                    metadata.requires_python,
                    parent=parent,
                    text=f"Requires-Python {metadata.requires_python}",
                )
            )
        deps.extend(self._requirements(metadata.requires_dist, candidate.extras, parent))
        return deps

    def _extra_requirements(self, candidate: Candidate, parent: str) -> list[Req]:
        """What the extras of a system-provided project add (``pandas[excel]`` -> openpyxl).

        The system package brings its base requirements itself, so only requirements the
        extras switch on are added. Nobody installs a system package's extras: they come
        from the index like any other requirement (or route to the system when native).
        """
        requires = self._system_requires_dist(candidate.name, candidate.version)
        if requires is None:
            unknown = self._unknown_extras.setdefault((candidate.name, candidate.version), set())
            unknown.update(candidate.extras)
            return []
        markers = self._target.markers
        only_extras = [
            req
            for req in requires
            if req.marker is not None
            and not req.marker.evaluate({**markers, "extra": ""})
            and any(req.marker.evaluate({**markers, "extra": e}) for e in candidate.extras)
        ]
        return list(self._requirements(only_extras, candidate.extras, parent))

    def _system_requires_dist(
        self, name: NormalizedName, version: Version
    ) -> tuple[Requirement, ...] | None:
        """Requires-Dist of the system's version of ``name``, or ``None`` when unknown.

        The index's metadata of the same version first (any wheel of that version: the
        metadata does not depend on the platform), else the metadata the target has
        installed, when it is that version.
        """
        key = (name, version)
        if key in self._extra_requires_cache:
            return self._extra_requires_cache[key]
        found: tuple[Requirement, ...] | None = None
        wheel = self._wheel_of_version(name, version)
        if wheel is not None:
            found = self._index.get_metadata(wheel).requires_dist
        else:
            dist = self._target.installed.get(name)
            if dist is not None and dist.version == version:
                found = tuple(_parse_requirements(dist.requires))
        self._extra_requires_cache[key] = found
        return found

    def _wheel_of_version(self, name: NormalizedName, version: Version) -> IndexFile | None:
        try:
            files = self._index.get_files(name)
        except ProjectNotFound:
            return None
        wheels = [f for f in files if f.kind is FileKind.WHEEL and f.version == version]
        worst = len(self._tag_priority) + 1
        wheels.sort(
            key=lambda f: (
                f.yanked is not None,
                min((self._tag_priority.get(t, worst) for t in f.tags), default=worst),
                f.filename,
            )
        )
        return wheels[0] if wheels else None

    def _requirements(
        self,
        requirements: Iterable[Requirement],
        extras: frozenset[NormalizedName],
        parent: str,
    ) -> Iterator[Req]:
        for req in requirements:
            if req.marker is not None:
                known = self._applies.get((id(req), extras))
                if known is None:
                    applies = any(
                        req.marker.evaluate({**self._target.markers, "extra": extra})
                        for extra in ("", *sorted(extras))
                    )
                    known = self._applies[id(req), extras] = (req, applies)
                if not known[1]:
                    continue
            facts = self._as_req.get(id(req))
            if facts is None:
                facts = self._as_req[id(req)] = (
                    req,
                    canonicalize_name(req.name),
                    frozenset(canonicalize_name(e) for e in req.extras),
                    _without_marker(req),
                )
            _req, name, req_extras, text = facts
            yield Req(name, req.specifier, req_extras, parent=parent, text=text)

    def _index_candidates(self, name: NormalizedName) -> tuple[Candidate, ...]:
        return self._releases(name).candidates

    def _releases(self, name: NormalizedName) -> Releases:
        cached = self._versions_cache.get(name)
        if cached is None:
            cached = self._versions_cache[name] = list_releases(
                name,
                self._index.get_files(name),
                self._tag_priority,
                self._python_version,
                allow_build=self._allow_build,
            )
        return cached


class _LookAhead:
    """The candidates of one ``find_matches`` call, fetching metadata ahead of the resolver.

    resolvelib accepts a factory of iterators (a callable) and calls it each time it walks the
    candidates. Walking to the first candidate fetches its metadata only; walking past it means
    the resolver is rejecting versions (backtracking, or a system-fixed dependency rules the
    newest out), and each release costs one round trip when fetched one by one. From the second
    candidate on, the metadata of the next several is fetched concurrently, the window growing
    as the walk goes on (xarray against Debian's numpy walks 30 releases: 4 rounds, not 30).
    """

    def __init__(
        self,
        matches: list[Candidate],
        index: IndexClient,
        dead_end: Callable[[Candidate], object] = lambda _: None,
    ) -> None:
        self._matches = matches
        self._index = index
        self._dead_end = dead_end
        self._fetched_to = 0  # metadata requested for matches[:_fetched_to]

    def __call__(self) -> Iterator[Candidate]:
        for position, candidate in enumerate(self._matches):
            # 1 for the first candidate; then 8, 16, 32 ahead of the walk (candidates
            # left out as dead ends count as walked: their metadata was needed too).
            self._fetch_ahead(position + min(8 << (position // 8), 32) if position else 1)
            if self._dead_end(candidate) is not None:
                continue
            yield candidate

    def _fetch_ahead(self, end: int) -> None:
        if end <= self._fetched_to:
            return
        batch = self._matches[self._fetched_to : end]
        self._fetched_to = end
        self._index.prefetch_metadata(c.files[0] for c in batch if c.system is None and c.has_wheel)


def _parse_requirements(texts: Iterable[str]) -> Iterator[Requirement]:
    for text in texts:
        try:
            yield Requirement(text)
        except InvalidRequirement:
            logger.debug("ignoring an unreadable installed requirement: %s", text)


def _without_marker(req: Requirement) -> str:
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    return f"{req.name}{extras}{req.specifier}"
