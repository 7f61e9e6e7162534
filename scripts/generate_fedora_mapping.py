#!/usr/bin/env python3
"""Generate ``src/sysnative/data/fedora.mapping.json``: the python3dist rule and its exceptions.

Why a rule instead of a table: Fedora's RPM build gives every Python package a virtual
provide ``python3dist(<PEP 503 name>)`` for each distribution it installs, and dnf installs
by provide (``dnf install 'python3dist(numpy)'``) as readily as by package name. So Fedora
itself already holds the PyPI-name table, always current; sysnative only needs the rule
(top-level ``extra_metadata.default_specs``) and the projects where it gives the wrong
answer: PyPI-only builds (``psycopg2-binary``), bindings that register another name
(``opencv-python``, registered as ``opencv``), and projects no Linux can have (``pywin32``).

The input is ``scripts/fedora_curated.json`` (``rule`` plus ``entries``, each with a
``note`` saying what was established and where). The output is deterministic.

Usage::

    python scripts/generate_fedora_mapping.py            # regenerate the shipped file
    python scripts/generate_fedora_mapping.py --check    # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from generate_curated_mapping import (
    DATA_DIR,
    HERE,
    PACKAGE_MANAGERS,
    GenerationError,
    add_output_arguments,
    assign_primaries,
    base_document,
    check_curated,
    check_document,
    curated_entry,
    generate,
    read_json,
)

ECOSYSTEM = "fedora"
GENERATOR = "scripts/generate_fedora_mapping.py"
DEFAULT_CURATED = HERE / "fedora_curated.json"
DEFAULT_OUTPUT = DATA_DIR / "fedora.mapping.json"
DESCRIPTION = (
    "PyPI projects to Fedora packages. Fedora packages provide python3dist(<PEP 503 name>) "
    "for every distribution they install and dnf resolves those provides itself, so this "
    "file holds the rule (extra_metadata.default_specs) and only the exceptions to it. "
    "sysnative reads a specs list as alternatives, preferred first."
)


def build_document(curated: Mapping[str, Any], date: str) -> dict[str, Any]:
    rule = curated.get("rule")
    if not isinstance(rule, dict) or not isinstance(rule.get("default_specs"), list):
        raise GenerationError("fedora_curated.json needs a 'rule' with 'default_specs'")
    entries, primary = check_curated(curated, ECOSYSTEM, "fedora_curated.json")
    mappings = [curated_entry(item) for item in entries]
    shared = assign_primaries(mappings, primary)
    provenance = {
        "source": (
            "Fedora's automatic python3dist() RPM provides (the rule) plus exceptions "
            "curated by hand (scripts/fedora_curated.json)"
        ),
        "source_version": "Fedora 37 and later (PEP 503-only python3dist provides)",
        "sources_consulted": rule.get("sources", []),
        "generated": date,
        "generator": GENERATOR,
        "entries": len(mappings),
        "curated_entries": len(mappings),
        "curated_primaries": len(primary),
        "shared_packages": shared,
    }
    extra = {"default_specs": list(rule["default_specs"]), "note": rule.get("note", "")}
    document = base_document(
        ECOSYSTEM, DESCRIPTION, provenance, mappings, PACKAGE_MANAGERS[ECOSYSTEM], extra
    )
    check_document(document, ECOSYSTEM)
    return document


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Generate sysnative's Fedora mapping.")
    parser.add_argument("--curated", type=Path, default=DEFAULT_CURATED, help="curated input")
    add_output_arguments(parser, output=DEFAULT_OUTPUT)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return generate(
        lambda date: build_document(read_json(args.curated, "curated file"), date),
        args.output,
        date=args.date,
        check=args.check,
        generator=GENERATOR,
        ecosystem=ECOSYSTEM,
    )


if __name__ == "__main__":
    sys.exit(main())
