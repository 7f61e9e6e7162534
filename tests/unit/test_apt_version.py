"""Debian → PEP 440 over real version strings.

Every input below was copied from Debian 12 (bookworm, main, amd64): ``apt-cache policy`` and
``apt-cache madison`` for the common scientific packages, and the ``Version:`` fields of the
``python3-*`` stanzas in the archive's ``Packages`` index for the rarer shapes. The package each
came from is in the test id so a surprising expectation can be checked against the archive.
"""

from __future__ import annotations

import pytest
from packaging.version import Version

from sysnative.providers.apt.version import DebianVersion, debian_to_pep440

REAL_VERSIONS = [
    # plain, epoch, stable update, binNMU: only the upstream part survives
    ("python3-scipy", "1.10.1-2", "1.10.1"),
    ("python3-numpy", "1:1.24.2-1+deb12u1", "1.24.2"),
    ("python3-matplotlib", "3.6.3-1+b1", "3.6.3"),
    ("python3-yaml", "6.0-3+b2", "6.0"),
    ("python3-cryptography", "38.0.4-3+deb12u1", "38.0.4"),
    ("python3-tz", "2022.7.1-4", "2022.7.1"),
    ("python3-certifi", "2022.9.24-1", "2022.9.24"),
    ("python3-pil", "9.4.0-1.1+deb12u1", "9.4.0"),
    ("python3-apt", "2.6.0", "2.6.0"),  # native package: no revision
    ("python3-cinder", "2:21.3.1-1~deb12u1", "21.3.1"),
    # repacks
    ("python3-pandas", "1.5.3+dfsg-2", "1.5.3"),
    ("python3-opencv", "4.6.0+dfsg-12", "4.6.0"),
    ("python3-lib389", "2.3.1+dfsg1-1+deb12u1", "2.3.1"),
    ("python3-sqlalchemy", "1.4.46+ds1-1", "1.4.46"),
    ("python3-bottleneck", "1.3.5+ds1-2+b1", "1.3.5"),
    ("python3-link-grammar", "5.12.0~dfsg-2", "5.12.0"),
    ("python3-fontforge", "1:20230101~dfsg-1.1~deb12u1", "20230101"),
    ("python3-paste", "3.5.2+repack-1", "3.5.2"),
    ("python3-django-stronghold", "0.4.0+debian-1", "0.4.0"),
    # +really / +actually: the real upstream follows the marker
    ("python3-netgen", "6.2.2006+really6.2.1905+dfsg-5.1+b1", "6.2.1905"),
    ("python3-vtk9", "9.1.0+really9.1.0+dfsg2-5+deb12u1", "9.1.0"),
    ("python3-searpc", "3.2.1-1+really3.2+git20220902.15f6f0b-2", "3.2"),
    ("python3-freezegun", "1.2.1+actually1.2.1-1", "1.2.1"),
    # snapshots after a release map to the release
    ("python3-abydos", "0.5.0+git20201231.344346a-6", "0.5.0"),
    ("python3-pyregfi", "1.0.1+svn287-9", "1.0.1"),
    ("python3-pbkdf2", "1.3+20110613.git2a0fb15~ds0-3.2", "1.3"),
    # ~ means "before": pre-releases and development snapshots
    ("python3-pydl", "1.0.0~rc2-4", "1.0.0rc2"),
    ("python3-tinyobjloader", "2.0.0~rc10+dfsg-2+b1", "2.0.0rc10"),
    ("python3-pcl", "0.3.0~rc1+dfsg-14+b2", "0.3.0rc1"),
    ("python3-hdf-compass", "0.7~b8-3", "0.7b8"),
    ("python3-aiohttp-apispec", "3.0.0~b2+ds1-2", "3.0.0b2"),
    ("python3-l20n", "4.0.0~a1-7", "4.0.0a1"),
    ("python3-grapefruit", "0.1~a4+dfsg-1", "0.1a4"),
    ("python3-pynest2d", "4.13~beta-1+b3", "4.13b0"),
    ("python3-pglast", "5.0~dev0+1-1+b1", "5.0.dev0"),
    ("python3-dolfin", "2019.2.0~git20230116.bd54183-2", "2019.2.0.dev20230116"),
    ("python3-opcodes", "0.0~git20180424.6e2b0cd-3", "0.0.dev20180424"),
    ("python3-mapnik", "1:0.0~20200224-7da019cf9-4+b1", "0.0.dev20200224"),
    # upstream already speaks PEP 440
    ("python3-aiozipkin", "1.1.1a1-1", "1.1.1a1"),
    ("python3-contextlib2", "0.6.0.post1-3", "0.6.0.post1"),
    ("python3-pyode", "1.2.0.dev15-4+b4", "1.2.0.dev15"),
    ("python3-cogent3", "2023.2.12a1+dfsg-2+deb12u1", "2023.2.12a1"),
]

#: Upstream versions PEP 440 cannot read: the conservative fallback keeps the leading numbers.
CONSERVATIVE = [
    ("python3-drslib", "0.3.1.p3-2.1", "0.3.1"),
    ("python3-pyemd", "0.5.1.54.g802fa86-2", "0.5.1.54"),
    ("python3-ncls", "0.0.63-hotfix+ds-1+b3", "0.0.63"),
    ("python3-pangolearn", "2022-07-09+dfsg-2", "2022"),
    ("python3-qrtools", "2.1~bzr46-4", "2.1"),
    ("python3-urwid-satext", "0.9.0~hg150.aa8f46b43a71-1", "0.9.0"),
]


@pytest.mark.parametrize(
    ("debian", "expected"),
    [pytest.param(d, e, id=f"{p}={d}") for p, d, e in REAL_VERSIONS + CONSERVATIVE],
)
def test_real_versions(debian: str, expected: str) -> None:
    assert debian_to_pep440(debian) == Version(expected)


@pytest.mark.parametrize(
    "debian",
    [
        "",
        " ",
        "1:",  # empty upstream
        "-1",  # empty upstream
        "1.0 -1",  # whitespace
        "x:1.0-1",  # non-numeric epoch leaves "x:1.0" which has no leading number
        "cvs-1",  # no number at all
        "+really-1",
    ],
)
def test_no_sensible_reading(debian: str) -> None:
    assert debian_to_pep440(debian) is None


def test_pre_release_sorts_before_release() -> None:
    """``~`` sorts before in dpkg; the PEP 440 reading must keep that order."""
    rc = debian_to_pep440("2.0.0~rc10+dfsg-2+b1")
    final = debian_to_pep440("2.0.0-1")
    snapshot = debian_to_pep440("2.0.0~git20230116.bd54183-2")
    assert rc is not None
    assert final is not None
    assert snapshot is not None
    assert snapshot < rc < final


@pytest.mark.parametrize(
    ("text", "epoch", "upstream", "revision"),
    [
        ("1:1.24.2-1+deb12u1", 1, "1.24.2", "1+deb12u1"),
        ("2.6.0", 0, "2.6.0", ""),
        (
            "3.2.1-1+really3.2+git20220902.15f6f0b-2",
            0,
            "3.2.1-1+really3.2+git20220902.15f6f0b",
            "2",
        ),
        ("1:0.0~20200224-7da019cf9-4+b1", 1, "0.0~20200224-7da019cf9", "4+b1"),
    ],
)
def test_parse_splits_like_dpkg(text: str, epoch: int, upstream: str, revision: str) -> None:
    parsed = DebianVersion.parse(text)
    assert parsed == DebianVersion(epoch, upstream, revision)
    assert str(parsed) == text


@pytest.mark.parametrize("text", ["", "1:", "-2", "1.0 1"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a Debian version"):
        DebianVersion.parse(text)
