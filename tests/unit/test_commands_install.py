"""The constraint a failed trial import retries with: the release line before."""

from __future__ import annotations

import pytest

from sysnative.commands.install import older_than


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("26.0.1", "pyarrow<26.0"),  # the whole 26.0 line was built the same way
        ("2.0.0", "pyarrow<2.0.0"),  # the first of its line: the release before it
        ("2", "pyarrow<2"),
        ("2024.1.1", "pyarrow<2024.1"),
        ("not-a-version", "pyarrow!=not-a-version"),
    ],
)
def test_older_than(version: str, expected: str) -> None:
    assert older_than("pyarrow", version) == expected
