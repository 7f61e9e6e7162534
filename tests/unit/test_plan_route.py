"""The hints for native projects nobody can provide name only options that can work.

``route`` knows the situation (a wheel or not, mapped or not, the options in use); each case
below checks both what the hint offers and what it must not offer.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from packaging.tags import parse_tag
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from sysnative.mapping.table import MappingEntry
from sysnative.models import FileKind, IndexFile, Route
from sysnative.plan.route import (
    Classification,
    Decision,
    Fallback,
    Kind,
    RoutePolicy,
    Unroutable,
    decide,
    fallback,
    system_conflict_hint,
)

NAME = NormalizedName("thing")


def _wheel() -> IndexFile:
    return IndexFile(
        NAME,
        Version("1.0"),
        "thing-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        "mem://thing",
        FileKind.WHEEL,
        tags=frozenset(parse_tag("cp311-cp311-manylinux_2_17_x86_64")),
    )


PLATFORM_WHEEL = Classification(Kind.NATIVE, _wheel(), "native: only platform wheels")
SDIST_ONLY = Classification(
    Kind.NATIVE, None, "native: only an sdist, which sysnative builds only with --allow-build"
)


def _policy(fallback: str = "error", system: str = "", pypi: str = "") -> RoutePolicy:
    return RoutePolicy(
        unpackaged=Fallback(fallback),
        conflict=Fallback(fallback),
        force_system=frozenset({canonicalize_name(system)} if system else ()),
        force_pypi=frozenset({canonicalize_name(pypi)} if pypi else ()),
    )


def _entry(package: str) -> MappingEntry:
    return MappingEntry(
        project=NAME,
        packages=(package,),
        dist_names=None,
        version_rule=None,
        alias_of=None,
        note=None,
        origin="test",
    )


def _unroutable(result: Decision | Unroutable) -> Unroutable:
    assert isinstance(result, Unroutable), result
    return result


@pytest.mark.parametrize(
    ("classification", "policy", "entry", "present", "absent"),
    [
        # unmapped, with a wheel: the index's options first, then the system's
        (
            PLATFORM_WHEEL,
            _policy(),
            None,
            ["--unpackaged-native wheel", "--pypi thing", "mapping entry", "--system thing"],
            [],
        ),
        # unmapped, sdist only: nothing from the index can work
        (
            SDIST_ONLY,
            _policy(fallback="wheel"),
            None,
            ["no wheel for this target", "mapping entry", "--system thing"],
            ["--unpackaged-native", "--pypi"],
        ),
        # --pypi given for an sdist-only mapped project: take it from the system instead
        (
            SDIST_ONLY,
            _policy(pypi="thing"),
            _entry("python3-thing"),
            ["drop --pypi", "python3-thing"],
            ["--pypi thing", "--unpackaged-native", "mapping entry"],
        ),
        # --pypi given for an sdist-only unmapped project
        (
            SDIST_ONLY,
            _policy(fallback="wheel", pypi="thing"),
            None,
            ["mapping entry", "--system thing instead of --pypi"],
            ["--pypi thing", "--unpackaged-native"],
        ),
        # --system given but nothing mapped: do not repeat --system
        (
            PLATFORM_WHEEL,
            _policy(system="thing"),
            None,
            ["mapping entry", "drop --system thing", "--pypi thing"],
            ["force it with --system", "--unpackaged-native"],
        ),
    ],
)
def test_decide_hints(
    classification: Classification,
    policy: RoutePolicy,
    entry: MappingEntry | None,
    present: list[str],
    absent: list[str],
) -> None:
    hint = _unroutable(decide(NAME, classification, entry, policy)).hint
    for fragment in present:
        assert fragment in hint, f"{fragment!r} not in {hint!r}"
    for fragment in absent:
        assert fragment not in hint, f"{fragment!r} in {hint!r}"


def test_fallback_hint_for_package_the_provider_lacks() -> None:
    result = fallback(
        NAME, PLATFORM_WHEEL, "apt has no package python3-thing", _policy(), package="python3-thing"
    )

    hint = _unroutable(result).hint
    assert "make python3-thing available" in hint
    assert "--unpackaged-native wheel" in hint
    assert "mapping entry" not in hint  # it is mapped already


def test_fallback_hint_sdist_only_with_wheel_fallback_given() -> None:
    result = fallback(
        NAME,
        SDIST_ONLY,
        "apt has no package python3-thing",
        _policy("wheel"),
        package="python3-thing",
    )

    hint = _unroutable(result).hint
    assert "--unpackaged-native" not in hint
    assert "--pypi" not in hint
    assert "make python3-thing available" in hint


@pytest.mark.parametrize(
    ("wheel_available", "policy", "present", "absent"),
    [
        (True, _policy(), ["--pypi thing", "--system-conflict wheel"], []),
        (None, _policy(), ["--pypi thing", "--system-conflict wheel"], []),
        (False, _policy(), ["no wheel of thing"], ["--pypi", "--system-conflict"]),
        (True, _policy(fallback="wheel"), ["--pypi thing"], ["--system-conflict"]),
        (True, _policy(pypi="thing"), ["--system-conflict wheel"], ["--pypi"]),
        (True, _policy(fallback="wheel", pypi="thing"), ["Relax"], ["--pypi", "--system-conflict"]),
    ],
)
def test_system_conflict_hint(
    wheel_available: bool | None, policy: RoutePolicy, present: list[str], absent: list[str]
) -> None:
    hint = system_conflict_hint(NAME, wheel_available, policy)
    assert hint.startswith("Relax the requirement to accept the system's version")
    for fragment in present:
        assert fragment in hint, f"{fragment!r} not in {hint!r}"
    for fragment in absent:
        assert fragment not in hint, f"{fragment!r} in {hint!r}"


# -- --allow-build: releases built from their sdists --------------------------------------------


def _sdist() -> IndexFile:
    return IndexFile(NAME, Version("1.0"), "thing-1.0.tar.gz", "mem://thing", FileKind.SDIST)


BUILD = Classification(Kind.SOURCE, _sdist(), "built from sdist (no wheel for the target)")


def test_a_release_to_build_is_built_when_nothing_is_mapped() -> None:
    decision = decide(NAME, BUILD, None, _policy())

    assert isinstance(decision, Decision)
    assert decision.route is Route.PYPI
    assert not decision.native_wheel
    assert "built from sdist" in decision.reason


def test_a_release_to_build_goes_to_the_system_when_mapped() -> None:
    decision = decide(NAME, BUILD, _entry("python3-thing"), _policy())

    assert isinstance(decision, Decision)
    assert (decision.route, decision.package) == (Route.SYSTEM, "python3-thing")
    assert "the system's build" in decision.reason


@pytest.mark.parametrize("unpackaged", ["error", "wheel"])
def test_a_release_to_build_is_built_when_the_provider_lacks_the_package(unpackaged: str) -> None:
    """``--unpackaged-native`` is about the index's platform wheels, not builds."""
    result = fallback(
        NAME,
        BUILD,
        "apt has no package python3-thing",
        _policy(unpackaged),
        package="python3-thing",
    )

    assert isinstance(result, Decision)
    assert result.route is Route.PYPI
    assert not result.native_wheel
    assert "apt has no package python3-thing" in result.reason


def test_pypi_forces_a_build_over_the_system() -> None:
    decision = decide(NAME, BUILD, _entry("python3-thing"), _policy(pypi="thing"))

    assert isinstance(decision, Decision)
    assert decision.route is Route.PYPI
    assert not decision.native_wheel


def test_a_forced_system_route_without_mapping_offers_the_build() -> None:
    hint = _unroutable(decide(NAME, BUILD, None, _policy(system="thing"))).hint

    assert "drop --system thing and build its sdist with --pypi thing" in hint
    assert "index's wheel" not in hint


def test_sdist_only_hint_offers_allow_build_unless_given() -> None:
    without = _unroutable(decide(NAME, SDIST_ONLY, None, _policy())).hint
    given = _unroutable(decide(NAME, SDIST_ONLY, None, replace(_policy(), allow_build=True))).hint

    assert "--allow-build" in without
    assert "--allow-build" not in given


@pytest.mark.parametrize(
    ("policy", "present", "absent"),
    [
        (_policy(), ["no wheel of thing", "--allow-build"], ["--pypi", "--system-conflict"]),
        (
            replace(_policy(), allow_build=True),
            ["sdist of thing", "--pypi thing"],
            ["--allow-build", "--system-conflict"],
        ),
        (
            replace(_policy(pypi="thing"), allow_build=True),
            ["no wheel or sdist of thing"],
            ["--pypi", "--allow-build"],
        ),
    ],
)
def test_system_conflict_hint_without_a_wheel(
    policy: RoutePolicy, present: list[str], absent: list[str]
) -> None:
    hint = system_conflict_hint(NAME, False, policy)
    for fragment in present:
        assert fragment in hint, f"{fragment!r} not in {hint!r}"
    for fragment in absent:
        assert fragment not in hint, f"{fragment!r} in {hint!r}"
