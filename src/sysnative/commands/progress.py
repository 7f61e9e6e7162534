"""The install step's progress on the standard error: the one :class:`~sysnative.protocols.Progress`
the commands hand down to :func:`sysnative.install.execute.execute` and
:func:`sysnative.install.staging.stage`.

Downloads are one line on a terminal, rewritten in place (``Downloading wheels: 3/12 files,
...``), and nothing when the stream is not a terminal (logs of CI runs) or ``-q`` was given.
The lines before a long step (``notify``) are shown unless ``-q`` was given.
"""

from __future__ import annotations

import threading
from typing import TextIO

__all__ = ["TerminalProgress"]


class TerminalProgress:
    """Implements :class:`sysnative.protocols.Progress` on ``stream``.

    The download line is redrawn only when its text changes, so thousands of chunks cost a
    few hundred writes, and no clock is involved.
    """

    def __init__(
        self, stream: TextIO, *, quiet: bool = False, label: str = "Downloading wheels"
    ) -> None:
        self._stream = stream
        self._quiet = quiet
        self._draw_line = not quiet and _is_tty(stream)
        self._label = label
        self._lock = threading.Lock()
        self._files = 0
        self._done = 0
        self._total: int | None = None
        self._bytes = 0
        self._shown = ""

    @classmethod
    def for_verbosity(cls, stream: TextIO, verbose: int) -> TerminalProgress:
        """Progress on ``stream`` at the verbosity ``-v``/``-q`` set (below 0: nothing)."""
        return cls(stream, quiet=verbose < 0)

    def start(self, files: int, total_bytes: int | None) -> None:
        with self._lock:
            self._files, self._total = files, total_bytes
            self._draw()

    def advance(self, nbytes: int) -> None:
        with self._lock:
            self._bytes += nbytes
            self._draw()

    def file_done(self, filename: str) -> None:
        with self._lock:
            self._done += 1
            self._draw()

    def finish(self) -> None:
        with self._lock:
            if self._shown:
                self._stream.write("\n")
                self._stream.flush()
            self._shown = ""

    def notify(self, line: str) -> None:
        if not self._quiet:
            print(line, file=self._stream, flush=True)

    def _draw(self) -> None:
        if not self._draw_line:
            return
        size = _megabytes(self._bytes)
        if self._total is not None:
            size += f"/{_megabytes(self._total)}"
        text = f"{self._label}: {self._done}/{self._files} files, {size} MB"
        if text == self._shown:
            return
        padding = " " * max(0, len(self._shown) - len(text))
        self._stream.write("\r" + text + padding)
        self._stream.flush()
        self._shown = text


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _megabytes(nbytes: int) -> str:
    return f"{max(nbytes, 0) / 1_000_000:.1f}"
