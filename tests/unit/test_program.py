"""The ``sysnative`` program around ``main``: no cycle collector for the run."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from sysnative import cli


def test_main_runs_without_the_cycle_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []

    def fake_main() -> int:
        seen.append(gc.isenabled())
        return 7

    monkeypatch.setattr(cli, "main", fake_main)
    try:
        assert cli.run() == 7
    finally:
        gc.unfreeze()
        gc.enable()
    assert seen == [False]


def test_python_dash_m_is_the_program() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sysnative", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert done.stdout.startswith("sysnative ")
