"""Sequential resolution: the system side first, then the index side against it.

1. Resolve everything against the index (binary-only).
2. Classify each pinned project and route it (``route.decide``).
3. Ask the provider, in one batched query, about the native projects' packages, and read
   the install closure from its simulation.
4. Fix everything the system will provide (requested, brought in by the closure, or already
   installed) at the system's version, and resolve again. New projects may appear (an older
   release with other dependencies): repeat until the set of system packages stops changing.

An installed package is kept as it is when its version satisfies what reaches it; when it does
not and the provider has a newer version that does, the resolution takes that one, the plan
upgrades the package, and the simulation (which shows the upgrade and whatever it brings) is
read again.

The provider and the index are passed in; this module only decides.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from sysnative.errors import NativeConflict
from sysnative.mapping.table import MappingTable
from sysnative.models import (
    Plan,
    RequirementSet,
    Route,
)
from sysnative.plan.assemble import make_plan
from sysnative.plan.fixed import fixed_projects, installed_system
from sysnative.plan.route import (
    Fallback,
    Kind,
    RoutePolicy,
    Unroutable,
    classify,
    decide,
    fallback,
    system_conflict_hint,
)
from sysnative.plan.state import PassState, remember
from sysnative.plan.sysversion import planned_version
from sysnative.protocols import IndexClient, SystemQuery
from sysnative.resolve import (
    Candidate,
    FixedProject,
    Req,
    Resolution,
    ResolutionConflict,
    Unavailable,
    parent_project,
    resolve,
)
from sysnative.target import TargetEnvironment

logger = logging.getLogger(__name__)

MAX_PASSES = 10


def build_plan(
    reqs: RequirementSet,
    *,
    target: TargetEnvironment,
    index: IndexClient,
    provider: SystemQuery,
    mapping: MappingTable,
    policy: RoutePolicy,
) -> Plan:
    state = PassState()
    started = time.monotonic()  # one time bound for all the passes together
    #: System conflicts found so far when the policy is to explain them.
    explained: list[ResolutionConflict] = []
    installed = installed_system(state, target, provider, mapping)
    fixed = fixed_projects(state, target, provider, mapping, installed)
    for number in range(1, MAX_PASSES + 1):
        logger.debug("resolution pass %d with %d fixed projects", number, len(fixed))
        try:
            resolution = resolve(
                reqs.requirements,
                reqs.constraints,
                index=index,
                target=target,
                fixed=fixed,
                unavailable=state.unavailable,
                started=started,
            )
        except ResolutionConflict as exc:
            if _route_sdist_only(exc, state, provider, mapping, policy):
                # A release the index has only as an sdist, which the system packages: the
                # system provides it (Flask-Mail==0.9.1 and python3-flask-mail 0.9.1).
                _simulate(state, provider)
                fixed = fixed_projects(state, target, provider, mapping, installed)
                continue
            # The wheel fallback only helps where the index has a wheel that satisfies.
            system_conflicts = [
                c for c in exc.conflicts if c.system is not None and c.wheel_available is not False
            ]
            if not system_conflicts:
                raise _explained(explained or [exc], policy) from None
            if policy.conflict is not Fallback.WHEEL:
                # Explained, not decided. Look further as the wheel fallback would, so that
                # the error names every pin the system refuses, not only the first.
                explained.append(exc)
            for conflict in system_conflicts:
                assert conflict.system is not None
                why = _conflict_reason(conflict.system.version, conflict.requirements)
                state.wheel_fallback[conflict.project] = why
                state.wanted.pop(conflict.project, None)
                state.upgrades.discard(conflict.system.package)
            _simulate(state, provider)
            fixed = fixed_projects(state, target, provider, mapping, installed)
            continue
        if policy.conflict is Fallback.WHEEL and _fall_back_oscillating(state, provider):
            fixed = fixed_projects(state, target, provider, mapping, installed)
            continue
        if _drop_stale(resolution, state):
            # Asked of the system in an earlier pass, needed by nothing now: the transaction
            # must not install it (and what it brought along), so simulate and resolve again.
            _simulate(state, provider)
            fixed = fixed_projects(state, target, provider, mapping, installed)
            continue
        changed = _route_new(resolution, state, provider, mapping, policy, fixed)
        if not changed:
            if explained:
                raise _explained(explained, policy)
            return make_plan(resolution, state, provider, mapping, target, policy)
        fixed = fixed_projects(state, target, provider, mapping, installed)
    if explained:
        raise _explained(explained, policy)
    raise NativeConflict(
        f"The system and index sides did not settle after {MAX_PASSES} passes.",
        "Run again with -v and report the output; forcing routes with --system/--pypi may help.",
    )


def _fall_back_oscillating(state: PassState, provider: SystemQuery) -> bool:
    """With ``--system-conflict wheel``: a system project whose version sends its dependents
    back to old releases (see :func:`_drop_stale`) takes the index's wheel. Changed?"""
    moved = sorted(p for p in state.oscillating if p in state.wanted)
    for project in moved:
        package = state.wanted.pop(project)
        info = state.packages.get(package)
        version = (info.installed or info.candidate) if info is not None else None
        state.wheel_fallback[project] = (
            f"the system's {version} would send the projects that need it back to old releases"
            if version
            else "the system's version would send the projects that need it back to old releases"
        )
        state.reasons.pop(project, None)
    if moved:
        _simulate(state, provider)
    return bool(moved)


def _drop_stale(resolution: Resolution, state: PassState) -> bool:
    """Forget system packages wanted for projects the latest resolution no longer has.

    An early pass can route a native project to the system for a dependent that a later
    pass replaces (an index ``cryptography`` needing ``cffi``, then the system's installed
    ``cryptography``, whose metadata does not). But a project whose dependent is now a
    system package still to be installed stays: that package's requirements are unknown
    until it is installed (``scipy`` -> ``numpy``). The plan asks for it by name (see
    ``_asked_row``): the dependent's distro package may not depend on it (Debian's
    python3-cryptography does without python3-cffi). Returns whether anything was dropped.
    """

    def still_needed(project: NormalizedName) -> bool:
        for parent in state.wanted_by.get(project, ()):
            cand = resolution.candidates.get(parent)
            if cand is not None and cand.system is not None and not cand.system.installed:
                return True
        return False

    stale = sorted(
        p for p in state.wanted if p not in resolution.candidates and not still_needed(p)
    )
    for project in stale:
        if project in state.dropped:
            # Dropped before and wanted again: with the system's version fixed, the search
            # takes old releases of its dependents that do without it (uvicorn 0.10.8, an
            # sdist, with --allow-build); without it, the newest, which want it again. The
            # system's version is what sends the dependents back: keep it from now on, or,
            # when conflicts fall back to wheels, take the index's wheel instead.
            state.oscillating.add(project)
            continue
        logger.debug("%s is no longer needed from the system", project)
        state.dropped.add(project)
        del state.wanted[project]
        state.reasons.pop(project, None)
    return any(p not in state.oscillating for p in stale)


def _conflict_reason(system: Version, requirements: tuple[Req, ...]) -> str:
    """``the system's 9.4.0 is outside pillow>=10.1, required by scikit-image 0.25.0``."""
    refusing = [r for r in requirements if not r.specifier.contains(system, prereleases=True)]
    if not refusing:
        return f"the system's version {system} conflicts"
    shown = "; ".join(
        f"{r.text or r.name + str(r.specifier)}, required by {r.parent}" for r in refusing[:2]
    )
    return f"the system's {system} is outside {shown}"


def _route_sdist_only(
    exc: ResolutionConflict,
    state: PassState,
    provider: SystemQuery,
    mapping: MappingTable,
    policy: RoutePolicy,
) -> bool:
    """Route to the system each project whose required releases the index has only as
    sdists, when the mapping names its package and the system's version satisfies.

    sysnative builds nothing, but the distro has built it: an old pin of a project that
    publishes wheels today (``Flask-Mail==0.9.1``) is the system's package. Returns whether
    any project was routed (the caller resolves again).
    """
    found: dict[NormalizedName, tuple[str, SpecifierSet, tuple[str, ...]]] = {}
    for conflict in exc.conflicts:
        name = conflict.project
        sdists = [str(v) for v, why in conflict.excluded if "only an sdist" in why]
        if (
            not sdists
            or conflict.wheel_available is not False  # a wheel in range: not this case
            or conflict.system is not None
            or conflict.unavailable is not None
            or name in state.wanted
            or name in policy.force_pypi
            or _pypi_only(name, mapping)
        ):
            continue
        entry = mapping.lookup(name)
        if entry is None or not entry.packages:
            continue
        specifier = SpecifierSet()
        for req in conflict.requirements:
            specifier &= req.specifier
        parents = tuple(r.parent for r in conflict.requirements)
        found[name] = (entry.packages[0], specifier, parents)
    if not found:
        return False
    answers = provider.query(sorted({package for package, _, _ in found.values()}))
    remember(state, answers)
    routed = False
    for name, (package, specifier, parents) in found.items():
        info = answers.get(package)
        distro_version = (info.installed or info.candidate) if info is not None else None
        if info is None or distro_version is None:
            continue
        version = planned_version(name, distro_version, provider.to_pep440, mapping)
        if version is None or not specifier.contains(version, prereleases=True):
            logger.debug("%s: the system's %s does not satisfy %s", name, version, specifier)
            continue
        state.wanted[name] = info.name
        state.reasons[name] = (
            f"the index has {name} {version} only as an sdist; the system has it built"
        )
        state.wanted_by[name] = {p for p in map(parent_project, parents) if p is not None}
        routed = True
    return routed


def _explained(errors: list[ResolutionConflict], policy: RoutePolicy) -> ResolutionConflict:
    """One error for every system conflict found (``teaching_pinned_2024`` pins numpy,
    scipy and pandas above the system's versions: all three are named at once)."""
    first = _with_policy_hint(errors[0], policy)
    if len(errors) == 1:
        return first
    projects = list(
        dict.fromkeys(c.project for e in errors for c in e.conflicts if c.system is not None)
    )
    names = ", ".join(projects[:-1]) + f" and {projects[-1]}" if len(projects) > 1 else projects[0]
    bodies = [line for e in errors for line in e.message.splitlines()[1:]]
    head = f"The system's versions of {names} do not satisfy what is required:"
    hint = first.hint or ""
    if len(projects) > 1:
        hint += f" The same holds for {', '.join(projects[1:])}."
    conflicts = tuple(c for e in errors for c in e.conflicts)
    return ResolutionConflict("\n".join([head, *bodies]), hint, conflicts)


def _with_policy_hint(exc: ResolutionConflict, policy: RoutePolicy) -> ResolutionConflict:
    """The resolver's error, its hint rewritten for a system conflict: the resolver does not
    know the options in use, and suggesting one of those again helps nobody."""
    if any(c.unavailable is not None for c in exc.conflicts):
        return exc  # the routing stage wrote that hint, knowing the policy
    system = [c for c in exc.conflicts if c.system is not None]
    if not system:
        return exc
    hint = system_conflict_hint(system[0].project, system[0].wheel_available, policy)
    return ResolutionConflict(exc.message, hint, exc.conflicts)


def _route_new(
    resolution: Resolution,
    state: PassState,
    provider: SystemQuery,
    mapping: MappingTable,
    policy: RoutePolicy,
    fixed: Mapping[NormalizedName, FixedProject],
) -> bool:
    """Route projects not decided yet; query the provider for new system ones. Changed?"""
    new: dict[NormalizedName, str] = {}
    #: Installed packages to ask the provider about: can it upgrade them?
    to_query: set[str] = set()
    changed = False
    upgraded = False
    for name, cand in resolution.candidates.items():
        if cand.system is not None:
            project = fixed.get(name)
            if (
                project is not None
                and project.upgrade is not None
                and cand.system == project.upgrade
            ):
                # The installed version does not satisfy, the provider's newer one does: the
                # plan upgrades the package; the simulation says what else that brings.
                logger.debug("%s: upgrading %s", name, cand.system.package)
                state.upgrades.add(cand.system.package)
                upgraded = True
            continue
        classification = classify(cand)
        if name in state.wheel_fallback:
            if classification.wheel is None:
                # The system's version conflicts and the index has no wheel to fall back to.
                why = f"{state.wheel_fallback.pop(name)}, and {classification.reason}"
                hint = system_conflict_hint(name, False, policy)
                _block(state, Unroutable(name, why, hint), cand)
                changed = True
            continue
        if name in fixed:
            # An index version replaced a system-provided project. Fine for a pure project;
            # a native one must stay with the system: pin it and resolve again. When it is
            # installed, ask the provider whether it has a newer version (an upgrade).
            if (
                classification.kind is Kind.NATIVE
                and name not in policy.force_pypi
                and not _pypi_only(name, mapping)
            ):
                state.pinned_to_system.add(name)
                changed = True
                provision = fixed[name].provision
                if provision.installed and provision.package:
                    to_query.add(provision.package)
            continue
        decision = decide(name, classification, mapping.lookup(name), policy)
        if isinstance(decision, Unroutable):
            _block(state, decision, cand)
            changed = True
            continue
        if decision.route is Route.SYSTEM and decision.package is not None:
            new[name] = decision.package
            state.reasons[name] = decision.reason
        elif _pypi_only(name, mapping):
            state.reasons[name] = decision.reason
        elif decision.native_wheel and name not in policy.force_pypi:
            instead = _system_dependents(name, resolution, state, provider, mapping, policy)
            if instead:
                new.update(instead)
                changed = True
            else:
                state.wheel_fallback[name] = "no system package is mapped for it"
    to_ask = (set(new.values()) | to_query) - set(state.packages)
    if to_ask:
        remember(state, provider.query(sorted(to_ask)))
    if not new:
        if upgraded:
            _simulate(state, provider)
        return changed or upgraded
    for name, package in new.items():
        info = state.packages.get(package)
        version = info.installed or info.candidate if info else None
        if info is None or version is None or provider.to_pep440(version) is None:
            why = (
                f"{provider.name} has no package {package}"
                if info is None or version is None
                else f"{provider.name}'s version {version} of {package} has no PEP 440 reading"
            )
            cand = resolution.candidates[name]
            result = fallback(name, classify(cand), why, policy, package=package)
            if isinstance(result, Unroutable):
                _block(state, result, cand)
                continue
            state.wheel_fallback[name] = why
            continue
        # A virtual spec (``python3dist(numpy)``) is installed by its real package name.
        state.wanted[name] = info.name
        state.wanted_by[name] = {
            p for r in resolution.requirements.get(name, ()) if (p := r.parent_project) is not None
        }
    _simulate(state, provider)
    return True


def _system_dependents(
    name: NormalizedName,
    resolution: Resolution,
    state: PassState,
    provider: SystemQuery,
    mapping: MappingTable,
    policy: RoutePolicy,
) -> dict[NormalizedName, str]:
    """The system packages of the projects that require an unpackaged native ``name``,
    when taking those instead leaves nothing that needs it: {project: package}. Only for
    projects the user did not ask for by name.

    argon2-cffi 25 is pure and needs the native argon2-cffi-bindings, which Debian 12 does
    not package; Debian's python3-argon2 is argon2-cffi 21.1.0 with its compiled part built
    in. Taking the system's argon2-cffi avoids a platform wheel, and gives the same plan as
    when python3-argon2 is already installed (installed, it is kept). Only when every
    project that requires ``name`` has a mapped package whose version satisfies what is
    required of it, and the user did not ask for ``name`` or for those projects itself.
    """
    parents: set[NormalizedName] = set()
    for req in resolution.requirements.get(name, ()):
        parent = req.parent_project
        if parent is None:
            return {}  # asked for by the user (the command line, a requirements file)
        parents.add(parent)
    packages: dict[NormalizedName, str] = {}
    for parent in parents:
        entry = mapping.lookup(parent)
        cand = resolution.candidates.get(parent)
        if (
            entry is None
            or not entry.packages
            or entry.pypi_only
            or cand is None
            or cand.system is not None
            or parent in policy.force_pypi
            or parent in state.wheel_fallback
        ):
            return {}
        packages[parent] = entry.packages[0]
    answers = provider.query(sorted(set(packages.values()) - set(state.packages)))
    remember(state, answers)
    for parent, package in packages.items():
        info = state.packages.get(package)
        distro_version = (info.installed or info.candidate) if info is not None else None
        version = (
            planned_version(parent, distro_version, provider.to_pep440, mapping)
            if distro_version
            else None
        )
        reqs = resolution.requirements.get(parent, ())
        if version is None or not all(
            r.specifier.contains(version, prereleases=True) for r in reqs
        ):
            return {}
        if any(r.parent_project is None for r in reqs):
            # Asked for by the user: they get the release they asked for (zarr 3 with the
            # platform wheel of google-crc32c, not Debian's zarr 2.13).
            return {}
        state.reasons[parent] = (
            f"{name} has no system package; the system's {parent} {version} does without it"
        )
    return packages


def _pypi_only(name: NormalizedName, mapping: MappingTable) -> bool:
    entry = mapping.lookup(name)
    return entry is not None and entry.pypi_only


def _simulate(state: PassState, provider: SystemQuery) -> None:
    """Read the install closure of everything the plan asks of the provider: the packages
    to install, and the installed ones to upgrade (apt lists those with ``replaces``)."""
    to_install = {p for p in state.wanted.values() if state.packages[p].installed is None}
    to_install |= state.upgrades
    state.closure = provider.simulate(sorted(to_install)) if to_install else ()


def _block(state: PassState, result: Unroutable, cand: Candidate) -> None:
    """Take a native project nobody can provide out of the running: the next pass looks for
    releases of its dependents that do without it, or explains why there are none."""
    logger.debug("%s %s cannot be installed: %s", cand.name, cand.version, result.why)
    state.unavailable[cand.name] = Unavailable(result.why, result.hint)
