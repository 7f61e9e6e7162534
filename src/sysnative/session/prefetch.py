"""Walk the likely dependency graph ahead of the resolver, so round trips overlap.

resolvelib asks for a project's listing only when it reaches a requirement on it, and a
requirement only appears once its parent is pinned and its metadata read. On a cold cache
that makes resolution a chain of round trips, one dependency level after another, with the
resolver idle in between: ``requests`` is known at once, but ``urllib3``'s listing is asked
for only after the resolver got round to pinning ``requests``.

:class:`GraphPrefetcher` guesses the resolver's path instead: for each project it picks the
version the resolver will most likely take (the newest with a wheel for the target that the
requirement allows), reads its metadata, and goes on to the requirements that apply to the
target, on a few threads, as deep as the graph goes. Everything it asks lands in the index
client's per-run memo, where the resolver finds it. A wrong guess (the resolver backtracks
to an older version) costs only the requests made for it; the answers are the index's, never
the guess's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from sysnative.protocols import IndexClient
from sysnative.resolve.releases import build_candidates
from sysnative.target import TargetEnvironment

logger = logging.getLogger(__name__)

__all__ = ["GraphPrefetcher"]

#: Enough for the largest real requirement sets; a runaway graph stops here.
MAX_PROJECTS = 400


class GraphPrefetcher:
    """Fetches listings and metadata along the newest-version dependency graph."""

    def __init__(
        self,
        index: IndexClient,
        target: TargetEnvironment,
        *,
        skip: Collection[NormalizedName] = (),
        constraints: Mapping[NormalizedName, SpecifierSet] | None = None,
        workers: int = 8,
    ) -> None:
        """``skip``: projects the resolver will not ask the index about (the system's)."""
        self._index = index
        self._markers = dict(target.markers)
        self._tag_priority = target.tag_priority()
        self._python = Version(target.python_full_version)
        self._skip = frozenset(skip)
        self._constraints = dict(constraints or {})
        self._lock = threading.Condition()
        self._seen: set[tuple[NormalizedName, frozenset[str]]] = set()
        self._pending = 0
        self._stopped = False
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="prefetch")

    def start(self, requirements: Iterable[Requirement]) -> None:
        """Walk from the top-level requirements (those whose markers apply)."""
        for req in requirements:
            if self._applies(req, frozenset()):
                self._submit(req)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the walk has ended (nothing pending or running), or ``timeout``
        seconds have passed; whether it ended."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._pending, timeout)

    def stop(self) -> None:
        """Ask nothing more; a request in flight finishes into the memo."""
        with self._lock:
            self._stopped = True
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the walk ---------------------------------------------------------------------------

    def _applies(self, req: Requirement, extras: frozenset[str]) -> bool:
        if req.marker is None:
            return True
        return any(req.marker.evaluate({**self._markers, "extra": e}) for e in ("", *extras))

    def _submit(self, req: Requirement) -> None:
        name = canonicalize_name(req.name)
        key = (name, frozenset(canonicalize_name(e) for e in req.extras))
        with self._lock:
            if (
                self._stopped
                or name in self._skip
                or key in self._seen
                or len(self._seen) >= MAX_PROJECTS
            ):
                return
            self._seen.add(key)
            try:
                future = self._pool.submit(self._visit, name, req.specifier, key[1])
            except RuntimeError:  # shut down between the check and the submit
                return
            self._pending += 1
        future.add_done_callback(self._done)

    def _done(self, _future: object) -> None:
        with self._lock:
            self._pending -= 1
            self._lock.notify_all()

    def _visit(self, name: NormalizedName, specifier: SpecifierSet, extras: frozenset[str]) -> None:
        try:
            files = self._index.get_files(name)
            allowed = specifier & self._constraints.get(name, SpecifierSet())
            pre = bool(allowed.prereleases)  # as the resolver: only when a specifier says so
            likely = next(
                (
                    c
                    for c in build_candidates(name, files, self._tag_priority, self._python)
                    if c.has_wheel and allowed.contains(c.version, prereleases=pre)
                ),
                None,
            )
            if likely is None:
                return
            metadata = self._index.get_metadata(likely.files[0])
        except Exception as exc:  # the resolver meets the same problem and reports it
            logger.debug("prefetch of %s stopped: %s", name, exc)
            return
        for req in metadata.requires_dist:
            if self._applies(req, extras):
                self._submit(req)
