"""Homebrew's grammar for formula names and versions: what may reach brew's argv, checked
before any command runs (the patterns are in :mod:`.parse` and :mod:`.version`), and the
install argv with the environment every brew command runs with.

Names are validated so none can start with ``-``, and ``--`` ends brew's options before them
anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sysnative.errors import ProviderError
from sysnative.models import ClosureItem
from sysnative.providers.brew.parse import FORMULA_RE
from sysnative.providers.brew.version import PKG_VERSION_RE
from sysnative.providers.common import (
    transaction_differences,
    unique_valid_names,
    validate_closure_items,
)

__all__ = [
    "BREW_ENV",
    "build_install_argv",
    "closure_differences",
    "validate_closure",
    "validate_formula_names",
    "validate_install_packages",
    "validate_options",
    "validate_pkg_version",
]

#: The environment of every brew command: no tap update between planning and installing that
#: would change the versions, and no cleanup, so the kegs an upgrade replaces stay (linking the
#: old keg again undoes it).
BREW_ENV = {"HOMEBREW_NO_AUTO_UPDATE": "1", "HOMEBREW_NO_INSTALL_CLEANUP": "1"}


def validate_formula_names(packages: Iterable[str]) -> tuple[str, ...]:
    """The names, de-duplicated in order; :class:`ProviderError` for any invalid one."""
    return unique_valid_names(
        packages,
        FORMULA_RE,
        what="Homebrew formula name",
        tool="brew",
        hint="Formula names use lower-case letters, digits and '+', '_', '.', '@', '-' "
        "(optionally as user/tap/name) and start with a letter or digit. Check the "
        "mapping entry that produced this name.",
    )


def validate_pkg_version(version: str) -> str:
    """``version`` unchanged when it is a Homebrew version; :class:`ProviderError` otherwise."""
    if not isinstance(version, str) or not PKG_VERSION_RE.fullmatch(version):
        raise ProviderError(
            f"{version!r} is not a valid Homebrew version.",
            "Homebrew versions use letters, digits and '.', '_', '+', '~', '-' "
            "(`1.26.4_1`). Check the plan that produced this version.",
        )
    return version


def validate_install_packages(
    packages: Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    """The ``(name, version)`` pairs, checked and de-duplicated in order."""
    pairs: dict[str, str] = {}
    for name, version in packages:
        validate_formula_names([name])
        validate_pkg_version(version)
        if pairs.get(name, version) != version:
            raise ProviderError(
                f"{name} is asked for at two versions ({pairs[name]} and {version}).",
                "A transaction installs one version of each formula; check the plan.",
            )
        pairs[name] = version
    return tuple(pairs.items())


def validate_closure(closure: Sequence[ClosureItem]) -> None:
    """:class:`ProviderError` for a closure name, version or replaced version brew must not
    see (they go into its argv and into undo commands)."""
    validate_closure_items(closure, validate_formula_names, validate_pkg_version)


def validate_options(options: Iterable[str]) -> tuple[str, ...]:
    """The extra options for ``install``, as given; :class:`ProviderError` for one that is not
    a string or holds a NUL byte."""
    checked = tuple(options)
    for option in checked:
        if not isinstance(option, str) or "\0" in option:
            raise ProviderError(f"{option!r} is not a valid option for brew.")
    return checked


def closure_differences(
    planned: Sequence[ClosureItem], simulated: Sequence[ClosureItem]
) -> tuple[str, ...]:
    """How brew's simulated transaction differs from the plan, one line per formula."""
    return transaction_differences(planned, simulated, "brew")


def build_install_argv(names: Sequence[str], options: Sequence[str] = ()) -> list[str]:
    """``env HOMEBREW_NO_AUTO_UPDATE=1 HOMEBREW_NO_INSTALL_CLEANUP=1 brew install --formula
    [OPTIONS] -- NAME...``: brew takes no version, only the formula names."""
    return [
        "env",
        *(f"{k}={v}" for k, v in BREW_ENV.items()),
        "brew",
        "install",
        "--formula",
        *options,
        "--",
        *names,
    ]
