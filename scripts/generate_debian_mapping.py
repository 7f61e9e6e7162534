#!/usr/bin/env python3
"""Generate ``src/sysnative/data/debian.mapping.json`` from dh-python's fallback table.

Why dh-python: Debian's own Python tooling (``dh_python3``) needs the same PyPI-name to
Debian-package translation that sysnative needs, and it ships the result for the whole
archive as ``/usr/share/dh-python/dist/cpython3_fallback``: one line per distribution name,
``DISTNAME [VRANGE] [DEPENDENCY][; [PEP386] [RULES]]`` (see dh-python's README.PyDist and
``dhpython/pydist.py``). Using it, rather than guessing ``python3-<name>``, gets the
thousands of irregular names right for free.

Why a curated overlay (``scripts/debian_curated.json``): the fallback table is keyed by the
name a package *registers*, so it cannot know PyPI-only names (``psycopg2-binary``,
``opencv-python``), Debian-internal names (``h5py._debian_h5py_serial``), or oddities such
as kiwisolver reporting version 0.0.0. Each curated item replaces what the table says and
carries a note saying what was verified.

The output is deterministic (sorted entries and keys, fixed date via ``--date`` or
``SOURCE_DATE_EPOCH``) so that ``--check`` can tell CI whether the committed file is stale.

Usage::

    python scripts/generate_debian_mapping.py            # regenerate the shipped file
    python scripts/generate_debian_mapping.py --check    # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generate_curated_mapping import GenerationError, generation_date
from packaging.utils import NormalizedName, canonicalize_name

HERE = Path(__file__).resolve().parent
DEFAULT_FALLBACK = Path("/usr/share/dh-python/dist/cpython3_fallback")
DEFAULT_CURATED = HERE / "debian_curated.json"
DEFAULT_OUTPUT = HERE.parent / "src" / "sysnative" / "data" / "debian.mapping.json"
GENERATOR = "scripts/generate_debian_mapping.py"
SCHEMA_VERSION = 1

#: dh-python's line grammar (``dhpython.pydist.PYDIST_RE``), matched against the whole line.
#: One deliberate difference: names and packages may start with a digit (``2ping 2ping``);
#: dh-python's unanchored ``search`` would silently read that line as ``ping``. Names that
#: are not valid PyPI project names (``_pycbf``) are reported in provenance, not mapped.
PYDIST_RE = re.compile(
    r"""
    (?P<name>[A-Za-z0-9_][A-Za-z0-9_.-]*)         # Python distribution name
    \s*
    (?P<vrange>(?:-?\d\.\d+(?:-(?:\d\.\d+)?)?)?)  # Python version range
    \s*
    (?P<dependency>(?:[a-z0-9][^;]*)?)            # Debian dependency
    (?:;\s*(?P<standard>PEP386)?\s*(?P<rules>(?:s|tr|y).*)?)?  # version translation
    """,
    re.VERBOSE,
)
PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+")
#: PEP 508 project names: what can exist on a package index at all.
PROJECT_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
#: Debian dependency field: ``pkg (>= 1) | other, third`` -> package names in order.
DEPENDENCY_NAME_RE = re.compile(r"\s*([^\s(|,]+)\s*(?:\([^)]*\))?\s*")


@dataclass
class Draft:
    """An entry under construction; becomes one JSON object in ``mappings``."""

    project: NormalizedName
    specs: list[str]
    source: str
    version_rule: str | None = None
    dist_names: list[str] | None = None
    #: The version the package's metadata registers (regex: ``2022.10.31``; kiwisolver:
    #: the placeholder ``0.0.0``), and the package version it was read from.
    registers_version: str | None = None
    registers_for: str | None = None
    alias_of: str | None = None
    primary_for: list[str] | None = None
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def claims_default(self) -> list[str]:
        """What the loader assumes without ``primary_for``: all specs, none for an alias."""
        return [] if self.alias_of is not None else list(self.specs)

    def claims(self) -> list[str]:
        """Packages this entry names in the reverse direction (mirrors the loader's rule)."""
        return self.claims_default() if self.primary_for is None else list(self.primary_for)


# --------------------------------------------------------------------------------------------
# Reading inputs


@dataclass
class Fallback:
    """The fallback table, one draft per canonical name."""

    drafts: dict[NormalizedName, Draft]
    lines: int
    #: Lines whose name cannot be a PyPI project, with the reason (kept in provenance).
    skipped: list[dict[str, str]]


def parse_fallback(text: str, origin: str) -> Fallback:
    """Turn the fallback table into one draft per canonical name.

    Several lines may canonicalise to one project (``SimPy`` and ``simpy``): their packages
    are kept in one ``specs`` list, lines already spelled canonically first, then file order.
    """
    lines: dict[NormalizedName, list[tuple[bool, int, str, dict[str, str]]]] = {}
    count = 0
    skipped: list[dict[str, str]] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = PYDIST_RE.fullmatch(line)
        if not match:
            raise GenerationError(f"{origin}:{lineno}: not a PyDist line: {line!r}")
        count += 1
        groups = {k: (v or "").strip() for k, v in match.groupdict().items()}
        if not PROJECT_NAME_RE.fullmatch(groups["name"]):
            skipped.append({"line": line, "reason": "not a valid PyPI project name (PEP 508)"})
            continue
        project = canonicalize_name(groups["name"])
        exact = groups["name"] == project
        lines.setdefault(project, []).append((not exact, lineno, groups["name"], groups))

    drafts: dict[NormalizedName, Draft] = {}
    for project, found in lines.items():
        found.sort(key=lambda item: (item[0], item[1]))
        draft = Draft(project=project, specs=[], source="dh-python")
        for _, lineno, name, groups in found:
            packages = dependency_packages(groups["dependency"], f"{origin}:{lineno}")
            for package in packages:
                if package not in draft.specs:
                    draft.specs.append(package)
            if groups["dependency"] and groups["dependency"] != " | ".join(packages):
                draft.extra.setdefault("debian_dependency", groups["dependency"])
            if not groups["dependency"]:
                draft.note = "dh-python ignores this requirement (no Debian dependency)."
            rule = " ".join(part for part in (groups["standard"], groups["rules"]) if part)
            if rule and draft.version_rule is None:
                draft.version_rule = rule
            if groups["vrange"]:
                draft.extra.setdefault("python_versions", {})[name] = groups["vrange"]
        drafts[project] = draft
    return Fallback(drafts, count, skipped)


def dependency_packages(dependency: str, where: str) -> list[str]:
    """Package names of a Debian dependency field, in order, versions dropped."""
    names: list[str] = []
    for alternative in re.split(r"[|,]", dependency) if dependency else []:
        match = DEPENDENCY_NAME_RE.fullmatch(alternative)
        if not match or not PACKAGE_RE.fullmatch(match.group(1)):
            raise GenerationError(f"{where}: unusable Debian dependency {dependency!r}")
        if match.group(1) not in names:
            names.append(match.group(1))
    return names


def load_curated(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Read and check the curated overlay: every item must say why (``note``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GenerationError(f"{path}: cannot read the curated overlay: {exc}") from exc
    entries = data.get("entries", [])
    primary = data.get("primary", [])
    seen: set[str] = set()
    for item in entries:
        name = item.get("name")
        if not isinstance(name, str) or not isinstance(item.get("note"), str):
            raise GenerationError(f"{path}: every curated entry needs a 'name' and a 'note'")
        canonical = canonicalize_name(name)
        if canonical in seen:
            raise GenerationError(f"{path}: {name!r} is curated twice")
        seen.add(canonical)
        specs = item.get("specs")
        if not isinstance(specs, list) or not all(
            isinstance(s, str) and PACKAGE_RE.fullmatch(s) for s in specs
        ):
            raise GenerationError(f"{path}: {name!r}: 'specs' must list valid package names")
        for key in ("registers_version", "registers_for"):
            value = item.get(key)
            if value is not None and not isinstance(value, str):
                raise GenerationError(f"{path}: {name!r}: {key!r} must be a string")
    for item in primary:
        if not all(isinstance(item.get(k), str) for k in ("package", "project", "note")):
            raise GenerationError(f"{path}: each 'primary' item needs package, project and note")
    return entries, primary


def dh_python_version() -> str:
    """The installed dh-python version: the data set's version, recorded in provenance."""
    try:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", "dh-python"],
            check=True,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise GenerationError(
            "cannot ask dpkg for the dh-python version; pass --source-version"
        ) from exc
    return result.stdout.strip()


# --------------------------------------------------------------------------------------------
# Building the document


def apply_curated(
    drafts: dict[NormalizedName, Draft],
    entries: list[dict[str, Any]],
) -> int:
    """Replace or add the curated entries; return how many there are."""
    for item in entries:
        project = canonicalize_name(item["name"])
        previous = drafts.get(project)
        draft = Draft(
            project=project,
            specs=list(item["specs"]),
            source="curated",
            version_rule=item.get("version_rule"),
            dist_names=item.get("dist_names"),
            registers_version=item.get("registers_version"),
            registers_for=item.get("registers_for"),
            alias_of=item.get("alias_of"),
            primary_for=item.get("primary_for"),
            note=item["note"],
            extra=dict(item.get("extra", {})),
        )
        if previous is not None and previous.specs != draft.specs:
            draft.extra["fallback_specs"] = previous.specs
        drafts[project] = draft
    return len(entries)


def assign_primaries(drafts: dict[NormalizedName, Draft], pins: list[dict[str, Any]]) -> int:
    """Give every package exactly one project in the reverse direction.

    When several non-alias entries claim one package (``python3-configobj`` registers both
    ``configobj`` and ``validate``), the winner is: a curated pin; else the project named like
    the package (``python3-X`` -> ``X``, ``pyX``, ``python-X``); else the first by name. The
    others keep the package in ``specs`` but get an explicit ``primary_for`` without it.
    Returns the number of packages that were shared.
    """
    pinned = {item["package"]: canonicalize_name(item["project"]) for item in pins}
    claimants: dict[str, list[NormalizedName]] = {}
    for draft in drafts.values():
        for package in draft.claims():
            claimants.setdefault(package, []).append(draft.project)
    for package, project in pinned.items():
        if project not in claimants.get(package, []):
            raise GenerationError(f"curated primary {project!r} does not claim {package!r}")
    shared = 0
    for package, projects in sorted(claimants.items()):
        if len(projects) < 2:
            continue
        shared += 1
        stem = package[len("python3-") :] if package.startswith("python3-") else package
        named_like = [canonicalize_name(n) for n in (stem, "py" + stem, "python-" + stem)]
        winner = pinned.get(package) or next(
            (name for name in named_like if name in projects), min(projects)
        )
        for project in projects:
            if project != winner:
                draft = drafts[project]
                draft.primary_for = [p for p in draft.claims() if p != package]
    return shared


def render_entry(draft: Draft) -> dict[str, Any]:
    extra: dict[str, Any] = dict(draft.extra)
    if draft.source != "dh-python":
        extra["source"] = draft.source
    for key, value in (
        ("version_rule", draft.version_rule),
        ("dist_names", draft.dist_names),
        ("registers_version", draft.registers_version),
        ("registers_for", draft.registers_for),
        ("alias_of", draft.alias_of),
        ("note", draft.note),
    ):
        if value is not None:
            extra[key] = value
    if draft.primary_for is not None and draft.primary_for != draft.claims_default():
        extra["primary_for"] = draft.primary_for
    entry: dict[str, Any] = {"id": f"dep:pypi/{draft.project}", "specs": draft.specs}
    if extra:
        entry["extra_metadata"] = _sorted(extra)
    return entry


def _sorted(value: Any) -> Any:
    """Sort the keys of nested objects (free-form data); lists keep their meaningful order."""
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def build_document(
    fallback_text: str,
    curated_entries: list[dict[str, Any]],
    curated_primary: list[dict[str, Any]],
    source_version: str,
    date: str,
) -> dict[str, Any]:
    fallback = parse_fallback(fallback_text, "cpython3_fallback")
    drafts = fallback.drafts
    curated_count = apply_curated(drafts, curated_entries)
    shared = assign_primaries(drafts, curated_primary)
    mappings = [render_entry(drafts[name]) for name in sorted(drafts)]
    return {
        "$schema": "external-mapping.schema.json",
        "schema_version": SCHEMA_VERSION,
        "name": "debian",
        "description": (
            "PyPI projects to Debian binary packages, generated from dh-python's "
            "cpython3_fallback table plus a small curated overlay. Unlike plain PEP 804, "
            "sysnative reads a specs list as alternatives, preferred first."
        ),
        "provenance": _sorted(
            {
                "source": "dh-python cpython3_fallback",
                "source_version": source_version,
                "generated": date,
                "generator": GENERATOR,
                "fallback_lines": fallback.lines,
                "fallback_skipped": fallback.skipped,
                "entries": len(mappings),
                "curated_entries": curated_count,
                "curated_primaries": len(curated_primary),
                "shared_packages": shared,
            }
        ),
        "mappings": mappings,
        "package_managers": [
            {
                "name": "apt",
                "commands": {
                    "install": {
                        "command": ["apt-get", "install", "--yes", "--", "{}"],
                        "multiple_specifiers": "always",
                        "requires_elevation": True,
                    },
                    "query": {
                        "command": ["dpkg-query", "--show", "--showformat=${Version}", "{}"],
                        "multiple_specifiers": "never",
                        "requires_elevation": False,
                    },
                },
                "specifier_syntax": {
                    "name_only": ["{name}"],
                    "exact_version": ["{name}={version}"],
                    "version_ranges": None,
                },
            }
        ],
    }


def render(document: dict[str, Any]) -> str:
    """Stable text: fixed key order (id first, then specs), one-space indent, final newline.

    Key order is decided by :func:`build_document` and :func:`render_entry` (free-form
    objects are sorted there), not by ``sort_keys``, which would put ``id`` after
    ``extra_metadata`` and make the file hard to read.
    """
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------------------------
# Command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Generate sysnative's Debian mapping from dh-python's fallback table."
    )
    parser.add_argument(
        "fallback",
        nargs="?",
        type=Path,
        default=DEFAULT_FALLBACK,
        help="dh-python's cpython3_fallback table (default: %(default)s)",
    )
    parser.add_argument("--curated", type=Path, default=DEFAULT_CURATED, help="curated overlay")
    parser.add_argument("--output", "-o", type=Path, default=DEFAULT_OUTPUT, help="output file")
    parser.add_argument(
        "--source-version", help="dh-python version to record (default: ask dpkg-query)"
    )
    parser.add_argument(
        "--date", help="generation date YYYY-MM-DD (default: SOURCE_DATE_EPOCH, else today)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the output file differs from a fresh generation",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        try:
            fallback_text = args.fallback.read_text(encoding="utf-8")
        except OSError as exc:
            raise GenerationError(
                f"cannot read the fallback table {args.fallback}: {exc.strerror}"
                " (install dh-python or pass its path)"
            ) from exc
        entries, primary = load_curated(args.curated)
        source_version = args.source_version or dh_python_version()
        date = args.date
        existing: str | None = None
        if args.check:
            try:
                existing = args.output.read_text(encoding="utf-8")
            except OSError:
                existing = None
            # A check must not fail just because the day changed: reuse the committed date.
            if date is None and not os.environ.get("SOURCE_DATE_EPOCH") and existing:
                try:
                    date = json.loads(existing)["provenance"]["generated"]
                except (ValueError, KeyError, TypeError):
                    date = None
        document = build_document(
            fallback_text, entries, primary, source_version, generation_date(date)
        )
        text = render(document)
        validate(text, str(args.output))
    except GenerationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    if args.check:
        if existing != text:
            print(
                f"{args.output} is out of date; run {GENERATOR} to regenerate it.",
                file=sys.stderr,
            )
            return 1
        print(f"{args.output} is up to date ({document['provenance']['entries']} entries).")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    provenance = document["provenance"]
    print(
        f"wrote {args.output}: {provenance['entries']} entries from "
        f"{provenance['fallback_lines']} fallback lines, {provenance['curated_entries']} curated"
    )
    return 0


def validate(text: str, origin: str) -> None:
    """Load the result with sysnative's own loader, so a bad file is never written."""
    try:
        from sysnative.errors import MappingError
        from sysnative.mapping.parse import loads
    except ImportError:  # generator run outside the dev environment: skip the self-check
        return
    try:
        loads(text, origin=origin, ecosystem="debian")
    except MappingError as exc:
        raise GenerationError(f"generated data does not validate: {exc}") from exc


if __name__ == "__main__":
    sys.exit(main())
