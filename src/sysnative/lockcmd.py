"""``sysnative lock``, ``sysnative export`` and ``sysnative install --lock`` (PEP 751)."""

from __future__ import annotations

import argparse


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``lock`` and ``export`` subcommands."""
    lock = sub.add_parser("lock", help="resolve and write a PEP 751 pylock.toml")
    lock.add_argument("requirements", nargs="*", metavar="REQ")
    export = sub.add_parser("export", help="turn a lock into a Dockerfile or shell script")
    export.add_argument("lockfile", metavar="LOCK")


def run(args: argparse.Namespace, verbose: int) -> int:
    """Run ``lock`` or ``export``."""
    raise NotImplementedError(args.command)


def install_from_lock(args: argparse.Namespace, verbose: int) -> int:
    """``sysnative install --lock FILE``."""
    raise NotImplementedError(args.lock)
