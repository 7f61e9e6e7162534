"""rpm's grammar for package names, provides, versions and architectures, and dnf's for extra
options: what may reach a dnf or rpm argv.

dnf reads an argument with ``*``, ``?`` or ``[`` as a glob, one starting with ``-`` as an
option, and one with ``,`` in ``--whatprovides`` as two; a version is glued to its name
(``name-1.2-3.fc40.noarch``). So every name, version and option is checked here before any
command runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sysnative.errors import ProviderError
from sysnative.models import ClosureItem
from sysnative.providers.common import Grammar, unique_valid_names

__all__ = [
    "ARCH_RE",
    "GRAMMAR",
    "PACKAGE_NAME_RE",
    "SPEC_RE",
    "validate_options",
    "validate_package_names",
    "validate_specs",
    "validate_version",
]

#: An rpm package name: letters, digits and ``_ . + -``, not starting with ``-`` or ``.``.
PACKAGE_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")

#: A package name or a virtual provide such as ``python3dist(numpy)`` or ``python(abi)``.
#: No glob characters, brackets (``python3dist(foo[extra])``), commas, ``/`` (file provides)
#: or whitespace.
SPEC_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*(?:\([A-Za-z0-9_][A-Za-z0-9_.+-]*\))?$")

#: ``[epoch:]version-release``: rpm allows letters, digits and ``. _ + ~ ^`` in both parts.
_EVR_RE = re.compile(r"^(?:[0-9]+:)?[A-Za-z0-9_][A-Za-z0-9._+~^]*-[A-Za-z0-9_][A-Za-z0-9._+~^]*$")

ARCH_RE = re.compile(r"^[A-Za-z0-9_]+$")


def validate_specs(specs: Iterable[str]) -> tuple[str, ...]:
    """Package names or provides, de-duplicated in order; :class:`ProviderError` for any
    invalid one. Runs before any command, so a hostile or mistyped spec never reaches dnf."""
    return unique_valid_names(
        specs,
        SPEC_RE,
        what="rpm package name or provide",
        tool="dnf",
        hint="rpm names use letters, digits and '_', '.', '+', '-', and do not start with "
        "'-' or '.'; a provide is a name followed by one (parenthesised) name, as in "
        "python3dist(numpy). Check the mapping entry that produced this name.",
    )


def validate_package_names(packages: Iterable[str]) -> tuple[str, ...]:
    """Real package names (no provides), de-duplicated in order; :class:`ProviderError` for any
    invalid one."""
    return unique_valid_names(
        packages,
        PACKAGE_NAME_RE,
        what="rpm package name",
        tool="dnf",
        hint="rpm package names use letters, digits and '_', '.', '+', '-', and do not start "
        "with '-' or '.'. The install step needs the real package name (python3-numpy), "
        "not a provide (python3dist(numpy)); check the plan that produced it.",
    )


def validate_version(version: str) -> str:
    """``version`` unchanged when it is an rpm ``[epoch:]version-release``;
    :class:`ProviderError` otherwise.

    The version is glued to the name in dnf's argv (``name-1.2-3.fc40.noarch``), so one with
    whitespace, ``/``, glob or shell characters must never get there; the grammar excludes all.
    """
    if not isinstance(version, str) or not _EVR_RE.fullmatch(version):
        raise ProviderError(
            f"{version!r} is not a valid rpm version, so it was not passed to dnf.",
            "rpm versions look like [epoch:]version-release (`1:1.26.4-7.fc40`): letters, "
            "digits and '.', '_', '+', '~', '^' in each part, one '-' between them. Check the "
            "plan or lock file that produced this version.",
        )
    return version


def validate_options(options: Iterable[str]) -> tuple[str, ...]:
    """The extra dnf options, each an option (``--installroot=DIR``), never a word dnf would
    read as its command; :class:`ProviderError` otherwise."""
    out = []
    for option in options:
        if (
            not isinstance(option, str)
            or not option.startswith("-")
            or option == "--"
            or any(ch in option for ch in "\0\n\r")
        ):
            raise ProviderError(
                f"{option!r} is not a dnf option, so dnf was not run.",
                "Give dnf options (SYSNATIVE_DNF_OPTIONS) with their values attached, as in "
                "--installroot=/srv/fedora or --setopt=reposdir=/etc/yum.repos.d.",
            )
        out.append(option)
    return tuple(out)


def _validate_arch(item: ClosureItem) -> None:
    if item.architecture is not None and not ARCH_RE.fullmatch(item.architecture):
        raise ProviderError(
            f"{item.architecture!r} is not a valid rpm architecture, so it was not passed to dnf.",
            "The plan is inconsistent; make it again.",
        )


#: What may reach a dnf or rpm argv: the pairs and closures of a transaction are checked with it
#: (a name asked at two versions is refused: dnf would try to install both), and a closure
#: item's architecture too.
GRAMMAR = Grammar(validate_package_names, validate_version, _validate_arch)
