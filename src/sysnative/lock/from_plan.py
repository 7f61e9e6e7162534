"""Making a lock from a plan: each row of the plan as a locked system row or wheel.

:func:`lock_from_plan` is the only way a :class:`~sysnative.lock.model.Lock` is made from
scratch (:mod:`sysnative.lock.document` reads one back). It takes what the plan does not
say from the caller: the machine, the target Python, the mapping facts the marker step will
need again, and the index each file came from. Rows are sorted by name so that the same
plan always gives the same lock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sysnative.lock.credentials import strip_credentials
from sysnative.lock.model import Lock, LockedSystem, LockedWheel, LockMachine, LockTarget
from sysnative.mapping.table import MappingTable
from sysnative.models import Plan, PlannedPackage

__all__ = ["lock_from_plan"]


def lock_from_plan(
    plan: Plan,
    *,
    machine: LockMachine,
    target: LockTarget,
    mapping: MappingTable,
    indexes: Mapping[str, str | None] | None = None,
    requirements: Sequence[str] = (),
    constraints: Sequence[str] = (),
) -> Lock:
    """The lock for ``plan``.

    Every index row's file must carry its sha256 and size (:mod:`sysnative.commands.lock`
    downloads the files whose index published neither before calling this). ``indexes``
    maps a file URL to the index base URL it was listed on. URLs are written without
    credentials (:func:`~sysnative.lock.credentials.strip_credentials`): a lock is meant to
    be committed.
    """
    arch_of = {item.name: item.architecture for item in plan.system_closure}
    system = [_locked_system(row, mapping, arch_of) for row in plan.system]
    wheels = [_locked_wheel(row, indexes or {}) for row in plan.pypi]
    return Lock(
        machine=machine,
        target=target,
        system=tuple(sorted(system, key=lambda s: s.project)),
        closure=tuple(sorted(plan.system_closure, key=lambda c: (c.name, c.architecture or ""))),
        wheels=tuple(sorted(wheels, key=lambda w: w.project)),
        requirements=tuple(requirements),
        constraints=tuple(constraints),
        notes=tuple(plan.notes),
    )


def _locked_system(
    row: PlannedPackage, mapping: MappingTable, arch_of: Mapping[str, str | None]
) -> LockedSystem:
    entry = mapping.lookup(row.name)
    return LockedSystem(
        project=row.name,
        version=row.version,
        package=row.package or None,
        distro_version=row.distro_version or None,
        architecture=arch_of.get(row.package) if row.package else None,
        requested=row.requested,
        installed=row.already_installed,
        reason=row.reason,
        required_by=tuple(row.required_by),
        dist_names=entry.dist_names if entry is not None else None,
        registers_version=entry.registers_version if entry is not None else None,
    )


def _locked_wheel(row: PlannedPackage, indexes: Mapping[str, str | None]) -> LockedWheel:
    file = row.file
    if file is None or file.sha256 is None or file.size is None:
        raise ValueError(f"{row.name}: a locked file needs its sha256 and size")
    index = indexes.get(file.url)
    return LockedWheel(
        project=row.name,
        version=row.version,
        filename=file.filename,
        url=strip_credentials(file.url),
        sha256=file.sha256.lower(),
        size=file.size,
        index=strip_credentials(index) if index else None,
        reason=row.reason,
        required_by=tuple(row.required_by),
        native_wheel=row.native_wheel,
    )
