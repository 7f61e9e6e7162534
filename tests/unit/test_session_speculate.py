"""The speculative system side: same plans as without it, and real reuse of its answers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from memory import MemoryApt, MemoryIndex, case_policy, target
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from sysnative.errors import ProviderError, SysnativeError
from sysnative.mapping.files import load_builtin
from sysnative.models import ClosureItem, Plan, RequirementSet, UserRequirement
from sysnative.plan.route import RoutePolicy
from sysnative.plan.sequential import build_plan
from sysnative.session.speculate import SpeculativeProvider, Speculator, WatchedIndex

CASES = sorted((Path(__file__).parents[2] / "fixtures" / "cases").glob("*.json"))


class FailingApt(MemoryApt):
    """MemoryApt (which records the calls made of it) whose simulation fails."""

    def simulate(self, packages: Sequence[str]) -> tuple[ClosureItem, ...]:
        super().simulate(packages)
        raise ProviderError(f"simulation of {' '.join(packages)} failed")


def _plan(case: dict[str, Any], *, speculate: bool, apt: MemoryApt) -> Plan | str:
    options = case.get("options", {})
    policy = case_policy(options)
    reqs = RequirementSet(
        requirements=tuple(
            UserRequirement(Requirement(r), "command line") for r in case["requested"]
        ),
        constraints=tuple(
            UserRequirement(Requirement(r), "constraints.txt:1")
            for r in case.get("constraints", [])
        ),
    )
    env = target(case.get("python", "3.11.2"), case.get("installed", []))
    index = MemoryIndex(case["index"])
    mapping = load_builtin("debian")
    speculator = Speculator(apt)
    speculator.begin(target=env, mapping=mapping, policy=policy)
    try:
        return build_plan(
            reqs,
            target=env,
            index=WatchedIndex(index, speculator) if speculate else index,
            provider=SpeculativeProvider(apt, speculator) if speculate else apt,
            mapping=mapping,
            policy=policy,
        )
    except SysnativeError as exc:
        return str(exc)
    finally:
        speculator.stop()


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_plans_are_the_same_with_speculation(path: Path) -> None:
    case = json.loads(path.read_text())
    plain = _plan(case, speculate=False, apt=MemoryApt(case["system"]))
    speculated = _plan(case, speculate=True, apt=MemoryApt(case["system"]))
    assert speculated == plain


def _basic_case() -> dict[str, Any]:
    return dict(json.loads((CASES[0].parent / "basic_routing.json").read_text()))


def _wait_for_simulation(speculator: Speculator, packages: tuple[str, ...]) -> None:
    """Block until the worker has started simulating ``packages``. The deadline only keeps a
    worker that never gets there from hanging the suite; nothing is asserted about time."""
    event = threading.Event()
    deadline = time.monotonic() + 60
    while speculator.simulation_answer(packages) is None:
        if time.monotonic() > deadline:
            pytest.fail(f"the speculator never simulated {packages}")
        event.wait(0.01)


def test_simulation_is_answered_by_the_speculation() -> None:
    case = _basic_case()
    apt = MemoryApt(case["system"])
    index = MemoryIndex(case["index"])
    speculator = Speculator(apt)
    speculator.begin(target=target(), mapping=load_builtin("debian"), policy=RoutePolicy())
    watched = WatchedIndex(index, speculator)
    for name in ("numpy", "scipy", "requests"):
        watched.get_files(canonicalize_name(name))
    _wait_for_simulation(speculator, ("python3-numpy", "python3-scipy"))

    provider = SpeculativeProvider(apt, speculator)
    closure = provider.simulate(["python3-scipy", "python3-numpy"])
    answers = provider.query(["python3-numpy", "python3-scipy"])

    assert {item.name for item in closure} >= {"python3-numpy", "python3-scipy"}
    assert apt.simulations == [("python3-numpy", "python3-scipy")]  # once, by the speculation
    assert set(answers) == {"python3-numpy", "python3-scipy"}
    assert len(apt.queries) == 1  # the real query was answered from the speculation's


def test_pure_projects_are_not_speculated() -> None:
    case = _basic_case()
    apt = MemoryApt(case["system"])
    speculator = Speculator(apt)
    speculator.begin(target=target(), mapping=load_builtin("debian"), policy=RoutePolicy())
    watched = WatchedIndex(MemoryIndex(case["index"]), speculator)
    watched.get_files(canonicalize_name("requests"))
    watched.get_files(canonicalize_name("numpy"))
    _wait_for_simulation(speculator, ("python3-numpy",))
    speculator.stop()
    assert all("python3-requests" not in q for q in apt.queries)


def test_a_failed_speculation_leaves_the_error_to_the_real_call() -> None:
    case = _basic_case()
    apt = FailingApt(case["system"])
    speculator = Speculator(apt)
    speculator.begin(target=target(), mapping=load_builtin("debian"), policy=RoutePolicy())
    watched = WatchedIndex(MemoryIndex(case["index"]), speculator)
    watched.get_files(canonicalize_name("numpy"))
    event = threading.Event()
    while not apt.simulations:  # the speculative attempt happened (and failed)
        event.wait(0.01)
    provider = SpeculativeProvider(apt, speculator)
    with pytest.raises(ProviderError, match="simulation of python3-numpy failed"):
        provider.simulate(["python3-numpy"])
    assert len(apt.simulations) == 2
