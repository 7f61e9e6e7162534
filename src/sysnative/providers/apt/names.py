"""Debian's grammar for package names and versions: what may reach apt's argv.

Every name and version is checked here before any command runs. That matters for more than
shell safety: apt treats an argument that is not an exact package name as a regular
expression or glob (``python3-nump.`` would "install" every ``python3-numpy*`` package), an
argument starting with ``-`` as an option, and a version is glued to its name
(``pkg=version``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sysnative.errors import ProviderError
from sysnative.providers.common import Grammar, unique_valid_names

__all__ = [
    "GRAMMAR",
    "PACKAGE_NAME_RE",
    "validate_package_names",
    "validate_version",
]

#: Debian Policy 5.6.1: lower case letters, digits, ``+ - .``; at least two characters;
#: starts with a letter or digit.
PACKAGE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")


def validate_package_names(packages: Iterable[str]) -> tuple[str, ...]:
    """The names, de-duplicated in order; :class:`ProviderError` for any invalid one.

    Runs before any command, so a hostile or mistyped name never reaches apt.
    """
    return unique_valid_names(
        packages,
        PACKAGE_NAME_RE,
        what="Debian package name",
        tool="apt",
        hint="Debian package names use only lower-case letters, digits and '+', '-', '.', "
        "start with a letter or digit and are at least two characters long. Check the "
        "mapping entry that produced this name.",
    )


#: Debian Policy 5.6.12: ``[epoch:]upstream_version[-debian_revision]``. The upstream part
#: starts with a digit; ``:`` may appear in it only with an epoch and ``-`` only with a
#: revision (the revision is what follows the LAST hyphen, hence the lazy upstream group).
_VERSION_RE = re.compile(
    r"^(?:(?P<epoch>[0-9]+):)?(?P<upstream>[0-9][A-Za-z0-9.+~:-]*?)"
    r"(?:-(?P<revision>[A-Za-z0-9.+~]+))?$"
)


def validate_version(version: str) -> str:
    """``version`` unchanged when it follows Debian's version grammar; :class:`ProviderError`
    otherwise.

    The version is glued to the name (``pkg=version``) in apt's argv, so a version with ``=``,
    whitespace, ``/`` or shell metacharacters must never get there; the grammar excludes all.
    """
    m = _VERSION_RE.fullmatch(version) if isinstance(version, str) else None
    if (
        m is None
        or (":" in m.group("upstream") and m.group("epoch") is None)
        or ("-" in m.group("upstream") and m.group("revision") is None)
    ):
        raise ProviderError(
            f"{version!r} is not a valid Debian version, so it was not passed to apt.",
            "Debian versions look like [epoch:]upstream[-revision] (`1:1.24.2-1+deb12u1`): "
            "digits, letters and '.', '+', '~', '-', ':' only, starting with a digit. Check "
            "the plan or lock file that produced this version.",
        )
    return version


#: What may reach apt's argv: the pairs and closures of a transaction are checked with it (a
#: name asked at two versions is refused: apt would silently keep the last one).
GRAMMAR = Grammar(validate_package_names, validate_version)
