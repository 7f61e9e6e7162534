"""``sysnative map``: what the mapping layers say about some projects, and what the system has.

Pure apart from the one batched provider query, which the caller may leave out (no provider
for that ecosystem on this machine): the rows then say "not checked" rather than guessing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from packaging.utils import NormalizedName, canonicalize_name

from sysnative.mapping.table import MappingTable
from sysnative.models import SystemPackage
from sysnative.protocols import SystemQuery

__all__ = ["MapRow", "describe", "render_text", "to_json"]

#: The provider whose packages an ecosystem's names are.
ECOSYSTEM_PROVIDERS: Mapping[str, str] = {
    "debian": "apt",
    "ubuntu": "apt",
    "fedora": "dnf",
    "conda-forge": "conda",
    "homebrew": "brew",
}


@dataclass(frozen=True)
class MapRow:
    """One project as the layered mapping sees it."""

    project: NormalizedName
    ecosystem: str
    #: Packages, preferred first; empty when no layer maps it (or the ecosystem lacks it).
    packages: tuple[str, ...]
    #: The layer and file (or ``built-in:<ecosystem>``) the winning entry came from.
    layer: str | None
    origin: str | None
    pypi_only: bool = False
    alias_of: str | None = None
    dist_names: tuple[str, ...] | None = None
    note: str | None = None
    #: The provider asked about the packages (``None``: not checked on this machine).
    provider: str | None = None
    #: What the provider said about each package; absent: it has no such package.
    system: Mapping[str, SystemPackage] | None = None


def describe(
    names: Iterable[str], table: MappingTable, provider: SystemQuery | None
) -> list[MapRow]:
    """A row per name (canonicalised, first spelling wins), with one provider query for all."""
    rows: list[MapRow] = []
    seen: set[NormalizedName] = set()
    for name in names:
        project = canonicalize_name(name)
        if project in seen:
            continue
        seen.add(project)
        entry = table.lookup(project)
        if entry is None:
            rows.append(MapRow(project, table.ecosystem, (), None, None))
            continue
        rows.append(
            MapRow(
                project,
                table.ecosystem,
                entry.packages,
                entry.layer,
                entry.origin,
                pypi_only=entry.pypi_only,
                alias_of=entry.alias_of,
                dist_names=entry.dist_names,
                note=entry.note,
            )
        )
    if provider is None:
        return rows
    wanted = sorted({p for row in rows for p in row.packages})
    answers = provider.query(wanted) if wanted else {}
    return [
        MapRow(
            **{
                **row.__dict__,
                "provider": provider.name,
                "system": {p: answers[p] for p in row.packages if p in answers},
            }
        )
        for row in rows
    ]


def _availability(row: MapRow, package: str) -> str:
    if row.system is None:
        return "not checked: no provider for this ecosystem here"
    info = row.system.get(package)
    if info is None:
        return f"{row.provider} has no such package"
    parts = []
    if info.installed:
        parts.append(f"installed {info.installed}")
    if info.candidate and info.candidate != info.installed:
        parts.append(f"available {info.candidate}")
    return ", ".join(parts) or f"known to {row.provider}, no installable version"


def render_text(rows: Sequence[MapRow]) -> str:
    """Human output: one block per project."""
    blocks = []
    for row in rows:
        lines = [f"{row.project} ({row.ecosystem})"]
        if row.layer is None:
            lines.append("  not mapped: no layer names a system package for it")
        elif row.pypi_only:
            lines.append(f"  never from the system (route = pypi), from {row.layer}: {row.origin}")
        elif not row.packages:
            lines.append(f"  the ecosystem does not ship it, from {row.layer}: {row.origin}")
        else:
            lines.append(f"  from {row.layer}: {row.origin}")
            for index, package in enumerate(row.packages):
                label = "package" if index == 0 else "also"
                lines.append(f"  {label}: {package}  [{_availability(row, package)}]")
        if row.alias_of:
            lines.append(f"  another name for {row.alias_of}")
        if row.dist_names is not None:
            registered = ", ".join(row.dist_names) if row.dist_names else "none"
            lines.append(f"  registers as: {registered}")
        if row.note:
            lines.append(f"  note: {row.note}")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def to_json(rows: Sequence[MapRow]) -> list[dict[str, object]]:
    """Machine output: a stable list of objects, one per project, in the order asked."""
    out: list[dict[str, object]] = []
    for row in rows:
        system: object = None
        if row.system is not None:
            system = {
                package: (
                    {"installed": info.installed, "candidate": info.candidate}
                    if (info := row.system.get(package)) is not None
                    else None
                )
                for package in row.packages
            }
        out.append(
            {
                "project": row.project,
                "ecosystem": row.ecosystem,
                "mapped": row.layer is not None,
                "package": row.packages[0] if row.packages and not row.pypi_only else None,
                "packages": list(row.packages),
                "pypi_only": row.pypi_only,
                "layer": row.layer,
                "origin": row.origin,
                "alias_of": row.alias_of,
                "dist_names": list(row.dist_names) if row.dist_names is not None else None,
                "note": row.note,
                "provider": row.provider,
                "system": system,
            }
        )
    return out
