"""A helper gets a CPU of its own, sysnative's threads and children the others, and back."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from sysnative.session.cpushare import reserve_cpu

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs per-thread CPU affinity and two CPUs or more",
)


class Reporter(threading.Thread):
    """A thread that reports its own CPUs whenever asked."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.asks: queue.Queue[bool] = queue.Queue()
        self.answers: queue.Queue[set[int]] = queue.Queue()

    def run(self) -> None:
        while self.asks.get():
            self.answers.put(set(os.sched_getaffinity(0)))

    def cpus(self) -> set[int]:
        self.asks.put(True)
        return self.answers.get(timeout=10)


@pytest.fixture
def helper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait(timeout=30)


@pytest.fixture
def allowed() -> Iterator[set[int]]:
    before = set(os.sched_getaffinity(0))
    yield before
    os.sched_setaffinity(0, before)  # whatever a failing test left behind


_PRINT_CPUS = "import json, os; print(json.dumps(sorted(os.sched_getaffinity(0))))"


def _child_cpus() -> set[int]:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, os; print(json.dumps(sorted(os.sched_getaffinity(0))))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(done.stdout))


def test_the_helper_gets_one_cpu_and_everyone_else_the_rest(
    helper: subprocess.Popen[bytes], allowed: set[int]
) -> None:
    earlier = Reporter()
    earlier.start()

    share = reserve_cpu(helper.pid)

    assert share is not None
    rest = allowed - {share.reserved}
    assert os.sched_getaffinity(helper.pid) == {share.reserved}
    assert os.sched_getaffinity(0) == rest
    assert earlier.cpus() == rest  # a thread that was already running
    later = Reporter()
    later.start()
    assert later.cpus() == rest  # a thread started meanwhile inherits it
    assert _child_cpus() == rest  # and so does a subprocess

    share.release()
    share.release()  # idempotent

    assert os.sched_getaffinity(helper.pid) == allowed
    assert os.sched_getaffinity(0) == allowed
    assert earlier.cpus() == allowed
    assert later.cpus() == allowed
    earlier.asks.put(False)
    later.asks.put(False)


def test_a_process_that_is_gone_changes_nothing(allowed: set[int]) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)

    assert reserve_cpu(gone.pid) is None
    assert os.sched_getaffinity(0) == allowed


def test_a_thread_started_while_everyone_is_given_back_is_given_back_too(
    helper: subprocess.Popen[bytes], allowed: set[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sysnative.session import cpushare

    confined = Reporter()
    share = reserve_cpu(helper.pid)
    assert share is not None
    confined.start()  # started during the reservation: confined
    late: list[Reporter] = []
    real_threads = cpushare._threads

    def listing_then_a_new_thread() -> list[int]:
        found = real_threads()
        if not late:  # right after the first listing, a confined thread starts another
            started = threading.Event()

            def spawn() -> None:
                child = Reporter()
                child.start()
                late.append(child)
                started.set()

            threading.Thread(target=spawn).start()
            started.wait(10)
        return found

    monkeypatch.setattr(cpushare, "_threads", listing_then_a_new_thread)
    # The spawning thread is itself new, and confined as it was started from this one.
    share.release()

    assert late[0].cpus() == allowed
    assert confined.cpus() == allowed
    for reporter in (confined, late[0]):
        reporter.asks.put(False)
