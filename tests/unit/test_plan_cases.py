"""The planning stages over JSON fixture cases (``fixtures/cases/*.json``).

Each case gives the index (projects, versions, wheel tags, requirements), what apt has, the
target Python and the request; the real resolver, classifier, router and planner run over
in-memory implementations of the index and provider seams.

What a case can check: ``expected`` (name -> "route version"), ``expected_absent``,
``expected_native_wheel``, ``expected_built`` (the rows built from their sdists, with
``options.allow_build``), ``expected_no_simulation``, ``expected_reasons`` (name -> a
fragment of the row's reason), ``expected_transaction`` (the system closure as
"package version" or "package version (replaces old)"), ``expected_requested`` (the distro
packages the system step names), ``expected_notes`` (fragments each found in some note, or
``[]`` for no notes); for failures ``expected_error`` (fragments of the message and hint) and
``expected_hint_absent`` (fragments the hint must not contain).

Every plan is also checked the way the system step checks it before changing anything: a
fresh simulation of the packages it asks for must be the plan's closure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from memory import MemoryApt, MemoryIndex, case_policy, target
from packaging.requirements import Requirement

from sysnative.errors import SysnativeError
from sysnative.mapping.files import load_builtin
from sysnative.models import FileKind, Plan, RequirementSet, Route, UserRequirement
from sysnative.plan.route import RoutePolicy
from sysnative.plan.sequential import build_plan

CASES = sorted((Path(__file__).parents[2] / "fixtures" / "cases").glob("*.json"))


def _reqs(case: dict[str, Any]) -> RequirementSet:
    return RequirementSet(
        requirements=tuple(
            UserRequirement(Requirement(r), "command line") for r in case["requested"]
        ),
        constraints=tuple(
            UserRequirement(Requirement(r), "constraints.txt:1")
            for r in case.get("constraints", [])
        ),
    )


def _policy(case: dict[str, Any]) -> RoutePolicy:
    return case_policy(case.get("options", {}))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path: Path) -> None:
    case = json.loads(path.read_text())
    apt = MemoryApt(case["system"])

    def run() -> Plan:
        return build_plan(
            _reqs(case),
            target=target(case.get("python", "3.11.2"), case.get("installed", [])),
            index=MemoryIndex(case["index"], allow_build=_policy(case).allow_build),
            provider=apt,
            mapping=load_builtin("debian"),
            policy=_policy(case),
        )

    if "expected_error" in case:
        with pytest.raises(SysnativeError) as info:
            run()
        text = f"{info.value.message}\n{info.value.hint}"
        for fragment in case["expected_error"]:
            assert fragment in text, f"{fragment!r} not in:\n{text}"
        for fragment in case.get("expected_hint_absent", []):
            assert fragment not in (info.value.hint or ""), f"{fragment!r} in the hint:\n{text}"
        return
    plan = run()
    got = {p.name: f"{p.route.value} {p.version}" for p in plan.packages}
    for name, want in case["expected"].items():
        assert got.get(name) == want, f"{name}: expected {want}, plan has {got}"
    for name in case.get("expected_absent", []):
        assert name not in got
    native_wheels = sorted(p.name for p in plan.packages if p.native_wheel)
    assert native_wheels == sorted(case.get("expected_native_wheel", []))
    built = sorted(p.name for p in plan.packages if p.file and p.file.kind is FileKind.SDIST)
    assert built == sorted(case.get("expected_built", []))
    for row in plan.packages:
        if row.route is Route.PYPI:
            assert row.file is not None
            if row.file.kind is FileKind.SDIST:
                assert _policy(case).allow_build, f"{row.name} is built without --allow-build"
                assert not row.native_wheel
            else:
                assert row.file.is_pure or row.native_wheel, f"{row.name} took a platform wheel"
        else:
            assert row.provider == "apt"
    if case.get("expected_no_simulation"):
        # Everything is installed already: no install simulation, and at most one query,
        # for the distro versions of the installed packages the plan shows.
        assert apt.simulations == []
        installed = {r.package for r in plan.system if r.already_installed}
        assert len(apt.queries) <= 1
        assert all(set(q) <= installed for q in apt.queries)
        assert all(r.distro_version for r in plan.system)
    reasons = {p.name: p.reason for p in plan.packages}
    for name, fragment in case.get("expected_reasons", {}).items():
        assert fragment in reasons[name], f"{name}: {fragment!r} not in {reasons[name]!r}"
    if "expected_transaction" in case:
        transaction = [
            f"{c.name} {c.version}" + (f" (replaces {c.replaces})" if c.replaces else "")
            for c in plan.system_closure
        ]
        assert transaction == case["expected_transaction"]
    # What the system step asks the provider for (execute._requested_packages) must bring
    # exactly the closure the plan shows, as the provider's check_install demands.
    asked = sorted(
        {
            (r.package, r.distro_version)
            for r in plan.system
            if r.requested and not r.already_installed and r.package and r.distro_version
        }
    )
    if "expected_requested" in case:
        assert [name for name, _ in asked] == case["expected_requested"]
    MemoryApt(case["system"]).check_install(asked, plan.system_closure)
    if "expected_notes" in case:
        if not case["expected_notes"]:
            assert plan.notes == ()
        for fragment in case["expected_notes"]:
            assert any(fragment in note for note in plan.notes), f"{fragment!r}: {plan.notes}"


def test_provider_is_queried_in_one_batch_per_pass() -> None:
    case = json.loads((CASES[0].parent / "basic_routing.json").read_text())
    apt = MemoryApt(case["system"])
    build_plan(
        _reqs(case),
        target=target(),
        index=MemoryIndex(case["index"]),
        provider=apt,
        mapping=load_builtin("debian"),
        policy=RoutePolicy(),
    )
    assert len(apt.queries) == 1
    # numpy is in the first resolution as scipy's dependency: both in the one query.
    assert sorted(apt.queries[0]) == ["python3-numpy", "python3-scipy"]
    assert apt.simulations == [("python3-numpy", "python3-scipy")]
