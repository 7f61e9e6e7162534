"""The ``sysnative`` program: :func:`main` builds the parser from the commands
(:mod:`sysnative.commands`, one module each), runs the one asked for, and is the one place
where an error becomes a message and an exit code.

An error a user can meet is a :class:`~sysnative.errors.SysnativeError`: it is shown as
``error: ...`` and ``hint: ...`` (with its traceback under ``-v``) and its ``exit_code`` is
returned. Ctrl-C ends a run with one line and 130. This module also sends sysnative's log
lines to stderr for the run.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence

from sysnative import __version__
from sysnative.commands import COMMANDS, install
from sysnative.errors import SysnativeError

__all__ = ["build_parser", "main", "run"]

logger = logging.getLogger("sysnative")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command line ``sysnative`` takes.

    :data:`sysnative.commands.COMMANDS` says what each command is; the module of the same name
    adds its options (``add_arguments``) and runs it (``run(args, verbose) -> int``). They are
    imported here, not with this module, so that an ``install`` handed to pip does not
    import them.
    """
    parser = argparse.ArgumentParser(
        prog="sysnative",
        description="Install pure-Python wheels from the package index and native projects "
        "from the system package manager.",
    )
    parser.add_argument("--version", action="version", version=f"sysnative {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, info in COMMANDS.items():
        command = importlib.import_module(f"sysnative.commands.{name}")
        command_parser = sub.add_parser(name, help=info.summary, description=info.description)
        command.add_arguments(command_parser)
        command_parser.set_defaults(run=command.run)
    return parser


def run() -> int:
    """The ``sysnative`` program: :func:`main` in a process that ends with it, with Python's
    cycle collector paused for the run (an accelerator: see :mod:`sysnative.session.speed`)."""
    from sysnative.session.speed import collector_paused

    with collector_paused():
        return main()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``sysnative`` command line (default: this process's); its exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    verbose = 0
    to_pip: list[str] | None = None
    try:
        to_pip = install.pip_arguments(args_list)
        if to_pip is not None:
            return install.hand_to_pip(to_pip)
        parser = build_parser()
        args = parser.parse_args(args_list)
        if args.command is None:
            parser.print_help()
            return 2
        verbose = getattr(args, "verbose", 0) - getattr(args, "quiet", 0)
        command: Callable[[argparse.Namespace, int], int] = args.run
        with _logging_to_stderr(verbose):
            return command(args, verbose)
    except SysnativeError as exc:
        return _failed(exc, verbose)
    except KeyboardInterrupt:
        if to_pip is not None:
            raise  # pip had the terminal, and has said what it did
        print("Interrupted; nothing was changed.", file=sys.stderr)
        return 130
    except BrokenPipeError as exc:
        return _broken_pipe(exc, verbose)


def _failed(exc: SysnativeError, verbose: int) -> int:
    """``error:`` and ``hint:`` lines (and the traceback under ``-v``); the exit code."""
    if verbose > 0:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    print(f"error: {exc.message}", file=sys.stderr)
    if exc.hint:
        print(f"hint: {exc.hint}", file=sys.stderr)
    return exc.exit_code


def _broken_pipe(exc: BrokenPipeError, verbose: int) -> int:
    """The reader of the output went away (``sysnative map ... | head``): exit 1 with one
    line, as pip does, and no second complaint when Python flushes stdout at exit."""
    with contextlib.suppress(OSError, ValueError):  # stdout is not a file (captured)
        stdout = sys.stdout.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout)
        os.close(devnull)
    with contextlib.suppress(OSError):  # stderr may be the closed pipe
        if verbose > 0:
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        print("error: the output was closed before sysnative finished writing it.", file=sys.stderr)
    return 1


@contextlib.contextmanager
def _logging_to_stderr(verbose: int) -> Iterator[None]:
    """sysnative's log lines on the standard error of this call, at the level ``-v``/``-q``
    ask for; the logger is left as it was found afterwards, so that ``main`` can be called
    again in the same process (tests do) without writing to a stream that has gone."""
    level = logging.DEBUG if verbose > 0 else logging.INFO if verbose == 0 else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    form = "%(message)s" if verbose <= 0 else "%(name)s: %(message)s"
    if verbose >= 2:  # -vv: when and where, for following concurrent work
        form = "%(relativeCreated)6dms %(threadName)s " + form
    handler.setFormatter(logging.Formatter(form))
    saved = (logger.handlers[:], logger.level, logger.propagate)
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved
