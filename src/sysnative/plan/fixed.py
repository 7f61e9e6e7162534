"""What the system fixes for the next pass of the sequential resolution.

Before the first pass, the installed system packages whose version is in doubt are asked
about (:func:`installed_system`). Before each pass, every project the system will provide
(asked for, brought in by the install closure, or already installed) becomes a
:class:`~sysnative.resolve.FixedProject` at the version pip will see
(:func:`fixed_projects`): the resolver must take it as it is, or say why it cannot.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import replace

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from sysnative.mapping.table import MappingTable
from sysnative.models import STANDIN_INSTALLER, SystemPackage, SystemProvision
from sysnative.plan.state import PassState, project_of, remember
from sysnative.plan.sysversion import may_be_placeholder, planned_version
from sysnative.protocols import SystemQuery
from sysnative.resolve import FixedProject
from sysnative.target import TargetEnvironment


def installed_system(
    state: PassState, target: TargetEnvironment, provider: SystemQuery, mapping: MappingTable
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
        remember(state, provider.query(packages))
    out = {}
    for name, (registered, package) in found.items():
        info = state.packages.get(package) if package else None
        distro_version = info.installed if info is not None else None
        if name in markers and distro_version is None:
            continue  # a marker whose package is gone: it stands for nothing
        if distro_version is not None:
            # What a marker records is sysnative's own reading, not the package's: decide again.
            own = None if name in markers else registered
            version = planned_version(name, distro_version, provider.to_pep440, mapping, own)
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


def fixed_projects(
    state: PassState,
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
        project = project_of(item, mapping)
        if project is None or project in state.wheel_fallback:
            continue
        closure_item = _to_install(project, item.name, item.version, state, provider, mapping)
        if closure_item is None:
            continue
        replaceable = project not in state.wanted and project not in state.pinned_to_system
        fixed[project] = FixedProject(closure_item, replaceable=replaceable)
    for project, package in state.wanted.items():
        info = state.packages[package]
        distro_version = info.installed or info.candidate
        assert distro_version is not None
        if project in fixed and fixed[project].provision.package == package:
            fixed[project] = replace(fixed[project], replaceable=False)
            continue
        version = planned_version(project, distro_version, provider.to_pep440, mapping)
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
    state: PassState,
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
    return _to_install(project, info.name, info.candidate, state, provider, mapping)


def _to_install(
    project: NormalizedName,
    package: str,
    distro_version: str,
    state: PassState,
    provider: SystemQuery,
    mapping: MappingTable,
) -> SystemProvision | None:
    """``project`` from ``package`` at ``distro_version``, which the transaction installs;
    ``None`` when that version has no reading pip would see."""
    version = planned_version(project, distro_version, provider.to_pep440, mapping)
    if version is None:
        return None
    return SystemProvision(
        project,
        version,
        provider.name,
        package,
        distro_version,
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
