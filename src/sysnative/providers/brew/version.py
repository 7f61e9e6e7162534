"""Homebrew versions: ``pkg_version`` strings and their PEP 440 reading.

A formula's version as Homebrew installs it is its ``pkg_version``: the upstream version
(``versions.stable`` in ``brew info --json``) and, when the formula was rebuilt without a
version change, ``_REVISION`` (``1.26.4_1``). The revision is Homebrew's rebuild counter, not
part of the upstream version, so the PEP 440 reading drops it.
"""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

__all__ = ["PKG_VERSION_RE", "brew_to_pep440", "pkg_version", "split_pkg_version"]

#: A Homebrew version with its revision (``1.26.4_1``, ``2024-11-26``, ``1.4rc5_2``).
PKG_VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+~-]*$")


def split_pkg_version(version: str) -> tuple[str, int]:
    """``"1.26.4_1"`` -> ``("1.26.4", 1)``; no revision is revision 0 (Homebrew's
    ``PkgVersion``: the revision is a trailing ``_N``)."""
    m = re.fullmatch(r"(.+?)_(\d+)", version)
    if m:
        return m.group(1), int(m.group(2))
    return version, 0


def pkg_version(stable: str, revision: int) -> str:
    """Homebrew's ``pkg_version``: the version, and ``_REVISION`` when the formula was
    rebuilt without a version change."""
    return f"{stable}_{revision}" if revision else stable


def brew_to_pep440(version: str) -> Version | None:
    """The PEP 440 reading of a Homebrew version: the revision (``_1``) is Homebrew's
    rebuild counter, not part of the upstream version, and is dropped; ``None`` when the
    rest is not a PEP 440 version (``2024-11-26``, ``9e``)."""
    if not isinstance(version, str) or not PKG_VERSION_RE.fullmatch(version):
        return None
    upstream, _revision = split_pkg_version(version)
    try:
        return Version(upstream)
    except InvalidVersion:
        return None
