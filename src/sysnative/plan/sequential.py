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
import posixpath
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from sysnative.errors import NativeConflict
from sysnative.mapping.table import MappingTable
from sysnative.models import (
    STANDIN_INSTALLER,
    ClosureItem,
    Plan,
    PlannedPackage,
    RequirementSet,
    Route,
    SystemPackage,
    SystemProvision,
)
from sysnative.plan.classify import Kind, classify
from sysnative.plan.route import (
    Fallback,
    RoutePolicy,
    Unroutable,
    decide,
    fallback,
    system_conflict_hint,
)
from sysnative.plan.sysversion import may_be_placeholder, registered_by_data, system_version
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


@dataclass
class _State:
    """What the passes have learnt so far (private, mutable, local to one planning run)."""

    #: PyPI project -> distro package the plan asks the provider for.
    wanted: dict[NormalizedName, str] = field(default_factory=dict)
    #: Distro package -> what the provider said.
    packages: dict[str, SystemPackage] = field(default_factory=dict)
    closure: tuple[ClosureItem, ...] = ()
    #: Native projects the system cannot provide, routed to the index's platform wheel.
    wheel_fallback: dict[NormalizedName, str] = field(default_factory=dict)
    #: Why each project routed to the system is native (from ``classify``).
    reasons: dict[NormalizedName, str] = field(default_factory=dict)
    #: Native projects that cannot be had at all (policy ``error``): name -> why, and hint.
    unavailable: dict[NormalizedName, Unavailable] = field(default_factory=dict)
    #: System-provided projects that must not be replaced by index versions.
    pinned_to_system: set[NormalizedName] = field(default_factory=set)
    #: Installed distro packages the plan upgrades: the resolution needed the provider's
    #: newer version. Once asked for, the simulation's closure says what the system does.
    upgrades: set[str] = field(default_factory=set)
    #: Who required each wanted project when it was routed (project names).
    wanted_by: dict[NormalizedName, set[NormalizedName]] = field(default_factory=dict)
    #: Wanted projects dropped as stale once, and those wanted again after that.
    dropped: set[NormalizedName] = field(default_factory=set)
    oscillating: set[NormalizedName] = field(default_factory=set)


def build_plan(
    reqs: RequirementSet,
    *,
    target: TargetEnvironment,
    index: IndexClient,
    provider: SystemQuery,
    mapping: MappingTable,
    policy: RoutePolicy,
) -> Plan:
    state = _State()
    started = time.monotonic()  # one time bound for all the passes together
    #: System conflicts found so far when the policy is to explain them.
    explained: list[ResolutionConflict] = []
    installed_system = _installed_system(state, target, provider, mapping)
    fixed = _fixed_projects(state, target, provider, mapping, installed_system)
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
                fixed = _fixed_projects(state, target, provider, mapping, installed_system)
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
            fixed = _fixed_projects(state, target, provider, mapping, installed_system)
            continue
        if policy.conflict is Fallback.WHEEL and _fall_back_oscillating(state, provider):
            fixed = _fixed_projects(state, target, provider, mapping, installed_system)
            continue
        if _drop_stale(resolution, state):
            # Asked of the system in an earlier pass, needed by nothing now: the transaction
            # must not install it (and what it brought along), so simulate and resolve again.
            _simulate(state, provider)
            fixed = _fixed_projects(state, target, provider, mapping, installed_system)
            continue
        changed = _route_new(resolution, state, provider, mapping, policy, fixed)
        if not changed:
            if explained:
                raise _explained(explained, policy)
            return _make_plan(resolution, state, provider, mapping, target, policy)
        fixed = _fixed_projects(state, target, provider, mapping, installed_system)
    if explained:
        raise _explained(explained, policy)
    raise NativeConflict(
        f"The system and index sides did not settle after {MAX_PASSES} passes.",
        "Run again with -v and report the output; forcing routes with --system/--pypi may help.",
    )


def _fall_back_oscillating(state: _State, provider: SystemQuery) -> bool:
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


def _drop_stale(resolution: Resolution, state: _State) -> bool:
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
    state: _State,
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
    _remember(state, answers)
    routed = False
    for name, (package, specifier, parents) in found.items():
        info = answers.get(package)
        distro_version = (info.installed or info.candidate) if info is not None else None
        if info is None or distro_version is None:
            continue
        version = _planned_version(name, distro_version, provider, mapping)
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


def _installed_system(
    state: _State, target: TargetEnvironment, provider: SystemQuery, mapping: MappingTable
) -> dict[NormalizedName, SystemProvision]:
    """Distributions the target sees in the provider's site dirs: already there, fixed.

    Their packages are asked about in one query: the version to plan with is decided by
    sysversion's rule from the package's version and the registered one, so that the plan
    is the same whether a package is installed yet or not (kiwisolver registers 0.0.0).
    """
    site_dirs = {posixpath.normpath(d) for d in provider.site_dirs()}
    found = {}
    markers = set()
    for name, dist in target.installed.items():
        if dist.version is None:
            continue
        if dist.installer == STANDIN_INSTALLER:
            # sysnative's marker in the target for a system package (markerdist.py): it
            # shadows the package's own metadata, and stands for it while it is installed.
            markers.add(name)
        elif posixpath.normpath(dist.location) not in site_dirs:
            continue
        entry = mapping.lookup(name)
        found[name] = (dist.version, entry.packages[0] if entry and entry.packages else "")
    # The package manager's version changes the answer only for a marker, for a package
    # the mapping has version data for, or for a registered version shaped like a
    # placeholder: ask for those (usually none), in one query; the others plan as they
    # register (their distro versions are asked later, with the plan's other questions).
    packages = sorted(
        {
            package
            for name, (registered, package) in found.items()
            if package and _version_in_doubt(name, registered, markers, mapping)
        }
    )
    if packages:
        _remember(state, provider.query(packages))
    out = {}
    for name, (registered, package) in found.items():
        info = state.packages.get(package) if package else None
        distro_version = info.installed if info is not None else None
        if name in markers and distro_version is None:
            continue  # a marker whose package is gone: it stands for nothing
        if distro_version is not None:
            # What a marker records is sysnative's own reading, not the package's: decide again.
            own = None if name in markers else registered
            version = _planned_version(name, distro_version, provider, mapping, own)
            package = info.name if info is not None else package
        else:
            version, distro_version = registered, ""
        out[name] = SystemProvision(
            project=name,
            version=version or registered,
            provider=provider.name,
            package=package,
            distro_version=distro_version,
            installed=True,
            requested=False,
        )
    return out


def _version_in_doubt(
    name: NormalizedName, registered: Version, markers: set[NormalizedName], mapping: MappingTable
) -> bool:
    entry = mapping.lookup(name)
    return (
        name in markers
        or (entry is not None and entry.registers_version is not None)
        or may_be_placeholder(registered)
    )


def _planned_version(
    project: NormalizedName,
    distro_version: str,
    provider: SystemQuery,
    mapping: MappingTable,
    registered: Version | None = None,
) -> Version | None:
    """The version of ``project`` at the provider's ``distro_version`` that pip will see
    (sysversion's rule); ``registered``: what the installed package registers, when it is
    installed at that version (else the mapping's data says, when it knows)."""
    if registered is None:
        registered = registered_by_data(mapping.lookup(project), distro_version, provider.to_pep440)
    return system_version(provider.to_pep440(distro_version), registered)


def _route_new(
    resolution: Resolution,
    state: _State,
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
        _remember(state, provider.query(sorted(to_ask)))
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
    state: _State,
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
    _remember(state, answers)
    for parent, package in packages.items():
        info = state.packages.get(package)
        distro_version = (info.installed or info.candidate) if info is not None else None
        version = (
            _planned_version(parent, distro_version, provider, mapping) if distro_version else None
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


def _remember(state: _State, answers: Mapping[str, SystemPackage]) -> None:
    """Keep the provider's answers under the name asked and, for a virtual spec such as
    ``python3dist(numpy)``, under the real package name too (the closure uses that)."""
    for asked, info in answers.items():
        state.packages[asked] = info
        state.packages.setdefault(info.name, info)


def _project_of(item: ClosureItem, mapping: MappingTable) -> NormalizedName | None:
    """The PyPI project a closure package provides: the mapping's reverse direction, else
    what the package itself declares (rpm ``python3dist()`` provides)."""
    project = mapping.reverse(item.name)
    if project is None and item.projects:
        project = canonicalize_name(item.projects[0])
    return project


def _simulate(state: _State, provider: SystemQuery) -> None:
    """Read the install closure of everything the plan asks of the provider: the packages
    to install, and the installed ones to upgrade (apt lists those with ``replaces``)."""
    to_install = {p for p in state.wanted.values() if state.packages[p].installed is None}
    to_install |= state.upgrades
    state.closure = provider.simulate(sorted(to_install)) if to_install else ()


def _fixed_projects(
    state: _State,
    target: TargetEnvironment,
    provider: SystemQuery,
    mapping: MappingTable,
    installed_system: Mapping[NormalizedName, SystemProvision],
) -> dict[NormalizedName, FixedProject]:
    fixed: dict[NormalizedName, FixedProject] = {}
    for name, provision in installed_system.items():
        if name in state.wheel_fallback:
            continue
        info = state.packages.get(provision.package)
        if info is not None and info.installed is not None:
            provision = replace(provision, distro_version=info.installed, package=info.name)
        fixed[name] = FixedProject(
            provision,
            replaceable=name not in state.pinned_to_system,
            upgrade=_upgrade(name, info, state, provider, mapping),
        )
    for item in state.closure:
        project = _project_of(item, mapping)
        if project is None or project in state.wheel_fallback:
            continue
        version = _planned_version(project, item.version, provider, mapping)
        if version is None:
            continue
        provision = SystemProvision(
            project,
            version,
            provider.name,
            item.name,
            item.version,
            installed=False,
            requested=project in state.wanted,
        )
        replaceable = project not in state.wanted and project not in state.pinned_to_system
        fixed[project] = FixedProject(provision, replaceable=replaceable)
    for project, package in state.wanted.items():
        info = state.packages[package]
        distro_version = info.installed or info.candidate
        assert distro_version is not None
        if project in fixed and fixed[project].provision.package == package:
            fixed[project] = replace(fixed[project], replaceable=False)
            continue
        version = _planned_version(project, distro_version, provider, mapping)
        assert version is not None
        fixed[project] = FixedProject(
            SystemProvision(
                project,
                version,
                provider.name,
                package,
                distro_version,
                installed=info.installed is not None,
            ),
            upgrade=_upgrade(project, info, state, provider, mapping),
        )
    # Requirements between system-provided projects, from the installed metadata: a
    # replacement from the index must still satisfy the system packages that use it.
    return {
        name: replace(
            f, requires=_system_requires(target, name, fixed) if f.provision.installed else ()
        )
        for name, f in fixed.items()
    }


def _upgrade(
    project: NormalizedName,
    info: SystemPackage | None,
    state: _State,
    provider: SystemQuery,
    mapping: MappingTable,
) -> SystemProvision | None:
    """The provider's newer version of an installed package, as an alternative to offer.

    ``None`` when nothing newer is known, or when the upgrade was asked for already: then
    the simulation's closure has the final word (it lists the upgrade, or the provider
    cannot make it and the installed version is all there is).
    """
    if info is None or info.installed is None or info.candidate is None:
        return None
    if info.candidate == info.installed or info.name in state.upgrades:
        return None
    old = provider.to_pep440(info.installed)
    new = provider.to_pep440(info.candidate)
    if old is None or new is None or new <= old:
        return None
    version = _planned_version(project, info.candidate, provider, mapping)
    if version is None:
        return None
    return SystemProvision(
        project,
        version,
        provider.name,
        info.name,
        info.candidate,
        installed=False,
        requested=project in state.wanted,
    )


def _system_requires(
    target: TargetEnvironment,
    name: NormalizedName,
    fixed: Mapping[NormalizedName, FixedProject],
) -> tuple[Requirement, ...]:
    """An installed system package's own Requires-Dist on other system-provided projects.

    Requirements on projects the system does not provide are left out: the distro decided
    its package works without them, and pulling them from the index would be a surprise.
    """
    dist = target.installed.get(name)
    out = []
    for text in dist.requires if dist else ():
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        dep = canonicalize_name(req.name)
        if dep != name and dep in fixed:
            out.append(req)
    return tuple(out)


def _block(state: _State, result: Unroutable, cand: Candidate) -> None:
    """Take a native project nobody can provide out of the running: the next pass looks for
    releases of its dependents that do without it, or explains why there are none."""
    logger.debug("%s %s cannot be installed: %s", cand.name, cand.version, result.why)
    state.unavailable[cand.name] = Unavailable(result.why, result.hint)


def _make_plan(
    resolution: Resolution,
    state: _State,
    provider: SystemQuery,
    mapping: MappingTable,
    target: TargetEnvironment,
    policy: RoutePolicy,
) -> Plan:
    rows: list[PlannedPackage] = []
    seen: set[NormalizedName] = set()
    closure_projects = {_project_of(i, mapping): i for i in state.closure}
    closure_packages = {i.name: i for i in state.closure}
    _query_installed_versions(resolution, state, provider)
    for name, cand in resolution.candidates.items():
        seen.add(name)
        required_by = tuple(sorted({r.parent for r in resolution.requirements.get(name, ())}))
        if cand.system is not None:
            item = closure_packages.get(cand.system.package)
            rows.append(_system_row(cand.system, state, required_by, item))
            continue
        classification = classify(cand)
        wheel = classification.wheel
        assert wheel is not None
        # A native project reaches the index only through --pypi or the wheel fallback.
        native = classification.kind is Kind.NATIVE
        if name in state.wheel_fallback and classification.kind is Kind.SOURCE:
            # --allow-build: built from its sdist, not the index's platform wheel.
            reason = f"{classification.reason}; {state.wheel_fallback[name]}"
        elif name in state.wheel_fallback:
            reason = (
                f"{classification.reason}; {state.wheel_fallback[name]}; the index's platform wheel"
            )
        elif name in policy.force_pypi:
            reason = f"--pypi {name}"
        elif name in state.reasons:  # a mapping layer said: never from the system
            reason = state.reasons[name]
        else:
            reason = classification.reason
        rows.append(
            PlannedPackage(
                name,
                cand.version,
                Route.PYPI,
                reason,
                required_by,
                file=wheel,
                native_wheel=native,
                already_installed=_installed_same(target, name, cand),
            )
        )
    packages_shown = {r.package for r in rows if r.package}
    # The closure is what the provider simulated for the packages the plan asks for; the
    # system step asks for the requested rows only. A package asked for whose project the
    # final resolution no longer has (cffi, wanted for the index's cryptography before the
    # system's cryptography replaced it; see _drop_stale) is still asked for: its row says
    # so, or the provider would install something other than the plan.
    asked = {package: project for project, package in state.wanted.items()}
    for item in state.closure:
        project = asked.get(item.name)
        if project is None and item.name in state.upgrades:
            project = _project_of(item, mapping)
        if project is None or project in seen or item.name in packages_shown:
            continue
        version = _planned_version(project, item.version, provider, mapping)
        if version is None:
            continue
        seen.add(project)
        packages_shown.add(item.name)
        rows.append(_asked_row(project, version, item, state, resolution, provider))
    for project, item in closure_projects.items():
        if project is None or project in seen or item.name in packages_shown:
            continue
        version = _planned_version(project, item.version, provider, mapping)
        if version is None:
            continue
        rows.append(
            PlannedPackage(
                project,
                version,
                Route.SYSTEM,
                "comes with the system packages (dependency)" + _upgrade_note(item),
                provider=provider.name,
                package=item.name,
                distro_version=item.version,
            )
        )
    rows.sort(key=lambda r: (r.route is not Route.SYSTEM, r.name))
    system_native = any(r.route is Route.SYSTEM for r in rows)
    notes = tuple(
        f"{name} takes the index's platform wheel while the system provides other native "
        "packages: they were not built together"
        if system_native
        else f"{name} takes the index's platform wheel ({why})"
        for name, why in state.wheel_fallback.items()
        # Not one an earlier pass needed and this one drops, nor one built from its sdist
        # (the report has a note of its own for those).
        if name in resolution.candidates
        and classify(resolution.candidates[name]).kind is not Kind.SOURCE
    ) + tuple(
        _unknown_extras_note(resolution.candidates[name], extras)
        for name, extras in sorted(resolution.unknown_extras.items())
    )
    return Plan(
        packages=tuple(rows),
        provider=provider.name,
        target_python=target.executable,
        system_closure=state.closure,
        notes=notes,
    )


def _asked_row(
    project: NormalizedName,
    version: Version,
    item: ClosureItem,
    state: _State,
    resolution: Resolution,
    provider: SystemQuery,
) -> PlannedPackage:
    """The row of a package the plan asks the provider for although the final resolution
    does not have its project: what required it when it was routed says why."""
    if project in state.wanted:
        reason = state.reasons.get(project, "routed to the system")
    else:
        reason = "installed by the system, too old for what is required"
    parents = state.wanted_by.get(project, set())
    required_by = tuple(
        sorted(str(resolution.candidates[p]) for p in parents if p in resolution.candidates)
    )
    return PlannedPackage(
        project,
        version,
        Route.SYSTEM,
        reason + _upgrade_note(item),
        required_by,
        provider=provider.name,
        package=item.name,
        distro_version=item.version,
        requested=True,
    )


def _unknown_extras_note(cand: Candidate, extras: frozenset[NormalizedName]) -> str:
    names = ", ".join(sorted(extras))
    return (
        f"{cand.name}[{names}]: {cand.name} {cand.version} comes from the system, and what "
        f"the extra{'s' if len(extras) > 1 else ''} {names} need{'' if len(extras) > 1 else 's'}"
        f" is unknown (the index has no wheel of {cand.name} {cand.version} to read it from, "
        "and the target does not have it installed): those dependencies are not in the plan; "
        "add them to the requirements if you need them"
    )


def _upgrade_note(item: ClosureItem | None) -> str:
    return f"; upgrade from {item.replaces}" if item is not None and item.replaces else ""


def _query_installed_versions(resolution: Resolution, state: _State, provider: SystemQuery) -> None:
    """Ask the provider, in one call, for the distro version of installed system packages
    the plan shows but never queried (found through the target's installed metadata)."""
    missing = sorted(
        {
            c.system.package
            for c in resolution.candidates.values()
            if c.system is not None
            and c.system.installed
            and not c.system.distro_version
            and c.system.package
            and c.system.package not in state.packages
        }
    )
    if missing:
        _remember(state, provider.query(missing))


def _system_row(
    provision: SystemProvision,
    state: _State,
    required_by: tuple[str, ...],
    item: ClosureItem | None,
) -> PlannedPackage:
    if provision.project in state.wanted:
        reason = state.reasons.get(provision.project, "routed to the system")
        if provision.installed:
            reason += "; already installed"
    elif provision.installed:
        reason = "already installed by the system"
    elif provision.package in state.upgrades and item is not None and item.replaces:
        reason = "installed by the system, too old for what is required"
    else:
        reason = "comes with the system packages (dependency)"
    if not provision.installed:
        reason += _upgrade_note(item)
    return PlannedPackage(
        provision.project,
        provision.version,
        Route.SYSTEM,
        reason,
        required_by,
        provider=provision.provider,
        package=provision.package or None,
        distro_version=provision.distro_version or _installed_version(state, provision) or None,
        already_installed=provision.installed,
        requested=not provision.installed
        and (provision.project in state.wanted or provision.package in state.upgrades),
    )


def _installed_version(state: _State, provision: SystemProvision) -> str | None:
    info = state.packages.get(provision.package) if provision.installed else None
    return info.installed if info is not None else None


def _installed_same(target: TargetEnvironment, name: NormalizedName, cand: Candidate) -> bool:
    dist = target.installed.get(name)
    return dist is not None and dist.version == cand.version
