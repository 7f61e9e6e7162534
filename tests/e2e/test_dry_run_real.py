"""``sysnative install --system-native --dry-run`` with this machine's apt and the real index.

Dry runs only: nothing is installed. Versions are never hard-coded: what apt offers is read
from apt itself, and index versions only have to be well-formed. No index host is named
here: the index is the one pip's configuration gives (with the root conftest's isolation,
the default of the installed pip). The module skips without apt or when that index does not
answer. The module shares one sysnative cache, so pages one test fetched serve the next.

The helpers live here rather than in a conftest.py: a second ``conftest`` module would clash
with tests/conftest.py for mypy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from sysnative.cache import Cache
from sysnative.cli import main
from sysnative.errors import SysnativeError
from sysnative.index import SimpleIndexClient
from sysnative.pipconfig import load_index_config
from sysnative.providers.apt import AptProvider

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def e2e_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-sysnative-cache")


@pytest.fixture(autouse=True)
def sysnative_cache(e2e_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Overrides the root fixture: same pip isolation, but one cache for the whole module."""
    monkeypatch.setenv("SYSNATIVE_CACHE_DIR", str(e2e_cache_dir))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for name in list(os.environ):
        if name.startswith("PIP_") and name != "PIP_CONFIG_FILE":
            monkeypatch.delenv(name)
    return e2e_cache_dir


@pytest.fixture(scope="module")
def real_apt() -> AptProvider:
    if not Path("/usr/bin/apt-get").exists() or not AptProvider.available():
        pytest.skip("needs apt (/usr/bin/apt-get)")
    provider = AptProvider()
    if not provider.query(["python3-numpy"]):
        pytest.skip("apt's package lists do not know python3-numpy (run apt-get update)")
    return provider


@pytest.fixture(scope="module")
def system_venv(tmp_path_factory: pytest.TempPathFactory, real_apt: AptProvider) -> str:
    """A venv of Debian's python3 that sees dist-packages, without pip of its own."""
    venv = tmp_path_factory.mktemp("e2e-target") / "venv"
    subprocess.run(
        ["/usr/bin/python3", "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
        check=True,
        capture_output=True,
    )
    return str(venv / "bin" / "python")


@pytest.fixture(scope="module")
def real_index(
    system_venv: str, e2e_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Skip unless the index pip's configuration names answers for a tiny project."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIP_CONFIG_FILE", os.devnull)
        for name in list(os.environ):
            if name.startswith("PIP_") and name != "PIP_CONFIG_FILE":
                patch.delenv(name)
        try:
            config = load_index_config(python=system_venv, cache_dir=e2e_cache_dir)
            cache = Cache(tmp_path_factory.mktemp("probe-cache"))
            with SimpleIndexClient(config, cache) as client:
                client.get_files(canonicalize_name("idna"))
        except SysnativeError as exc:
            pytest.skip(f"the package index is not reachable: {exc.message}")


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
    python: str
    tmp_path: Path
    capsys: pytest.CaptureFixture[str]
    apt: AptProvider

    def run(self, *args: str) -> E2EResult:
        report = self.tmp_path / "report.json"
        report.unlink(missing_ok=True)
        argv = ["install", "--system-native", "--dry-run", "--python", self.python]
        self.capsys.readouterr()
        code = main([*argv, "--report", str(report), *args])
        captured = self.capsys.readouterr()
        data = json.loads(report.read_text(encoding="utf-8")) if report.exists() else None
        return E2EResult(code, captured.out, captured.err, data)


@pytest.fixture
def e2e(
    system_venv: str,
    real_index: None,
    real_apt: AptProvider,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> E2ERun:
    if shutil.which("dpkg") is None:
        pytest.skip("needs dpkg")
    return E2ERun(system_venv, tmp_path, capsys, real_apt)


SETS_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "sets"
SETS = sorted(SETS_DIR.glob("*.txt"))


def apt_version(apt: AptProvider, package: str) -> tuple[str, Version]:
    """What the plan should take: the installed version, else apt's candidate, translated."""
    info = apt.query([package]).get(package)
    assert info is not None, f"apt does not know {package}"
    distro = info.installed or info.candidate
    assert distro is not None
    version = apt.to_pep440(distro)
    assert version is not None
    return distro, version


def test_numpy_scipy_requests(e2e: E2ERun) -> None:
    result = e2e.run("numpy", "scipy", "requests")

    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    packages = result.packages
    for project, package in (("numpy", "python3-numpy"), ("scipy", "python3-scipy")):
        distro, version = apt_version(e2e.apt, package)
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
    distro, version = apt_version(e2e.apt, "python3-numpy")
    if version >= Version("2"):
        pytest.skip(f"apt provides numpy {version}, which satisfies numpy>=2")

    result = e2e.run("numpy>=2")

    assert result.code == 1
    assert "Traceback" not in result.err
    assert result.report is None
    assert "numpy>=2 (required by the command line)" in result.err
    assert f"the system provides numpy {version}" in result.err
    assert distro in result.err
    assert "--native-fallback wheel" in result.err
    assert "--pypi numpy" in result.err


@pytest.mark.parametrize("requirements", SETS, ids=[p.stem for p in SETS])
def test_benchmark_sets_plan_or_explain(e2e: E2ERun, requirements: Path) -> None:
    result = e2e.run("-r", str(requirements))

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
