"""DNF 4's command and the resolver shim (:mod:`sysnative.providers.dnf.command`)."""

from __future__ import annotations

import subprocess
import sys

from sysnative.providers.dnf.command import RESOLVE_SHIM


def test_resolver_shim_refuses_to_run_without_assumeno() -> None:
    """It must never run a transaction; it checks its arguments before importing dnf."""
    proc = subprocess.run(
        [sys.executable, "-I", "-c", RESOLVE_SHIM, "install", "-y", "--", "x"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "only runs with --assumeno" in proc.stderr
