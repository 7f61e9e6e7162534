#!/usr/bin/env python3
"""Generate ``src/sysnative/data/ubuntu.mapping.json`` from sysnative's Debian mapping.

Why derived, not generated from Ubuntu: Ubuntu's archive was not reachable where this data
is built. Ubuntu imports its Python packages from Debian (the same source packages, built
with the same dh-python, so the same ``python3-*`` binary names and the same
``cpython3_fallback`` table), so the Debian mapping is the best available statement of
Ubuntu's names. It is not a check of any Ubuntu release: a package may be missing or of a
different version there, and the file says so in its description and provenance. When an
Ubuntu archive is reachable, generate this file the Debian way from Ubuntu's dh-python.

The entries are copied unchanged (including the curated notes, which describe what was
verified on Debian); only the document's name, description and provenance differ. The
output is deterministic, and the input is in the repository, so ``--check`` compares the
committed file with a regeneration.

Usage::

    python scripts/generate_ubuntu_mapping.py            # regenerate the shipped file
    python scripts/generate_ubuntu_mapping.py --check    # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from generate_curated_mapping import (
    DATA_DIR,
    GenerationError,
    add_output_arguments,
    base_document,
    check_document,
    generate,
    read_json,
)

ECOSYSTEM = "ubuntu"
GENERATOR = "scripts/generate_ubuntu_mapping.py"
DEFAULT_INPUT = DATA_DIR / "debian.mapping.json"
DEFAULT_OUTPUT = DATA_DIR / "ubuntu.mapping.json"
DESCRIPTION = (
    "PyPI projects to Ubuntu binary packages, DERIVED FROM SYSNATIVE'S DEBIAN MAPPING: "
    "Ubuntu's archive was not reachable when this file was generated. Ubuntu builds its "
    "python3-* packages from Debian's sources with the same dh-python, so the names are "
    "Debian's; a package may still be missing or differ in version on a given Ubuntu "
    "release. sysnative reads a specs list as alternatives, preferred first."
)


def build_document(debian: Mapping[str, Any], date: str) -> dict[str, Any]:
    """The Ubuntu document: Debian's entries and package managers, Ubuntu's own header."""
    if debian.get("name") != "debian" or not isinstance(debian.get("mappings"), list):
        raise GenerationError("the input is not sysnative's Debian mapping")
    source = debian.get("provenance") or {}
    mappings = copy.deepcopy(debian["mappings"])
    curated = sum(
        1 for entry in mappings if (entry.get("extra_metadata") or {}).get("source") == "curated"
    )
    provenance = {
        "source": (
            "derived from sysnative's Debian mapping (src/sysnative/data/debian.mapping.json), "
            "itself generated from dh-python's cpython3_fallback table plus a curated overlay"
        ),
        "source_version": source.get("source_version"),
        "derived_from": {
            "name": "debian",
            "generated": source.get("generated"),
            "generator": source.get("generator"),
            "source": source.get("source"),
            "source_version": source.get("source_version"),
            "entries": source.get("entries"),
        },
        "derivation": (
            "Ubuntu's archive was not reachable where this file was generated; Ubuntu "
            "imports its Python packages from Debian and builds them with the same "
            "dh-python, so Debian's package names are used unchanged. No Ubuntu release "
            "was checked: curated notes describe what was verified on Debian."
        ),
        "generated": date,
        "generator": GENERATOR,
        "entries": len(mappings),
        "curated_entries": curated,
    }
    document = base_document(
        ECOSYSTEM,
        DESCRIPTION,
        provenance,
        mappings,
        copy.deepcopy(debian.get("package_managers", [])),
    )
    check_document(document, ECOSYSTEM)
    return document


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Derive sysnative's Ubuntu mapping from Debian's.")
    parser.add_argument(
        "debian", nargs="?", type=Path, default=DEFAULT_INPUT, help="the Debian mapping file"
    )
    add_output_arguments(parser, output=DEFAULT_OUTPUT)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return generate(
        lambda date: build_document(read_json(args.debian, "Debian mapping"), date),
        args.output,
        date=args.date,
        check=args.check,
        generator=GENERATOR,
        ecosystem=ECOSYSTEM,
    )


if __name__ == "__main__":
    sys.exit(main())
