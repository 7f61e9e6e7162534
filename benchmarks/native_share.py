"""How many native packages of the corpus sets sysnative takes from the system provider.

    python benchmarks/native_share.py [--corpus DIR] [--timeout S] [--json] [SET.txt ...] [-- ARGS]

Each set (every corpus set by default, found as ``benchmarks/bench.py`` finds them) is planned
once with ``sysnative install --system-native --dry-run --report FILE -r SET``; arguments
after ``--`` are added to that command (``-- --native-fallback wheel``, say). Over the sets
that planned, the native packages are the rows the plan routes to the system, plus the rows
from the index marked as native wheels (a fallback, or ``--pypi``). The table counts, per set,
how many went to the system provider and how many to the index, lists every native that did
not go to the system with the plan's reason, and the sets that did not plan with the first
line of their error. ``--json`` prints the tally as JSON instead.

System rows include the packages that only come as dependencies of the requested ones (the
"deps" column); the last line also gives the share without them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import Outcome, add_set_arguments, dry_run_argv, run_bounded, selected_sets


@dataclass(frozen=True)
class Miss:
    """A native package the plan takes from the index instead of the system."""

    name: str
    version: str
    reason: str
    filename: str


@dataclass(frozen=True)
class SetTally:
    """One set's plan, counted; ``error`` is set when it did not plan."""

    name: str
    seconds: float
    error: str = ""
    provider: str = ""
    system: int = 0
    #: System rows that only come as a dependency of a requested one.
    dependencies: int = 0
    misses: tuple[Miss, ...] = field(default=())

    @property
    def planned(self) -> bool:
        return not self.error

    @property
    def natives(self) -> int:
        return self.system + len(self.misses)


def _is_native_wheel(row: dict[str, Any]) -> bool:
    return row.get("route") != "system" and bool(row.get("native_wheel"))


def tally_report(name: str, seconds: float, report: dict[str, Any]) -> SetTally:
    """Count the system rows and the index's native wheels of one ``--report`` document."""
    rows: list[dict[str, Any]] = report.get("packages", [])
    system = [r for r in rows if r.get("route") == "system"]
    misses = tuple(
        Miss(r["name"], r["version"], r.get("reason", ""), r.get("filename", ""))
        for r in rows
        if _is_native_wheel(r)
    )
    return SetTally(
        name=name,
        seconds=seconds,
        provider=str(report.get("provider", "")),
        system=len(system),
        dependencies=sum(1 for r in system if not r.get("requested")),
        misses=misses,
    )


def _failure(name: str, outcome: Outcome) -> SetTally:
    if outcome.code is None:
        error = outcome.error
    else:
        error = f"exit {outcome.code}: {outcome.error or '(no error output)'}"
    return SetTally(name=name, seconds=outcome.seconds, error=error)


def plan_set(req_file: Path, extra: Sequence[str], timeout: float) -> SetTally:
    """Plan one set with a JSON report and count its natives."""
    with tempfile.TemporaryDirectory(prefix="sysnative-share-") as tmp:
        report = Path(tmp) / "report.json"
        outcome = run_bounded(dry_run_argv(req_file, "--report", str(report), *extra), {}, timeout)
        if not outcome.ok:
            return _failure(req_file.stem, outcome)
        if not report.is_file():
            return _failure(req_file.stem, Outcome(outcome.seconds, 0, "no report written"))
        document = json.loads(report.read_text(encoding="utf-8"))
    return tally_report(req_file.stem, outcome.seconds, document)


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def _totals(tallies: Sequence[SetTally]) -> dict[str, int]:
    planned = [t for t in tallies if t.planned]
    return {
        "sets": len(tallies),
        "planned": len(planned),
        "natives": sum(t.natives for t in planned),
        "system": sum(t.system for t in planned),
        "dependencies": sum(t.dependencies for t in planned),
        "index": sum(len(t.misses) for t in planned),
    }


def _set_table(tallies: Sequence[SetTally], width: int) -> list[str]:
    lines = [
        f"{'set':{width}} {'natives':>7} {'system':>6} {'deps':>5} {'index':>5} "
        f"{'share':>5} {'time':>7}"
    ]
    for t in tallies:
        if not t.planned:
            lines.append(f"{t.name:{width}} {'did not plan':>32} {t.seconds:6.2f}s")
            continue
        lines.append(
            f"{t.name:{width}} {t.natives:7} {t.system:6} {t.dependencies:5} "
            f"{len(t.misses):5} {_percent(t.system, t.natives):>5} {t.seconds:6.2f}s"
        )
    return lines


def _miss_lines(tallies: Sequence[SetTally]) -> list[str]:
    misses = [(t.name, m) for t in tallies for m in t.misses]
    if not misses:
        return []
    lines = ["", "natives from the index:"]
    lines.extend(f"  {s}: {m.name} {m.version} ({m.reason})" for s, m in misses)
    return lines


def _failed_lines(tallies: Sequence[SetTally]) -> list[str]:
    failed = [t for t in tallies if not t.planned]
    if not failed:
        return []
    return ["", "sets that did not plan:", *(f"  {t.name}: {t.error}" for t in failed)]


def render(tallies: Sequence[SetTally], provider: str) -> str:
    """The per-set table, the natives that did not go to the system, the sets that failed."""
    width = max([12, *(len(t.name) for t in tallies)])
    total = _totals(tallies)
    natives, system = total["natives"], total["system"]
    direct = natives - total["dependencies"]
    requested = system - total["dependencies"]
    lines = [
        *_set_table(tallies, width),
        *_miss_lines(tallies),
        *_failed_lines(tallies),
        "",
        f"share of natives from {provider}: {system} of {natives} ({_percent(system, natives)})"
        f" over {total['planned']} of {total['sets']} sets that planned",
        f"without system dependencies: {requested} of {direct} ({_percent(requested, direct)})",
    ]
    return "\n".join(lines)


def to_json(tallies: Sequence[SetTally], extra: Sequence[str]) -> dict[str, Any]:
    return {
        "extra_args": list(extra),
        "totals": _totals(tallies),
        "sets": [
            {**asdict(t), "planned": t.planned, "natives": t.natives, "index": len(t.misses)}
            for t in tallies
        ],
    }


def _split_extra(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Our arguments, and sysnative's (everything after the first ``--``)."""
    args = list(argv)
    if "--" not in args:
        return args, []
    at = args.index("--")
    return args[:at], args[at + 1 :]


def main(argv: Sequence[str] | None = None) -> int:
    ours, extra = _split_extra(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_set_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the tally as JSON")
    args = parser.parse_args(ours)
    sets = selected_sets(parser, args)
    tallies = [plan_set(req_file, extra, args.timeout) for req_file in sets]
    if args.json:
        print(json.dumps(to_json(tallies, extra), indent=2))
        return 0
    providers = sorted({t.provider for t in tallies if t.provider})
    print(render(tallies, "/".join(providers) or "the system"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
