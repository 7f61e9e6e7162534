from __future__ import annotations

import json
from pathlib import Path

from packaging.tags import parse_tag
from packaging.utils import NormalizedName
from packaging.version import Version

from sysnative.commands.output import write_report
from sysnative.commands.report import REPORT_VERSION, render_table, summary, to_json
from sysnative.models import ClosureItem, FileKind, IndexFile, Plan, PlannedPackage, Route


def _plan() -> Plan:
    wheel = IndexFile(
        NormalizedName("requests"),
        Version("2.32.3"),
        "requests-2.32.3-py3-none-any.whl",
        "http://127.0.0.1:1/files/requests-2.32.3-py3-none-any.whl",
        FileKind.WHEEL,
        frozenset(parse_tag("py3-none-any")),
        sha256="ab" * 32,
        size=64000,
    )
    return Plan(
        packages=(
            PlannedPackage(
                NormalizedName("numpy"),
                Version("1.24.2"),
                Route.SYSTEM,
                "native: only platform wheels",
                ("the command line",),
                provider="apt",
                package="python3-numpy",
                distro_version="1:1.24.2-1+deb12u1",
            ),
            PlannedPackage(
                NormalizedName("requests"),
                Version("2.32.3"),
                Route.PYPI,
                "pure wheel",
                ("the command line",),
                file=wheel,
            ),
        ),
        provider="apt",
        target_python="python3",
        system_closure=(ClosureItem("python3-numpy", "1:1.24.2-1+deb12u1", "amd64"),),
    )


def test_json_report_has_the_documented_fields(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_report(_plan(), str(path))
    data = json.loads(path.read_text())
    assert data["version"] == REPORT_VERSION
    numpy, requests = data["packages"]
    assert numpy["route"] == "system"
    assert (numpy["provider"], numpy["package"], numpy["distro_version"]) == (
        "apt",
        "python3-numpy",
        "1:1.24.2-1+deb12u1",
    )
    assert numpy["version"] == "1.24.2"
    assert requests["route"] == "pypi"
    assert requests["url"].endswith("requests-2.32.3-py3-none-any.whl")
    assert requests["sha256"] == "ab" * 32
    assert {"name", "version", "route", "reason"} <= set(requests)
    assert data["system_transaction"] == [
        {
            "package": "python3-numpy",
            "version": "1:1.24.2-1+deb12u1",
            "architecture": "amd64",
            "replaces": None,
        }
    ]
    assert list(tmp_path.iterdir()) == [path]  # the atomic write left no temp file


def test_table_and_summary() -> None:
    plan = _plan()
    table = render_table(plan).splitlines()
    assert table[0].split() == ["project", "version", "route", "source", "why"]
    assert "apt: python3-numpy 1:1.24.2-1+deb12u1" in table[2]
    assert "requests-2.32.3-py3-none-any.whl" in table[3]
    assert summary(plan) == (
        "Would install: 1 from apt (1 distro package in the transaction), 1 wheel from the index."
    )
    assert to_json(plan)["packages"][1]["native_wheel"] is False
