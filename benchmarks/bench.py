"""Time sysnative and pip on the same requirement sets, in one run, and print the ratio.

    python benchmarks/bench.py [--runs N] [--cold] [--timeout S] [--corpus DIR] [SET.txt ...]

Without sets on the command line, every corpus set runs: ``benchmarks/sets/*.txt`` and every
``*.txt`` in the shared corpus directory (``../shared/corpus`` next to the repository, or
``--corpus DIR``; skipped when absent). A set whose file name appears in both runs once, from
the corpus.

Both tools plan without installing: ``sysnative install --system-native --dry-run`` and
``pip install --dry-run --ignore-installed --report``, run by the same interpreter (the
active one, which must have sysnative installed). Warm: each tool's cache is primed by one
untimed run, then ``--runs`` timed runs. Cold: every timed run starts with an empty cache
directory for both tools.

Every set gets a row. A set whose sysnative run exits non-zero (a real conflict between the
system and a requirement, say) shows how long sysnative took to explain it, its exit status
and the first line of its error, next to pip's time. Every run is bounded by ``--timeout``
seconds; a run that exceeds it is killed and reported as a timeout. The worst ratio is taken
over the sets both tools planned.

``--baseline PYTHON`` compares two builds of sysnative instead (before and after a change):
the other column is the sysnative that ``PYTHON`` runs (another venv), timed the same way on
the same sets, set after set, and the ratio is this build's time over the baseline's. A set
that ends in an explained conflict is compared too when both builds end that way.

sysnative's modules are byte-compiled first, as installing its wheel does (pip compiles
what it installs). An editable checkout run with ``PYTHONDONTWRITEBYTECODE`` would
otherwise compile every module from source on every run, which no installed copy does.
"""

from __future__ import annotations

import argparse
import compileall
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETS_DIR = HERE / "sets"
#: The corpus shared between checkouts: ``../shared/corpus`` next to the repository.
DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
DEFAULT_TIMEOUT = 300.0

Tool = Callable[[Path, str], tuple[list[str], dict[str, str]]]


@dataclass(frozen=True)
class Outcome:
    """One run of one tool: how long it took and how it ended."""

    seconds: float
    #: The exit status, or None when the run was killed at the time bound.
    code: int | None
    #: The first line of its error output that says what went wrong ("" on success).
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 0


# --- which sets ---------------------------------------------------------------------------


def _txt_files(directory: Path | None) -> list[Path]:
    if directory is None or not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.txt") if p.is_file())


def discover_sets(sets_dir: Path | None, corpus_dir: Path | None) -> list[Path]:
    """Every ``*.txt`` in both directories, by stem; the corpus copy wins a shared stem."""
    by_stem = {p.stem: p for p in _txt_files(sets_dir)}
    by_stem.update({p.stem: p for p in _txt_files(corpus_dir)})
    return [by_stem[stem] for stem in sorted(by_stem)]


def add_set_arguments(parser: argparse.ArgumentParser) -> None:
    """The set selection shared by the benchmark scripts: positional sets and ``--corpus``."""
    parser.add_argument(
        "sets", nargs="*", type=Path, help="requirement files (default: every corpus set)"
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        default=None,
        help="shared corpus directory (default: ../shared/corpus next to the repository)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds before a run is killed and reported (default: {DEFAULT_TIMEOUT:.0f})",
    )


def selected_sets(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[Path]:
    """The sets named on the command line, or every corpus set."""
    if args.sets:
        return list(args.sets)
    if args.corpus is not None and not args.corpus.is_dir():
        parser.error(f"--corpus {args.corpus}: not a directory")
    return discover_sets(SETS_DIR, args.corpus if args.corpus is not None else DEFAULT_CORPUS)


# --- running ------------------------------------------------------------------------------


def first_error_line(stderr: str) -> str:
    """What went wrong, in one line: the ``error:`` line, a traceback's last line, or the first."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return ""
    if any(line.startswith("Traceback (most recent call last)") for line in lines):
        return f"traceback: {lines[-1]}"
    return next((line for line in lines if line.startswith("error:")), lines[0])


def run_bounded(
    argv: Sequence[str], extra_env: dict[str, str], timeout: float, *, stdout: int | None = None
) -> Outcome:
    """Run ``argv`` in its own process group; past ``timeout`` seconds, kill the whole group."""
    env = {**os.environ, **extra_env}
    start = time.perf_counter()
    with subprocess.Popen(
        argv,
        env=env,
        stdout=subprocess.DEVNULL if stdout is None else stdout,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return Outcome(time.perf_counter() - start, None, f"timed out after {timeout:.0f}s")
    elapsed = time.perf_counter() - start
    code = proc.returncode
    return Outcome(elapsed, code, "" if code == 0 else first_error_line(stderr))


def dry_run_argv(req_file: Path, *extra: str, python: str = sys.executable) -> list[str]:
    """``sysnative install --system-native --dry-run -q -r SET``, then ``extra``, run by
    ``python`` (default: this interpreter)."""
    return [
        python,
        "-m",
        "sysnative",
        "install",
        "--system-native",
        "--dry-run",
        "-q",
        "-r",
        str(req_file),
        *extra,
    ]


def _sysnative(req_file: Path, cache: str) -> tuple[list[str], dict[str, str]]:
    return dry_run_argv(req_file), {"SYSNATIVE_CACHE_DIR": cache}


def baseline_tool(python: str) -> Tool:
    """The sysnative that ``python`` runs, as a tool to time (``--baseline``)."""

    def tool(req_file: Path, cache: str) -> tuple[list[str], dict[str, str]]:
        return dry_run_argv(req_file, python=python), {"SYSNATIVE_CACHE_DIR": cache}

    return tool


def _pip(req_file: Path, cache: str) -> tuple[list[str], dict[str, str]]:
    argv = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--ignore-installed",
        "--report",
        os.devnull,
        "-q",
        "--cache-dir",
        cache,
        "-r",
        str(req_file),
    ]
    return argv, {}


def _summarize(outcomes: Sequence[Outcome]) -> Outcome:
    """The median time of the timed runs, and how the first unsuccessful one ended."""
    failed = next((o for o in outcomes if not o.ok), None)
    same = [o.seconds for o in outcomes if failed is None or o.code == failed.code]
    ending = failed if failed is not None else outcomes[0]
    return Outcome(statistics.median(same), ending.code, ending.error)


def bench_tool(tool: Tool, req_file: Path, runs: int, cold: bool, timeout: float) -> Outcome:
    """Time one tool on one set; stop at the first timeout rather than wait it out again."""
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="sysnative-bench-") as base:
        if not cold:
            priming = run_bounded(*tool(req_file, base), timeout)
            if priming.code is None:
                return priming
        for _ in range(runs):
            cache = tempfile.mkdtemp(dir=base) if cold else base
            outcome = run_bounded(*tool(req_file, cache), timeout)
            if outcome.code is None:
                return outcome
            outcomes.append(outcome)
    return _summarize(outcomes)


def bench_set(
    req_file: Path, runs: int, cold: bool, timeout: float, other: Tool | None = None
) -> tuple[Outcome, Outcome]:
    """sysnative's outcome on one set, and pip's (or ``other``'s)."""
    ours = bench_tool(_sysnative, req_file, runs, cold, timeout)
    theirs = bench_tool(other or _pip, req_file, runs, cold, timeout)
    return ours, theirs


# --- showing ------------------------------------------------------------------------------


def _cell(outcome: Outcome) -> str:
    if outcome.code is None:
        return "timeout"
    if not outcome.ok:
        return f"exit {outcome.code}"
    return f"{outcome.seconds:.2f}s"


def _note(name: str, outcome: Outcome) -> str:
    if outcome.code is None:
        return f"{name} {outcome.error}"
    if outcome.error.startswith("traceback:"):
        what = "crashed"
    else:
        what = "conflict explained" if name in ("sysnative", "baseline") else "failed"
    return f"{name} {what} in {outcome.seconds:.2f}s (exit {outcome.code}): {outcome.error}"


def comparable(ours: Outcome, theirs: Outcome, *, same_ending: bool = False) -> bool:
    """Whether the two times compare: both planned, or (``same_ending``, two builds of
    sysnative) both ended the same way, an explained conflict included."""
    if same_ending:
        return ours.code is not None and ours.code == theirs.code
    return ours.ok and theirs.ok


def format_row(
    stem: str,
    width: int,
    ours: Outcome,
    theirs: Outcome,
    *,
    other: str = "pip",
    same_ending: bool = False,
) -> str:
    """One set's row: both times and the ratio, or what happened instead."""
    fits = comparable(ours, theirs, same_ending=same_ending)
    ratio = f"{ours.seconds / theirs.seconds:6.2f}x" if fits else "-"
    row = f"{stem:{width}} {_cell(ours):>10} {_cell(theirs):>10} {ratio:>7}"
    notes = [_note(name, o) for name, o in (("sysnative", ours), (other, theirs)) if not o.ok]
    return "  ".join([row, *notes])


def _byte_compile_sysnative(python: str = sys.executable) -> None:
    """Compile sysnative's modules the way a wheel install leaves them."""
    done = subprocess.run(
        [python, "-c", "import sysnative, os; print(os.path.dirname(sysnative.__file__))"],
        capture_output=True,
        text=True,
        check=True,
    )
    package_dir = done.stdout.strip()
    compileall.compile_dir(package_dir, quiet=1)


def _set_width(sets: Iterable[Path]) -> int:
    return max([24, *(len(p.stem) for p in sets)])


def _positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be at least 1")
    return number


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_set_arguments(parser)
    parser.add_argument("--runs", type=_positive, default=3, help="timed runs per tool and set")
    parser.add_argument("--cold", action="store_true", help="empty caches for every run")
    parser.add_argument(
        "--baseline",
        metavar="PYTHON",
        help="compare with the sysnative this interpreter runs (another build) instead of pip",
    )
    args = parser.parse_args(argv)
    sets = selected_sets(parser, args)
    mode = "cold" if args.cold else "warm"
    _byte_compile_sysnative()
    other, tool = "pip", None
    if args.baseline:
        _byte_compile_sysnative(args.baseline)
        other, tool = "baseline", baseline_tool(args.baseline)
    width = _set_width(sets)
    print(f"{mode} cache, median of {args.runs} runs, {len(sets)} sets")
    print(f"{'set':{width}} {'sysnative':>10} {other:>10} {'ratio':>7}", flush=True)
    ratios = []
    for req_file in sets:
        ours, theirs = bench_set(req_file, args.runs, args.cold, args.timeout, tool)
        if comparable(ours, theirs, same_ending=tool is not None):
            ratios.append(ours.seconds / theirs.seconds)
        print(
            format_row(
                req_file.stem, width, ours, theirs, other=other, same_ending=tool is not None
            ),
            flush=True,
        )
    if ratios:
        print(
            f"{'worst ratio':{width}} {'':>10} {'':>10} {max(ratios):6.2f}x"
            f"  over the {len(ratios)} of {len(sets)} sets both compared"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
