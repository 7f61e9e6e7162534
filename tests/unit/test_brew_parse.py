"""The Homebrew provider's parsers, over brew output.

The files come from public recordings of real brew output, or are reconstructed from
Homebrew's source where no recording exists; ``fixtures/brew/README.md`` says which is which.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from packaging.version import Version

from sysnative.errors import ProviderError, ProviderUnavailable
from sysnative.models import ClosureItem
from sysnative.protocols import Privileges
from sysnative.providers.brew.names import GRAMMAR, validate_formula_names
from sysnative.providers.brew.parse import (
    DryRunPlan,
    Formula,
    parse_dry_run,
    parse_info_json,
    parse_list_versions,
    parse_unknown_formulae,
    python_versions,
    resolve_formula,
)
from sysnative.providers.brew.provider import BrewProvider
from sysnative.providers.brew.version import brew_to_pep440, pkg_version, split_pkg_version
from sysnative.providers.common import transaction_differences

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "brew"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


# -- brew info --json ------------------------------------------------------------------------


def test_info_v2_installed_and_linked() -> None:
    formulae = parse_info_json(fixture("info_wget.json"))
    assert list(formulae) == ["wget"]
    wget = formulae["wget"]
    assert wget.stable == "1.25.0"
    assert wget.revision == 0
    assert wget.pkg_version == "1.25.0"
    assert wget.installed == ("1.25.0",)
    assert wget.linked_keg == "1.25.0"
    assert not wget.keg_only
    assert wget.dependencies == ("libidn2", "openssl@3", "gettext", "libunistring")
    assert wget.unusable is None


def test_info_v1_list_and_revision() -> None:
    formulae = parse_info_json(fixture("info_v1_excerpt.json"))
    assert list(formulae) == ["a2ps", "aalib"]
    aalib = formulae["aalib"]
    assert (aalib.stable, aalib.revision, aalib.pkg_version) == ("1.4rc5", 2, "1.4rc5_2")
    assert aalib.installed == ()
    assert aalib.linked_keg is None
    assert aalib.unusable is None  # not installed yet: it would be linked on install
    assert formulae["a2ps"].pkg_version == "4.14"
    # the same record in the v2 envelope reads the same
    assert parse_info_json(fixture("info_aalib.json")) == {"aalib": aalib}


def test_info_keg_only_is_not_usable() -> None:
    sqlite = parse_info_json(fixture("info_keg_only.json"))["sqlite"]
    assert sqlite.keg_only
    assert sqlite.keg_only_reason == ":provided_by_macos"
    assert sqlite.installed == ("3.47.2",)
    assert sqlite.linked_keg is None
    assert sqlite.unusable is not None
    assert "keg-only" in sqlite.unusable


def test_installed_but_unlinked_is_not_usable() -> None:
    formula = Formula("numpy", "numpy", "2.1.0", 1, installed=("2.1.0_1",), linked_keg=None)
    assert formula.unusable is not None
    assert "brew link numpy" in formula.unusable
    linked_keg_only = Formula("sqlite", "sqlite", "3.47.2", keg_only=True, linked_keg="3.47.2")
    assert linked_keg_only.unusable is None


def test_resolve_by_alias_full_name_and_old_name() -> None:
    py = Formula("python@3.13", "python@3.13", "3.13.1", aliases=("python3", "python"))
    tapped = Formula("foo", "someone/tools/foo", "1.0", oldnames=("oldfoo",))
    formulae = {f.name: f for f in (py, tapped)}
    assert resolve_formula(formulae, "python3") is py
    assert resolve_formula(formulae, "python@3.13") is py
    assert resolve_formula(formulae, "someone/tools/foo") is tapped
    assert resolve_formula(formulae, "oldfoo") is tapped
    assert resolve_formula(formulae, "other/tap/foo") is tapped  # brew answers by short name
    assert resolve_formula(formulae, "bar") is None


def test_unknown_formula_error() -> None:
    assert parse_unknown_formulae(fixture("unknown_formula.stderr")) == ("java8",)
    newer = 'Error: No available formula with the name "definitely-not-a-real-formula-xyz".\n'
    assert parse_unknown_formulae(newer) == ("definitely-not-a-real-formula-xyz",)
    assert parse_unknown_formulae("Error: something else\n") == ()


# -- brew install --dry-run --------------------------------------------------------------------


def test_dry_run_one_formula() -> None:
    assert parse_dry_run(fixture("dry_run_install_aalib.txt")) == DryRunPlan(("aalib",))


def test_dry_run_homebrew4_names_on_one_line() -> None:
    plan = parse_dry_run(fixture("dry_run_install_numpy.txt"))
    assert plan.formulae == ("numpy", "scipy")
    assert plan.dependencies == (
        ("mpdecimal", None),
        ("openblas", None),
        ("python@3.13", None),
        ("gcc", None),
    )
    assert plan.upgrades == ()
    assert plan.names == ("numpy", "scipy", "mpdecimal", "openblas", "python@3.13", "gcc")


def test_dry_run_one_entry_per_line_with_versions_and_upgrades() -> None:
    plan = parse_dry_run(fixture("dry_run_upgrade_ffmpeg.txt"))
    assert plan.formulae == ()
    assert len(plan.dependencies) == 11
    assert plan.dependencies[0] == ("expat", "2.8.2")
    assert plan.dependencies[-1] == ("x265", "4.2")
    assert ("sdl2-compat", "2.32.70") in plan.dependencies
    assert len(plan.upgrades) == 9
    assert plan.upgrades[0] == ("ninja", "1.10.2_1", "1.13.2")
    assert ("python@3.14", "3.7.1", "3.14.6") in plan.upgrades
    assert ("x264", "r2854", "r3222") in plan.upgrades


def test_dry_run_comma_separated_upgrades() -> None:
    plan = parse_dry_run(fixture("dry_run_upgrade_dependents.txt"))
    assert plan.upgrades == (
        ("nghttp2", "1.43.0", "1.44.0"),
        ("harfbuzz", "2.8.1", "2.9.0"),
        ("unbound", "1.13.1", "1.13.2"),
        ("gnupg", "2.3.1_1", "2.3.2"),
        ("pango", "1.48.5", "1.48.9"),
        ("gtk+3", "3.24.29", "3.24.30"),
    )


def test_dry_run_with_colour_and_nothing_to_do() -> None:
    coloured = "\x1b[34m==>\x1b[0m \x1b[1mWould install 1 formula:\x1b[0m\nnumpy\n"
    assert parse_dry_run(coloured).formulae == ("numpy",)
    assert parse_dry_run("Warning: wget 1.25.0 is already installed and up-to-date.\n") == (
        DryRunPlan()
    )


# -- brew list --versions -----------------------------------------------------------------------


def test_list_versions() -> None:
    assert parse_list_versions(fixture("list_versions.txt")) == {
        "aalib": ("1.4rc5_2",),
        "wget": ("1.25.0", "1.24.5"),
    }
    assert parse_list_versions("") == {}


# -- versions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("brew", "pep440"),
    [
        ("1.26.4", "1.26.4"),
        ("1.26.4_1", "1.26.4"),
        ("1.4rc5_2", "1.4rc5"),
        ("2.1.0.post1", "2.1.0.post1"),
        ("2024-11-26", None),
        ("r3222", None),
        ("3.6.3", "3.6.3"),
        ("", None),
        ("-1", None),
    ],
)
def test_brew_to_pep440(brew: str, pep440: str | None) -> None:
    assert brew_to_pep440(brew) == (Version(pep440) if pep440 else None)


def test_pkg_version_round_trip() -> None:
    assert pkg_version("1.26.4", 1) == "1.26.4_1"
    assert pkg_version("1.26.4", 0) == "1.26.4"
    assert split_pkg_version("1.26.4_1") == ("1.26.4", 1)
    assert split_pkg_version("2024-11-26") == ("2024-11-26", 0)


def test_python_versions() -> None:
    assert python_versions(["openblas", "python@3.13", "homebrew/core/python@3.12"]) == (
        "3.13",
        "3.12",
    )
    assert python_versions(["python", "python-tk@3.13"]) == ()


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["-v", "--HEAD", "Numpy", "num py", "a/b", "../x", "", "x;y"])
def test_invalid_names_never_reach_brew(name: str) -> None:
    with pytest.raises(ProviderError, match="not a valid Homebrew formula name"):
        validate_formula_names([name])


def test_valid_names() -> None:
    names = ["python@3.13", "libsigc++", "sdl2-compat", "homebrew/core/numpy", "7zip"]
    assert validate_formula_names(names) == tuple(names)


def test_install_packages_validation() -> None:
    with pytest.raises(ProviderError, match="two versions"):
        GRAMMAR.pairs([("a", "1.0"), ("a", "1.1")])
    with pytest.raises(ProviderError, match="not a valid Homebrew version"):
        GRAMMAR.pairs([("a", "1.0 && rm")])


def test_closure_differences() -> None:
    planned = [ClosureItem("a", "1.0"), ClosureItem("b", "2.0_1")]
    simulated = [ClosureItem("a", "1.1"), ClosureItem("c", "3.0")]
    assert transaction_differences(planned, simulated, "brew") == (
        "a: the plan has 1.0, brew would install 1.1",
        "b 2.0_1: in the plan, but brew would not install it now",
        "c 3.0: brew would install it, the plan does not",
    )


# -- the provider without brew ------------------------------------------------------------------


def test_provider_without_brew(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path)}
    assert not BrewProvider.available(env)
    provider = BrewProvider(env=env)
    with pytest.raises(ProviderUnavailable, match="brew is not on PATH"):
        provider.query(["wget"])
    with pytest.raises(ProviderError, match="not a valid Homebrew formula name"):
        provider.query(["--prefix"])
    assert provider.to_pep440("1.26.4_1") == Version("1.26.4")


def test_install_command_takes_names_only() -> None:
    provider = BrewProvider(env={"PATH": ""}, options=("--force-bottle",))
    argv = provider.install_command(
        [("numpy", "2.1.0_1"), ("python@3.13", "3.13.1")], Privileges(ok=True, prefix=("sudo",))
    )
    assert argv == [
        "env", "HOMEBREW_NO_AUTO_UPDATE=1", "HOMEBREW_NO_INSTALL_CLEANUP=1",
        "brew", "install", "--formula", "--force-bottle", "--", "numpy", "python@3.13",
    ]  # fmt: skip


@pytest.mark.skipif(os.geteuid() != 0, reason="the root branch needs root")
def test_root_is_refused() -> None:
    privileges = BrewProvider(env={"PATH": ""}).check_privileges()
    assert not privileges.ok
    assert "refuses to run as root" in privileges.why
