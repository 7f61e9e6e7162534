"""One planning session: everything ``install``, ``lock`` and ``--dry-run`` share.

Choosing the provider, probing the target, reading pip's index configuration, loading the
mapping layers and building the plan are the same whether the plan is then shown, executed
or written to a lock file. :func:`planning_session` does them once, in the order that lets
the slow parts overlap (see :mod:`sysnative.session.speculate`), and keeps the index client and the
provider's background work alive for whoever carries the plan out; leaving the ``with``
block stops both.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sysnative.errors import UsageError

# The index, resolver and their dependencies are imported only once the provider's slow setup
# has started (see start_system_side): a cold apt needs all the head start a run can give.
if TYPE_CHECKING:
    from sysnative.cache import Cache
    from sysnative.index.client import SimpleIndexClient
    from sysnative.install.sdists import SdistBuilder
    from sysnative.mapping.table import MappingTable
    from sysnative.models import Plan, RequirementSet
    from sysnative.plan.route import RoutePolicy
    from sysnative.protocols import Provider, SystemQuery
    from sysnative.session.speculate import Speculator
    from sysnative.target import TargetEnvironment

logger = logging.getLogger(__name__)

__all__ = [
    "PlanRequest",
    "PlanningSession",
    "SystemSide",
    "planning_session",
    "start_system_side",
]


@dataclass(frozen=True)
class PlanRequest:
    """What the user asked to plan, after configuration layers were applied."""

    requirements: RequirementSet
    policy: RoutePolicy
    #: ``--python``: the target interpreter or venv; ``None`` picks the active one.
    python: str | None = None
    #: ``--provider``; ``None`` detects it.
    provider: str | None = None
    #: Extra arguments for each provider's tool, by provider (``dnf --installroot=...``).
    provider_options: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    refresh: bool = False
    #: ``--mapping`` files (the top layer), and those the site and user config files name.
    mapping_files: tuple[str, ...] = ()
    site_mapping_files: tuple[str, ...] = ()
    user_mapping_files: tuple[str, ...] = ()
    #: Where to look for ``pyproject.toml`` ``[tool.sysnative.mapping]``; ``None``: nowhere.
    project_dir: Path | None = None


@dataclass
class PlanningSession:
    """A computed plan and the live objects that carrying it out needs."""

    plan: Plan
    target: TargetEnvironment
    provider: Provider
    mapping: MappingTable
    index: SimpleIndexClient
    cache: Cache
    notes: list[str] = field(default_factory=list)
    #: Prepares sdists' metadata and builds their wheels (``--allow-build``; else ``None``).
    builder: SdistBuilder | None = None


@dataclass(frozen=True)
class SystemSide:
    """A run's provider, with its slow setup already going on in the background."""

    cache: Cache
    provider: Provider
    #: Guesses the provider's answers ahead; ``None`` with the accelerators off (speed.py).
    speculator: Speculator | None
    #: The ``--provider`` and provider options it was started for.
    requested: str | None
    options: Mapping[str, tuple[str, ...]]

    def stop(self) -> None:
        """No guessing ahead any more (the provider's own background work ends with it)."""
        if self.speculator is not None:
            self.speculator.stop()


def start_system_side(
    provider: str | None, options: Mapping[str, tuple[str, ...]], *, python: str | None = None
) -> SystemSide:
    """Choose the provider and start its slow setup (see speculate.py).

    It needs the configuration only, so the command line calls this before it reads the
    requirement files or imports the index and the resolver: a cold apt spends the run's
    first second opening its cache, and every millisecond of head start shows at the end.
    With the accelerators on, the default index of the target's pip (``--python``) is
    learned in the background meanwhile too: on a cold cache pip takes half a second.
    """
    from sysnative.cache import Cache
    from sysnative.providers import select_provider
    from sysnative.session import speed
    from sysnative.session.speculate import Speculator

    cache = Cache()
    chosen = select_provider(provider, cache_dir=cache.root, options=options)
    speculator = None
    if speed.enabled():
        speculator = Speculator(chosen)
        threading.Thread(
            target=_learn_pip_default, args=(python,), name="pip-default", daemon=True
        ).start()
    return SystemSide(cache, chosen, speculator, provider, options)


def _learn_pip_default(python: str | None) -> None:
    """Ask the target's pip for its default index now; the index configuration then finds
    the answer cached, or waits for this question (errors are left for that real call)."""
    from sysnative import probe
    from sysnative.index.pipdefault import default_index_url

    try:
        default_index_url(probe.choose_interpreter(python), None, os.environ)
    except Exception as exc:
        logger.debug("learning pip's default index ahead: %s", exc)


@contextmanager
def planning_session(
    request: PlanRequest, *, system: SystemSide | None = None
) -> Iterator[PlanningSession]:
    """Plan ``request``; the index client and background work stop when the block ends.

    ``system``, from :func:`start_system_side` for the same provider and options, is taken
    over (and stopped with the rest); without it the session starts its own.
    """
    with ExitStack() as stack:
        if system is not None:
            stack.callback(system.stop)
            if (system.requested, system.options) != (request.provider, request.provider_options):
                raise ValueError("the system side was started for another provider")
        reqs = request.requirements
        if not reqs.requirements:
            raise UsageError(
                "Nothing to install: give requirements as arguments or with -r FILE.",
                "For example: sysnative install --system-native --dry-run numpy requests",
            )
        policy = request.policy
        if policy.force_system & policy.force_pypi:
            both = ", ".join(sorted(policy.force_system & policy.force_pypi))
            raise UsageError(f"{both} cannot be forced to both --system and --pypi.")
        if system is None:
            system = start_system_side(
                request.provider, request.provider_options, python=request.python
            )
            stack.callback(system.stop)
        yield from _plan(request, system, stack)


def _plan(request: PlanRequest, system: SystemSide, stack: ExitStack) -> Iterator[PlanningSession]:
    """The body of :func:`planning_session`; what needs stopping goes on ``stack``."""
    from concurrent.futures import ThreadPoolExecutor

    from sysnative import probe

    cache, provider, speculator = system.cache, system.provider, system.speculator
    reqs, policy = request.requirements, request.policy
    interpreter = probe.choose_interpreter(request.python)
    # The target answers (a subprocess) while this thread imports the index side, reads the
    # mapping layers and pip's configuration.
    with ThreadPoolExecutor(1, thread_name_prefix="probe") as pool:
        # --refresh asks everything anew, the target's own description included.
        probe_cache = None if request.refresh else cache.root
        probing = pool.submit(probe.probe, interpreter, cache_dir=probe_cache)
        from packaging.utils import canonicalize_name

        from sysnative.index import pipconfig
        from sysnative.index.client import SimpleIndexClient
        from sysnative.mapping import files as mapping

        # Mapping layers are read before the index is asked: a broken file stops the run.
        table = mapping.load_layers(
            provider.ecosystem,
            files=request.mapping_files,
            site_files=request.site_mapping_files,
            user_files=request.user_mapping_files,
            project_dir=request.project_dir,
        )
        config = pipconfig.load_index_config(
            cli_index_url=request.index_url or reqs.index_url,
            cli_extra_index_urls=[*reqs.extra_index_urls, *request.extra_index_urls],
            python=interpreter,
        )
        index = SimpleIndexClient(config, cache, refresh=request.refresh)
        stack.callback(index.close)
        if speculator is not None:
            index.prefetch_files(canonicalize_name(r.requirement.name) for r in reqs.requirements)
        target = probing.result()
    from sysnative.plan.sequential import build_plan
    from sysnative.protocols import IndexClient
    from sysnative.resolve.resolver import constraint_map
    from sysnative.session.prefetch import GraphPrefetcher
    from sysnative.session.speculate import SpeculativeProvider, WatchedIndex
    from sysnative.session.speed import PlainIndex

    # The accelerators (speed.py): guesses of the system's answers, the graph walked ahead.
    watched: IndexClient = PlainIndex(index)
    system_query: SystemQuery = provider
    if speculator is not None:
        speculator.begin(target=target, mapping=table, policy=policy)
        watched = WatchedIndex(index, speculator)
        system_query = SpeculativeProvider(provider, speculator)
    # The index side's round trips overlap from here on (see prefetch.py). Projects the
    # system already provides are resolved at the system's version: nothing to fetch.
    site_dirs = {os.path.normpath(d) for d in provider.site_dirs()}
    installed_system = {
        name
        for name, dist in target.installed.items()
        if os.path.normpath(dist.location) in site_dirs
    }
    builder = None
    if policy.allow_build:
        # Releases without a wheel for the target become candidates through their sdists,
        # whose metadata pip prepares (see sdists.py); nothing is built before the install.
        from sysnative.install.sdists import BuildingIndex, SdistBuilder, system_first

        builder = SdistBuilder(config, index.http, cache, target)
        stack.callback(builder.close)
        first = system_first(table, system_query, policy, installed=installed_system)
        watched = BuildingIndex(watched, builder, from_system=first)
    if speculator is not None:
        prefetcher = GraphPrefetcher(
            watched,
            target,
            skip=installed_system,
            constraints=constraint_map(reqs.constraints, target),
        )
        prefetcher.start(r.requirement for r in reqs.requirements)
        stack.callback(prefetcher.stop)
    plan = build_plan(
        reqs,
        target=target,
        index=watched,
        provider=system_query,
        mapping=table,
        policy=policy,
    )
    yield PlanningSession(plan, target, provider, table, index, cache, builder=builder)


def route_policy(
    unpackaged: str,
    conflict: str,
    system: Sequence[str],
    pypi: Sequence[str],
    *,
    allow_build: bool = False,
) -> RoutePolicy:
    """The routing policy from the fallback settings, the ``--system``/``--pypi`` values and
    ``--allow-build``."""
    from packaging.utils import canonicalize_name

    from sysnative.plan.route import Fallback, RoutePolicy

    return RoutePolicy(
        unpackaged=Fallback(unpackaged),
        conflict=Fallback(conflict),
        force_system=frozenset(canonicalize_name(n) for n in system),
        force_pypi=frozenset(canonicalize_name(n) for n in pypi),
        allow_build=allow_build,
    )
