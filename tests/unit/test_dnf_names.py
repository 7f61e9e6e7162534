"""rpm's grammar for names, provides, versions and options, and the comparison of a simulated
transaction with the plan (:mod:`sysnative.providers.dnf.names`)."""

from __future__ import annotations

import pytest

from sysnative.errors import ProviderError
from sysnative.models import ClosureItem
from sysnative.providers.common import transaction_differences
from sysnative.providers.dnf.names import (
    GRAMMAR,
    validate_options,
    validate_package_names,
    validate_specs,
    validate_version,
)
from sysnative.providers.dnf.version import rpm_spelling


def test_closure_differences() -> None:
    plan = (ClosureItem("a", "1.0-1"), ClosureItem("b", "1:2.0-1"), ClosureItem("c", "1-1"))
    now = (ClosureItem("a", "0:1.0-1"), ClosureItem("b", "1:2.1-1"), ClosureItem("d", "1-1"))
    assert transaction_differences(plan, now, "dnf", rpm_spelling) == (
        "b: the plan has 1:2.0-1, dnf would install 1:2.1-1",
        "c 1-1: in the plan, but dnf would not install it now",
        "d 1-1: dnf would install it, the plan does not",
    )
    assert transaction_differences(plan, plan, "dnf", rpm_spelling) == ()


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "good",
    ["python3-numpy", "python3dist(numpy)", "python3.12dist(zope-interface)", "python(abi)",
     "gcc-c++", "libstdc++", "pkgconfig(foo-1.0)", "python3_x"],
)  # fmt: skip
def test_valid_specs(good: str) -> None:
    assert validate_specs([good, good]) == (good,)


@pytest.mark.parametrize(
    "bad",
    ["-rf", "--installroot=/", "python3-*", "python3-?", "python3-[ab]", "a b", "x;rm", "$(id)",
     "python3dist(foo[bar])", "a,b", "/usr/bin/python3", "", ".hidden", "python3dist()",
     "python3dist(a)(b)", "a\nb"],
)  # fmt: skip
def test_invalid_specs(bad: str) -> None:
    with pytest.raises(ProviderError) as info:
        validate_specs(["python3-foo", bad])
    assert repr(bad) in info.value.message
    assert info.value.hint


@pytest.mark.parametrize("bad", ["python3dist(numpy)", "-rf", "a*", "a b"])
def test_install_names_are_real_package_names(bad: str) -> None:
    with pytest.raises(ProviderError, match="not a valid rpm package name"):
        validate_package_names([bad])


@pytest.mark.parametrize(
    "good", ["1.26.4-7.fc40", "1:1.26.4-7.fc40", "3.0.0~rc1-1.fc41", "1.2.3^2024git1-1.fc40",
             "2.4.1-1.el9_3", "1.0+git1-0.1"]
)  # fmt: skip
def test_valid_versions(good: str) -> None:
    assert validate_version(good) == good


@pytest.mark.parametrize(
    "bad", ["1.0", "1.0-1;id", "1.0-1 x", "$(id)", "-1.0-1", "1.0-1-1", "1.0-*", "a:1.0-1",
            "1.0-", ":1.0-1", "1.0-1\n"]
)  # fmt: skip
def test_invalid_versions(bad: str) -> None:
    with pytest.raises(ProviderError, match="not a valid rpm version"):
        validate_version(bad)


def test_install_packages_one_version_each() -> None:
    assert GRAMMAR.pairs([("a", "1-1"), ("a", "1-1"), ("b", "2-1")]) == (
        ("a", "1-1"),
        ("b", "2-1"),
    )
    with pytest.raises(ProviderError, match="two versions"):
        GRAMMAR.pairs([("a", "1-1"), ("a", "2-1")])


def test_options() -> None:
    options = ["--installroot=/srv/fedora", "--setopt=reposdir=/etc/yum.repos.d", "-q"]
    assert validate_options(options) == tuple(options)
    for bad in ("remove", "--", "", "--setopt=a\nb"):
        with pytest.raises(ProviderError, match="is not a dnf option"):
            validate_options(["--releasever=40", bad])
