"""``tomllib`` on Python 3.11+, the ``tomli`` backport before (same API)."""

from __future__ import annotations

import sys
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib as _toml
else:  # pragma: no cover - exercised on Python 3.9/3.10
    import tomli as _toml

TOMLDecodeError = _toml.TOMLDecodeError

__all__ = ["TOMLDecodeError", "loads_toml"]


def loads_toml(text: str) -> dict[str, Any]:
    """Parse a TOML document."""
    return _toml.loads(text)
