"""A planning session refuses requests that cannot be planned before it starts anything."""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement

from sysnative.errors import UsageError
from sysnative.models import RequirementSet, UserRequirement
from sysnative.plan.route import Fallback
from sysnative.session import PlanRequest, planning_session, route_policy


def _request(*names: str, system: tuple[str, ...] = (), pypi: tuple[str, ...] = ()) -> PlanRequest:
    reqs = tuple(UserRequirement(Requirement(n), "command line") for n in names)
    return PlanRequest(
        requirements=RequirementSet(requirements=reqs),
        policy=route_policy("wheel", "error", system, pypi),
    )


def test_nothing_to_install_is_a_usage_error_with_an_example() -> None:
    with (
        pytest.raises(UsageError, match="Nothing to install") as caught,
        planning_session(_request()),
    ):
        pass
    assert caught.value.hint is not None
    assert "--dry-run numpy requests" in caught.value.hint


def test_a_project_forced_both_ways_is_a_usage_error() -> None:
    request = _request("numpy", "lxml", system=("NumPy", "lxml"), pypi=("numpy",))
    expected = r"^numpy cannot be forced to both --system and --pypi"
    with pytest.raises(UsageError, match=expected), planning_session(request):
        pass


def test_route_policy_reads_the_settings_and_normalizes_names() -> None:
    policy = route_policy("error", "wheel", ["Pillow"], ["ruamel.yaml"], allow_build=True)
    assert (policy.unpackaged, policy.conflict) == (Fallback.ERROR, Fallback.WHEEL)
    assert policy.force_system == frozenset({"pillow"})
    assert policy.force_pypi == frozenset({"ruamel-yaml"})
    assert policy.allow_build


def test_route_policy_refuses_an_unknown_fallback() -> None:
    with pytest.raises(ValueError, match="'sometimes'"):
        route_policy("sometimes", "error", [], [])
