"""Time sysnative and pip on the same requirement sets, in one run, and print the ratio.

    python benchmarks/bench.py [--runs N] [--cold] [SET.txt ...]

Both tools plan without installing: ``sysnative install --system-native --dry-run`` and
``pip install --dry-run --ignore-installed --report``, run by the same interpreter (the
active one, which must have sysnative installed). Warm: each tool's cache is primed by one
untimed run, then ``--runs`` timed runs. Cold: every timed run starts with an empty cache
directory for both tools. Sets whose sysnative run fails (a real conflict between the
system and a requirement) are reported as such, not timed.

sysnative's modules are byte-compiled first, as installing its wheel does (pip compiles
what it installs). An editable checkout run with ``PYTHONDONTWRITEBYTECODE`` would
otherwise compile every module from source on every run, which no installed copy does.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _sysnative(req_file: Path, cache: str) -> tuple[list[str], dict[str, str]]:
    argv = [
        sys.executable,
        "-m",
        "sysnative",
        "install",
        "--system-native",
        "--dry-run",
        "-q",
        "-r",
        str(req_file),
    ]
    return argv, {"SYSNATIVE_CACHE_DIR": cache}


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


def _time(argv: list[str], extra_env: dict[str, str]) -> tuple[float, int]:
    env = {**os.environ, **extra_env}
    start = time.perf_counter()
    proc = subprocess.run(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        print(
            f"    ({Path(argv[1]).name if argv[1] != '-m' else argv[2]} exited "
            f"{proc.returncode}: {' / '.join(tail)})",
            file=sys.stderr,
        )
    return elapsed, proc.returncode


def bench_set(req_file: Path, runs: int, cold: bool) -> tuple[float, float] | None:
    medians = []
    for tool in (_sysnative, _pip):
        times = []
        with tempfile.TemporaryDirectory(prefix="sysnative-bench-") as base:
            if not cold:
                argv, env = tool(req_file, base)
                _, code = _time(argv, env)
                if code != 0:
                    return None
            for _ in range(runs):
                cache = tempfile.mkdtemp(dir=base) if cold else base
                argv, env = tool(req_file, cache)
                elapsed, code = _time(argv, env)
                if code != 0:
                    return None
                times.append(elapsed)
        medians.append(statistics.median(times))
    return medians[0], medians[1]


def _byte_compile_sysnative() -> None:
    """Compile sysnative's modules the way a wheel install leaves them."""
    done = subprocess.run(
        [sys.executable, "-c", "import sysnative, os; print(os.path.dirname(sysnative.__file__))"],
        capture_output=True,
        text=True,
        check=True,
    )
    package_dir = done.stdout.strip()
    compileall.compile_dir(package_dir, quiet=1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", type=Path, help="requirement files (default: all)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per tool and set")
    parser.add_argument("--cold", action="store_true", help="empty caches for every run")
    args = parser.parse_args(argv)
    sets = args.sets or sorted((HERE / "sets").glob("*.txt"))
    mode = "cold" if args.cold else "warm"
    _byte_compile_sysnative()
    print(f"{mode} cache, median of {args.runs} runs")
    print(f"{'set':24} {'sysnative':>10} {'pip':>10} {'ratio':>7}")
    ratios = []
    for req_file in sets:
        result = bench_set(req_file, args.runs, args.cold)
        if result is None:
            print(f"{req_file.stem:24} {'failed (see above)':>29}")
            continue
        ours, pips = result
        ratios.append(ours / pips)
        print(f"{req_file.stem:24} {ours:9.2f}s {pips:9.2f}s {ours / pips:6.2f}x")
    if ratios:
        print(f"{'worst ratio':24} {'':>10} {'':>10} {max(ratios):6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
