"""``python -m sysnative`` is the program."""

from __future__ import annotations

import subprocess
import sys


def test_python_dash_m_is_the_program() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sysnative", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert done.stdout.startswith("sysnative ")
