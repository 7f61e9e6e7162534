"""Helpers shared by the CLI integration tests (``main([...])`` run in-process).

A module rather than a second conftest.py: that would clash with tests/conftest.py for mypy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sysnative.probe import probe

__all__ = ["Result", "assert_clean_error", "platform_tag"]


@dataclass
class Result:
    """What one ``main([...])`` call did."""

    code: int
    out: str
    err: str
    #: The ``--report`` JSON (``None`` when no report was written).
    report: dict[str, Any] | None = None

    @property
    def packages(self) -> dict[str, dict[str, Any]]:
        """The report's packages by name."""
        assert self.report is not None, f"no report; stderr:\n{self.err}"
        return {p["name"]: p for p in self.report["packages"]}

    def row(self, name: str) -> list[str]:
        """The table row of ``name``, split on runs of two or more spaces."""
        for line in self.out.splitlines():
            cells = [c for c in line.split("  ") if c.strip()]
            if cells and cells[0].strip() == name:
                return [c.strip() for c in cells]
        raise AssertionError(f"no table row for {name!r} in:\n{self.out}")


def assert_clean_error(result: Result, *needles: str, code: int = 1) -> str:
    """An ``error:`` (plus optional ``hint:``), the exit code, no traceback; the text from
    ``error:`` on."""
    assert result.code == code, f"exit {result.code}; stdout:\n{result.out}\nstderr:\n{result.err}"
    assert "Traceback" not in result.err
    assert "Traceback" not in result.out
    err = result.err
    assert "error: " in err, err
    message = err[err.index("error: ") :]
    for needle in needles:
        assert needle in message, f"{needle!r} not in:\n{message}"
    return message


def platform_tag(python: str) -> str | None:
    """A platform-specific wheel tag ``python`` supports, manylinux_2_17 when it has one
    (``cp311-cp311-manylinux_2_17_x86_64`` on Debian 12), as an index would serve."""
    specific = [t for t in probe(python).tags if t.abi != "none" and t.platform != "any"]
    preferred = [t for t in specific if t.platform.startswith("manylinux_2_17_")]
    return str((preferred or specific)[0]) if specific else None
