"""Debian's grammar for package names and versions, and the comparison of a simulated
transaction with the plan (:mod:`sysnative.providers.apt.names`)."""

from __future__ import annotations

import pytest

from sysnative.errors import ProviderError
from sysnative.models import ClosureItem
from sysnative.providers.apt.names import GRAMMAR, validate_version
from sysnative.providers.common import transaction_differences

# -- versions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "good",
    [
        "1.0",
        "1.0-1",
        "1:1.24.2-1+deb12u1",
        "3.0~rc1-1",
        "2.28.1+dfsg-1",
        "0.0~git20230123.b2528b0-1",
        "1:2.0-3-4",  # the revision is what follows the LAST hyphen
        "2:1.0:5-1",  # a colon in the upstream part is allowed with an epoch
        "6.0-3+b2",
    ],
)
def test_valid_versions(good: str) -> None:
    assert validate_version(good) == good


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "1.0 ",
        " 1.0",
        "1.0\n",
        "1.0;rm -rf x",
        "$(id)",
        "1.0-1=2",  # would make `pkg=1.0-1=2`
        "1.0-",  # empty revision
        "a1.0",  # upstream must start with a digit
        "1:",  # epoch without upstream
        "x:1.0",  # non-numeric epoch
        "1.0:5",  # colon without epoch
        "1.0/../2",
        "1.0_1",
        "-1.0",
    ],
)
def test_invalid_versions(bad: str) -> None:
    with pytest.raises(ProviderError) as info:
        validate_version(bad)
    assert repr(bad) in info.value.message
    assert info.value.hint


def test_install_packages_validated_and_deduplicated() -> None:
    pairs = [("pkg-a", "1.0-1"), ("libstdc++6", "12.2.0-14"), ("pkg-a", "1.0-1")]
    assert GRAMMAR.pairs(pairs) == (("pkg-a", "1.0-1"), ("libstdc++6", "12.2.0-14"))
    with pytest.raises(ProviderError, match="two versions"):
        GRAMMAR.pairs([("pkg-a", "1.0-1"), ("pkg-a", "2.0-1")])
    with pytest.raises(ProviderError, match="'pkg-\\*'"):
        GRAMMAR.pairs([("pkg-*", "1.0-1")])


# -- closure comparison ---------------------------------------------------------------------------


def test_closure_differences() -> None:
    plan = (
        ClosureItem("pkg-c", "3.0~rc1-1", "all"),
        ClosureItem("pkg-b", "1:2.0+dfsg-1", "all"),
        ClosureItem("pkg-a", "1.0-1", "all"),
    )
    assert transaction_differences(plan, tuple(reversed(plan)), "apt") == ()
    now = (
        ClosureItem("pkg-c", "3.0-1", "all"),
        ClosureItem("pkg-a", "1.0-1", "all"),
        ClosureItem("pkg-z", "0.1-1", "all"),
    )
    assert transaction_differences(plan, now, "apt") == (
        "pkg-c: the plan has 3.0~rc1-1, apt would install 3.0-1",
        "pkg-b 1:2.0+dfsg-1: in the plan, but apt would not install it now",
        "pkg-z 0.1-1: apt would install it, the plan does not",
    )
