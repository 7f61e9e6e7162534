"""A resolution has a time bound; past it, the error names what the search kept rejecting.

The bound is given as a value (no waiting on a clock here): 0 s stops at once, and a search
that needs to backtrack is stopped while it does.
"""

from __future__ import annotations

import pytest
from memory import MemoryIndex, target
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from sysnative.errors import ResolutionError
from sysnative.models import UserRequirement
from sysnative.resolve.resolver import resolve


def _req(text: str) -> UserRequirement:
    return UserRequirement(Requirement(text), "command line")


def _backtracking_index(releases: int) -> MemoryIndex:
    """``app`` has ``releases`` releases that all need ``lib>=2``, and an old one that does
    not; ``lib`` has 1.0 and 2.0, and the requests ask for ``lib<2``: every new ``app`` is
    rejected because of lib, which only the search can find out (the index alone would
    offer lib 2.0)."""
    apps = {f"1.{n}": {"requires": ["lib>=2"]} for n in range(1, releases + 1)}
    apps["0.1"] = {}
    return MemoryIndex({"app": apps, "lib": {"1.0": {}, "2.0": {}}})


def test_a_search_that_finishes_within_its_bound_is_unaffected() -> None:
    resolution = resolve([_req("app"), _req("lib<2")], [], index=_backtracking_index(30),
                         target=target("3.11.2"))  # fmt: skip
    assert str(resolution.candidates[canonicalize_name("app")].version) == "0.1"


class TickingClock:
    """A clock that moves one second each time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_past_its_bound_the_search_stops_and_names_what_it_rejected() -> None:
    lines: list[str] = []
    with pytest.raises(ResolutionError) as info:
        resolve(
            [_req("lib<2"), _req("app")],
            [],
            index=_backtracking_index(30),
            target=target("3.11.2"),
            max_seconds=20,
            progress=lines.append,
            clock=TickingClock(),
        )
    message = info.value.message
    assert message.startswith("Gave up after 20 s and ")
    assert "  app: its releases were rejected " in message
    assert "of them on lib (for example lib>=2 (required by app 1." in message
    assert info.value.hint is not None
    assert "tighter bounds on the projects above" in info.value.hint
    # progress every 5 s of the (ticking) clock, naming the project being backtracked over
    assert lines
    assert all(line.startswith("Resolving: ") for line in lines)
    assert any("backtracking over app (" in line for line in lines)


def test_the_bound_counts_from_the_given_start() -> None:
    """The planner's passes share one bound: a pass that starts when the time is spent stops
    at once, and says how long the whole search took."""
    with pytest.raises(ResolutionError) as info:
        resolve(
            [_req("lib<2"), _req("app")],
            [],
            index=_backtracking_index(3),
            target=target("3.11.2"),
            max_seconds=120,
            clock=TickingClock(),
            started=-500.0,
        )
    assert info.value.message.startswith("Gave up after 120 s and ")


def test_past_its_rounds_the_search_names_what_it_rejected_too() -> None:
    with pytest.raises(ResolutionError) as info:
        resolve(
            [_req("lib<2"), _req("app")],
            [],
            index=_backtracking_index(30),
            target=target("3.11.2"),
            max_rounds=2,
        )
    message = info.value.message
    assert message.startswith("Gave up after ")
    assert "  app: its releases were rejected " in message
    assert "of them on lib (for example lib>=2 (required by app 1." in message


def test_releases_a_system_version_rules_out_are_never_tried() -> None:
    """lib is fixed by the system at 1.0, and 30 releases of app need lib>=2: they can
    never be chosen, so the search goes straight to app 0.1, rejecting nothing, within a
    handful of rounds (without this, each app release is pinned, fails and is backtracked)."""
    from sysnative.models import SystemProvision
    from sysnative.resolve import FixedProject

    lib = canonicalize_name("lib")
    provision = SystemProvision(lib, Version("1.0"), "apt", "python3-lib", "1.0-1", False)
    lines: list[str] = []
    resolution = resolve(
        [_req("app"), _req("lib")],
        [],
        index=_backtracking_index(30),
        target=target("3.11.2"),
        fixed={lib: FixedProject(provision)},
        max_rounds=6,
        progress=lines.append,
        clock=TickingClock(),
    )
    assert str(resolution.candidates[canonicalize_name("app")].version) == "0.1"
    assert resolution.candidates[lib].system == provision
    assert not any("rejected" in line for line in lines)
