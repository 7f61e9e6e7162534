"""``sysnative install --system-native --dry-run`` with the real apt and the real index.

Dry runs only, in a fresh copy of a throwaway Debian root (tests/debroot.py): its apt, and
nothing installed that the host may have, so what the plans route where never depends on the
host. Each dry run also checks that the root's dpkg status did not change. Versions are
never hard-coded: what apt offers is read from the root's apt, and index versions only have
to be well-formed. No index host is named here: the index is pip's default inside the root.
The runs share the root's sysnative cache, so pages one test fetched serve the next. Skips
(with the reason) where the root cannot be built: not root, no mmdebstrap, no archive or
index.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from packaging.version import Version

from sysnative.providers.apt.provider import INTERPRETER
from sysnative.providers.apt.version import debian_to_pep440

if TYPE_CHECKING:
    from debroot import DebRoot

pytestmark = pytest.mark.e2e
#: The root's fixtures (``debroot``).
pytest_plugins = ("debroot",)

#: In the root's home: the target (Debian's python3 seeing dist-packages, without pip of its
#: own) and the report.
TARGET = "target"
REPORT = "report.json"


@pytest.fixture(scope="module")
def target(debroot: DebRoot) -> str:
    """The target venv's python in the root."""
    venv = f"{debroot.home}/{TARGET}"
    made = debroot.run([INTERPRETER, "-m", "venv", "--system-site-packages", "--without-pip", venv])
    assert made.returncode == 0, made.stderr
    return f"{venv}/bin/python"


@dataclass
class E2EResult:
    code: int
    out: str
    err: str
    report: dict[str, Any] | None

    @property
    def packages(self) -> dict[str, dict[str, Any]]:
        assert self.report is not None, f"no report; stderr:\n{self.err}"
        return {p["name"]: p for p in self.report["packages"]}


@dataclass
class E2ERun:
    root: DebRoot
    python: str

    def run(self, *args: str) -> E2EResult:
        """A dry run in the root, with a report; the root's dpkg status must not change."""
        inside = f"{self.root.home}/{REPORT}"
        report = self.root.host_path(inside)
        report.unlink(missing_ok=True)
        status = self.root.dpkg_status()
        argv = ["install", "--system-native", "--dry-run", "--python", self.python]
        done = self.root.sysnative(*argv, "--report", inside, *args)
        assert self.root.dpkg_status() == status, "a dry run changed dpkg's status"
        data = json.loads(report.read_text(encoding="utf-8")) if report.exists() else None
        return E2EResult(done.returncode, done.stdout, done.stderr, data)


@pytest.fixture
def e2e(debroot: DebRoot, target: str) -> E2ERun:
    return E2ERun(debroot, target)


SETS_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "sets"
SETS = sorted(SETS_DIR.glob("*.txt"))


def apt_version(root: DebRoot, package: str) -> tuple[str, Version]:
    """What the plan should take: the installed version, else apt's candidate, translated."""
    distro = root.installed_version(package) or root.candidate_version(package)
    assert distro is not None, f"apt in the root does not know {package}"
    version = debian_to_pep440(distro)
    assert version is not None
    return distro, version


def test_numpy_scipy_requests(e2e: E2ERun) -> None:
    result = e2e.run("numpy", "scipy", "requests")

    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    packages = result.packages
    for project, package in (("numpy", "python3-numpy"), ("scipy", "python3-scipy")):
        distro, version = apt_version(e2e.root, package)
        row = packages[project]
        assert (row["route"], row["provider"], row["package"]) == ("system", "apt", package)
        assert row["version"] == str(version)
        assert row["distro_version"] == distro
    for project in ("requests", "certifi", "charset-normalizer", "idna", "urllib3"):
        row = packages[project]
        assert row["route"] == "pypi", row
        assert row["native_wheel"] is False
        assert row["filename"].endswith("-none-any.whl")
        assert row["url"].split("#")[0].endswith(row["filename"])
        assert re.fullmatch(r"[0-9a-f]{64}", row["sha256"] or "")
        Version(row["version"])
    assert packages["requests"]["required_by"] == ["the command line"]
    # The table says the same.
    numpy_line = next(line for line in result.out.splitlines() if line.startswith("numpy "))
    assert "system" in numpy_line.split()
    assert "apt: python3-numpy" in numpy_line
    requests_line = next(line for line in result.out.splitlines() if line.startswith("requests "))
    assert "pypi" in requests_line.split()


def test_numpy_2_conflicts_with_apt(e2e: E2ERun) -> None:
    distro, version = apt_version(e2e.root, "python3-numpy")
    assert version < Version("2"), f"the root's numpy {version} satisfies numpy>=2"

    result = e2e.run("numpy>=2")

    assert result.code == 1
    assert "Traceback" not in result.err
    assert result.report is None
    assert "numpy>=2 (required by the command line)" in result.err
    assert f"the system provides numpy {version}" in result.err
    assert distro in result.err
    assert "--system-conflict wheel" in result.err
    assert "--pypi numpy" in result.err


@pytest.mark.parametrize("requirements", SETS, ids=[p.stem for p in SETS])
def test_benchmark_sets_plan_or_explain(e2e: E2ERun, requirements: Path) -> None:
    inside = f"{e2e.root.home}/{requirements.name}"
    e2e.root.host_path(inside).write_text(requirements.read_text("utf-8"), "utf-8")

    result = e2e.run("-r", inside)

    assert "Traceback" not in result.err + result.out
    if result.code == 0:
        assert result.report is not None
        assert result.report["packages"], "an empty plan for a non-empty requirement set"
        for row in result.report["packages"]:
            assert row["route"] in ("system", "pypi")
            if row["route"] == "system":
                assert row["provider"] == "apt"
            else:
                assert row["filename"].endswith(".whl")
        assert "Would install:" in result.out
    else:
        assert result.code == 1, result.err
        assert "error: " in result.err
        assert re.search(r"\(required by [^)]+\)", result.err), result.err
