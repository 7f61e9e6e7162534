#!/usr/bin/env python3
"""Find the native projects among the most-downloaded PyPI projects.

Writes ``fixtures/coverage/top500_native.json``, the yardstick for the mapping coverage
report (``scripts/mapping_coverage.py``): a mapping is only as good as the share of the
native projects people actually install that it knows.

* "Most downloaded" comes from a PyPI ranking list given on the command line: a
  tab-separated file whose header names the columns ``name`` and
  ``rank_among_15000_most_downloaded`` (the PyPI package list available on the build
  machine has this shape). Ranks 1..N (default 500) are taken.
* "Native" means: the latest release (the highest non-yanked final version, or the highest
  pre-release when there is no final one) ships no wheel for the platform ``any``, only
  platform-specific wheels and/or an sdist. That is exactly the set sysnative routes to the
  system package manager rather than installing a pure wheel.
* Each project's simple-index page is fetched once from the main index pip is configured
  with (``sysnative.index.pipconfig.load_index_config``; extra indexes and find-links, which are
  machine-local mirrors, are ignored), with sysnative's own client and at most 8 requests
  at a time.

The output is deterministic for given index answers: projects in rank order, sorted keys,
and the date from ``--date`` (default today, UTC). It records no host name or path.

Usage::

    python scripts/build_top_native.py RANKING.tsv            # writes the fixture
    python scripts/build_top_native.py RANKING.tsv --top 50 -o out.json
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

HERE = Path(__file__).resolve().parent
DEFAULT_OUTPUT = HERE.parent / "fixtures" / "coverage" / "top500_native.json"
GENERATOR = "scripts/build_top_native.py"
RANK_COLUMN = "rank_among_15000_most_downloaded"
MAX_WORKERS = 8

#: Classifications of one project's latest release.
NATIVE = "native"
PURE = "pure"
MISSING = "not-found"


class BuildError(Exception):
    """Bad input (ranking file, arguments); reported with exit code 2."""


@dataclasses.dataclass(frozen=True)
class Ranked:
    rank: int
    name: NormalizedName


@dataclasses.dataclass(frozen=True)
class FileInfo:
    """What the classification needs from one index file (keeps it testable offline)."""

    filename: str
    version: Version
    is_wheel: bool
    #: The wheel's platform tags (empty for an sdist).
    platforms: frozenset[str]
    yanked: bool


@dataclasses.dataclass(frozen=True)
class Verdict:
    status: str
    version: str | None = None
    platform_wheels: int = 0
    has_sdist: bool = False


def read_ranking(path: Path, top: int) -> list[Ranked]:
    """Ranks 1..``top`` from the ranking list, in rank order (one project per rank)."""
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise BuildError(f"cannot read the ranking list {path}: {exc.strerror}") from exc
    by_rank: dict[int, NormalizedName] = {}
    with handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        if reader.fieldnames is None or not {"name", RANK_COLUMN} <= set(reader.fieldnames):
            raise BuildError(f"{path}: the header must name 'name' and '{RANK_COLUMN}'")
        for row in reader:
            raw = (row.get(RANK_COLUMN) or "").strip()
            if not raw:
                continue
            try:
                rank = int(raw)
            except ValueError as exc:
                raise BuildError(f"{path}: rank {raw!r} is not a number") from exc
            if 1 <= rank <= top:
                name = canonicalize_name(row["name"])
                other = by_rank.setdefault(rank, name)
                if other != name:
                    raise BuildError(f"{path}: rank {rank} is given to {other} and {name}")
    missing = [rank for rank in range(1, top + 1) if rank not in by_rank]
    if missing:
        raise BuildError(f"{path}: no project has rank(s) {missing[:10]}")
    return [Ranked(rank, by_rank[rank]) for rank in range(1, top + 1)]


def classify(files: Iterable[FileInfo]) -> Verdict:
    """Native or pure, decided on the latest release's files (see the module docstring)."""
    usable = [f for f in files if not f.yanked]
    if not usable:
        return Verdict(MISSING)
    versions = {f.version for f in usable}
    finals = [v for v in versions if not v.is_prerelease]
    latest = max(finals or versions)
    release = [f for f in usable if f.version == latest]
    wheels = [f for f in release if f.is_wheel]
    pure = any("any" in f.platforms for f in wheels)
    return Verdict(
        status=PURE if pure else NATIVE,
        version=str(latest),
        platform_wheels=sum(1 for f in wheels if "any" not in f.platforms),
        has_sdist=any(not f.is_wheel for f in release),
    )


def build_document(
    ranked: Sequence[Ranked],
    verdicts: dict[NormalizedName, Verdict],
    date: str,
    ranking_date: str,
) -> dict[str, Any]:
    """The fixture: every native project in rank order, plus counts of the others."""
    projects = []
    counts = {NATIVE: 0, PURE: 0, MISSING: 0}
    missing: list[str] = []
    for item in ranked:
        verdict = verdicts[item.name]
        counts[verdict.status] += 1
        if verdict.status == MISSING:
            missing.append(item.name)
        if verdict.status != NATIVE:
            continue
        projects.append(
            {
                "name": item.name,
                "rank": item.rank,
                "version": verdict.version,
                "platform_wheels": verdict.platform_wheels,
                "sdist": verdict.has_sdist,
            }
        )
    return {
        "provenance": {
            "ranking": (
                "PyPI download ranking: the column rank_among_15000_most_downloaded of the "
                "PyPI package list available on the build machine"
            ),
            "ranking_date": ranking_date,
            "ranks": [1, len(ranked)],
            "native_rule": (
                "the latest release (highest non-yanked final version, else highest "
                "pre-release) has no wheel for the platform 'any': only platform wheels "
                "and/or an sdist"
            ),
            "index": (
                "each project's simple-index page from the main package index pip is "
                "configured with, fetched with sysnative's SimpleIndexClient"
            ),
            "generated": date,
            "generator": GENERATOR,
            "counts": {
                "ranked": len(ranked),
                "native": counts[NATIVE],
                "pure": counts[PURE],
                "not_found": counts[MISSING],
            },
            "not_found": missing,
        },
        "projects": projects,
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------------------------
# Talking to the index


def fetch_verdicts(names: Sequence[NormalizedName]) -> dict[NormalizedName, Verdict]:
    """Classify every project from its page on pip's configured main index."""
    from sysnative.errors import ProjectNotFound
    from sysnative.index.client import SimpleIndexClient
    from sysnative.index.pipconfig import load_index_config
    from sysnative.models import FileKind, IndexFile

    config = load_index_config()
    main_only = dataclasses.replace(config, extra_index_urls=(), find_links=())

    def info(file: IndexFile) -> FileInfo:
        return FileInfo(
            filename=file.filename,
            version=file.version,
            is_wheel=file.kind is FileKind.WHEEL,
            platforms=frozenset(tag.platform for tag in file.tags),
            yanked=file.yanked is not None,
        )

    verdicts: dict[NormalizedName, Verdict] = {}
    with SimpleIndexClient(main_only, cache=None, max_workers=MAX_WORKERS) as client:
        client.prefetch_files(names)
        for name in names:
            try:
                files = client.get_files(name)
            except ProjectNotFound:
                verdicts[name] = Verdict(MISSING)
                continue
            verdicts[name] = classify(info(f) for f in files)
    return verdicts


def file_date(path: Path) -> str:
    stamp = datetime.datetime.fromtimestamp(path.stat().st_mtime, tz=datetime.timezone.utc)
    return stamp.date().isoformat()


def checked_date(value: str | None, default: str) -> str:
    if value is None:
        return default
    try:
        return datetime.date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise BuildError(f"dates are YYYY-MM-DD, not {value!r}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="List the native projects among the most-downloaded PyPI projects."
    )
    parser.add_argument("ranking", type=Path, help="the PyPI ranking list (TSV with a header)")
    parser.add_argument("--top", type=int, default=500, help="ranks 1..TOP (default 500)")
    parser.add_argument("--output", "-o", type=Path, default=DEFAULT_OUTPUT, help="output file")
    parser.add_argument("--date", help="generation date YYYY-MM-DD (default: today, UTC)")
    parser.add_argument(
        "--ranking-date", help="date of the ranking list (default: the file's modification day)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.top < 1:
            raise BuildError("--top must be at least 1")
        ranked = read_ranking(args.ranking, args.top)
        today = datetime.datetime.now(tz=datetime.timezone.utc).date().isoformat()
        date = checked_date(args.date, today)
        ranking_date = checked_date(args.ranking_date, file_date(args.ranking))
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    verdicts = fetch_verdicts([item.name for item in ranked])
    document = build_document(ranked, verdicts, date, ranking_date)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(document), encoding="utf-8")
    counts = document["provenance"]["counts"]
    print(
        f"wrote {args.output}: {counts['native']} native, {counts['pure']} pure, "
        f"{counts['not_found']} not found among {counts['ranked']} projects"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
