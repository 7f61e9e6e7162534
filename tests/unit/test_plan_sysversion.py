"""sysversion: the one rule for the version of a system-provided project."""

from __future__ import annotations

import pytest
from packaging.version import Version

from sysnative.mapping.parse import loads
from sysnative.plan.sysversion import (
    is_placeholder,
    may_be_placeholder,
    registered_by_data,
    system_version,
)
from sysnative.providers.apt.version import debian_to_pep440

TABLE = loads(
    """{"name": "debian", "mappings": [
    {"id": "dep:pypi/regex", "specs": ["python3-regex"],
     "extra_metadata": {"registers_version": "2022.10.31", "registers_for": "0.1.20221031-1"}},
    {"id": "dep:pypi/kiwisolver", "specs": ["python3-kiwisolver"],
     "extra_metadata": {"registers_version": "0.0.0"}},
    {"id": "dep:pypi/plain", "specs": ["python3-plain"]}
    ]}""",
    origin="test.mapping.json",
)


@pytest.mark.parametrize(
    ("registered", "distro", "placeholder"),
    [
        ("0.0.0", "1.4.4", True),  # kiwisolver, xxhash
        ("1.13.0a0+gitunknown", "1.13.1", True),  # torch
        ("2022.10.31", "0.1.20221031", False),  # regex: the distro's own spelling
        ("2023.2.3", "20230203", False),  # tifffile: the same, the other way round
        ("1.2.0", "1.2.3", False),  # what upstream wrote: pip sees it
        ("1.2.3", "1.2.3+git20230101", False),  # a snapshot: the same release
        ("6.0", "6.0", False),
    ],
)
def test_placeholder(registered: str, distro: str, placeholder: bool) -> None:
    assert is_placeholder(Version(registered), Version(distro)) is placeholder


@pytest.mark.parametrize(
    ("distro", "registered", "expected"),
    [
        ("1.4.4", "0.0.0", "1.4.4"),
        ("0.1.20221031", "2022.10.31", "2022.10.31"),
        ("2.0", None, "2.0"),
        (None, "3.0", "3.0"),
        (None, None, None),
    ],
)
def test_system_version(distro: str | None, registered: str | None, expected: str | None) -> None:
    got = system_version(
        Version(distro) if distro else None, Version(registered) if registered else None
    )
    assert got == (Version(expected) if expected else None)


def test_data_applies_to_the_release_it_was_read_from() -> None:
    regex = TABLE.lookup("regex")
    # A rebuild of the same release registers the same; another release, unknown.
    assert registered_by_data(regex, "0.1.20221031-1+b1", debian_to_pep440) == Version("2022.10.31")
    assert registered_by_data(regex, "0.1.20230101-1", debian_to_pep440) is None
    # Data without registers_for applies to any version; no data, nothing.
    kiwi = TABLE.lookup("kiwisolver")
    assert registered_by_data(kiwi, "1.4.5-1", debian_to_pep440) == Version("0.0.0")
    assert registered_by_data(TABLE.lookup("plain"), "1.0-1", debian_to_pep440) is None


def test_registers_for_needs_registers_version() -> None:
    from sysnative.errors import MappingError

    with pytest.raises(MappingError, match="registers_for"):
        loads(
            '{"name": "debian", "mappings": [{"id": "dep:pypi/x", "specs": ["python3-x"], '
            '"extra_metadata": {"registers_for": "1.0-1"}}]}',
            origin="bad.mapping.json",
        )


@pytest.mark.parametrize(
    ("registered", "doubt"),
    [("0.0.0", True), ("1.13.0a0+gitunknown", True), ("2.0rc1", True), ("1.2.3+git1", True),
     ("2022.10.31", False), ("6.0", False)],
)  # fmt: skip
def test_only_placeholder_shapes_are_in_doubt(registered: str, doubt: bool) -> None:
    """Only these make the planner ask the package manager for an installed package's
    version before the first resolution."""
    assert may_be_placeholder(Version(registered)) is doubt
