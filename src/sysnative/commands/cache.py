"""``sysnative cache dir|info|purge``: where the cache is, what it holds, emptying it.

Like ``pip cache``. The cache only ever costs speed when it is gone: every entry is fetched
or computed again on the next run. ``purge`` removes the directories sysnative writes
(:data:`sysnative.cache.KINDS`) and nothing else, so a cache dir pointed somewhere shared
(``SYSNATIVE_CACHE_DIR``) never loses anything that is not sysnative's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sysnative.cache import KINDS, default_cache_dir, purge, usage
from sysnative.errors import UsageError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``sysnative cache``'s options and arguments."""
    actions = parser.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    actions.add_parser("dir", help="print the cache directory")
    info = actions.add_parser("info", help="files and size of each kind of entry")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    remove = actions.add_parser(
        "purge", help="remove every entry, or those of the kinds given", description=_kinds()
    )
    remove.add_argument("kinds", nargs="*", metavar="KIND", help="only these kinds")


def run(args: argparse.Namespace, verbose: int) -> int:
    """``sysnative cache dir|info|purge``."""
    root = default_cache_dir()
    if args.cache_command == "dir":
        print(root)
        return 0
    if args.cache_command == "info":
        return _info(root, as_json=args.json)
    return _purge(root, args.kinds)


def _info(root: Path, *, as_json: bool) -> int:
    found = usage(root)
    if as_json:
        rows = [
            {"kind": u.kind, "files": u.files, "bytes": u.size, "holds": KINDS[u.kind]}
            for u in found
        ]
        json.dump({"version": 1, "path": str(root), "kinds": rows}, sys.stdout, indent=2)
        print()
        return 0
    print(f"Cache: {root}")
    print(f"{'kind':14} {'files':>7} {'size':>10}  holds")
    for u in found:
        print(f"{u.kind:14} {u.files:7} {_size(u.size):>10}  {KINDS[u.kind]}")
    total_files = sum(u.files for u in found)
    print(f"{'total':14} {total_files:7} {_size(sum(u.size for u in found)):>10}")
    return 0


def _purge(root: Path, kinds: list[str]) -> int:
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise UsageError(f"Not a kind of cache entry: {', '.join(unknown)}.", _kinds())
    chosen = list(dict.fromkeys(kinds)) or list(KINDS)
    before = {u.kind: u for u in usage(root)}
    purge(root, chosen)
    after = {u.kind: u for u in usage(root)}
    files = sum(before[k].files - after[k].files for k in chosen)
    size = sum(before[k].size - after[k].size for k in chosen)
    count = f"{files} file{'s' if files != 1 else ''}"
    print(f"Removed {count} ({_size(size)}) from {root}: {', '.join(chosen)}.")
    left = [k for k in chosen if after[k].files]
    if left:  # another run wrote meanwhile, or files that cannot be removed
        print(f"Left in place: {', '.join(left)} (in use or not removable).")
    return 0


def _kinds() -> str:
    return f"Kinds: {', '.join(KINDS)} (`sysnative cache info` says what each holds)."


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
