"""Assembling the plan: one row per project, from the final resolution and what the passes
learnt (:class:`~sysnative.plan.state.PassState`).

A row says where the project comes from (the system or the index), at which version, why,
and what required it. Packages the plan asks the system for although the final resolution
no longer needs their project, and packages the system's closure brings along, get rows too:
the plan shows everything the transaction will change.
"""

from __future__ import annotations

from packaging.utils import NormalizedName
from packaging.version import Version

from sysnative.mapping.table import MappingTable
from sysnative.models import ClosureItem, Plan, PlannedPackage, Route, SystemProvision
from sysnative.plan.route import Kind, RoutePolicy, classify
from sysnative.plan.state import PassState, project_of, remember
from sysnative.plan.sysversion import planned_version
from sysnative.protocols import SystemQuery
from sysnative.resolve import Candidate, Resolution
from sysnative.target import TargetEnvironment


def make_plan(
    resolution: Resolution,
    state: PassState,
    provider: SystemQuery,
    mapping: MappingTable,
    target: TargetEnvironment,
    policy: RoutePolicy,
) -> Plan:
    rows: list[PlannedPackage] = []
    seen: set[NormalizedName] = set()
    closure_projects = {project_of(i, mapping): i for i in state.closure}
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
            project = project_of(item, mapping)
        if project is None or project in seen or item.name in packages_shown:
            continue
        version = planned_version(project, item.version, provider.to_pep440, mapping)
        if version is None:
            continue
        seen.add(project)
        packages_shown.add(item.name)
        rows.append(_asked_row(project, version, item, state, resolution, provider))
    for project, item in closure_projects.items():
        if project is None or project in seen or item.name in packages_shown:
            continue
        version = planned_version(project, item.version, provider.to_pep440, mapping)
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
    state: PassState,
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


def _query_installed_versions(
    resolution: Resolution, state: PassState, provider: SystemQuery
) -> None:
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
        remember(state, provider.query(missing))


def _system_row(
    provision: SystemProvision,
    state: PassState,
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


def _installed_version(state: PassState, provision: SystemProvision) -> str | None:
    info = state.packages.get(provision.package) if provision.installed else None
    return info.installed if info is not None else None


def _installed_same(target: TargetEnvironment, name: NormalizedName, cand: Candidate) -> bool:
    dist = target.installed.get(name)
    return dist is not None and dist.version == cand.version
