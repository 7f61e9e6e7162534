"""The version of a system-provided project: what pip and ``importlib.metadata`` will see.

A system package has two versions: the package manager's (``0.1.20221031-1+b1``, read as
PEP 440 by the provider) and the one its installed metadata registers (``regex
2022.10.31``). Planning must use the one pip will see after the install, and must get the
same answer whether the package is installed yet or not. One rule decides, and both the
planner and the marker step (:mod:`sysnative.install.standins`) use it:

1. What the package registers, when known: read from the target once installed, else from
   the mapping's data (``registers_version``, for the distro version ``registers_for`` when
   the data says which one it was read from).
2. A registered version that is plainly a placeholder, older than the package manager's
   (kiwisolver and xxhash on Debian 12 register ``0.0.0``, torch ``1.13.0a0+gitunknown``
   for 1.13.1), is not a release: the package manager's version is the truth, and the
   marker step writes a marker so that pip sees it too.
3. Otherwise the registered version is the truth: the distro spells the version its own way
   (``0.1.20221031`` for regex 2022.10.31), and pip will see the registered one.
4. Nothing registered known: the package manager's version.

Pure: versions in, a version out.
"""

from __future__ import annotations

from collections.abc import Callable

from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from sysnative.mapping.table import MappingEntry, MappingTable

__all__ = ["is_placeholder", "may_be_placeholder", "registered_by_data", "system_version"]


def is_placeholder(registered: Version, distro: Version) -> bool:
    """Whether ``registered`` is metadata that does not tell the release (rule 2).

    Only what is plainly not a release counts: all zeros (``0.0.0``, ``0.0.0.dev0``), or a
    pre-release or local build label on what the package manager calls a final release
    (torch's ``1.13.0a0+gitunknown`` for 1.13.1), and older than the package's version.
    Anything else is a release spelled another way (tifffile registers ``2023.2.3``, Debian
    says ``20230203``) or what upstream wrote, and pip sees it as it is. Compared without
    local labels: ``1.2.3`` registered by a ``1.2.3+git20230101`` snapshot is that release.
    """
    if not Version(registered.public) < Version(distro.public):
        return False
    zeros = all(part == 0 for part in registered.release)
    unreleased = (registered.is_prerelease or registered.local is not None) and not (
        distro.is_prerelease
    )
    return zeros or unreleased


def may_be_placeholder(registered: Version) -> bool:
    """Whether ``registered`` has the shape of a placeholder (all zeros, a pre-release or a
    local label): only then can the package's own version change the answer, so only then
    is the package manager asked for it."""
    zeros = all(part == 0 for part in registered.release)
    return zeros or registered.is_prerelease or registered.local is not None


def registered_by_data(
    entry: MappingEntry | None,
    distro_version: str | None,
    to_pep440: Callable[[str], Version | None],
) -> Version | None:
    """The version the mapping says the package registers, when it applies to
    ``distro_version`` (the package manager's spelling; ``to_pep440`` reads it).

    Data read from one distro version (``registers_for``) says nothing about another
    upstream release: a later regex registers another date. A rebuild of the same release
    (``-1+b1``) registers the same. Unreadable data counts as unknown.
    """
    if entry is None or entry.registers_version is None:
        return None
    read_for = entry.registers_for
    if read_for is not None and distro_version is not None:
        same_release = to_pep440(read_for) == to_pep440(distro_version)
        if not same_release:
            return None
    return _parse(entry.registers_version)


def system_version(distro: Version | None, registered: Version | None) -> Version | None:
    """The version to plan with (rules 2-4); ``None`` when neither is known."""
    if registered is None:
        return distro
    if distro is None or not is_placeholder(registered, distro):
        return registered
    return distro


def _parse(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def planned_version(
    project: NormalizedName,
    distro_version: str,
    to_pep440: Callable[[str], Version | None],
    mapping: MappingTable,
    registered: Version | None = None,
) -> Version | None:
    """The version of ``project`` at the provider's ``distro_version`` that pip will see
    (sysversion's rule); ``registered``: what the installed package registers, when it is
    installed at that version (else the mapping's data says, when it knows)."""
    if registered is None:
        registered = registered_by_data(mapping.lookup(project), distro_version, to_pep440)
    return system_version(to_pep440(distro_version), registered)
