"""``sysnative map``: what the mapping layers say about some projects, and what the system has.

:func:`describe`, :func:`render_text` and :func:`to_json` are pure apart from the one batched
provider query, which the caller may leave out (no provider for that ecosystem on this
machine): the rows then say "not checked" rather than guessing. :func:`run` is the command:
it loads the layers and chooses the provider.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from sysnative.commands.options import effective_config
from sysnative.mapping.table import MappingTable
from sysnative.models import SystemPackage
from sysnative.protocols import SystemQuery

__all__ = [
    "ECOSYSTEM_PROVIDERS",
    "MapRow",
    "add_arguments",
    "describe",
    "render_text",
    "run",
    "to_json",
]

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``sysnative map``'s options and arguments."""
    parser.add_argument("names", nargs="*", metavar="NAME", help="PyPI project names")
    parser.add_argument(
        "--ecosystem",
        metavar="E",
        help="debian, ubuntu, fedora, conda-forge, homebrew, arch "
        "(default: the configured or detected provider's)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--mapping",
        action="append",
        default=[],
        metavar="FILE",
        help="a mapping file stacked over every other layer (repeatable)",
    )
    parser.add_argument(
        "--check",
        metavar="FILE",
        help="validate a mapping file and exit (errors name the file and the entry)",
    )
    parser.add_argument("--no-query", action="store_true", help="do not ask the package manager")


def run(args: argparse.Namespace, verbose: int) -> int:
    """``sysnative map NAME...`` or ``sysnative map --check FILE``."""
    from sysnative.errors import ProviderError, UsageError
    from sysnative.mapping import files as mapping
    from sysnative.providers import select_provider

    if args.check:
        table = mapping.load_file(args.check, ecosystem=args.ecosystem, layer="--check")
        rule = f"; naming rule {', '.join(table.rule.templates)}" if table.rule else ""
        print(f"{args.check}: valid, {len(table)} entries for {table.ecosystem}{rule}.")
        return 0
    if not args.names:
        raise UsageError(
            "Give project names to look up, or --check FILE.",
            "For example: sysnative map numpy Pillow",
        )
    config = effective_config(args)
    provider = None
    ecosystem = args.ecosystem
    if ecosystem is None or ecosystem in ECOSYSTEM_PROVIDERS:
        name = ECOSYSTEM_PROVIDERS[ecosystem] if ecosystem else config.provider
        try:
            provider = select_provider(name, options=config.all_provider_options)
        except ProviderError as exc:
            if ecosystem is None:
                raise UsageError(
                    f"Cannot tell which ecosystem to show: {exc.message}",
                    "Name one with --ecosystem (debian, ubuntu, fedora, conda-forge, "
                    "homebrew, arch).",
                ) from None
    if ecosystem is None:
        assert provider is not None
        ecosystem = provider.ecosystem
    if args.no_query or (provider is not None and provider.ecosystem != ecosystem):
        provider = None  # apt on Debian cannot answer for Ubuntu's names honestly
    table = mapping.load_layers(
        ecosystem,
        files=config.mapping_files,
        site_files=config.site_mapping_files,
        user_files=config.user_mapping_files,
        project_dir=Path.cwd(),
    )
    rows = describe(args.names, table, provider)
    if args.json:
        print(json.dumps(to_json(rows), indent=2))
    else:
        print(render_text(rows))
    return 0
