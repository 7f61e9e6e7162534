"""A long command's output is shown as it comes, and captured all the same."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from sysnative.errors import SysnativeError
from sysnative.runner import CommandNotFound, run

#: Prints a line, then waits for the file its argument names before it goes on: it can only
#: finish if the first line was seen while it was still running.
WAITS_FOR_A_READER = """
import os, sys, time
print("first line", flush=True)
print("a warning", file=sys.stderr, flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
print("second line")
sys.exit(3)
"""


class Watcher(io.StringIO):
    """A terminal that answers the command once it has seen its first line."""

    def __init__(self, answer: Path) -> None:
        super().__init__()
        self.answer = answer

    def write(self, text: str) -> int:
        if "first line" in text:
            self.answer.touch()
        return super().write(text)


def test_output_is_echoed_while_the_command_runs(tmp_path: Path) -> None:
    echo = Watcher(tmp_path / "seen")

    result = run(
        [sys.executable, "-c", WAITS_FOR_A_READER, str(tmp_path / "seen")], timeout=30, echo=echo
    )

    assert result.returncode == 3
    assert result.stdout == "first line\nsecond line\n"
    assert result.stderr == "a warning\n"
    assert sorted(echo.getvalue().splitlines()) == ["a warning", "first line", "second line"]


def test_input_reaches_an_echoed_command() -> None:
    echo = io.StringIO()
    result = run(
        [sys.executable, "-c", "import sys; print(sys.stdin.read().upper())"],
        input="spam",
        echo=echo,
    )
    assert result.stdout == "SPAM\n"
    assert echo.getvalue() == "SPAM\n"


def test_an_echoed_command_that_outlives_its_timeout_is_stopped() -> None:
    with pytest.raises(SysnativeError, match="did not finish within 1 seconds"):
        run([sys.executable, "-c", "import time; time.sleep(60)"], timeout=1, echo=io.StringIO())


def test_a_missing_program_is_reported_as_such() -> None:
    with pytest.raises(CommandNotFound):
        run(["/nonexistent/program"], echo=io.StringIO())


class GoneTerminal(io.StringIO):
    """A terminal that goes away after the first line (``sysnative install -v | head -1``)."""

    def write(self, text: str) -> int:
        if self.getvalue():
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(text)


def test_a_terminal_that_goes_away_stops_the_echo_not_the_command() -> None:
    many = "import sys\nfor i in range(20000): print(i)\nprint('done', file=sys.stderr)"
    echo = GoneTerminal()

    result = run([sys.executable, "-c", many], timeout=60, echo=echo)

    assert result.ok
    assert result.stdout.splitlines()[-1] == "19999"  # all of it, though the pipe filled up
    assert result.stderr == "done\n"
    assert echo.getvalue() in ("0\n", "done\n")


def test_a_command_that_does_not_read_its_input() -> None:
    result = run([sys.executable, "-c", "pass"], input="x" * 1_000_000, echo=io.StringIO())
    assert result.ok
