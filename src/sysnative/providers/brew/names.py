"""Homebrew's grammar for formula names and versions: what may reach brew's argv, checked
before any command runs (the patterns are in :mod:`.parse` and :mod:`.version`), and the
install argv with the environment every brew command runs with.

Names are validated so none can start with ``-``, and ``--`` ends brew's options before them
anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sysnative.errors import ProviderError
from sysnative.providers.brew.parse import FORMULA_RE
from sysnative.providers.brew.version import PKG_VERSION_RE
from sysnative.providers.common import Grammar, unique_valid_names

__all__ = [
    "BREW_ENV",
    "GRAMMAR",
    "build_install_argv",
    "validate_formula_names",
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


#: What may reach brew's argv: the pairs and closures of a transaction are checked with it.
GRAMMAR = Grammar(validate_formula_names, validate_pkg_version, thing="formula")


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
