"""sysnative's memoized wheel-name parsing gives packaging's verdict on every name."""

from __future__ import annotations

import pytest
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion

from sysnative.index.pages import _parse_filename, clear_parse_caches
from sysnative.models import FileKind

NAMES = [
    "demo-1.0-py3-none-any.whl",
    "demo-1.0-1-py3-none-any.whl",
    "demo-1.0-1abc-py3-none-any.whl",
    "demo-1.0-abc-py3-none-any.whl",  # a build tag must start with a digit
    "Demo_Pkg-2.0.post1-py2.py3-none-any.whl",
    "demo.pkg-1.0rc1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "numpy-1.26.4-pp39-pypy39_pp73-win_amd64.whl",
    "demo-1.0-py3-none.whl",  # too few parts
    "demo-1.0-1-2-py3-none-any.whl",  # too many parts
    "demo-not_a_version-py3-none-any.whl",
    "de__mo-1.0-py3-none-any.whl",
    "-1.0-py3-none-any.whl",
    "demo-1.0-py3..py2-none-any.whl",  # an empty tag component
    "demo-1.0-3py-none-any.whl",  # an interpreter that is not an identifier
    "demo-1.0-py3-none-.whl",
    "demo-1.0--none-any.whl",
    "demo-1.0-py3-none-any.whl.whl",
    "demo-1.0.dev0+local.1-py3-none-any.whl",
    "demo-1!2.0-py3-none-any.whl",
]


def _packaging_verdict(filename: str) -> tuple[object, ...] | None:
    try:
        name, version, _build, tags = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion):
        return None
    return (name, version, tags, FileKind.WHEEL)


@pytest.mark.parametrize("filename", NAMES)
def test_same_verdict_as_packaging(filename: str) -> None:
    clear_parse_caches()
    # Twice: the first answer fills the memos of both halves, the second reads them.
    assert _parse_filename(filename) == _packaging_verdict(filename)
    assert _parse_filename(filename) == _packaging_verdict(filename)


def test_verdicts_do_not_leak_between_names_sharing_a_half() -> None:
    clear_parse_caches()
    # Every name is parsed after the others filled the memos with its halves' neighbours.
    for filename in NAMES + NAMES[::-1]:
        assert _parse_filename(filename) == _packaging_verdict(filename), filename


def test_files_of_a_release_and_of_a_platform_share_their_parsed_parts() -> None:
    clear_parse_caches()
    linux = "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    windows = "numpy-1.26.4-cp311-cp311-win_amd64.whl"
    older = "numpy-1.26.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    a, b, c = (_parse_filename(n) for n in (linux, windows, older))
    assert a is not None
    assert b is not None
    assert c is not None
    assert a[1] is b[1]  # one Version object for the release
    assert a[2] is c[2]  # one tag set for the platform
    assert a[2] != b[2]
