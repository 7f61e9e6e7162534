"""Making a lock from a plan: every file with its hash and size, no credentials, the same
lock whatever the plan's order."""

from __future__ import annotations

from dataclasses import replace

import pytest
from lockworld import SECRET, make_lock, plan, text_of


def test_no_credentials_reach_the_file() -> None:
    text = text_of(make_lock())
    assert SECRET not in text
    assert "alice" not in text


def test_output_is_deterministic_whatever_the_plan_order() -> None:
    p = plan()
    shuffled = replace(
        p,
        packages=tuple(reversed(p.packages)),
        system_closure=tuple(reversed(p.system_closure)),
    )
    assert text_of(make_lock(shuffled)) == text_of(make_lock(p))


def test_a_file_without_sha256_or_size_cannot_be_locked() -> None:
    p = plan()
    rows = tuple(
        replace(r, file=replace(r.file, size=None)) if r.file is not None else r for r in p.packages
    )
    with pytest.raises(ValueError, match="sha256 and size"):
        make_lock(replace(p, packages=rows))
