"""The install step's progress as the commands show it: one line on a terminal, rewritten in
place; the lines before a long step unless ``-q``."""

from __future__ import annotations

import io

from sysnative.commands.progress import TerminalProgress
from sysnative.protocols import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _download(progress: Progress) -> None:
    progress.start(2, 3_000_000)
    progress.advance(1_000_000)
    progress.advance(1_000_000)
    progress.file_done("a.whl")
    progress.advance(1_000_000)
    progress.file_done("b.whl")
    progress.finish()


def test_on_a_terminal_the_download_is_one_line_rewritten_in_place() -> None:
    terminal = _Terminal()
    _download(TerminalProgress.for_verbosity(terminal, 0))
    output = terminal.getvalue()
    assert output.count("\n") == 1
    assert output.endswith("\n")
    assert output.split("\r")[1:3] == [
        "Downloading wheels: 0/2 files, 0.0/3.0 MB",
        "Downloading wheels: 0/2 files, 1.0/3.0 MB",
    ]
    assert output.rstrip("\n").split("\r")[-1] == "Downloading wheels: 2/2 files, 3.0/3.0 MB"


def test_no_line_when_not_a_terminal_or_quiet() -> None:
    log = io.StringIO()
    _download(TerminalProgress.for_verbosity(log, 0))
    assert log.getvalue() == ""
    terminal = _Terminal()
    _download(TerminalProgress.for_verbosity(terminal, -1))
    assert terminal.getvalue() == ""


def test_notes_before_a_long_step_are_shown_unless_quiet() -> None:
    log = io.StringIO()
    TerminalProgress.for_verbosity(log, 0).notify("Installing with apt ...")
    assert log.getvalue() == "Installing with apt ...\n"
    quiet = io.StringIO()
    TerminalProgress.for_verbosity(quiet, -1).notify("Installing with apt ...")
    assert quiet.getvalue() == ""
