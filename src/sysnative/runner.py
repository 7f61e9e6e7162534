"""The only place that starts subprocesses.

Commands are argv lists, never shell strings. ``run`` returns a value with everything the
caller needs to explain a failure; it raises only when the program cannot be started.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sysnative.errors import SysnativeError

logger = logging.getLogger(__name__)


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
        return f"`{' '.join(self.argv)}` exited with status {self.returncode}{detail}"


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
) -> Completed:
    """Run ``argv`` and capture its output as text (UTF-8, C locale for stable parsing)."""
    full_env = dict(os.environ)
    full_env.update({"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"})
    if env:
        full_env.update(env)
    logger.debug("running %s", " ".join(argv))
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
            f"`{' '.join(argv)}` did not finish within {timeout:.0f} seconds.",
            "Run it by hand to see what it is waiting for.",
        ) from exc
    return Completed(tuple(argv), proc.returncode, proc.stdout, proc.stderr)


def run_passthrough(argv: Sequence[str]) -> int:
    """Run ``argv`` with the terminal attached (for handing a command to pip unchanged)."""
    logger.debug("handing over to %s", " ".join(argv))
    try:
        return subprocess.call(list(argv))
    except FileNotFoundError as exc:
        raise CommandNotFound(argv[0]) from exc
