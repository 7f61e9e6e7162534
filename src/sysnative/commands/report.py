"""The plan as text: a table, notes and summary lines for people, and versioned JSON
(``--report``) for programs.

Pure: every function returns text or a JSON-ready object; :mod:`sysnative.commands.output`
prints them and writes the report file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sysnative import __version__
from sysnative.models import FileKind, Plan, PlannedPackage, Route

if TYPE_CHECKING:
    from sysnative.target import TargetEnvironment

#: Bump on any incompatible change to the JSON report; documented in docs/report.md.
REPORT_VERSION = "1"


def built_from_sdist(row: PlannedPackage) -> bool:
    """Whether the row's wheel is built here from its sdist (``--allow-build``)."""
    return row.route is Route.PYPI and row.file is not None and row.file.kind is FileKind.SDIST


def _route(row: PlannedPackage) -> str:
    if row.native_wheel:
        return f"{row.route.value} (native wheel)"
    if built_from_sdist(row):
        return f"{row.route.value} (build)"
    return row.route.value


def _source(row: PlannedPackage) -> str:
    if row.route is Route.SYSTEM:
        if not row.package:
            return f"{row.provider}: installed"
        return f"{row.provider}: {row.package} {row.distro_version or ''}".rstrip()
    assert row.file is not None
    return row.file.filename


def render_table(plan: Plan) -> str:
    headers = ("project", "version", "route", "source", "why")
    rows = [
        (
            r.name,
            str(r.version),
            _route(r),
            _source(r),
            r.reason,
        )
        for r in plan.packages
    ]
    return _table(headers, rows)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
        for i, h in enumerate(headers)
    ]

    # The last column is free text: do not pad it.
    def line(cells: Sequence[str]) -> str:
        padded = [c.ljust(w) for c, w in zip(cells[:-1], widths[:-1])]
        return "  ".join([*padded, cells[-1]]).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(r) for r in rows)
    return "\n".join(out)


def summary(plan: Plan) -> str:
    system_new = [r for r in plan.system if not r.already_installed]
    system_have = [r for r in plan.system if r.already_installed]
    pypi_new = [r for r in plan.pypi if not r.already_installed]
    wheels = sum(1 for r in pypi_new if r.native_wheel)
    built = sum(1 for r in pypi_new if built_from_sdist(r))
    about = []
    if wheels:
        about.append(f"{wheels} of them native, see notes")
    if built:
        about.append(f"{built} of them built from {'its sdist' if built == 1 else 'sdists'}")
    parts = [
        f"{len(system_new)} from {plan.provider}"
        + (
            f" ({counted(len(plan.system_closure), 'distro package')} in the transaction)"
            if plan.system_closure
            else ""
        ),
        f"{counted(len(pypi_new), 'wheel')} from the index"
        + (f" ({'; '.join(about)})" if about else ""),
    ]
    if system_have:
        parts.append(f"{len(system_have)} already provided by the system")
    return "Would install: " + ", ".join(parts) + "."


def dry_run_suffix(plan: Plan) -> str:
    """What a dry run says after the summary: nothing changed, and what ran for the sdists."""
    if any(built_from_sdist(r) for r in plan.pypi if not r.already_installed):
        return (
            " (dry run: nothing was changed; the sdists' metadata was prepared by their build "
            "backends, no wheel was built)"
        )
    return " (dry run: nothing was changed)"


def notes(plan: Plan) -> tuple[str, ...]:
    """The plan's notes, and one for each release built from its sdist."""
    built = [r for r in plan.pypi if built_from_sdist(r) and not r.already_installed]
    extra = tuple(
        f"{r.name} {r.version} has no wheel for the target: pip builds one from its sdist "
        "before anything is installed (its build requirements come from the index and are "
        "not hash-checked)"
        for r in built
    )
    return (*plan.notes, *extra)


def unchecked_by_dry_run(plan: Plan) -> str | None:
    """What a dry run cannot check: whether the plan's native wheels import beside the
    system's packages (the trial import needs the system step done)."""
    natives = [f"{r.name} {r.version}" for r in plan.packages if r.native_wheel]
    if not natives:
        return None
    return (
        f"not checked by a dry run: whether {', '.join(natives)} "
        f"{'imports' if len(natives) == 1 else 'import'} beside the system's packages. A real "
        "install tries after the system step, before the wheel step, and plans an older "
        "release when one cannot be imported."
    )


def unseen_warning(plan: Plan, target: TargetEnvironment, site_dirs: Sequence[str]) -> str | None:
    """The warning for a plan with system packages that ``target`` would not see."""
    missing = [d for d in site_dirs if not target.sees(d)]
    if not (missing and plan.system):
        return None
    return (
        f"warning: {target.executable} cannot see {', '.join(missing)}, so the "
        "system packages would not be importable there. Use a venv created with "
        "`sysnative venv PATH` (or --system-site-packages from the system's python3)."
    )


def counted(number: int, noun: str) -> str:
    """``1 wheel``, ``2 wheels``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def to_json(plan: Plan) -> dict[str, Any]:
    packages = []
    for r in plan.packages:
        item: dict[str, Any] = {
            "name": r.name,
            "version": str(r.version),
            "route": r.route.value,
            "reason": r.reason,
            "required_by": list(r.required_by),
            "already_installed": r.already_installed,
        }
        if r.route is Route.SYSTEM:
            item.update(
                provider=r.provider,
                package=r.package,
                distro_version=r.distro_version,
                requested=r.requested,
            )
        else:
            assert r.file is not None
            item.update(
                url=r.file.url,
                filename=r.file.filename,
                sha256=r.file.sha256,
                size=r.file.size,
                native_wheel=r.native_wheel,
                built_from_sdist=built_from_sdist(r),
            )
        packages.append(item)
    return {
        "version": REPORT_VERSION,
        "sysnative_version": __version__,
        "provider": plan.provider,
        "target_python": plan.target_python,
        "packages": packages,
        "system_transaction": [
            {
                "package": c.name,
                "version": c.version,
                "architecture": c.architecture,
                "replaces": c.replaces,
            }
            for c in plan.system_closure
        ],
        "notes": list(notes(plan)),
    }
