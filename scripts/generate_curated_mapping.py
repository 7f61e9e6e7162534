#!/usr/bin/env python3
"""Generate a hand-curated mapping (``homebrew``, ``arch``) and hold the shared generator code.

Neither Homebrew nor Arch publishes a PyPI-name table that sysnative could import, and their
naming conventions are only conventions (Arch: ``python-<name>`` with many exceptions such as
``python-yaml`` or ``python-gobject``; Homebrew: a few dozen Python formulae, named after the
project or ``python-<name>``). So these files hold only what was established one entry at a
time, each with a ``note`` saying how, and record the convention as documentation in the
file's top-level ``extra_metadata`` -- never as an automatic rule, because a guessed package
name is worse than an honest "not mapped".

The input is ``scripts/{ecosystem}_curated.json``::

    {"comment": "...", "convention": "...", "sources": ["..."],
     "entries": [{"name": "PyYAML", "specs": ["python-yaml"], "note": "..."}],
     "primary": [{"package": "...", "project": "...", "note": "..."}]}

Each entry may also set ``dist_names``, ``alias_of``, ``primary_for``, ``registers_version``,
``version_rule``, ``route`` and ``extra`` (free-form), written to the entry's
``extra_metadata`` exactly as in the Debian generator.

This module is also imported by the Ubuntu, Fedora and conda-forge generators for the parts
every generator shares: the per-ecosystem package-name grammar, the curated-entry checks, the
reverse-direction primaries, the package-manager blocks, the stable rendering, and the
validation of a generated document before it is written.

Usage::

    python scripts/generate_curated_mapping.py homebrew          # writes the shipped file
    python scripts/generate_curated_mapping.py arch --check      # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE.parent / "src" / "sysnative" / "data"
SCHEMA_VERSION = 1
ID_PREFIX = "dep:pypi/"
CANONICAL_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

#: The package-name grammar sysnative's loader accepts per ecosystem (anything else would
#: end up on a package manager's command line, so it is refused at generation time too).
PACKAGE_RES: dict[str, re.Pattern[str]] = {
    "debian": re.compile(r"[a-z0-9][a-z0-9+.-]+"),
    "ubuntu": re.compile(r"[a-z0-9][a-z0-9+.-]+"),
    "fedora": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*|python3dist\([a-z0-9][a-z0-9._-]*\)"),
    "conda-forge": re.compile(r"[a-z0-9_][a-z0-9_.-]*"),
    "homebrew": re.compile(r"[a-z0-9][a-z0-9@+._-]*"),
    "arch": re.compile(r"[a-z0-9@_+][a-z0-9@._+-]*"),
}

#: Keys a curated entry may carry into ``extra_metadata`` (besides ``note`` and ``extra``).
CURATED_KEYS = ("dist_names", "version_rule", "registers_version", "alias_of", "primary_for")
ENTRY_FIELDS = frozenset(
    {"name", "specs", "note", "route", "extra", "description", "urls", *CURATED_KEYS}
)


class GenerationError(Exception):
    """Bad input (curated file, source data, arguments); reported with exit code 2."""


# --------------------------------------------------------------------------------------------
# Package managers (PEP 804 ``package_managers`` blocks)


def _command(argv: list[str], *, multiple: str, elevation: bool) -> dict[str, Any]:
    return {"command": argv, "multiple_specifiers": multiple, "requires_elevation": elevation}


def _no_ranges(name_only: list[str], exact: list[str] | None) -> dict[str, Any]:
    return {"name_only": name_only, "exact_version": exact, "version_ranges": None}


DNF = {
    "name": "dnf",
    "commands": {
        "install": _command(["dnf", "install", "-y", "{}"], multiple="always", elevation=True),
        "query": _command(["rpm", "-q", "--whatprovides", "{}"], multiple="never", elevation=False),
    },
    "specifier_syntax": _no_ranges(["{name}"], ["{name} = {version}"]),
}


def _conda_like(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "commands": {
            "install": _command(
                [name, "install", "--yes", "--channel", "conda-forge", "{}"],
                multiple="always",
                elevation=False,
            ),
            "query": _command(
                [name, "list", "--full-name", "{}"], multiple="never", elevation=False
            ),
        },
        "specifier_syntax": {
            "name_only": ["{name}"],
            "exact_version": ["{name}=={version}"],
            "version_ranges": {
                "syntax": ["{name}{ranges}"],
                "and": ",",
                "equal": "=={version}",
                "greater_than": ">{version}",
                "greater_than_equal": ">={version}",
                "less_than": "<{version}",
                "less_than_equal": "<={version}",
            },
        },
    }


BREW = {
    "name": "brew",
    "commands": {
        "install": _command(["brew", "install", "{}"], multiple="always", elevation=False),
        "query": _command(["brew", "list", "--versions", "{}"], multiple="never", elevation=False),
    },
    # Homebrew installs the one version a formula has; it cannot select another.
    "specifier_syntax": _no_ranges(["{name}"], None),
}

PACMAN = {
    "name": "pacman",
    "commands": {
        "install": _command(
            ["pacman", "-S", "--noconfirm", "--needed", "{}"], multiple="always", elevation=True
        ),
        "query": _command(["pacman", "-Q", "{}"], multiple="never", elevation=False),
    },
    # The repositories hold one version of each package; pacman cannot select another.
    "specifier_syntax": _no_ranges(["{name}"], None),
}

PACKAGE_MANAGERS: dict[str, list[dict[str, Any]]] = {
    "fedora": [DNF],
    "conda-forge": [_conda_like("conda"), _conda_like("mamba"), _conda_like("micromamba")],
    "homebrew": [BREW],
    "arch": [PACMAN],
}

#: What ``generate_curated_mapping.py ECOSYSTEM`` builds.
CURATED_ECOSYSTEMS: dict[str, str] = {
    "homebrew": (
        "PyPI projects to Homebrew formulae, curated by hand: Homebrew ships only a few "
        "dozen Python libraries as formulae, so a project without an entry is not mapped. "
        "sysnative reads a specs list as alternatives, preferred first."
    ),
    "arch": (
        "PyPI projects to Arch Linux packages, curated by hand: the python-<name> "
        "convention has many exceptions, so only established names are listed and a "
        "project without an entry is not mapped. sysnative reads a specs list as "
        "alternatives, preferred first."
    ),
}


# --------------------------------------------------------------------------------------------
# Shared helpers


def generation_date(explicit: str | None) -> str:
    """``--date``, else ``SOURCE_DATE_EPOCH`` (reproducible builds), else today (UTC)."""
    if explicit:
        try:
            return datetime.date.fromisoformat(explicit).isoformat()
        except ValueError as exc:
            raise GenerationError(f"--date must be YYYY-MM-DD, not {explicit!r}") from exc
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            stamp = datetime.datetime.fromtimestamp(int(epoch), tz=datetime.timezone.utc)
        except (ValueError, OverflowError, OSError) as exc:
            raise GenerationError(f"SOURCE_DATE_EPOCH is not a timestamp: {epoch!r}") from exc
        return stamp.date().isoformat()
    return datetime.datetime.now(tz=datetime.timezone.utc).date().isoformat()


def committed_date(path: Path) -> str | None:
    """The ``provenance.generated`` date of an existing output file, if it has one."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))["provenance"]["generated"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) else None


def sort_keys(value: Any) -> Any:
    """Sort the keys of nested objects (free-form data); lists keep their meaningful order."""
    if isinstance(value, dict):
        return {key: sort_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sort_keys(item) for item in value]
    return value


def render(document: Mapping[str, Any]) -> str:
    """Stable text: the document's own key order, one-space indent, final newline."""
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GenerationError(f"{path}: cannot read the {what}: {exc}") from exc


def package_ok(ecosystem: str, package: str) -> bool:
    return PACKAGE_RES[ecosystem].fullmatch(package) is not None


def check_curated(
    data: Mapping[str, Any], ecosystem: str, origin: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The curated entries and primary pins, checked: every item must say why (``note``)."""
    entries = data.get("entries", [])
    primary = data.get("primary", [])
    if not isinstance(entries, list) or not isinstance(primary, list):
        raise GenerationError(f"{origin}: 'entries' and 'primary' must be lists")
    seen: set[str] = set()
    for item in entries:
        if not isinstance(item, dict):
            raise GenerationError(f"{origin}: every curated entry must be an object")
        name = item.get("name")
        if not isinstance(name, str) or not isinstance(item.get("note"), str):
            raise GenerationError(f"{origin}: every curated entry needs a 'name' and a 'note'")
        unknown = sorted(set(item) - ENTRY_FIELDS)
        if unknown:
            raise GenerationError(f"{origin}: {name!r}: unknown keys {unknown}")
        canonical = canonicalize_name(name)
        if not CANONICAL_RE.fullmatch(canonical):
            raise GenerationError(f"{origin}: {name!r} is not a valid project name")
        if canonical in seen:
            raise GenerationError(f"{origin}: {name!r} is curated twice")
        seen.add(canonical)
        specs = item.get("specs")
        if not isinstance(specs, list) or not all(
            isinstance(s, str) and package_ok(ecosystem, s) for s in specs
        ):
            raise GenerationError(
                f"{origin}: {name!r}: 'specs' must list valid {ecosystem} package names"
            )
        for key in ("dist_names", "primary_for"):
            value = item.get(key)
            if value is not None and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                raise GenerationError(f"{origin}: {name!r}: {key!r} must be a list of strings")
        for key in ("registers_version", "version_rule", "alias_of"):
            value = item.get(key)
            if value is not None and not isinstance(value, str):
                raise GenerationError(f"{origin}: {name!r}: {key!r} must be a string")
        if item.get("route") not in (None, "pypi"):
            raise GenerationError(f"{origin}: {name!r}: 'route' can only be 'pypi'")
        if not isinstance(item.get("extra", {}), dict):
            raise GenerationError(f"{origin}: {name!r}: 'extra' must be an object")
    for pin in primary:
        if not isinstance(pin, dict) or not all(
            isinstance(pin.get(k), str) for k in ("package", "project", "note")
        ):
            raise GenerationError(f"{origin}: each 'primary' item needs package, project and note")
    return entries, primary


def curated_entry(item: Mapping[str, Any], source: str = "curated") -> dict[str, Any]:
    """One curated item as a mapping entry (id, specs, then sorted ``extra_metadata``)."""
    project = canonicalize_name(item["name"])
    extra: dict[str, Any] = dict(item.get("extra", {}))
    extra["source"] = source
    extra["note"] = item["note"]
    for key in (*CURATED_KEYS, "route"):
        if item.get(key) is not None:
            extra[key] = item[key]
    if extra.get("alias_of") is not None:
        extra["alias_of"] = canonicalize_name(extra["alias_of"])
    entry: dict[str, Any] = {"id": ID_PREFIX + project, "specs": list(item["specs"])}
    for key in ("description", "urls"):
        if key in item:
            entry[key] = item[key]
    entry["extra_metadata"] = sort_keys(extra)
    return entry


def entry_project(entry: Mapping[str, Any]) -> NormalizedName:
    return NormalizedName(str(entry["id"])[len(ID_PREFIX) :])


def claims(entry: Mapping[str, Any]) -> list[str]:
    """Packages an entry names in the reverse direction (mirrors the loader's rule)."""
    extra = entry.get("extra_metadata") or {}
    if "primary_for" in extra:
        return list(extra["primary_for"])
    if extra.get("alias_of") is not None:
        return []
    specs = entry.get("specs", [])
    return [specs] if isinstance(specs, str) else list(specs)


def assign_primaries(entries: Sequence[dict[str, Any]], pins: Iterable[Mapping[str, Any]]) -> int:
    """Give every package exactly one project in the reverse direction; return how many
    packages were shared.

    The winner is a pin, else the project named like the package (``X``, ``python-X``,
    ``python3-X``, ``pyX``), else the first by name; the others get an explicit
    ``primary_for`` without the package (they keep it in ``specs``).
    """
    pinned = {pin["package"]: canonicalize_name(pin["project"]) for pin in pins}
    by_project = {entry_project(entry): entry for entry in entries}
    claimants: dict[str, list[NormalizedName]] = {}
    for entry in entries:
        for package in claims(entry):
            claimants.setdefault(package, []).append(entry_project(entry))
    for package, project in pinned.items():
        if project not in claimants.get(package, []):
            raise GenerationError(f"curated primary {project!r} does not claim {package!r}")
    shared = 0
    for package, projects in sorted(claimants.items()):
        if len(projects) < 2:
            continue
        shared += 1
        stem = package.lower()
        for prefix in ("python3-", "python-", "py3-"):
            if stem.startswith(prefix):
                stem = stem[len(prefix) :]
                break
        named_like = [canonicalize_name(n) for n in (stem, "py" + stem, "python-" + stem)]
        winner = pinned.get(package) or next(
            (name for name in named_like if name in projects), min(projects)
        )
        for project in projects:
            if project != winner:
                entry = by_project[project]
                remaining = [p for p in claims(entry) if p != package]
                extra = dict(entry.get("extra_metadata") or {})
                extra["primary_for"] = remaining
                entry["extra_metadata"] = sort_keys(extra)
    return shared


def check_document(document: Mapping[str, Any], ecosystem: str) -> None:
    """Everything sysnative's loader will insist on, checked with the ecosystem's grammar.

    The generators run this before writing, so a file the loader would refuse is never
    produced, whatever the installed ``sysnative.mapping`` accepts today.
    """
    if document.get("name") != ecosystem:
        raise GenerationError(f"the document's name must be {ecosystem!r}")
    seen: set[str] = set()
    owner: dict[str, str] = {}
    for entry in document["mappings"]:
        entry_id = entry.get("id")
        if not isinstance(entry_id, str) or not entry_id.startswith(ID_PREFIX):
            raise GenerationError(f"bad id {entry_id!r}")
        if not CANONICAL_RE.fullmatch(entry_id[len(ID_PREFIX) :]):
            raise GenerationError(f"{entry_id}: the project name is not canonical")
        if entry_id in seen:
            raise GenerationError(f"{entry_id}: duplicate id")
        seen.add(entry_id)
        specs = entry.get("specs")
        if not isinstance(specs, list) or not all(
            isinstance(s, str) and package_ok(ecosystem, s) for s in specs
        ):
            raise GenerationError(f"{entry_id}: invalid {ecosystem} package name in {specs!r}")
        extra = entry.get("extra_metadata") or {}
        alias = extra.get("alias_of")
        if alias is not None and (alias == entry_id[len(ID_PREFIX) :] or extra.get("primary_for")):
            raise GenerationError(f"{entry_id}: bad alias_of / primary_for combination")
        for package in extra.get("primary_for", []):
            if package not in specs:
                raise GenerationError(f"{entry_id}: primary_for names {package!r}, not in specs")
        for package in claims(entry):
            other = owner.setdefault(package, entry_id)
            if other != entry_id:
                raise GenerationError(
                    f"{package!r} is the primary package of {other} and {entry_id}"
                )
    extra = document.get("extra_metadata") or {}
    for template in extra.get("default_specs", []):
        if not package_ok(ecosystem, template.replace("{name}", "x0")):
            raise GenerationError(f"default_specs template {template!r} gives invalid names")


def validate_with_loader(text: str, ecosystem: str, origin: str) -> str | None:
    """Load ``text`` with the installed ``sysnative.mapping``; its complaint, if any.

    Not fatal by itself: until the loader knows an ecosystem's grammar it refuses names
    (``python3dist(...)``, ``typing_extensions``) that the contract allows. The caller
    reports it; :func:`check_document` is the gate.
    """
    try:
        from sysnative.errors import MappingError
        from sysnative.mapping.parse import loads
    except ImportError:  # generator run outside the dev environment
        return None
    try:
        loads(text, origin=origin, ecosystem=ecosystem)
    except MappingError as exc:
        return str(exc)
    return None


def write_or_check(
    text: str, output: Path, *, check: bool, generator: str, ecosystem: str, count: int
) -> int:
    """The common tail of every generator's ``main``: ``--check`` or write, and report."""
    complaint = validate_with_loader(text, ecosystem, str(output))
    if complaint:
        print(
            f"note: the installed sysnative loader refuses the result: {complaint}", file=sys.stderr
        )
    if check:
        try:
            existing: str | None = output.read_text(encoding="utf-8")
        except OSError:
            existing = None
        if existing != text:
            print(f"{output} is out of date; run {generator} to regenerate it.", file=sys.stderr)
            return 1
        print(f"{output} is up to date ({count} entries).")
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output}: {count} entries")
    return 0


def base_document(
    ecosystem: str,
    description: str,
    provenance: Mapping[str, Any],
    mappings: list[dict[str, Any]],
    package_managers: list[dict[str, Any]],
    extra_metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The document in the shipped files' key order; mappings sorted by id."""
    document: dict[str, Any] = {
        "$schema": "external-mapping.schema.json",
        "schema_version": SCHEMA_VERSION,
        "name": ecosystem,
        "description": description,
        "provenance": sort_keys(dict(provenance)),
    }
    if extra_metadata:
        document["extra_metadata"] = sort_keys(dict(extra_metadata))
    document["mappings"] = sorted(mappings, key=lambda entry: str(entry["id"]))
    document["package_managers"] = package_managers
    return document


# --------------------------------------------------------------------------------------------
# The curated ecosystems (homebrew, arch)

GENERATOR = "scripts/generate_curated_mapping.py"


def build_document(ecosystem: str, curated: Mapping[str, Any], date: str) -> dict[str, Any]:
    """The mapping for a curated ecosystem from its curated file's content."""
    if ecosystem not in CURATED_ECOSYSTEMS:
        raise GenerationError(f"{ecosystem!r} is not a curated ecosystem")
    entries, primary = check_curated(curated, ecosystem, f"{ecosystem}_curated.json")
    mappings = [curated_entry(item) for item in entries]
    shared = assign_primaries(mappings, primary)
    convention = curated.get("convention")
    if not isinstance(convention, str):
        raise GenerationError(f"{ecosystem}_curated.json needs a 'convention' string")
    sources = curated.get("sources", [])
    provenance = {
        "source": f"curated by hand (scripts/{ecosystem}_curated.json)",
        "source_version": "n/a",
        "sources_consulted": sources,
        "generated": date,
        "generator": f"{GENERATOR} {ecosystem}",
        "entries": len(mappings),
        "curated_entries": len(mappings),
        "curated_primaries": len(primary),
        "shared_packages": shared,
        "unmapped_means": "not established; sysnative does not guess",
    }
    extra = {
        "convention": convention,
        "note": (
            "The convention is documentation, not a rule sysnative applies: only the "
            "entries below are mapped."
        ),
    }
    document = base_document(
        ecosystem,
        CURATED_ECOSYSTEMS[ecosystem],
        provenance,
        mappings,
        PACKAGE_MANAGERS[ecosystem],
        extra,
    )
    check_document(document, ecosystem)
    return document


def add_output_arguments(parser: argparse.ArgumentParser, *, output: Path | None) -> None:
    """``--output``, ``--date`` and ``--check``: what every mapping generator takes."""
    where = "" if output is not None else " (default: the shipped file)"
    parser.add_argument("--output", "-o", type=Path, default=output, help="output file" + where)
    parser.add_argument(
        "--date", help="generation date YYYY-MM-DD (default: SOURCE_DATE_EPOCH, else today)"
    )
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 if the output is stale"
    )


def generate(
    build: Callable[[str], Mapping[str, Any]],
    output: Path,
    *,
    date: str | None,
    check: bool,
    generator: str,
    ecosystem: str,
) -> int:
    """Build the document for ``date`` (reading its inputs), then write or check ``output``.

    A check reuses the committed file's date, so that it does not fail because the day
    changed. A :class:`GenerationError` is printed as an error, exit status 2.
    """
    try:
        if check and date is None and not os.environ.get("SOURCE_DATE_EPOCH"):
            date = committed_date(output)
        document = build(generation_date(date))
    except GenerationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return write_or_check(
        render(document),
        output,
        check=check,
        generator=generator,
        ecosystem=ecosystem,
        count=len(document["mappings"]),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Generate a hand-curated sysnative mapping.")
    parser.add_argument("ecosystem", choices=sorted(CURATED_ECOSYSTEMS))
    parser.add_argument("--curated", type=Path, help="curated input (default: scripts/...)")
    add_output_arguments(parser, output=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ecosystem: str = args.ecosystem
    curated_path: Path = args.curated or HERE / f"{ecosystem}_curated.json"
    return generate(
        lambda date: build_document(ecosystem, read_json(curated_path, "curated file"), date),
        args.output or DATA_DIR / f"{ecosystem}.mapping.json",
        date=args.date,
        check=args.check,
        generator=f"{GENERATOR} {ecosystem}",
        ecosystem=ecosystem,
    )


if __name__ == "__main__":
    sys.exit(main())
