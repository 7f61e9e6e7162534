"""RPM versions: the PEP 440 reading of real Fedora versions, and rpm's own ordering.

The ordering is checked against rpm itself (``rpm.vercmp`` in rpm's embedded Lua) when rpm is
installed, on hand-picked pairs and on a few hundred generated ones.
"""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest
from packaging.version import Version

from sysnative.providers.dnf.version import RpmVersion, compare_evr, rpm_to_pep440, rpm_vercmp

# -- PEP 440 ----------------------------------------------------------------------------------

REAL_FEDORA = [
    # (rpm version, PEP 440 version) - versions as Fedora ships them.
    ("1.26.4-7.fc40", "1.26.4"),  # python3-numpy (without its epoch)
    ("1:1.26.4-7.fc40", "1.26.4"),  # python3-numpy, as dnf prints it
    ("2:1.24.1-1.fc39", "1.24.1"),
    ("3.0.0~rc1-1.fc41", "3.0.0rc1"),
    ("1.2.3^20240101git1234abc-1.fc40", "1.2.3+20240101git1234abc"),
    ("2.31.0-3.fc40", "2.31.0"),  # python3-requests
    ("6.0.1-14.fc40", "6.0.1"),  # python3-pyyaml
    ("42.0.5-1.fc40", "42.0.5"),  # python3-cryptography
    ("1.13.0~rc2-1.fc40", "1.13.0rc2"),
    ("2.0.0~b3-1.fc41", "2.0.0b3"),
    ("4.0~alpha2-1.fc40", "4.0a2"),
    ("5.0~dev-2.fc40", "5.0.dev0"),
    ("0.9~20231012git4f1a2b3-1.fc40", "0.9.dev20231012"),
    ("1.0^post1-1.fc40", "1.0.post1"),
    ("0.4.2^20230801gitdeadbee-3.fc39", "0.4.2+20230801gitdeadbee"),
    ("3.1~rc1^20240301git0123456-1.fc41", "3.1rc1+20240301git0123456"),
    ("2.4.1-1.el9_3", "2.4.1"),  # RHEL release with an underscore
    ("1.1.1w-1.fc40", "1.1.1"),  # not PEP 440: the conservative reading
    ("24.1", "24.1"),  # a provide's version has no release
]


@pytest.mark.parametrize(("rpm", "pep440"), REAL_FEDORA)
def test_rpm_to_pep440(rpm: str, pep440: str) -> None:
    assert rpm_to_pep440(rpm) == Version(pep440)


def test_epoch_is_dropped_not_read_as_a_pep440_epoch() -> None:
    """An rpm epoch repairs the package's ordering; ``1!1.26.4`` would fail ``numpy<2``."""
    version = rpm_to_pep440("1:1.26.4-7.fc40")
    assert version is not None
    assert version.epoch == 0
    assert version < Version("2")


def test_snapshot_after_a_release_still_matches_it() -> None:
    from packaging.specifiers import SpecifierSet

    version = rpm_to_pep440("1.2.3^20240101git1234abc-1.fc40")
    assert version is not None
    assert version in SpecifierSet("==1.2.3")
    assert version in SpecifierSet(">=1.2.3,<1.3")


@pytest.mark.parametrize("bad", ["", "abc-1.fc40", "-1", "1.0-1-2", "1:2:3-1", "1.0 -1", "~"])
def test_no_sensible_reading(bad: str) -> None:
    assert rpm_to_pep440(bad) is None


def test_parse_and_print() -> None:
    assert RpmVersion.parse("2:1.24.1-1.fc39") == RpmVersion(2, "1.24.1", "1.fc39")
    assert RpmVersion.parse("3.0.0~rc1") == RpmVersion(0, "3.0.0~rc1", "")
    assert str(RpmVersion.parse("0:1.0-1")) == "1.0-1"
    assert str(RpmVersion.parse("1:1.0-1")) == "1:1.0-1"
    with pytest.raises(ValueError, match="not an RPM version"):
        RpmVersion.parse("1.0-1-1")


# -- ordering ---------------------------------------------------------------------------------

#: From rpm's own test suite (tests/rpmvercmp.at), plus the cases Fedora's versioning
#: guidelines rely on.
VERCMP = [
    ("1.0", "1.0", 0),
    ("1.0", "2.0", -1),
    ("2.0", "1.0", 1),
    ("2.0.1", "2.0.1", 0),
    ("2.0", "2.0.1", -1),
    ("2.0.1a", "2.0.1", 1),
    ("5.5p1", "5.5p2", -1),
    ("5.5p10", "5.5p1", 1),
    ("10xyz", "10.1xyz", -1),
    ("xyz10", "xyz10.1", -1),
    ("xyz.4", "8", -1),
    ("5.5p1", "5.5.p1", 0),
    ("5.5p1", "5.5p1", 0),
    ("1.0aa", "1.0a", 1),
    ("2a", "2.0", -1),
    ("1.0", "1.fc4", 1),
    ("3.0.0_fc", "3.0.0.fc", 0),
    ("20101121", "20101121", 0),
    ("1.0~rc1", "1.0", -1),
    ("1.0~rc1", "1.0~rc2", -1),
    ("1.0~rc1~git123", "1.0~rc1", -1),
    ("1.0^", "1.0", 1),
    ("1.0^git1", "1.0", 1),
    ("1.0^git1", "1.01", -1),
    ("1.0^20160101", "1.0.1", -1),
    ("1.0^20160101^git1", "1.0^20160101", 1),
    ("1.0~rc1^git1", "1.0~rc1", 1),
    ("1.0~rc1^git1", "1.0", -1),
    ("1.0^git1~pre", "1.0^git1", -1),
    ("000001", "1", 0),
]


@pytest.mark.parametrize(("a", "b", "expected"), VERCMP)
def test_rpm_vercmp(a: str, b: str, expected: int) -> None:
    assert rpm_vercmp(a, b) == expected
    assert rpm_vercmp(b, a) == -expected


def test_compare_evr() -> None:
    assert compare_evr("1:1.0-1", "2.0-1") == 1  # the epoch wins
    assert compare_evr("0:1.0-1", "1.0-1") == 0
    assert compare_evr("1.0-1.fc40", "1.0-1.fc41") == -1
    assert compare_evr("1.0-2", "1.0") == 1  # a missing release is empty, as in rpm.vercmp
    assert compare_evr("3.0.0~rc1-1.fc41", "3.0.0-1.fc41") == -1


def _rpm_lua_vercmp(pairs: list[tuple[str, str]]) -> list[int]:
    """rpm's own answers, from ONE ``rpm --eval`` running rpm's Lua ``rpm.vercmp``."""
    table = ",".join(f'{{"{a}","{b}"}}' for a, b in pairs)
    script = (
        f"%{{lua: for _, p in ipairs({{{table}}}) do print(rpm.vercmp(p[1], p[2]) .. ' ') end}}"
    )
    out = subprocess.run(
        ["rpm", "--eval", script], capture_output=True, text=True, check=True
    ).stdout
    return [int(line) for line in out.split()]


def _generated_pairs(count: int) -> list[tuple[str, str]]:
    """Version-like strings from the pieces that make rpm's ordering subtle."""
    rng = random.Random(20240101)
    pieces = ["0", "1", "2", "9", "10", "01", "a", "b", "rc", "git", ".", ".", "~", "^", "_", "+"]

    def one() -> str:
        text = rng.choice(["0", "1", "2", "10"]) + "".join(
            rng.choice(pieces) for _ in range(rng.randint(0, 6))
        )
        return text

    pairs = []
    for _ in range(count):
        a = one()
        b = a if rng.random() < 0.1 else one()
        pairs.append((a, b))
    return pairs


@pytest.mark.skipif(shutil.which("rpm") is None, reason="needs rpm to compare with")
def test_rpm_vercmp_agrees_with_rpm() -> None:
    pairs = [(a, b) for a, b, _ in VERCMP] + _generated_pairs(400)
    pairs += [("1:1.0-1", "2.0-1"), ("1.0-1.fc40", "1.0-1.fc41"), ("2.0-1", "2.0")]
    expected = _rpm_lua_vercmp(pairs)
    assert len(expected) == len(pairs)
    got = [compare_evr(a, b) for a, b in pairs]
    assert [(p, g) for p, g, e in zip(pairs, got, expected) if g != e] == []
