"""Give a single-threaded helper process a CPU of its own while it does its slow start.

A cold planning run on apt spends its first second building apt's binary package cache in
the python3-apt helper: single-threaded, memory-hungry C++ that sits on the critical path.
Meanwhile sysnative's own threads (two dozen fetching and parsing index pages) and its
subprocesses are scheduled across every CPU, the helper's included, and keep moving it
and its caches around. On a 2-CPU machine the build took 0.8-0.9 s instead of the 0.65 s
it takes alone; with the helper given one CPU and everything else the others, it took its
solo time, and the whole cold dry run of a small set went from 0.95-1.05 s to 0.75-0.83 s.

:func:`reserve_cpu` does that split (Linux, two CPUs or more, else nothing): the helper is
pinned to the last CPU this process may use, and every thread of this process (and so
every thread and subprocess they start meanwhile) to the rest. :meth:`CpuShare.release`
gives everyone back the CPUs they had; it is called as soon as the helper is ready.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading

__all__ = ["CpuShare", "reserve_cpu"]

logger = logging.getLogger(__name__)

_TASKS = "/proc/self/task"


def _threads() -> list[int]:
    """The thread ids of this process (Linux: affinity is per thread)."""
    try:
        return [int(tid) for tid in os.listdir(_TASKS)]
    except (OSError, ValueError):
        return []


def _set_affinity(tid: int, cpus: set[int]) -> None:
    with contextlib.suppress(OSError):  # a thread or process that just ended
        os.sched_setaffinity(tid, cpus)


class CpuShare:
    """One reservation: undone by :meth:`release` (idempotent, thread-safe)."""

    def __init__(self, pid: int, allowed: set[int], reserved: int) -> None:
        self.pid = pid
        self.allowed = allowed
        self.reserved = reserved
        self._lock = threading.Lock()
        self._released = False

    def release(self) -> None:
        """Every thread of this process, and the helper, may use all CPUs again."""
        with self._lock:
            if self._released:
                return
            self._released = True
        # A thread still confined may start another meanwhile, which inherits the confined
        # set: list the threads again until a listing shows none not yet given back.
        done: set[int] = set()
        while fresh := set(_threads()) - done:
            for tid in fresh:
                _set_affinity(tid, self.allowed)
            done |= fresh
        _set_affinity(self.pid, self.allowed)
        logger.debug("CPU %d shared again", self.reserved)


def reserve_cpu(pid: int) -> CpuShare | None:
    """Give process ``pid`` (a child of this process) a CPU of its own; ``None`` when there
    is nothing to split (one CPU, no per-thread affinity on this system, or the accelerators
    switched off: :mod:`sysnative.session.speed`)."""
    from sysnative.session import speed

    getaffinity = getattr(os, "sched_getaffinity", None)
    if not speed.enabled():
        return None
    if getaffinity is None or not os.path.isdir(_TASKS):
        return None
    try:
        allowed = set(getaffinity(0))
    except OSError:
        return None
    if len(allowed) < 2:
        return None
    reserved = max(allowed)
    try:
        os.sched_setaffinity(pid, {reserved})
    except OSError as exc:
        logger.debug("cannot pin process %d to CPU %d: %s", pid, reserved, exc)
        return None
    rest = allowed - {reserved}
    for tid in _threads():
        _set_affinity(tid, rest)
    logger.debug("CPU %d reserved for process %d", reserved, pid)
    return CpuShare(pid, allowed, reserved)
