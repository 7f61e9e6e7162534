"""``sysnative export``: a lock made by ``sysnative lock`` as a Dockerfile snippet or a shell
script that reproduces it with apt-get, ``python3 -m venv`` and pip alone.

The text is :mod:`sysnative.lock.export` (pure); this module reads the lock and writes the
result.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sysnative.commands.lock import read_lock
from sysnative.commands.output import write_text
from sysnative.errors import UsageError
from sysnative.lock import export

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``sysnative export``'s options and arguments."""
    parser.add_argument("lockfile", metavar="LOCK", help="a pylock.toml written by sysnative lock")
    parser.add_argument(
        "--format",
        choices=export.FORMATS,
        required=True,
        help="dockerfile: RUN steps for an image of the lock's distro release; shell: a "
        "POSIX sh script to run as root or with sudo",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    parser.add_argument(
        "--venv",
        metavar="PATH",
        help=f"where the venv goes (default: {export.DOCKER_VENV} in a Dockerfile; the "
        f"script takes it as its first argument, default {export.SHELL_VENV})",
    )


def run(args: argparse.Namespace, verbose: int) -> int:
    """``sysnative export LOCK --format F``: the steps, on stdout or in ``-o FILE``."""
    lock = read_lock(args.lockfile)
    source = args.lockfile
    if args.format == "dockerfile":
        text = export.dockerfile(lock, source=source, venv=args.venv or export.DOCKER_VENV)
    else:
        if args.venv:
            raise UsageError(
                "--venv is for --format dockerfile; the shell script takes the venv as its "
                "first argument.",
                "Run the script as: sh SCRIPT PATH",
            )
        text = export.shell_script(lock, source=source)
    path = args.output or "-"
    write_text(path, text)
    if path != "-" and args.format == "shell":
        mode = Path(path).stat().st_mode
        Path(path).chmod(mode | ((mode & 0o444) >> 2))  # executable where readable
    return 0
