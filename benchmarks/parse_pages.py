"""Time the parsing of real index pages taken from the sysnative page cache.

    python benchmarks/parse_pages.py [--runs N] [--cache-dir DIR] [--disk-cache] [PROJECT ...]

Nothing is fetched: the pages must already be in the cache (``$SYSNATIVE_CACHE_DIR`` or the
user cache directory), e.g. after one ``sysnative install --dry-run`` that needs them. Each
page is parsed ``--runs`` times in a fresh process state as far as parsing goes (the
in-process memo caches of :mod:`sysnative.index.pages` are cleared before every run unless
``--keep-memo``), and the best and median times are printed. ``--disk-cache`` times a warm
:func:`sysnative.index.pagecache.parse_page_cached` instead (the parsed list read back from a
temporary cache directory, primed by one untimed call), which is what a warm run does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from sysnative.cache import Cache, CachedPage
from sysnative.index import pagecache
from sysnative.index import pages as index_pages

DEFAULT_PROJECTS = ("botocore", "numpy", "cryptography", "twisted")


def _cached_pages(root: Path) -> dict[str, CachedPage]:
    """Every cached 200 page, by the project name that ends its URL."""
    cache = Cache(root)
    pages: dict[str, CachedPage] = {}
    for path in (root / "pages").rglob("*"):
        if not path.is_file() or path.name.startswith("."):
            continue
        try:
            header = json.loads(path.read_bytes().partition(b"\n")[0])
            url = str(header["url"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        page = cache.get_page(url)
        if page is not None and page.status == 200:
            pages[url.rstrip("/").rsplit("/", 1)[-1]] = page
    return pages


def _clear_memos() -> None:
    clear = getattr(index_pages, "clear_parse_caches", None)
    if callable(clear):
        clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("projects", nargs="*", default=list(DEFAULT_PROJECTS))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--keep-memo", action="store_true", help="do not clear memo caches")
    parser.add_argument("--disk-cache", action="store_true", help="time warm parse_page_cached")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        return _run(args, Cache(scratch) if args.disk_cache else None)


def _run(args: argparse.Namespace, parsed_cache: Cache | None) -> int:
    root = args.cache_dir if args.cache_dir is not None else Cache().root
    pages = _cached_pages(root)
    total = 0.0
    for project in args.projects:
        name = canonicalize_name(project)
        page = pages.get(name)
        if page is None:
            print(f"{name:>14}: not in the cache under {root}", file=sys.stderr)
            continue

        def parse(page: CachedPage = page, name: NormalizedName = name) -> int:
            if parsed_cache is None:
                return len(index_pages.parse_page(page.body, page.content_type, page.url, name))
            files = pagecache.parse_page_cached(
                parsed_cache, page.body, page.content_type, page.url, name
            )
            return len(files)

        if parsed_cache is not None:
            parse()  # prime the disk cache
        times = []
        count = 0
        for _ in range(args.runs):
            if not args.keep_memo:
                _clear_memos()
            start = time.perf_counter()
            count = parse()
            times.append(time.perf_counter() - start)
        total += min(times)
        print(
            f"{name:>14}: {len(page.body) / 1e6:6.2f} MB, {count:5d} files, "
            f"best {min(times) * 1000:7.1f} ms, median {statistics.median(times) * 1000:7.1f} ms"
        )
    print(f"{'total best':>14}: {total * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
