#!/usr/bin/env python3
"""Measure how much of the PyPI world that matters the shipped mappings cover.

The yardstick is ``fixtures/coverage/top500_native.json`` (written by
``scripts/build_top_native.py``): the native projects among the 500 most-downloaded PyPI
projects, the ones sysnative must take from the system. For every shipped ecosystem the
report counts how many of them are mapped (an explicit entry, or for Fedora the
``default_specs`` rule; an entry with empty ``specs`` is counted apart: it says "the
ecosystem does not ship it").

For Debian it also checks the data against Debian's own package index, with two calls in
total (never one per name):

* ``apt-cache dumpavail``: does each mapped package name exist (as a real package, or only
  as a virtual one)?
* ``apt-file search``: which packages ship ``usr/lib/python3/dist-packages/<dist>-<version>
  .dist-info`` or ``.egg-info``. A native project counts as *packaged by Debian* when some
  package ships metadata for a dist name that canonicalises to the project (or to one of
  the ``dist_names`` its mapping entry documents, as for h5py's Debian builds), and a
  mapping is *verified* when its preferred package is one of those packages.

With ``--requirements FILE ...`` (e.g. the requirement sets of a test corpus) it also checks
every project named there: packaged by Debian, mapped, verified.

Both apt answers can be given as files (``--contents``, ``--available``) to re-run the
report offline or in tests. Needs ``apt-file`` with its index downloaded
(``apt-get install apt-file && apt-file update``).

Usage::

    python scripts/mapping_coverage.py
    python scripts/mapping_coverage.py --requirements corpus/*.txt --json report.json
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_TOP = ROOT / "fixtures" / "coverage" / "top500_native.json"
DATA_DIR = ROOT / "src" / "sysnative" / "data"
ECOSYSTEMS = ("debian", "ubuntu", "fedora", "conda-forge", "homebrew", "arch")
#: apt-file's Perl regex: a dist-info/egg-info directory (or egg-info file) of Python 3.
CONTENTS_REGEX = (
    r"^/usr/lib/python3/dist-packages/[^/]+\.(dist-info|egg-info)(/METADATA|/PKG-INFO)?$"
)
_CONTENTS_LINE = re.compile(
    r"(?P<package>[^:\s]+): /?usr/lib/python3/dist-packages/(?P<dir>[^/]+)\.(?:dist|egg)-info\b"
)


class CoverageError(Exception):
    """Missing input or tool; reported with exit code 2."""


# --------------------------------------------------------------------------------------------
# Inputs


def load_top(path: Path) -> list[NormalizedName]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CoverageError(f"cannot read {path}: {exc}") from exc
    return [canonicalize_name(item["name"]) for item in document["projects"]]


def dist_name(directory: str) -> NormalizedName:
    """``zope.interface-5.5.2-py3.11`` -> ``zope-interface`` (the part before the version)."""
    return canonicalize_name(directory.split("-", 1)[0])


def parse_contents(lines: Iterable[str]) -> dict[NormalizedName, set[str]]:
    """``apt-file search`` output -> {canonical dist name: packages that ship its metadata}."""
    shipped: dict[NormalizedName, set[str]] = {}
    for line in lines:
        match = _CONTENTS_LINE.match(line.strip())
        if match:
            shipped.setdefault(dist_name(match["dir"]), set()).add(match["package"])
    return shipped


def parse_available(text: str) -> tuple[set[str], set[str]]:
    """``apt-cache dumpavail`` -> (real package names, names only provided virtually)."""
    real: set[str] = set()
    provided: set[str] = set()
    for line in text.splitlines():
        if line.startswith("Package: "):
            real.add(line[len("Package: ") :].strip())
        elif line.startswith("Provides: "):
            for item in line[len("Provides: ") :].split(","):
                name = item.strip().split(" ", 1)[0]
                if name:
                    provided.add(name)
    return real, provided - real


def run(argv: Sequence[str]) -> str:
    try:
        result = subprocess.run(list(argv), check=True, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise CoverageError(f"{argv[0]} is not installed") from exc
    except subprocess.CalledProcessError as exc:
        # apt-file exits 1 when nothing matches; that is an empty answer, not an error.
        if argv[0] == "apt-file" and exc.returncode == 1 and not exc.stderr.strip():
            return ""
        raise CoverageError(f"{' '.join(argv)} failed: {exc.stderr.strip()}") from exc
    return result.stdout


def requirement_names(paths: Iterable[Path]) -> dict[str, list[NormalizedName]]:
    """Project names per requirements file (comments, options and bad lines skipped)."""
    names: dict[str, list[NormalizedName]] = {}
    for path in paths:
        found: list[NormalizedName] = []
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            try:
                name = canonicalize_name(Requirement(line).name)
            except InvalidRequirement:
                continue
            if name not in found:
                found.append(name)
        names[path.name] = found
    return names


# --------------------------------------------------------------------------------------------
# Measuring


@dataclass
class EcosystemCoverage:
    ecosystem: str
    total: int
    explicit: list[str] = field(default_factory=list)
    by_rule: list[str] = field(default_factory=list)
    not_shipped: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)

    @property
    def mapped(self) -> int:
        return len(self.explicit) + len(self.by_rule)


def measure(table: Any, ecosystem: str, projects: Sequence[NormalizedName]) -> EcosystemCoverage:
    """Classify every project: explicit entry, rule, 'does not ship it', or unmapped."""
    result = EcosystemCoverage(ecosystem, len(projects))
    for project in projects:
        explicit = project in table
        entry = table.lookup(project)
        if entry is None:
            result.unmapped.append(project)
        elif not entry.packages:
            result.not_shipped.append(project)
        elif explicit:
            result.explicit.append(project)
        else:
            result.by_rule.append(project)
    return result


@dataclass
class DebianCheck:
    """One project checked against Debian's package index."""

    project: str
    packaged_by: list[str]
    mapped_to: list[str] | None
    verified: bool
    exists: bool | None


def check_debian(
    table: Any,
    projects: Sequence[NormalizedName],
    shipped: Mapping[NormalizedName, set[str]],
    real: set[str],
    virtual: set[str],
) -> list[DebianCheck]:
    checks = []
    for project in projects:
        entry = table.lookup(project)
        packages = list(entry.packages) if entry is not None else None
        wanted = {project}
        if entry is not None and entry.dist_names:
            # the names the mapping documents the package registering (h5py's Debian builds)
            wanted |= {canonicalize_name(name) for name in entry.dist_names}
        providers: set[str] = set().union(*(shipped.get(name, set()) for name in wanted))
        owners = providers
        verified = False
        exists: bool | None = None
        if entry is not None and packages:
            verified = packages[0] in providers or (
                # an empty dependency package (h5py) is verified through its alternatives
                entry.dist_names is not None and bool(providers & set(packages))
            )
            exists = packages[0] in real or packages[0] in virtual
        checks.append(DebianCheck(project, sorted(owners), packages, verified, exists))
    return checks


def percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "n/a"


def report(
    coverages: Sequence[EcosystemCoverage],
    debian: Sequence[DebianCheck] | None,
    virtual: set[str],
    requirements: Mapping[str, Sequence[DebianCheck]],
) -> tuple[str, dict[str, Any]]:
    lines = []
    data: dict[str, Any] = {"ecosystems": {}}
    total = coverages[0].total if coverages else 0
    lines.append(f"Native projects among the 500 most-downloaded PyPI projects: {total}")
    lines.append("")
    lines.append("| ecosystem | mapped | by entry | by rule | 'not shipped' entry | unmapped |")
    lines.append("| --- | --- | --- | --- | --- | --- |")
    for cov in coverages:
        lines.append(
            f"| {cov.ecosystem} | {cov.mapped} ({percent(cov.mapped, cov.total)}) | "
            f"{len(cov.explicit)} | {len(cov.by_rule)} | {len(cov.not_shipped)} | "
            f"{len(cov.unmapped)} |"
        )
        data["ecosystems"][cov.ecosystem] = {
            "total": cov.total,
            "mapped": cov.mapped,
            "explicit": cov.explicit,
            "by_rule": cov.by_rule,
            "not_shipped": cov.not_shipped,
            "unmapped": cov.unmapped,
        }
    if debian is not None:
        packaged = [c for c in debian if c.packaged_by]
        packaged_mapped = [c for c in packaged if c.mapped_to]
        mapped = [c for c in debian if c.mapped_to]
        verified = [c for c in mapped if c.verified]
        existing = [c for c in mapped if c.exists]
        only_virtual = [c for c in mapped if c.mapped_to and c.mapped_to[0] in virtual]
        gaps = [c.project for c in packaged if not c.mapped_to]
        unverified = [c.project for c in mapped if not c.verified]
        missing = [c.project for c in mapped if not c.exists]
        lines += [
            "",
            "Debian, checked against Debian's package index (apt lists and Contents):",
            "",
            "| measure | count |",
            "| --- | --- |",
            f"| native projects Debian packages (some package ships their dist-info/egg-info) "
            f"| {len(packaged)} |",
            f"| ... of those mapped | {len(packaged_mapped)} "
            f"({percent(len(packaged_mapped), len(packaged))}) |",
            f"| mapped native projects | {len(mapped)} |",
            f"| ... whose preferred package exists in the apt lists | {len(existing)} "
            f"({percent(len(existing), len(mapped))}; {len(only_virtual)} only as a virtual "
            f"package) |",
            f"| ... whose preferred package ships the project's metadata | {len(verified)} "
            f"({percent(len(verified), len(mapped))}) |",
            "",
            f"packaged by Debian but not mapped: {', '.join(gaps) or 'none'}",
            f"mapped, not verified by Contents: {', '.join(unverified) or 'none'}",
            f"mapped to a package missing from the apt lists: {', '.join(missing) or 'none'}",
        ]
        data["debian_index"] = {
            "packaged": len(packaged),
            "packaged_mapped": len(packaged_mapped),
            "mapped": len(mapped),
            "exists": len(existing),
            "only_virtual": len(only_virtual),
            "verified": len(verified),
            "gaps": gaps,
            "unverified": unverified,
            "missing": missing,
        }
    if requirements:
        lines += [
            "",
            "Requirement sets, Debian:",
            "",
            "| file | projects | packaged by Debian | ... mapped | ... verified | not verified |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        data["requirements"] = {}
        for name, checks in requirements.items():
            packaged = [c for c in checks if c.packaged_by]
            mapped = [c for c in packaged if c.mapped_to]
            good = [c for c in mapped if c.verified]
            bad = [c.project for c in packaged if not (c.mapped_to and c.verified)]
            lines.append(
                f"| {name} | {len(checks)} | {len(packaged)} | {len(mapped)} | {len(good)} | "
                f"{', '.join(bad) or '-'} |"
            )
            data["requirements"][name] = {
                "projects": len(checks),
                "packaged": len(packaged),
                "mapped": len(mapped),
                "verified": len(good),
                "not_verified": bad,
            }
    return "\n".join(lines) + "\n", data


# --------------------------------------------------------------------------------------------
# Command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Measure the shipped mappings' coverage.")
    parser.add_argument("--top", type=Path, default=DEFAULT_TOP, help="the top-native fixture")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="mapping files")
    parser.add_argument(
        "--contents", type=Path, help="saved 'apt-file search' output (default: run apt-file)"
    )
    parser.add_argument(
        "--available", type=Path, help="saved 'apt-cache dumpavail' output (default: run it)"
    )
    parser.add_argument(
        "--no-debian-index", action="store_true", help="skip the checks against apt"
    )
    parser.add_argument(
        "--requirements", type=Path, nargs="*", default=[], help="requirement files to check"
    )
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON here")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from sysnative.errors import MappingError
    from sysnative.mapping.files import load_file

    try:
        projects = load_top(args.top)
        tables = {}
        for ecosystem in ECOSYSTEMS:
            path = args.data_dir / f"{ecosystem}.mapping.json"
            if path.exists():
                tables[ecosystem] = load_file(path)
        coverages = [measure(table, eco, projects) for eco, table in tables.items()]
        debian_checks: list[DebianCheck] | None = None
        virtual: set[str] = set()
        requirement_checks: dict[str, list[DebianCheck]] = {}
        if not args.no_debian_index and "debian" in tables:
            contents = (
                args.contents.read_text(encoding="utf-8")
                if args.contents
                else run(["apt-file", "search", "--regexp", CONTENTS_REGEX])
            )
            available = (
                args.available.read_text(encoding="utf-8")
                if args.available
                else run(["apt-cache", "dumpavail"])
            )
            shipped = parse_contents(contents.splitlines())
            real, virtual = parse_available(available)
            if not shipped or not real:
                raise CoverageError(
                    "the apt index is empty: run 'apt-get update' and 'apt-file update' first"
                )
            debian_checks = check_debian(tables["debian"], projects, shipped, real, virtual)
            for name, names in requirement_names(args.requirements).items():
                requirement_checks[name] = check_debian(
                    tables["debian"], names, shipped, real, virtual
                )
    except (CoverageError, MappingError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text, data = report(coverages, debian_checks, virtual, requirement_checks)
    sys.stdout.write(text)
    if args.json:
        args.json.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
