"""conda's grammar for package names and ``VERSION=BUILD`` versions: what may reach its
argv, checked before any command runs, and the exact MatchSpecs and ``install`` argv built
from what passed (the grammar's patterns are in :mod:`.parse` and :mod:`.version`).

``--`` ends option parsing before the specs (argparse in conda and mamba 1.x, CLI11 in
micromamba and mamba 2.x both honour it), and names are validated so none can start with
``-`` anyway; versions and builds are validated before they are glued into a spec.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sysnative.errors import ProviderError
from sysnative.providers.common import Grammar, unique_valid_names
from sysnative.providers.conda.parse import PACKAGE_NAME_RE
from sysnative.providers.conda.version import BUILD_RE, VERSION_RE, split_version_build

__all__ = [
    "GRAMMAR",
    "build_install_argv",
    "install_specs",
    "validate_distro_version",
    "validate_package_names",
]


def validate_package_names(packages: Iterable[str]) -> tuple[str, ...]:
    """The names, de-duplicated in order; :class:`ProviderError` for any invalid one."""
    return unique_valid_names(
        packages,
        PACKAGE_NAME_RE,
        what="conda package name",
        tool="conda",
        hint="conda package names use only lower-case letters, digits and '_', '.', '-', "
        "and start with a letter, digit or '_'. Check the mapping entry that produced "
        "this name.",
    )


def validate_distro_version(version: str) -> str:
    """``version`` unchanged when it is ``VERSION`` or ``VERSION=BUILD`` in conda's grammar;
    :class:`ProviderError` otherwise (it is glued into a MatchSpec)."""
    ok = isinstance(version, str)
    if ok:
        conda_version, build = split_version_build(version)
        ok = bool(VERSION_RE.fullmatch(conda_version)) and (
            build is None or bool(BUILD_RE.fullmatch(build))
        )
    if not ok:
        raise ProviderError(
            f"{version!r} is not a valid conda version (VERSION or VERSION=BUILD), so it was "
            "not passed to conda.",
            "conda versions and builds use letters, digits and '.', '_', '+', '!' only "
            "(`1.26.4=py311h64a7726_0`). Check the plan that produced this version.",
        )
    return version


#: What may reach conda's argv: the ``(name, VERSION=BUILD)`` pairs and the closures of a
#: transaction are checked with it.
GRAMMAR = Grammar(validate_package_names, validate_distro_version)


def install_specs(packages: Sequence[tuple[str, str]]) -> list[str]:
    """Exact MatchSpecs: ``name==VERSION[build=BUILD]`` (``name==VERSION`` without a build).

    Not conda's shorthand ``name==VERSION=BUILD``: strict MatchSpec parsers (rattler's, which
    its solver uses) reject a build glued on with ``=`` after ``==``, while the bracket form
    is accepted by conda, libmamba and rattler alike, strict or not, and means exactly this
    version and this build (``tests/integration/test_conda_channel.py`` checks it with
    rattler's parser and solver).
    """
    specs = []
    for name, distro_version in GRAMMAR.pairs(packages):
        version, build = split_version_build(distro_version)
        specs.append(f"{name}=={version}" + (f"[build={build}]" if build else ""))
    return specs


def build_install_argv(
    tool: str,
    prefix: str,
    specs: Sequence[str],
    options: Sequence[str] = (),
    *,
    dry_run: bool = False,
) -> list[str]:
    """``TOOL install [--dry-run] --json --yes -p PREFIX [OPTIONS] -- SPEC...``: the same for
    conda, mamba and micromamba. ``--json`` makes the answer (or the error) parseable;
    ``--yes`` keeps anything from waiting for an answer."""
    return [
        tool,
        "install",
        *(["--dry-run"] if dry_run else []),
        "--json",
        "--yes",
        "-p",
        prefix,
        *options,
        "--",
        *specs,
    ]
