"""Using a lock on this machine: does the machine match, and which plan reproduces the lock.

Installing from a lock never resolves: :func:`locked_plan` turns a
:class:`~sysnative.lock.model.Lock` into the :class:`~sysnative.models.Plan` that
:func:`sysnative.install.execute.execute` carries out, and :func:`lock_mapping` gives the
marker step the mapping facts the lock recorded. Before that, :func:`machine_differences`
lists every way this machine differs from the one the lock was made for, and
:func:`mismatch_error` turns them into the refusal. Everything here is pure: the machine's
facts are probed by the caller (:mod:`sysnative.commands.install_lock`).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import replace

from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.utils import parse_wheel_filename

from sysnative.lock.model import (
    ENVIRONMENT_KEYS,
    Difference,
    Lock,
    LockedWheel,
    LockMachine,
    LockMismatch,
    target_facts,
)
from sysnative.mapping.table import MappingEntry, MappingTable
from sysnative.models import ClosureItem, FileKind, IndexFile, Plan, PlannedPackage, Route
from sysnative.target import TargetEnvironment

__all__ = [
    "lock_mapping",
    "locked_plan",
    "machine_differences",
    "mismatch_error",
    "missing_system_projects",
    "relock_command",
]

# --------------------------------------------------------------------------------------------
# Does this machine match?


def machine_differences(
    lock: Lock, here: LockMachine, target: TargetEnvironment
) -> tuple[Difference, ...]:
    """Every way this machine and target differ from what ``lock`` was made for.

    The PEP 751 ``environments`` and ``requires-python`` checks are reported only when the
    plain facts agree (otherwise they would repeat the Python difference in other words).
    """
    out: list[Difference] = []
    locked = lock.machine
    if locked.provider != here.provider:
        out.append(Difference("package manager", locked.provider, here.provider))
    if (locked.distro_id, locked.distro_version) != (here.distro_id, here.distro_version):
        out.append(
            Difference(
                "distribution",
                f"{locked.distro_id} {locked.distro_version}",
                f"{here.distro_id or 'unknown'} {here.distro_version or '(no VERSION_ID)'}",
            )
        )
    if locked.architecture and here.architecture and locked.architecture != here.architecture:
        out.append(Difference("architecture", locked.architecture, here.architecture))
    facts = target_facts(target)
    if (lock.target.implementation, lock.target.python_version) != (
        facts.implementation,
        facts.python_version,
    ):
        out.append(
            Difference(
                f"Python (the target {target.executable})",
                lock.target.describe(),
                facts.describe(),
            )
        )
        return tuple(out)
    environment = dict(target.markers)
    markers = lock.environment_markers
    if markers and not any(Marker(m).evaluate(environment) for m in markers):
        out.append(
            Difference(
                "environment (PEP 751 environments)",
                " or ".join(markers),
                ", ".join(f"{k} = {environment.get(k, '?')!r}" for k in ENVIRONMENT_KEYS),
            )
        )
    if not SpecifierSet(lock.python_specifier).contains(
        target.python_full_version, prereleases=True
    ):
        out.append(
            Difference(
                "Python version (requires-python)",
                lock.python_specifier,
                target.python_full_version,
            )
        )
    return tuple(out)


def relock_command(lock: Lock, output: str = "pylock.toml") -> str:
    """The ``sysnative lock`` command that makes this lock again, on the current machine."""
    words = ["sysnative", "lock", *lock.requirements]
    command = shlex.join([*words, "-o", output])
    if lock.constraints:
        command += " -c CONSTRAINTS-FILE"
    return command


def mismatch_error(lock: Lock, source: str, differences: Sequence[Difference]) -> LockMismatch:
    """The refusal for a lock made on another machine: each difference, then the way out."""
    lines = "\n".join("    " + d.describe() for d in differences)
    return LockMismatch(
        f"{source} was made for another machine, so its exact versions cannot be installed "
        f"here. Nothing was changed.\n{lines}",
        "A lock reproduces the machine it was made on. Make a new lock on this machine (or in "
        f"the image you install into): {relock_command(lock, source)}. To install only its "
        f"packages from the index, use pip 26.1 or newer: pip install --no-deps -r "
        f"{shlex.quote(source)}",
        differences=differences,
    )


def missing_system_projects(lock: Lock, target: TargetEnvironment) -> tuple[str, ...]:
    """System rows without a package (seen in the system's site dir when the lock was made,
    no package known): the target must see them at the locked version, as nothing here can
    install them. One line per missing project."""
    out = []
    for row in lock.system:
        if row.package:
            continue
        dist = target.installed.get(row.project)
        if dist is None or dist.version != row.version:
            seen = f"it sees {dist.version}" if dist is not None else "it does not see it"
            out.append(
                f"{row.project} {row.version} (already on the system when the lock was made, "
                f"from no package sysnative knows): {seen}"
            )
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Lock -> Plan (for execute)


def locked_plan(
    lock: Lock,
    *,
    installed: Mapping[str, str],
    target: TargetEnvironment,
    urls: Mapping[str, str] | None = None,
) -> Plan:
    """The plan that reproduces ``lock`` here, for :func:`sysnative.install.execute.execute`.

    ``installed`` maps distro package names to the version installed on this machine now.
    A system row whose package is installed at its locked version is already installed;
    any other is installed at the locked version: asked for by name when the lock asked
    for it by name or when it was already installed when the lock was made (nothing else
    in the lock pulls it in then). If only dependency rows are missing, they are asked for
    by name, since nothing else would install them.

    The expected closure is the lock's, less what is installed here at the locked version,
    plus the packages asked for that were installed when the lock was made. The provider's
    fresh simulation must match it exactly (``check_install``), so a machine that would need
    other packages is refused before any change. ``urls`` replaces a locked URL by the one to
    download (with credentials put back).
    """
    rows: list[PlannedPackage] = []
    for s in lock.system:
        present = s.package is None or installed.get(s.package) == s.distro_version
        rows.append(
            PlannedPackage(
                s.project,
                s.version,
                Route.SYSTEM,
                s.reason or "from the lock",
                s.required_by,
                provider=lock.machine.provider,
                package=s.package,
                distro_version=s.distro_version,
                already_installed=present,
                requested=not present and (s.requested or s.installed),
            )
        )
    if not any(r.requested for r in rows):
        rows = [
            replace(r, requested=True) if not r.already_installed and r.package else r for r in rows
        ]
    closure = [
        ClosureItem(c.name, c.version, c.architecture, replaces=_replaced(installed, c))
        for c in lock.closure
        if installed.get(c.name) != c.version
    ]
    in_closure = {c.name for c in lock.closure}
    arch = {s.package: s.architecture for s in lock.system if s.package}
    for row in rows:
        if row.requested and row.package and row.distro_version and row.package not in in_closure:
            item = ClosureItem(row.package, row.distro_version, arch.get(row.package))
            closure.append(replace(item, replaces=_replaced(installed, item)))
            in_closure.add(row.package)
    for w in lock.wheels:
        seen = target.installed.get(w.project)
        rows.append(
            PlannedPackage(
                w.project,
                w.version,
                Route.PYPI,
                w.reason or "from the lock",
                w.required_by,
                file=_index_file(w, (urls or {}).get(w.url, w.url)),
                native_wheel=w.native_wheel,
                already_installed=seen is not None and seen.version == w.version,
            )
        )
    rows.sort(key=lambda r: (r.route is not Route.SYSTEM, r.name))
    return Plan(
        packages=tuple(rows),
        provider=lock.machine.provider,
        target_python=target.executable,
        system_closure=tuple(closure),
        notes=lock.notes,
    )


def _replaced(installed: Mapping[str, str], item: ClosureItem) -> str | None:
    """The version installed here that ``item`` would replace (``None``: not installed)."""
    now = installed.get(item.name)
    return now if now is not None and now != item.version else None


def _index_file(wheel: LockedWheel, url: str) -> IndexFile:
    _, _, _, tags = parse_wheel_filename(wheel.filename)
    return IndexFile(
        project=wheel.project,
        version=wheel.version,
        filename=wheel.filename,
        url=url,
        kind=FileKind.WHEEL,
        tags=tags,
        sha256=wheel.sha256,
        size=wheel.size,
    )


def lock_mapping(lock: Lock, ecosystem: str) -> MappingTable:
    """The mapping facts the marker step needs, from the lock alone: the mapping files of
    this machine may have changed since, and the lock must reproduce the same markers."""
    entries = [
        MappingEntry(
            project=s.project,
            packages=(s.package,) if s.package else (),
            dist_names=s.dist_names,
            version_rule=None,
            alias_of=None,
            note=None,
            origin="lock",
            registers_version=s.registers_version,
            layer="lock",
        )
        for s in lock.system
    ]
    return MappingTable(ecosystem, entries, origins=("lock",))
