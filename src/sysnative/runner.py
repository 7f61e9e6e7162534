"""The only place that starts subprocesses.

Commands are argv lists, never shell strings. ``run`` returns a value with everything the
caller needs to explain a failure; it raises only when the program cannot be started.
``start`` starts a long-lived child that answers questions over pipes (apt's helper).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, TextIO

from sysnative.errors import SysnativeError

logger = logging.getLogger(__name__)

#: How long an echoed command's output may keep coming after the command itself exited.
_DRAIN_SECONDS = 10.0

#: ``scheme://user:password@``: the password is not logged (pip's index URLs may carry one).
_PASSWORD = re.compile(r"(://[^/\s:@]*):[^/\s@]*@")


def shown(argv: Sequence[str]) -> str:
    """``argv`` as one line for logs and messages, passwords in URLs as ``****``."""
    return _PASSWORD.sub(r"\1:****@", " ".join(argv))


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def describe(self) -> str:
        """The command and the tail of its error output, for messages."""
        tail = (self.stderr or self.stdout).strip().splitlines()[-5:]
        detail = ("\n" + "\n".join("    " + line for line in tail)) if tail else ""
        return f"`{shown(self.argv)}` exited with status {self.returncode}{detail}"


class CommandNotFound(SysnativeError):
    def __init__(self, program: str) -> None:
        super().__init__(f"The program {program!r} was not found on this machine.")
        self.program = program


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float | None = 300,
    echo: TextIO | None = None,
) -> Completed:
    """Run ``argv`` and capture its output as text (UTF-8, C locale for stable parsing).

    ``echo``: also copy each line of output (both streams) there as it comes, for a command
    that runs for minutes and should be watched (a package manager's install); the output is
    captured all the same.
    """
    full_env = dict(os.environ)
    full_env.update({"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"})
    if env:
        full_env.update(env)
    logger.debug("running %s", shown(argv))
    if echo is not None:
        return _run_echoing(argv, full_env, input, timeout, echo)
    try:
        proc = subprocess.run(
            list(argv),
            env=full_env,
            input=input,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise CommandNotFound(argv[0]) from exc
    except subprocess.TimeoutExpired as exc:
        raise SysnativeError(
            f"`{shown(argv)}` did not finish within {timeout:.0f} seconds.",
            "Run it by hand to see what it is waiting for.",
        ) from exc
    return Completed(tuple(argv), proc.returncode, proc.stdout, proc.stderr)


def _run_echoing(
    argv: Sequence[str],
    env: Mapping[str, str],
    input: str | None,
    timeout: float | None,
    echo: TextIO,
) -> Completed:
    try:
        proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            stdin=subprocess.PIPE if input is not None else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
    except FileNotFoundError as exc:
        raise CommandNotFound(argv[0]) from exc
    lock = threading.Lock()
    echoing = [True]
    captured: dict[str, list[str]] = {"stdout": [], "stderr": []}

    def pump(stream: IO[str], lines: list[str]) -> None:
        # Reading never stops before the end: a command whose pipe fills up blocks.
        for line in stream:
            lines.append(line)
            with lock:
                if echoing[0]:
                    try:
                        echo.write(line)
                        echo.flush()
                    except (OSError, ValueError):  # the terminal went away (| head, closed)
                        echoing[0] = False
        stream.close()

    assert proc.stdout is not None
    assert proc.stderr is not None
    pumps = [
        threading.Thread(target=pump, args=(proc.stdout, captured["stdout"]), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, captured["stderr"]), daemon=True),
    ]
    for thread in pumps:
        thread.start()
    try:
        if proc.stdin is not None:
            try:
                proc.stdin.write(input or "")
                proc.stdin.close()
            except BrokenPipeError:  # the command did not read its input: as subprocess.run
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()  # the unwritten rest goes, and the pipe is closed
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.wait()
        raise SysnativeError(
            f"`{shown(argv)}` did not finish within {timeout:.0f} seconds.",
            "Run it by hand to see what it is waiting for.",
        ) from exc
    except BaseException:  # as subprocess.run does: no child is left behind
        proc.kill()
        proc.wait()
        raise
    finally:
        # The output ends when the last process holding the pipes exits: normally the
        # command itself, but a daemon its scripts started may keep them open for good.
        for thread in pumps:
            thread.join(timeout=_DRAIN_SECONDS)
    return Completed(
        tuple(argv), proc.returncode, "".join(captured["stdout"]), "".join(captured["stderr"])
    )


def start(argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """Start a long-lived child that talks in lines of UTF-8 text: requests on its stdin,
    answers on its stdout; its stderr is discarded. Returns at once; the caller owns the
    process (reads, writes, and ends it).

    The environment is this process's with ``env`` on top, the locale unchanged: such a
    child speaks a format of its own (JSON lines), not a tool's messages. Raises
    :class:`CommandNotFound` when the program is not there, :class:`OSError` when it cannot
    be started otherwise.
    """
    logger.debug("starting %s", shown(argv))
    try:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            env={**os.environ, **env} if env else None,
        )
    except FileNotFoundError as exc:
        raise CommandNotFound(argv[0]) from exc


def run_passthrough(argv: Sequence[str]) -> int:
    """Run ``argv`` with the terminal attached (for handing a command to pip unchanged)."""
    logger.debug("handing over to %s", " ".join(argv))
    try:
        return subprocess.call(list(argv))
    except FileNotFoundError as exc:
        raise CommandNotFound(argv[0]) from exc
