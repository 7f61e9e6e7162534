"""Conda versions: the ``version=build`` strings the conda provider reports, and PEP 440.

The conda provider reports a package's distro version as ``VERSION=BUILD``
(``1.26.4=py311h64a7726_0``): a conda version alone does not name one package, because a
channel holds several builds of it (one per Python, BLAS, CUDA ...), and installing the
planned build needs both halves. ``=`` cannot occur in either half (conda's package spec: the
version and the build string may not contain ``-``, and neither may contain MatchSpec
operators), so the split is unambiguous; the provider installs the pair as the exact MatchSpec
``name==VERSION[build=BUILD]``.

Conda versions are close to PEP 440 but not the same grammar (conda's ``VersionOrder``):
segments are separated by ``.`` or ``_``, letters may follow numbers anywhere, ``dev`` sorts
before everything, ``post`` after, an epoch is ``N!`` and a local part follows ``+``.
:func:`conda_to_pep440` maps the versions that mean the same thing in both (``1.26.4``,
``2.1.0.post1``, ``1.0.0rc1``, ``3.0.0_dev`` = ``3.0.0.dev0``, ``1!2.0``, ``1.0+local``) and
returns ``None`` for the rest (``1.1.1w``, ``9e``, ``2.0.0.final``), which have no faithful
PEP 440 reading.

One difference in order remains, and is accepted: conda orders a ``dev`` that stands in its
own segment (``3.0.0_dev``, ``3.0.0.dev1``) ABOVE the other pre-releases of the same release
(``3.0.0dev1 < 3.0.0rc1 < 3.0.0_dev < 3.0.0`` in conda's ``VersionOrder``), PEP 440 below
them. The PEP 440 reading is still the version's meaning (a development build of 3.0.0) and
agrees with conda against every other version; only a comparison with another pre-release
of the same release differs (``tests/integration/test_conda_channel.py`` checks the orders
against rattler's). An attached ``dev`` (``3.0.0dev1``) sorts below ``rc`` in both.
"""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

__all__ = [
    "BUILD_RE",
    "VERSION_RE",
    "conda_to_pep440",
    "join_version_build",
    "split_version_build",
]

#: An exact conda version: letters, digits and ``. _ + !``, starting and ending with a letter
#: or digit (conda rejects empty segments, so no leading or trailing separator). Operators
#: (``= < > , | *``), spaces and ``-`` are excluded: they would turn the version into a
#: pattern in a MatchSpec.
VERSION_RE = re.compile(r"^[0-9A-Za-z](?:[0-9A-Za-z._+!]*[0-9A-Za-z])?$")

#: A conda build string (``py311h64a7726_0``, ``0``, ``1_cp37m``, ``conda_forge``): letters,
#: digits, ``_``, ``.`` and ``+``; never ``-`` (it separates the parts of a file name) nor
#: ``=`` (it separates version and build in a MatchSpec).
BUILD_RE = re.compile(r"^[0-9A-Za-z_][0-9A-Za-z_.+]*$")

#: PEP 440 spellings conda uses with an underscore as the separator (``3.0.0_dev``); conda's
#: ``VersionOrder`` treats ``_`` exactly like ``.``.
_UNDERSCORE = re.compile(r"_")


def split_version_build(distro_version: str) -> tuple[str, str | None]:
    """``"1.26.4=py311h64a7726_0"`` -> ``("1.26.4", "py311h64a7726_0")``; a bare version
    has no build (``None``)."""
    version, sep, build = distro_version.partition("=")
    return version, (build if sep else None)


def join_version_build(version: str, build: str | None) -> str:
    """The provider's distro version for a conda record: ``VERSION=BUILD``."""
    return f"{version}={build}" if build else version


def conda_to_pep440(distro_version: str) -> Version | None:
    """The PEP 440 reading of a conda version (the build part, if any, is ignored).

    ``None`` when the version is not a valid conda version or has no PEP 440 reading with
    the same order. Underscores become dots first (conda orders them alike); what
    ``packaging`` then accepts keeps conda's ordering for the shapes conda-forge uses: release
    numbers, ``aN``/``bN``/``rcN`` pre-releases, ``.postN``, ``.devN`` (conda's ``dev`` sorts
    below the release, like PEP 440's), epochs and local versions. A version ending in a bare
    letter (``1.1.1w``) is rejected rather than guessed at: packaging would read no such
    version, and conda orders it after ``1.1.1``, which no PEP 440 spelling expresses. So is
    a post-release spelled ``r``/``rev`` (``0.4.1.r2``): conda orders it before ``0.4.1``.
    """
    if not isinstance(distro_version, str):
        return None
    version, _build = split_version_build(distro_version.strip())
    if not VERSION_RE.fullmatch(version):
        return None
    try:
        parsed = Version(_UNDERSCORE.sub(".", version))
    except InvalidVersion:
        return None
    if parsed.post is not None and "post" not in version.lower():
        # PEP 440 also spells post-releases ``r``/``rev`` and ``1.0-1``; conda has no such
        # reading (``0.4.1.r2`` is a string segment, ordered BELOW ``0.4.1``).
        return None
    return parsed
