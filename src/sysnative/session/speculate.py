"""Ask the system side early, in the background, while the index side is still resolving.

Planning is sequential by design: resolve against the index, route, then ask the provider
(``query`` and the install ``simulate``), then resolve again against what the system provides.
The provider's answers are slow on a cold machine (apt: 0.5 s to build its package cache, and
0.5 s of dependency solving per simulation, whatever the size of the request), and they sit on
the critical path between two resolution passes.

But the question is predictable long before the first pass ends. The resolver asks the index
for a project's files as soon as a requirement names it; if the newest release usable on the
target is native (no pure wheel) and the mapping names a package, that package is very likely
to be asked for. :class:`Speculator` watches those file lists (through :class:`WatchedIndex`)
and, on one background thread, keeps the provider busy with exactly the calls the pipeline
will make: it prepares the provider, queries the likely packages, and simulates installing the
likely set, again whenever the set grows.

:class:`SpeculativeProvider` is what the pipeline talks to. It answers ``query`` and
``simulate`` from the speculation when the pipeline asks the same question (same packages,
same set), waiting for an answer in flight, and otherwise asks the real provider. A guess can
only be wasted work, never a wrong answer: nothing on the system changes between the
speculative call and the real one, and an exact-set match is required. Failed speculative calls
are forgotten, so the real call reports the error itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING

# Only what starting a Speculator needs is imported here: it is created first thing in a
# planning run, to start the provider's slow setup while the rest of sysnative is imported.
if TYPE_CHECKING:
    from packaging.tags import Tag
    from packaging.utils import NormalizedName
    from packaging.version import Version

    from sysnative.mapping.table import MappingTable
    from sysnative.models import ClosureItem, CoreMetadata, IndexFile, SystemPackage
    from sysnative.plan.route import RoutePolicy
    from sysnative.protocols import IndexClient, SystemQuery
    from sysnative.target import TargetEnvironment

logger = logging.getLogger(__name__)

__all__ = ["SpeculativeProvider", "Speculator", "WatchedIndex"]


@dataclass(frozen=True)
class _Context:
    mapping: MappingTable
    policy: RoutePolicy
    tag_priority: Mapping[Tag, int]
    python: Version


class Speculator:
    """Guesses the provider calls of a planning run and makes them ahead, on one thread."""

    def __init__(self, provider: SystemQuery) -> None:
        """Start preparing ``provider`` at once; guesses wait for :meth:`begin`."""
        self._provider = provider
        self._cond = threading.Condition()
        self._context: _Context | None = None
        #: Packages the plan will likely want, in discovery order.
        self._likely: dict[str, None] = {}
        self._seen: set[NormalizedName] = set()
        #: File lists observed and not yet looked at by the worker.
        self._observed: list[tuple[NormalizedName, Sequence[IndexFile]]] = []
        self._stopped = False
        self._queries: dict[str, Future[SystemPackage | None]] = {}
        self._simulations: dict[tuple[str, ...], Future[tuple[ClosureItem, ...]]] = {}
        self._thread = threading.Thread(target=self._work, name="speculate", daemon=True)
        self._thread.start()

    def begin(
        self, *, target: TargetEnvironment, mapping: MappingTable, policy: RoutePolicy
    ) -> None:
        """What guessing needs: the target (tags, Python), the mapping and the route policy."""
        from packaging.version import Version

        with self._cond:
            self._context = _Context(
                mapping, policy, target.tag_priority(), Version(target.python_full_version)
            )
            self._cond.notify()

    # -- what the pipeline side sees ------------------------------------------------------

    def observe(self, project: NormalizedName, files: Sequence[IndexFile]) -> None:
        """The resolver just asked for ``project``'s files; the worker decides what it means."""
        with self._cond:
            if project not in self._seen:
                self._seen.add(project)
                self._observed.append((project, files))
                self._cond.notify()

    def stop(self) -> None:
        """No more guesses: the real questions are being asked now."""
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def query_answer(self, package: str) -> Future[SystemPackage | None] | None:
        with self._cond:
            return self._queries.get(package)

    def simulation_answer(
        self, packages: tuple[str, ...]
    ) -> Future[tuple[ClosureItem, ...]] | None:
        with self._cond:
            return self._simulations.get(packages)

    # -- guessing ---------------------------------------------------------------------------

    @staticmethod
    def _likely_package(
        context: _Context, project: NormalizedName, files: Sequence[IndexFile]
    ) -> str | None:
        from sysnative.models import Route
        from sysnative.plan.route import Decision, Kind, classify, decide
        from sysnative.resolve.releases import build_candidates

        policy = context.policy
        if project in policy.force_pypi:
            return None
        candidates = build_candidates(project, files, context.tag_priority, context.python)
        if not candidates:
            return None
        classification = classify(candidates[0])
        if classification.kind is not Kind.NATIVE and project not in policy.force_system:
            return None
        decision = decide(project, classification, context.mapping.lookup(project), policy)
        if isinstance(decision, Decision) and decision.route is Route.SYSTEM:
            return decision.package
        return None

    # -- the background thread ------------------------------------------------------------

    def _work(self) -> None:
        try:
            cold = self._provider.prepare()
        except Exception as exc:  # the real calls report provider problems
            logger.debug("speculating: prepare failed: %s", exc)
            return
        if not cold:
            logger.debug("speculating: not needed, the provider's answers are cached")
            return
        simulated: tuple[str, ...] = ()
        while True:
            with self._cond:
                while not self._stopped and (self._context is None or not self._observed):
                    self._cond.wait()
                if self._stopped or self._context is None:
                    return
                context = self._context
                observed, self._observed = self._observed, []
            for project, files in observed:
                package = self._likely_package(context, project, files)
                if package is not None and package not in self._likely:
                    logger.debug("speculating: %s -> %s", project, package)
                    self._likely[package] = None
            likely = tuple(self._likely)
            if likely == simulated:
                continue
            simulated = likely
            try:
                answers = self._query(likely)
                if self._is_stopped():  # the real questions were asked meanwhile
                    return
                to_install = tuple(
                    sorted(
                        package
                        for package, answer in answers.items()
                        if answer is not None
                        and answer.installed is None
                        and answer.candidate is not None
                    )
                )
                if to_install:
                    self._simulate(to_install)
            except Exception as exc:
                logger.debug("speculating: %s", exc)

    def _is_stopped(self) -> bool:
        with self._cond:
            return self._stopped

    def _query(self, packages: tuple[str, ...]) -> dict[str, SystemPackage | None]:
        with self._cond:
            new = [p for p in packages if p not in self._queries]
            futures: dict[str, Future[SystemPackage | None]] = {p: Future() for p in new}
            self._queries.update(futures)
        if new:
            try:
                answers = self._provider.query(new)
            except BaseException as exc:
                with self._cond:
                    for p in new:
                        del self._queries[p]
                for future in futures.values():
                    future.set_exception(exc)
                raise
            for p, future in futures.items():
                future.set_result(answers.get(p))
        with self._cond:
            known = {p: self._queries[p] for p in packages}
        return {p: f.result() for p, f in known.items()}

    def _simulate(self, packages: tuple[str, ...]) -> None:
        with self._cond:
            if self._stopped or packages in self._simulations:
                return
            future: Future[tuple[ClosureItem, ...]] = Future()
            self._simulations[packages] = future
        logger.debug("speculating: simulating %s", " ".join(packages))
        try:
            future.set_result(self._provider.simulate(packages))
        except BaseException as exc:
            with self._cond:
                del self._simulations[packages]
            future.set_exception(exc)
            raise


class SpeculativeProvider:
    """A :class:`~sysnative.protocols.SystemQuery` answering from a :class:`Speculator`."""

    def __init__(self, inner: SystemQuery, speculator: Speculator) -> None:
        self._inner = inner
        self._speculator = speculator
        self.name = inner.name
        self.ecosystem = inner.ecosystem

    def query(self, packages: Sequence[str]) -> Mapping[str, SystemPackage]:
        out: dict[str, SystemPackage] = {}
        missing = []
        for package in packages:
            answer = self._speculator.query_answer(package)
            if answer is None or answer.exception() is not None:
                missing.append(package)
                continue
            found = answer.result()
            if found is not None:
                out[package] = found
        if missing:
            out.update(self._inner.query(missing))
        return out

    def simulate(self, packages: Sequence[str]) -> tuple[ClosureItem, ...]:
        self._speculator.stop()
        answer = self._speculator.simulation_answer(tuple(sorted(packages)))
        if answer is not None and answer.exception() is None:
            logger.debug("simulation answered by speculation")
            return answer.result()
        return self._inner.simulate(packages)

    def to_pep440(self, distro_version: str) -> Version | None:
        return self._inner.to_pep440(distro_version)

    def site_dirs(self) -> tuple[str, ...]:
        return self._inner.site_dirs()

    def interpreter(self) -> str:
        return self._inner.interpreter()

    def prepare(self) -> bool:
        """Already done by the speculator's thread."""
        return False


class WatchedIndex:
    """An :class:`~sysnative.index.client.IndexClient` that shows the speculator what it lists."""

    def __init__(self, inner: IndexClient, speculator: Speculator) -> None:
        self._inner = inner
        self._speculator = speculator

    def get_files(self, project: NormalizedName) -> tuple[IndexFile, ...]:
        files = self._inner.get_files(project)
        self._speculator.observe(project, files)
        return files

    def get_metadata(self, file: IndexFile) -> CoreMetadata:
        return self._inner.get_metadata(file)

    def prefetch_files(self, projects: Iterable[NormalizedName]) -> None:
        self._inner.prefetch_files(projects)

    def prefetch_metadata(self, files: Iterable[IndexFile]) -> None:
        self._inner.prefetch_metadata(files)

    def close(self) -> None:
        self._inner.close()
