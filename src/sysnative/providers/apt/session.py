"""A long-lived ``helper.py`` process: apt's answers from one open python-apt cache.

The apt provider asks :class:`AptSession` first and apt's own commands whenever the session
says no: python3-apt missing, a question the helper does not reproduce exactly, a dead
process. A session is therefore never the only way to an answer, only the fast one; see
``helper.py`` for what it answers and why it is faster. The process is started through
:func:`sysnative.runner.start`, like every subprocess of sysnative.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path

from sysnative.runner import CommandNotFound, start
from sysnative.session.cpushare import CpuShare, reserve_cpu

logger = logging.getLogger(__name__)

__all__ = ["HELPER", "AptSession"]

#: The script the system interpreter runs.
HELPER = Path(__file__).with_name("helper.py")


def _close(
    process: subprocess.Popen[str], *, opened: threading.Event, cpu: CpuShare | None
) -> None:
    """End the helper. One whose cache is open holds nothing worth waiting for: it is
    stopped at once. One still building apt's binary cache is left to finish writing it
    (the next run profits); the EOF on its stdin then ends it, and a daemon thread reaps it
    without anyone waiting. Our ends of its pipes are closed either way."""
    if cpu is not None:
        cpu.release()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    if process.poll() is not None:
        return
    if opened.is_set():
        process.kill()
        process.wait()
    else:
        threading.Thread(target=process.wait, name="apt-helper-reaper", daemon=True).start()


class AptSession:
    """One helper process. Starting it returns at once; the first question waits for apt's
    cache to be open. Every method is safe to call from several threads."""

    def __init__(
        self,
        interpreter: str,
        settings: Sequence[tuple[str, str]],
        env: Mapping[str, str] | None = None,
    ) -> None:
        argv = [interpreter, "-I", str(HELPER), *(f"{k}={v}" for k, v in settings)]
        self._lock = threading.Lock()
        #: ``None`` until the helper said whether its cache is open; then apt's version, or
        #: ``""`` when the session cannot answer anything.
        self._apt_version: str | None = None
        self._process: subprocess.Popen[str] | None = None
        #: The CPU the helper has to itself while it opens apt's cache (see cpushare.py).
        self._cpu: CpuShare | None = None
        #: Set once the helper's first line was read: its cache is open (or it failed).
        self._hello_read = threading.Event()
        try:
            self._process = start(argv, env=env)
        except (CommandNotFound, OSError) as exc:
            logger.debug("apt helper not started: %s", exc)
            self._apt_version = ""
            return
        self._cpu = reserve_cpu(self._process.pid)
        weakref.finalize(self, _close, self._process, opened=self._hello_read, cpu=self._cpu)

    def apt_version(self) -> str:
        """apt's version once the cache is open (waits for it); ``""``: the session is off."""
        with self._lock:
            return self._hello()

    def ask(self, op: str, names: Sequence[str]) -> str | None:
        """The helper's text answer to ``op`` for ``names``; ``None``: ask apt itself."""
        with self._lock:
            if not self._hello():
                return None
            start = time.monotonic()
            reply = self._exchange({"op": op, "names": list(names)})
        if reply is None:
            return None
        text = reply.get("text")
        if reply.get("ok") is True and isinstance(text, str):
            logger.debug(
                "apt helper: %s of %d names in %.0f ms",
                op,
                len(names),
                (time.monotonic() - start) * 1000,
            )
            return text
        logger.debug("apt helper declined %s %s: %s", op, " ".join(names), reply.get("why"))
        return None

    def release_cpu(self) -> None:
        """Give back the CPU the helper has to itself while it opens apt's cache (reading
        its first answer does that too)."""
        if self._cpu is not None:
            self._cpu.release()

    def close(self) -> None:
        """Stop the helper (the system is about to change, or planning is over)."""
        with self._lock:
            if self._process is not None:
                _close(self._process, opened=self._hello_read, cpu=self._cpu)
            self._apt_version = ""

    # -- under the lock ----------------------------------------------------------------------

    def _hello(self) -> str:
        if self._apt_version is None:
            reply = self._read()
            self._hello_read.set()
            self.release_cpu()  # the slow part is over, whatever the answer
            if reply is not None and reply.get("ok") is True:
                self._apt_version = str(reply.get("apt", ""))
                logger.debug("apt helper ready (apt %s)", self._apt_version)
            else:
                why = reply.get("why") if reply else "it exited"
                logger.debug("apt helper unavailable: %s", why)
                self._apt_version = ""
        return self._apt_version

    def _exchange(self, request: Mapping[str, object]) -> dict[str, object] | None:
        process = self._process
        if process is None or process.stdin is None:
            return None
        try:
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
        except OSError as exc:
            logger.debug("apt helper gone: %s", exc)
            self._apt_version = ""
            return None
        reply = self._read()
        if reply is None:
            self._apt_version = ""
        return reply

    def _read(self) -> dict[str, object] | None:
        process = self._process
        if process is None or process.stdout is None:
            return None
        try:
            line = process.stdout.readline()
            reply = json.loads(line) if line else None
        except (OSError, ValueError) as exc:
            logger.debug("apt helper answered something unreadable: %s", exc)
            return None
        return reply if isinstance(reply, dict) else None
