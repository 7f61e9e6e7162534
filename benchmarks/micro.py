"""Time the small pieces that run on every invocation, or that must stay linear.

    python benchmarks/micro.py [--runs N]

Tests never assert on time; the speed properties they used to hold live here instead:

* loading the built-in Debian mapping (runs on every invocation; budget 50 ms);
* the HTML tokenizer on a page with an unterminated tag followed by 20,000 ``<a``: linear
  time (rescanning to the end from every ``<a`` would take minutes).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

from packaging.utils import canonicalize_name

from sysnative.index.pages import parse_html_page
from sysnative.mapping.files import load_builtin

UNTERMINATED = '<a href="demo-1.0.tar.gz">x</a><a href="demo-2.0.tar.gz' + ' <a x="y"' * 20_000


def _load_mapping() -> None:
    load_builtin.cache_clear()
    load_builtin("debian")


def _parse_unterminated() -> None:
    parse_html_page(UNTERMINATED, "http://127.0.0.1/simple/demo/", canonicalize_name("demo"))


CASES: dict[str, tuple[Callable[[], None], float]] = {
    "load built-in debian mapping": (_load_mapping, 0.050),
    "html tokenizer, unterminated tag": (_parse_unterminated, 0.5),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    over = 0
    print(f"{'case':<36} {'median':>9} {'budget':>9}")
    for name, (case, budget) in CASES.items():
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            case()
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        over += median > budget
        flag = "" if median <= budget else "  OVER BUDGET"
        print(f"{name:<36} {median * 1000:>7.1f}ms {budget * 1000:>7.0f}ms{flag}")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
