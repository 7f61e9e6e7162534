"""``sysnative install --system-native --dry-run`` end to end, against a FakeIndex on 127.0.0.1
and a real local apt repository.

Every run goes through ``sysnative.cli.main(argv)``: exit code, table text and the
``--report`` JSON are checked. The pieces (fixtures below):

- ``target_python``: a session venv made from ``/usr/bin/python3`` *without* system site
  packages and without pip, so nothing Debian installed on this machine leaks into a plan.
- ``native_tag``: a platform wheel tag the target supports (read from the target itself).
- ``standard_apt``: one session-wide local apt repository holding tiny ``python3-*`` packages
  named after real entries of the built-in Debian mapping (``numpy`` -> ``python3-numpy``),
  at made-up versions.
- ``cli``: a :class:`CliRun` combining a fresh FakeIndex with an apt world (``standard_apt``
  unless the test builds its own with :meth:`CliRun.new_apt`); it runs ``main([...])`` with
  ``--index-url`` and ``--python`` filled in and returns exit code, output and report.

The helpers live here rather than in a conftest.py: a second ``conftest`` module would clash
with tests/conftest.py for mypy, and ``from conftest import ...`` would be ambiguous.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from aptrepo import LocalAptRepo, missing_tools
from clirun import Result, assert_clean_error, platform_tag
from fakeindex import BACKEND_LOG, FakeIndex, build_wheel
from sysnative.cli import main
from sysnative.probe import probe

pytestmark = pytest.mark.apt

#: Debian versions of the standard apt world (``deb version -> PEP 440`` in comments).
NUMPY_DEB = "1:1.24.2-1+deb12u1"  # 1.24.2
SCIPY_DEB = "1.10.1-2"  # 1.10.1
PANDAS_DEB = "1.5.3+dfsg-2"  # 1.5.3
DATEUTIL_DEB = "2.8.2-2"  # 2.8.2
LXML_DEB = "4.9.2-1+b1"  # 4.9.2
PSYCOPG2_DEB = "2.9.5-1+b1"  # 2.9.5
REQUESTS_DEB = "2.28.1+dfsg-1"  # 2.28.1
IDNA_DEB = "3.3-1"  # 3.3
SIX_DEB = "1.16.0-4"  # 1.16.0


def _base_python() -> str:
    """The interpreter target venvs are made from: Debian's python3 when present."""
    if Path("/usr/bin/python3").exists():
        return "/usr/bin/python3"
    return str(Path(getattr(sys, "_base_executable", sys.executable)))


@pytest.fixture(scope="session")
def target_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A venv interpreter that sees neither the system's dist-packages nor pip."""
    venv = tmp_path_factory.mktemp("target") / "venv"
    subprocess.run(
        [_base_python(), "-m", "venv", "--without-pip", str(venv)],
        check=True,
        capture_output=True,
    )
    return str(venv / "bin" / "python")


@pytest.fixture(scope="session")
def native_tag(target_python: str) -> str:
    """A platform-specific tag the target supports, manylinux if it has one
    (``cp311-cp311-manylinux_2_17_x86_64`` on Debian 12), as the index would serve."""
    tag = platform_tag(target_python)
    if tag is not None:
        return tag
    pytest.skip("the target interpreter supports no platform-specific wheel tag")


@pytest.fixture(scope="session")
def standard_apt(tmp_path_factory: pytest.TempPathFactory) -> LocalAptRepo:
    """The apt world most tests share (read-only: tests must not mark packages installed)."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} to build a local apt repository")
    repo = LocalAptRepo(tmp_path_factory.mktemp("standard-apt") / "aptroot")
    repo.add("python3-numpy", NUMPY_DEB)
    repo.add("python3-scipy", SCIPY_DEB, depends=["python3-numpy (>= 1:1.22)"])
    repo.add("python3-dateutil", DATEUTIL_DEB, depends=["python3-six"])
    repo.add("python3-six", SIX_DEB)
    repo.add("python3-pandas", PANDAS_DEB, depends=["python3-numpy", "python3-dateutil"])
    repo.add("python3-lxml", LXML_DEB)
    repo.add("python3-psycopg2", PSYCOPG2_DEB)
    repo.add("python3-idna", IDNA_DEB)
    repo.add("python3-requests", REQUESTS_DEB, depends=["python3-idna"])
    repo.publish()
    return repo


@dataclass
class CliRun:
    """Runs ``sysnative install --system-native --dry-run`` in-process."""

    index: FakeIndex
    apt: LocalAptRepo
    python: str
    native_tag: str
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]
    _reports: int = field(default=0)

    def __post_init__(self) -> None:
        self.use_apt(self.apt)

    def use_apt(self, repo: LocalAptRepo) -> None:
        """Point apt and dpkg (through the environment the provider merges) at ``repo``."""
        self.apt = repo
        for key, value in repo.env.items():
            self.monkeypatch.setenv(key, value)

    def new_apt(self) -> LocalAptRepo:
        """An empty apt world of this test's own (call ``publish()`` after adding)."""
        missing = missing_tools()
        if missing:
            pytest.skip(f"needs {', '.join(missing)} to build a local apt repository")
        root = self.tmp_path / f"apt{self._reports}"
        self._reports += 1
        repo = LocalAptRepo(root)
        self.use_apt(repo)
        return repo

    def native(self, name: str, version: str, **kwargs: Any) -> Path:
        """Serve a platform wheel (compiled code) for the target."""
        return self.index.add_wheel(name, version, tag=self.native_tag, **kwargs)

    def pure(self, name: str, version: str, **kwargs: Any) -> Path:
        return self.index.add_wheel(name, version, **kwargs)

    def raw(self, *argv: str) -> Result:
        """``main(argv)`` exactly as given; output captured."""
        self.capsys.readouterr()
        code = main(list(argv))
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def run(
        self,
        *args: str,
        python: str | None = None,
        index_url: str | None = None,
        report: bool = True,
    ) -> Result:
        """``sysnative install --system-native --dry-run --index-url ... --python ... ARGS``.

        With ``report``, a ``--report FILE`` is added and read back into ``Result.report``.
        """
        argv = [
            "install",
            "--system-native",
            "--dry-run",
            "--index-url",
            index_url or self.index.url,
            "--python",
            python or self.python,
        ]
        report_path: Path | None = None
        if report:
            self._reports += 1
            report_path = self.tmp_path / f"report-{self._reports}.json"
            argv += ["--report", str(report_path)]
        result = self.raw(*argv, *args)
        if report_path is not None and report_path.exists():
            result.report = json.loads(report_path.read_text(encoding="utf-8"))
        return result


@pytest.fixture
def cli(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    fake_index_server: HTTPServer,
    standard_apt: LocalAptRepo,
    target_python: str,
    native_tag: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[CliRun]:
    """A fresh FakeIndex (HTML pages) plus the standard apt world, ready to run the CLI."""
    wheels = tmp_path_factory.mktemp("cli-wheels")
    with FakeIndex.start(wheels, server=fake_index_server, flavour="html") as index:
        yield CliRun(
            index=index,
            apt=standard_apt,
            python=target_python,
            native_tag=native_tag,
            tmp_path=tmp_path,
            monkeypatch=monkeypatch,
            capsys=capsys,
        )


def find_python39() -> str | None:
    """A working CPython 3.9 on this machine (pyenv's or on PATH), or ``None``."""
    candidates = sorted(Path.home().glob(".pyenv/versions/3.9*/bin/python3.9"))
    found = shutil.which("python3.9")
    paths = [str(p) for p in candidates] + ([found] if found else [])
    for path in paths:
        proc = subprocess.run(
            [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode == 0 and proc.stdout.strip() == "3.9":
            return path
    return None


def wheel_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- 1. basic routing -------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["html", "json"])
def test_pure_to_index_and_native_to_apt(cli: CliRun, flavour: str) -> None:
    cli.index.flavour = flavour
    requests = cli.pure("requests", "2.31.0", requires_dist=["idna>=2.5", "urllib3>=1.21.1"])
    idna = cli.pure("idna", "3.6")
    urllib3 = cli.pure("urllib3", "2.1.0")
    cli.native("numpy", "1.26.4")
    cli.native("numpy", "1.24.2")
    cli.native("scipy", "1.11.4", requires_dist=["numpy>=1.22"])

    result = cli.run("requests", "scipy", "numpy")

    assert result.code == 0, result.err
    report = result.report
    assert report is not None
    assert report["version"] == "1"
    assert report["provider"] == "apt"
    assert report["target_python"] == cli.python
    packages = result.packages
    assert set(packages) == {"requests", "idna", "urllib3", "numpy", "scipy"}
    for name, path in (("requests", requests), ("idna", idna), ("urllib3", urllib3)):
        row = packages[name]
        assert row["route"] == "pypi"
        assert row["reason"] == "pure wheel"
        assert row["native_wheel"] is False
        assert row["filename"] == path.name
        assert row["url"] == cli.index.file_url(path.name)
        assert row["sha256"] == wheel_sha256(path)
    assert packages["requests"]["version"] == "2.31.0"
    assert packages["idna"]["required_by"] == ["requests 2.31.0"]
    numpy, scipy = packages["numpy"], packages["scipy"]
    assert (numpy["route"], numpy["provider"], numpy["package"]) == (
        "system",
        "apt",
        "python3-numpy",
    )
    assert (numpy["version"], numpy["distro_version"]) == ("1.24.2", NUMPY_DEB)
    assert numpy["reason"] == "native: only platform wheels"
    assert (scipy["route"], scipy["package"]) == ("system", "python3-scipy")
    assert (scipy["version"], scipy["distro_version"]) == ("1.10.1", SCIPY_DEB)
    assert {item["package"]: item["version"] for item in report["system_transaction"]} == {
        "python3-numpy": NUMPY_DEB,
        "python3-scipy": SCIPY_DEB,
    }
    assert report["notes"] == []

    # The table: system rows first, then the index rows, each with its source.
    assert result.row("numpy") == [
        "numpy",
        "1.24.2",
        "system",
        f"apt: python3-numpy {NUMPY_DEB}",
        "native: only platform wheels",
    ]
    assert result.row("requests")[:4] == ["requests", "2.31.0", "pypi", requests.name]
    lines = result.out.splitlines()
    names_in_order = [line.split()[0] for line in lines[2:7]]
    assert names_in_order == ["numpy", "scipy", "idna", "requests", "urllib3"]
    assert "Would install: 2 from apt" in result.out
    assert "3 wheels from the index" in result.out
    assert "dry run: nothing was changed" in result.out
    # Nothing was downloaded whole: the plan needs metadata only.
    assert sum(cli.index.downloads.values()) == 0


def test_system_closure_brings_numpy(cli: CliRun) -> None:
    """scipy's deb depends on python3-numpy: numpy is planned through apt's closure.

    The first pass routed numpy to apt for the index's scipy and simulated it with scipy, so
    the system step asks for it by name too (the plan and the transaction agree).
    """
    cli.native("numpy", "1.26.4")
    cli.native("scipy", "1.11.4", requires_dist=["numpy>=1.22"])

    result = cli.run("scipy")

    assert result.code == 0, result.err
    numpy = result.packages["numpy"]
    assert numpy["route"] == "system"
    assert numpy["package"] == "python3-numpy"
    assert numpy["version"] == "1.24.2"
    assert numpy["reason"] == "native: only platform wheels"
    assert numpy["requested"] is True
    assert numpy["required_by"] == ["scipy 1.10.1"]
    assert result.packages["scipy"]["reason"] == "native: only platform wheels"
    transaction = result.report["system_transaction"] if result.report else []
    assert [t["package"] for t in transaction] == ["python3-numpy", "python3-scipy"]


# -- 2. sequential resolution ------------------------------------------------------------------


def test_pure_parent_resolved_against_system_numpy(cli: CliRun) -> None:
    cli.pure("xarray", "3.0", requires_dist=["numpy>=2"])
    cli.pure("xarray", "2.0", requires_dist=["numpy>=1.24"])
    cli.pure("xarray", "1.0", requires_dist=["numpy>=1.20"])
    cli.native("numpy", "2.0.0")
    cli.native("numpy", "1.26.4")

    result = cli.run("xarray")

    assert result.code == 0, result.err
    packages = result.packages
    assert set(packages) == {"xarray", "numpy"}
    assert (packages["xarray"]["route"], packages["xarray"]["version"]) == ("pypi", "2.0")
    assert (packages["numpy"]["route"], packages["numpy"]["version"]) == ("system", "1.24.2")
    assert packages["numpy"]["required_by"] == ["xarray 2.0"]
    assert result.row("xarray")[:3] == ["xarray", "2.0", "pypi"]


def test_pure_dependency_from_system_closure_is_not_taken_from_index(cli: CliRun) -> None:
    """python3-pandas brings python3-dateutil (and six): the pure ``tablib`` needs
    python-dateutil, which the system's version satisfies, so no index wheel is planned."""
    cli.native("numpy", "1.26.4")
    cli.native("pandas", "2.1.0", requires_dist=["numpy>=1.22", "python-dateutil>=2.8.2", "six"])
    cli.pure("python-dateutil", "2.9.0", requires_dist=["six>=1.5"])
    cli.pure("six", "1.17.0")
    cli.pure("tablib", "3.5.0", requires_dist=["python-dateutil>=2.7", "six"])

    result = cli.run("pandas", "tablib")

    assert result.code == 0, result.err
    packages = result.packages
    assert packages["pandas"]["route"] == "system"
    assert packages["pandas"]["version"] == "1.5.3"
    dateutil = packages["python-dateutil"]
    assert (dateutil["route"], dateutil["package"]) == ("system", "python3-dateutil")
    assert (dateutil["version"], dateutil["distro_version"]) == ("2.8.2", DATEUTIL_DEB)
    assert (packages["six"]["route"], packages["six"]["distro_version"]) == ("system", SIX_DEB)
    assert (packages["tablib"]["route"], packages["tablib"]["version"]) == ("pypi", "3.5.0")
    assert [p for p in packages.values() if p["route"] == "pypi"] == [packages["tablib"]]
    assert cli.index.requests["/files/python_dateutil-2.9.0-py3-none-any.whl"] == 0


def test_pure_dependency_newer_than_system_comes_from_index(cli: CliRun) -> None:
    """A pure project the system closure brings is replaced when a requirement needs more."""
    cli.native("numpy", "1.26.4")
    cli.native("pandas", "2.1.0", requires_dist=["numpy>=1.22", "python-dateutil>=2.8.2"])
    dateutil = cli.pure("python-dateutil", "2.9.0", requires_dist=["six>=1.5"])
    cli.pure("six", "1.17.0")
    cli.pure("tablib", "3.5.0", requires_dist=["python-dateutil>=2.9"])

    result = cli.run("pandas", "tablib")

    assert result.code == 0, result.err
    row = result.packages["python-dateutil"]
    assert (row["route"], row["version"], row["filename"]) == ("pypi", "2.9.0", dateutil.name)
    assert result.packages["pandas"]["route"] == "system"


# -- 3. conflicts and forced routes ------------------------------------------------------------


def test_native_requirement_newer_than_system_is_a_conflict(cli: CliRun) -> None:
    cli.native("numpy", "2.0.0")
    cli.native("numpy", "1.26.4")

    result = cli.run("numpy>=2")

    message = assert_clean_error(result, "numpy>=2", "1.24.2", "python3-numpy", NUMPY_DEB)
    assert "--system-conflict wheel" in message
    assert "--pypi numpy" in message
    assert result.report is None
    assert "Would install" not in result.out


def test_conflict_traceback_only_with_verbose(cli: CliRun) -> None:
    cli.native("numpy", "2.0.0")

    result = cli.run("numpy>=2", "-v")

    assert result.code == 1
    assert "Traceback" in result.err
    assert "error: The system's version of numpy" in result.err


def test_native_fallback_wheel_takes_platform_wheel(cli: CliRun) -> None:
    wheel = cli.native("numpy", "2.0.0")
    cli.native("numpy", "1.26.4")

    result = cli.run("numpy>=2", "--native-fallback", "wheel")

    assert result.code == 0, result.err
    numpy = result.packages["numpy"]
    assert (numpy["route"], numpy["version"]) == ("pypi", "2.0.0")
    assert numpy["native_wheel"] is True
    assert numpy["filename"] == wheel.name
    assert numpy["sha256"] == wheel_sha256(wheel)
    assert (
        "the system's 1.24.2 is outside numpy>=2, required by the command line; "
        "the index's platform wheel"
    ) in numpy["reason"]
    assert result.row("numpy")[2] == "pypi (native wheel)"
    assert result.report is not None
    assert any("numpy" in note for note in result.report["notes"])
    # What a dry run could not check, said plainly.
    assert "note: not checked by a dry run: whether numpy 2.0.0 imports beside" in result.out


def test_native_fallback_wheel_drops_package_from_apt_transaction(cli: CliRun) -> None:
    cli.native("numpy", "2.0.0")

    result = cli.run("numpy>=2", "--native-fallback", "wheel")

    assert result.code == 0, result.err
    assert result.packages["numpy"]["route"] == "pypi"
    assert result.report is not None
    assert result.report["system_transaction"] == []
    assert "distro packages in the transaction" not in result.out


def test_native_fallback_wheel_keeps_satisfiable_projects_on_system(cli: CliRun) -> None:
    """Only the conflicting project falls back; scipy (satisfied) stays with apt."""
    cli.native("numpy", "2.0.0")
    cli.native("scipy", "1.11.4", requires_dist=["numpy>=1.22"])

    result = cli.run("numpy>=2", "scipy", "--native-fallback", "wheel")

    assert result.code == 0, result.err
    packages = result.packages
    assert (packages["numpy"]["route"], packages["numpy"]["native_wheel"]) == ("pypi", True)
    assert (packages["scipy"]["route"], packages["scipy"]["version"]) == ("system", "1.10.1")


def test_pypi_option_forces_index_wheel(cli: CliRun) -> None:
    wheel = cli.native("numpy", "1.26.4")
    cli.native("numpy", "1.24.2")

    result = cli.run("numpy", "--pypi", "NumPy")

    assert result.code == 0, result.err
    numpy = result.packages["numpy"]
    assert (numpy["route"], numpy["version"], numpy["filename"]) == ("pypi", "1.26.4", wheel.name)
    assert numpy["native_wheel"] is True
    assert numpy["reason"] == "--pypi numpy"
    assert result.report is not None
    assert result.report["system_transaction"] == []


def test_system_option_forces_pure_mapped_project_to_apt(cli: CliRun) -> None:
    cli.pure("requests", "2.31.0", requires_dist=["idna>=2.5"])
    cli.pure("idna", "3.6")

    result = cli.run("requests", "--system", "requests")

    assert result.code == 0, result.err
    packages = result.packages
    requests = packages["requests"]
    assert (requests["route"], requests["package"]) == ("system", "python3-requests")
    assert (requests["version"], requests["distro_version"]) == ("2.28.1", REQUESTS_DEB)
    assert requests["reason"] == "--system requests"
    idna = packages["idna"]
    assert (idna["route"], idna["version"], idna["distro_version"]) == ("system", "3.3", IDNA_DEB)


def test_system_and_pypi_for_same_project_is_a_usage_error(cli: CliRun) -> None:
    cli.pure("requests", "2.31.0")

    result = cli.run("requests", "--system", "requests", "--pypi", "Requests")

    assert_clean_error(result, "requests", "--system", "--pypi", code=2)


def test_alias_project_is_listed_once(cli: CliRun) -> None:
    """psycopg2-binary maps to python3-psycopg2, whose reverse lookup is psycopg2 (the
    mapping's alias rule): the plan must still list that one distro package once."""
    cli.native("psycopg2-binary", "2.9.9")

    result = cli.run("psycopg2-binary")

    assert result.code == 0, result.err
    row = result.packages["psycopg2-binary"]
    assert (row["route"], row["package"], row["version"]) == ("system", "python3-psycopg2", "2.9.5")
    assert row["distro_version"] == PSYCOPG2_DEB
    rows_for_deb = [
        p["name"] for p in result.packages.values() if p.get("package") == row["package"]
    ]
    assert rows_for_deb == ["psycopg2-binary"]
    assert "Would install: 1 from apt" in result.out


def test_fallback_note_only_when_system_provides_native_packages(cli: CliRun) -> None:
    cli.native("numpy", "2.0.0")

    result = cli.run("numpy>=2", "--native-fallback", "wheel")

    assert result.code == 0, result.err
    assert [p["route"] for p in result.packages.values()] == ["pypi"]
    assert result.report is not None
    assert not any("the system provides other" in note for note in result.report["notes"])


def test_already_installed_system_package(cli: CliRun) -> None:
    """apt says python3-numpy is installed (fake dpkg status): nothing to install for it."""
    apt = cli.new_apt()
    apt.add("python3-numpy", NUMPY_DEB)
    apt.add("python3-scipy", SCIPY_DEB, depends=["python3-numpy"])
    apt.publish()
    apt.mark_installed("python3-numpy", NUMPY_DEB)
    cli.native("numpy", "1.26.4")
    cli.native("scipy", "1.11.4", requires_dist=["numpy>=1.22"])

    result = cli.run("numpy", "scipy")

    assert result.code == 0, result.err
    numpy = result.packages["numpy"]
    assert (numpy["route"], numpy["version"], numpy["already_installed"]) == (
        "system",
        "1.24.2",
        True,
    )
    assert "already installed" in numpy["reason"]
    assert result.packages["scipy"]["already_installed"] is False
    assert result.report is not None
    assert [t["package"] for t in result.report["system_transaction"]] == ["python3-scipy"]
    assert "Would install: 1 from apt" in result.out
    assert "1 already provided by the system" in result.out


def _numpy_installed_old(cli: CliRun, *, scipy_needs: str | None = None) -> None:
    """python3-numpy 1:1.21.5-1 installed, apt's candidate NUMPY_DEB (an upgrade)."""
    apt = cli.new_apt()
    apt.add("python3-numpy", NUMPY_DEB)
    if scipy_needs is not None:
        apt.add("python3-scipy", SCIPY_DEB, depends=[scipy_needs])
    apt.publish()
    apt.mark_installed("python3-numpy", "1:1.21.5-1")
    cli.native("numpy", "2.0.0")
    cli.native("numpy", "1.26.4")


def test_installed_system_package_upgrade_satisfies_requirement(cli: CliRun) -> None:
    _numpy_installed_old(cli)

    result = cli.run("numpy>=1.24")

    assert result.code == 0, result.err
    numpy = result.packages["numpy"]
    assert (numpy["route"], numpy["version"], numpy["distro_version"]) == (
        "system",
        "1.24.2",
        NUMPY_DEB,
    )
    assert numpy["already_installed"] is False
    assert numpy["reason"] == "native: only platform wheels; upgrade from 1:1.21.5-1"
    assert result.report is not None
    # apt's own simulation of the upgrade is the transaction.
    assert result.report["system_transaction"] == [
        {
            "package": "python3-numpy",
            "version": NUMPY_DEB,
            "architecture": "all",
            "replaces": "1:1.21.5-1",
        }
    ]
    assert "Would install: 1 from apt" in result.out


def test_installed_system_package_kept_when_it_satisfies(cli: CliRun) -> None:
    """No needless upgrade: the installed version satisfies numpy>=1.20."""
    _numpy_installed_old(cli)

    result = cli.run("numpy>=1.20")

    assert result.code == 0, result.err
    numpy = result.packages["numpy"]
    assert (numpy["version"], numpy["distro_version"]) == ("1.21.5", "1:1.21.5-1")
    assert numpy["already_installed"] is True
    assert result.report is not None
    assert result.report["system_transaction"] == []


def test_closure_upgrades_installed_dependency(cli: CliRun) -> None:
    """python3-scipy needs a newer python3-numpy than the installed one: apt upgrades it, and
    the plan shows numpy at the upgraded version, marked as an upgrade."""
    _numpy_installed_old(cli, scipy_needs="python3-numpy (>= 1:1.24)")
    cli.native("scipy", "1.11.4", requires_dist=["numpy>=1.22"])

    result = cli.run("scipy", "numpy")

    assert result.code == 0, result.err
    numpy = result.packages["numpy"]
    assert (numpy["route"], numpy["version"], numpy["already_installed"]) == (
        "system",
        "1.24.2",
        False,
    )
    assert numpy["reason"].endswith("; upgrade from 1:1.21.5-1")
    assert result.report is not None
    transaction = {t["package"]: t["replaces"] for t in result.report["system_transaction"]}
    assert transaction == {"python3-numpy": "1:1.21.5-1", "python3-scipy": None}


def test_installed_system_package_and_upgrade_both_too_old(cli: CliRun) -> None:
    _numpy_installed_old(cli)

    result = cli.run("numpy>=2")

    message = assert_clean_error(result, "numpy>=2", "numpy 1.21.5", "installed")
    assert f"apt can upgrade it to 1.24.2 ({NUMPY_DEB})" in message


# -- 4. native projects the system cannot provide ---------------------------------------------


def test_unmapped_native_project_is_an_error_when_asked(cli: CliRun) -> None:
    cli.native("zzfake-native", "1.0")

    result = cli.run("zzfake-native", "--unpackaged-native", "error")

    message = assert_clean_error(result, "zzfake-native", "no system package is mapped")
    assert "--unpackaged-native wheel" in message


def test_unmapped_native_project_takes_the_wheel_by_default(cli: CliRun) -> None:
    wheel = cli.native("zzfake-native", "1.0")
    cli.native("numpy", "2.0.0")

    result = cli.run("zzfake-native", "numpy")

    assert result.code == 0, result.err
    row = result.packages["zzfake-native"]
    assert (row["route"], row["native_wheel"], row["filename"]) == ("pypi", True, wheel.name)
    # only the unpackaged one: numpy is packaged, and a conflict would still be explained
    assert result.packages["numpy"]["route"] == "system"
    assert result.row("zzfake-native")[2] == "pypi (native wheel)"
    assert "1 wheel from the index (1 of them native, see notes)" in result.out


def test_mapped_native_project_missing_from_apt_is_an_error(cli: CliRun) -> None:
    cli.native("cffi", "1.16.0")

    result = cli.run("cffi", "--unpackaged-native", "error")

    assert_clean_error(result, "cffi", "python3-cffi")


def test_unmapped_native_project_with_fallback_wheel(cli: CliRun) -> None:
    wheel = cli.native("zzfake-native", "1.0")

    result = cli.run("zzfake-native", "--native-fallback", "wheel")

    assert result.code == 0, result.err
    row = result.packages["zzfake-native"]
    assert (row["route"], row["native_wheel"], row["filename"]) == ("pypi", True, wheel.name)
    assert result.row("zzfake-native")[2] == "pypi (native wheel)"


def test_unmapped_fallback_wheel_is_explained(cli: CliRun) -> None:
    cli.native("zzfake-native", "1.0")
    cli.native("numpy", "1.26.4")

    result = cli.run("zzfake-native", "numpy", "--native-fallback", "wheel")

    assert result.code == 0, result.err
    assert "see notes" in result.out
    row = result.packages["zzfake-native"]
    assert "no system package is mapped" in row["reason"]
    assert "the index's platform wheel" in row["reason"]
    assert result.report is not None
    assert any("zzfake-native" in note for note in result.report["notes"])


@pytest.mark.parametrize("native", ["zzfake-native", "cffi"])
def test_backtracks_to_parent_release_without_unavailable_native(cli: CliRun, native: str) -> None:
    """Unmapped (zzfake-native) or mapped but not in apt (cffi): the older parent wins."""
    cli.native(native, "1.0")
    cli.pure("parent", "2.0", requires_dist=[f"{native}>=1"])
    cli.pure("parent", "1.0")

    result = cli.run("parent", "--unpackaged-native", "error")

    assert result.code == 0, result.err
    assert set(result.packages) == {"parent"}
    assert result.packages["parent"]["version"] == "1.0"


def test_no_parent_release_without_unavailable_native_is_an_error(cli: CliRun) -> None:
    cli.native("zzfake-native", "1.0")
    cli.pure("parent", "2.0", requires_dist=["zzfake-native"])
    cli.pure("parent", "1.0", requires_dist=["zzfake-native<2"])

    result = cli.run("parent", "--unpackaged-native", "error")

    message = assert_clean_error(result, "zzfake-native", "parent")
    assert "--unpackaged-native wheel" in message


# -- 5. sdist-only projects --------------------------------------------------------------------


def test_sdist_only_mapped_project_goes_to_apt(cli: CliRun) -> None:
    cli.index.add_sdist("lxml", "5.1.0")

    result = cli.run("lxml")

    assert result.code == 0, result.err
    row = result.packages["lxml"]
    assert (row["route"], row["package"], row["version"]) == ("system", "python3-lxml", "4.9.2")
    assert "sdist" in row["reason"]
    assert sum(cli.index.downloads.values()) == 0


@pytest.mark.parametrize("fallback", ["error", "wheel"])
def test_sdist_only_unmapped_project_is_an_error(cli: CliRun, fallback: str) -> None:
    """Never built, and no wheel to fall back to either."""
    cli.index.add_sdist("zzfake-sdist", "1.0")

    result = cli.run("zzfake-sdist", "--native-fallback", fallback)

    assert_clean_error(result, "zzfake-sdist", "sdist")


def test_sdist_only_hint_does_not_suggest_useless_options(cli: CliRun) -> None:
    cli.index.add_sdist("zzfake-sdist", "1.0")

    result = cli.run("zzfake-sdist", "--native-fallback", "wheel", "--pypi", "zzfake-sdist")

    message = assert_clean_error(result, "zzfake-sdist", "sdist")
    hint = message[message.index("hint:") :] if "hint:" in message else ""
    assert "--native-fallback wheel" not in hint
    assert "--pypi zzfake-sdist" not in hint
    assert "mapping entry" in hint


def test_sdist_only_hint_without_options(cli: CliRun) -> None:
    """No option given: still none of the index's options (there is no wheel)."""
    cli.index.add_sdist("zzfake-sdist", "1.0")

    result = cli.run("zzfake-sdist")

    message = assert_clean_error(result, "zzfake-sdist", "sdist")
    hint = message[message.index("hint:") :]
    assert "--native-fallback" not in hint
    assert "--pypi" not in hint
    assert "--system zzfake-sdist" in hint


def test_sdist_only_system_conflict_with_fallback_wheel(cli: CliRun) -> None:
    """The system's lxml is too old and the index has only an sdist: --native-fallback wheel
    cannot help, so the conflict is explained (not a crash), without suggesting it again."""
    cli.index.add_sdist("lxml", "5.1.0")

    result = cli.run("lxml>=5", "--native-fallback", "wheel")

    message = assert_clean_error(result, "lxml>=5", "lxml 4.9.2", "no wheel of lxml")
    hint = message[message.index("hint:") :]
    assert "--native-fallback wheel" not in hint
    assert "--pypi lxml" not in hint


def test_sdist_only_project_is_refused_without_allow_build(cli: CliRun) -> None:
    cli.index.add_buildable_sdist("zzfake-built", "1.0")

    result = cli.run("zzfake-built")

    message = assert_clean_error(result, "zzfake-built", "only an sdist")
    assert "--allow-build" in message[message.index("hint:") :]


def test_allow_build_dry_run_prepares_metadata_and_builds_nothing(
    cli: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sdist's metadata is prepared (its requirements are planned), its row says it is
    built, and no wheel is: the backend never ran ``build_wheel``. Its build requirement
    came from the fake index (the backend imports it). A second dry run reads the metadata
    from the cache."""
    log = cli.tmp_path / "backend.log"
    monkeypatch.setenv(BACKEND_LOG, str(log))
    cli.pure("zz-build-helper", "1.0")
    cli.pure("idna", "3.6")
    cli.index.add_buildable_sdist(
        "zzfake-built", "1.0", requires_dist=["idna>=3"], build_requires=["zz-build-helper"]
    )

    result = cli.run("zzfake-built", "--allow-build")

    assert result.code == 0, result.err
    row = result.packages["zzfake-built"]
    assert (row["route"], row["filename"], row["built_from_sdist"]) == (
        "pypi",
        "zzfake_built-1.0.tar.gz",
        True,
    )
    assert "built from sdist" in row["reason"]
    assert result.packages["idna"]["built_from_sdist"] is False
    assert result.row("zzfake-built")[2] == "pypi (build)"
    assert "note: zzfake-built 1.0 has no wheel for the target: pip builds one" in result.out
    assert "1 of them built from its sdist" in result.out
    assert "no wheel was built" in result.out
    hooks = log.read_text().splitlines()
    assert hooks == ["zzfake-built 1.0 prepare_metadata_for_build_wheel"]

    again = cli.run("zzfake-built", "--allow-build")

    assert again.code == 0, again.err
    assert log.read_text().splitlines() == hooks


def test_allow_build_keeps_a_mapped_sdist_only_project_on_the_system(cli: CliRun) -> None:
    cli.index.add_sdist("lxml", "5.1.0")

    result = cli.run("lxml", "--allow-build")

    assert result.code == 0, result.err
    row = result.packages["lxml"]
    assert (row["route"], row["package"], row["version"]) == ("system", "python3-lxml", "4.9.2")
    assert "the system's build" in row["reason"]
    assert sum(cli.index.downloads.values()) == 0  # nothing prepared


def test_allow_build_failing_metadata_is_a_clean_error(
    cli: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BACKEND_LOG, str(cli.tmp_path / "backend.log"))
    cli.index.add_buildable_sdist("zzfake-broken", "2.0", fail=True)

    result = cli.run("zzfake-broken", "--allow-build")

    message = assert_clean_error(
        result, "zzfake-broken 2.0: preparing its metadata from its sdist", "fails on purpose"
    )
    assert "a release of zzfake-broken that has a wheel" in message


# -- 6. markers, Requires-Python, extras, constraints, requirement files -----------------------


def _marker_project(cli: CliRun) -> None:
    deps = ['backport>=1; python_version < "3.10"', 'modern>=1; python_version >= "3.10"']
    # 3.0: Requires-Python only in the metadata (the page says nothing).
    cli.pure("app", "3.0", requires_dist=deps, requires_python=">=3.10", page_requires_python="")
    # 2.0: Requires-Python on the page and in the metadata.
    cli.pure("app", "2.0", requires_dist=deps, requires_python=">=3.10")
    cli.pure("app", "1.0", requires_dist=deps)
    cli.pure("backport", "1.0")
    cli.pure("modern", "1.0")


def test_markers_evaluated_for_target(cli: CliRun) -> None:
    _marker_project(cli)

    result = cli.run("app")

    assert result.code == 0, result.err
    assert {n: p["version"] for n, p in result.packages.items()} == {"app": "3.0", "modern": "1.0"}


def test_root_requirement_marker_evaluated_for_target(cli: CliRun) -> None:
    cli.pure("modern", "1.0")
    cli.pure("backport", "1.0")

    result = cli.run('backport; python_version < "3.10"', "modern")

    assert result.code == 0, result.err
    assert set(result.packages) == {"modern"}


@pytest.fixture(scope="module")
def python39(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A venv of a CPython 3.9 found on this machine (skips when there is none)."""
    found = find_python39()
    if found is None:
        pytest.skip("no working python3.9 on this machine")
    venv = tmp_path_factory.mktemp("py39") / "venv"
    subprocess.run([found, "-m", "venv", "--without-pip", str(venv)], check=True)
    return str(venv / "bin" / "python")


def test_markers_and_requires_python_for_other_target(cli: CliRun, python39: str) -> None:
    _marker_project(cli)

    result = cli.run("app", python=python39)

    assert result.code == 0, result.err
    assert result.report is not None
    assert result.report["target_python"] == python39
    assert {n: p["version"] for n, p in result.packages.items()} == {
        "app": "1.0",
        "backport": "1.0",
    }


def test_requires_python_conflict_names_the_target(cli: CliRun, python39: str) -> None:
    """Requires-Python only in the metadata: the conflict says the target is too old."""
    cli.pure("app", "2.0", requires_python=">=3.10", page_requires_python="")

    result = cli.run("app==2.0", python=python39)

    assert_clean_error(
        result, "Requires-Python >=3.10 (required by app 2.0)", "target interpreter is Python 3.9"
    )


def test_requires_python_on_page_conflict_names_the_target(cli: CliRun, python39: str) -> None:
    cli.pure("app", "2.0", requires_python=">=3.10")

    result = cli.run("app==2.0", python=python39)

    assert_clean_error(result, "app", ">=3.10", "Python 3.9")


def test_requires_python_on_page_of_dependency_names_the_target(cli: CliRun, python39: str) -> None:
    cli.pure("a", "1.0", requires_dist=["b>=2"])
    cli.pure("b", "1.0")
    cli.pure("b", "2.0", requires_python=">=3.10")

    result = cli.run("a", python=python39)

    message = assert_clean_error(
        result, "b>=2 (required by a 1.0)", "b 2.0 is left out: it requires Python >=3.10"
    )
    assert "target interpreter is Python 3.9" in message


def test_pin_to_yanked_release_says_so(cli: CliRun) -> None:
    cli.pure("app", "1.0")
    cli.pure("app", "2.0", yanked="broken")

    result = cli.run("app==2.0")

    assert_clean_error(result, "app==2.0", "app 2.0 is left out: it is yanked (broken)")


def test_extras_pull_their_dependencies(cli: CliRun) -> None:
    cli.pure("app", "1.0", requires_dist=["base>=1"], extras={"fast": ["speedup>=1"]})
    cli.pure("base", "1.0")
    cli.pure("speedup", "1.0")

    plain = cli.run("app")
    extra = cli.run("app[fast]")

    assert plain.code == 0, plain.err
    assert set(plain.packages) == {"app", "base"}
    assert extra.code == 0, extra.err
    assert set(extra.packages) == {"app", "base", "speedup"}
    assert extra.packages["speedup"]["required_by"] == ["app 1.0"]


def test_extra_of_native_dependency_to_system(cli: CliRun) -> None:
    """An extra that needs a native project routes it to apt like any other."""
    cli.pure("app", "1.0", extras={"sci": ["scipy>=1.9"]})
    cli.native("scipy", "1.11.4")
    cli.native("numpy", "1.26.4")

    result = cli.run("app[sci]")

    assert result.code == 0, result.err
    assert result.packages["scipy"]["route"] == "system"
    assert result.packages["numpy"]["route"] == "system"


def test_extra_of_system_project_pulls_pure_dependencies(cli: CliRun) -> None:
    """The extra's requirements come from the index's metadata of the system's version
    (pandas 1.5.3); its base requirements (pytz) are the system package's business."""
    cli.native("numpy", "1.26.4")
    cli.native("pandas", "2.1.0", requires_dist=["numpy>=1.22"], extras={"excel": ["openpyxl>=3"]})
    cli.native(
        "pandas",
        "1.5.3",
        requires_dist=["numpy>=1.21", "pytz>=2020.1"],
        extras={"excel": ["openpyxl>=3"]},
    )
    cli.pure("openpyxl", "3.1.2")
    cli.pure("pytz", "2024.1")

    result = cli.run("pandas[excel]")

    assert result.code == 0, result.err
    assert result.packages["pandas"]["route"] == "system"
    assert (result.packages["openpyxl"]["route"], result.packages["openpyxl"]["version"]) == (
        "pypi",
        "3.1.2",
    )
    assert result.packages["openpyxl"]["required_by"] == ["pandas 1.5.3"]
    assert "pytz" not in result.packages
    assert result.report is not None
    assert result.report["notes"] == []


def test_extra_of_system_project_without_metadata_is_noted(cli: CliRun) -> None:
    """The index has no wheel of the system's version and the target does not have it:
    the extra's requirements are unknown, and the plan says so instead of dropping them."""
    cli.native("numpy", "1.26.4")
    cli.native("pandas", "2.1.0", requires_dist=["numpy>=1.22"], extras={"excel": ["openpyxl>=3"]})
    cli.pure("openpyxl", "3.1.2")

    result = cli.run("pandas[excel]")

    assert result.code == 0, result.err
    assert result.packages["pandas"]["route"] == "system"
    assert "openpyxl" not in result.packages
    assert result.report is not None
    [note] = result.report["notes"]
    assert note.startswith("pandas[excel]: ")
    assert "no wheel of pandas 1.5.3" in note
    assert "note: pandas[excel]" in result.out


def test_constraints_file_limits_versions(cli: CliRun) -> None:
    cli.pure("requests", "2.31.0", requires_dist=["idna>=2.5"])
    for version in ("3.4", "3.6"):
        cli.pure("idna", version)
    constraints = cli.tmp_path / "constraints.txt"
    constraints.write_text("idna<3.5  # keep it old\n", encoding="utf-8")

    result = cli.run("requests", "-c", str(constraints))

    assert result.code == 0, result.err
    assert result.packages["idna"]["version"] == "3.4"
    assert "idna" not in {p["name"] for p in result.packages.values() if p["route"] == "system"}


def test_nested_requirements_files(cli: CliRun) -> None:
    cli.pure("requests", "2.31.0", requires_dist=["idna>=2.5"])
    cli.pure("idna", "3.6")
    cli.pure("click", "8.1.7")
    cli.native("numpy", "1.26.4")
    sub = cli.tmp_path / "reqs"
    sub.mkdir()
    (sub / "base.txt").write_text("# base\nclick>=8\n-c constraints.txt\n", encoding="utf-8")
    (sub / "constraints.txt").write_text("idna==3.6\n", encoding="utf-8")
    (cli.tmp_path / "requirements.txt").write_text(
        "-r reqs/base.txt\nrequests \\\n  >=2.30\nnumpy\n", encoding="utf-8"
    )

    result = cli.run("-r", str(cli.tmp_path / "requirements.txt"))

    assert result.code == 0, result.err
    packages = result.packages
    assert {n: p["route"] for n, p in packages.items()} == {
        "click": "pypi",
        "requests": "pypi",
        "idna": "pypi",
        "numpy": "system",
    }
    assert packages["click"]["required_by"] == [f"{sub / 'base.txt'}:2"]


# -- 7. bad input: one clean paragraph, no traceback -------------------------------------------


def test_malformed_requirement(cli: CliRun) -> None:
    result = cli.run("numpy>>=1")

    assert_clean_error(result, "numpy>>=1", "invalid requirement")


def test_malformed_requirement_in_file_names_file_and_line(cli: CliRun) -> None:
    path = cli.tmp_path / "req.txt"
    path.write_text("idna\nfoo bar baz\n", encoding="utf-8")

    result = cli.run("-r", str(path))

    assert_clean_error(result, f"{path}:2", "foo bar baz")


def test_pure_projects_that_cannot_agree(cli: CliRun) -> None:
    cli.pure("a", "1.0", requires_dist=["b>=2"])
    cli.pure("b", "1.0")

    result = cli.run("a")

    assert_clean_error(result, "b>=2 (required by a 1.0)", "No set of versions")


def test_unknown_project(cli: CliRun) -> None:
    cli.pure("idna", "3.6")

    result = cli.run("idna", "no-such-project")

    assert_clean_error(result, "no-such-project", cli.index.url)


def test_unknown_project_traceback_with_verbose(cli: CliRun) -> None:
    result = cli.run("no-such-project", "-v")

    assert result.code == 1
    assert "Traceback" in result.err
    assert "error: No project named 'no-such-project'" in result.err


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_unreachable_index(cli: CliRun) -> None:
    port = _closed_port()

    result = cli.run("requests", index_url=f"http://127.0.0.1:{port}/simple")

    assert_clean_error(result, f"127.0.0.1:{port}")


def test_index_answering_500(cli: CliRun) -> None:
    cli.pure("requests", "2.31.0")
    cli.index.fail_project("requests", 500)

    result = cli.run("requests")

    assert_clean_error(result, "500", cli.index.page_path("requests"))


def test_no_apt_on_this_machine(cli: CliRun, tmp_path: Path) -> None:
    cli.pure("requests", "2.31.0")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    cli.monkeypatch.setenv("PATH", str(empty))

    result = cli.run("requests")

    # Detection reads /etc/os-release (Debian here: apt), then finds apt's tools missing.
    message = assert_clean_error(result, "'apt'", "not on this machine")
    assert "No supported package manager is available on this machine" in message
    assert "apt, dnf, conda, brew" in message
    assert "without --system-native" in message  # the hint: plain pip still works


def test_no_apt_tools_with_explicit_provider(cli: CliRun, tmp_path: Path) -> None:
    cli.pure("requests", "2.31.0")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    cli.monkeypatch.setenv("PATH", str(empty))

    result = cli.run("requests", "--provider", "apt")

    assert_clean_error(result, "'apt'", "not on this machine")


def test_empty_requirements_list(cli: CliRun) -> None:
    result = cli.run()

    assert_clean_error(result, "Nothing to install", code=2)


def test_empty_requirements_file(cli: CliRun) -> None:
    path = cli.tmp_path / "empty.txt"
    path.write_text("# nothing here\n\n", encoding="utf-8")

    result = cli.run("-r", str(path))

    assert_clean_error(result, "Nothing to install", code=2)


def test_missing_requirements_file(cli: CliRun) -> None:
    missing = cli.tmp_path / "nope.txt"

    result = cli.run("-r", str(missing))

    assert_clean_error(result, str(missing))


def test_missing_target_interpreter(cli: CliRun) -> None:
    missing = cli.tmp_path / "no-venv" / "bin" / "python"

    result = cli.run("requests", python=str(missing))

    assert_clean_error(result, str(missing))


def test_report_into_missing_directory(cli: CliRun) -> None:
    cli.pure("idna", "3.6")
    target = cli.tmp_path / "no-such-dir" / "plan.json"

    try:
        result = cli.run("idna", "--report", str(target), report=False)
    except OSError as exc:  # what happens today: the exception leaves main()
        pytest.fail(f"main() raised {exc!r}")

    assert_clean_error(result, str(target.parent))


# -- 8. without --system-native: handed to pip unchanged ---------------------------------------


def test_without_system_native_runs_pip(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    links = tmp_path / "links"
    build_wheel(links, "foo", "1.0")
    build_wheel(links, "foo", "2.0", requires_dist=["bar"])

    ok = main(["install", "--dry-run", "--no-index", "--find-links", str(links), "foo==1.0"])
    ok_out = capfd.readouterr().out
    failed = main(["install", "--dry-run", "--no-index", "--find-links", str(links), "foo==2.0"])
    failed_err = capfd.readouterr().err

    assert ok == 0
    assert "Would install foo-1.0" in ok_out
    assert failed == 1  # bar is nowhere: pip's own failure and exit code
    assert "bar" in failed_err


def test_without_system_native_argv_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake_call(argv: Sequence[str], *args: Any, **kwargs: Any) -> int:
        seen.append(list(argv))
        return 3

    monkeypatch.setattr("sysnative.runner.subprocess.call", fake_call)
    args = ["--dry-run", "-r", "req.txt", "--report", "-", "--python", "x", "numpy>=2", "-v"]

    code = main(["install", *args])

    assert code == 3
    assert seen == [[sys.executable, "-m", "pip", "install", *args]]


# -- 9. --report - -----------------------------------------------------------------------------


def test_report_to_stdout_is_only_json(cli: CliRun) -> None:
    cli.pure("requests", "2.31.0", requires_dist=["idna>=2.5"])
    cli.pure("idna", "3.6")
    cli.native("numpy", "1.26.4")

    result = cli.run("requests", "numpy", "--report", "-", report=False)

    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["version"] == "1"
    assert {p["name"]: p["route"] for p in data["packages"]} == {
        "numpy": "system",
        "idna": "pypi",
        "requests": "pypi",
    }
    assert "Would install" not in result.out


def test_probe_lists_only_the_targets_own_distributions(target_python: str) -> None:
    """The probe borrows sysnative's ``packaging`` to compute tags and markers; the
    distributions next to it (resolvelib, pip, sysnative itself) must not appear as if they
    were installed in a bare target."""
    target = probe(target_python)
    assert not {"packaging", "resolvelib", "sysnative", "pip"} & set(target.installed)
    assert not any("site-packages" in p and ".venv" in p for p in target.sys_path)


# -- configuration and mapping layers ---------------------------------------------------------


def _site_config(text: str) -> Path:
    import os

    directory = Path(os.environ["XDG_CONFIG_DIRS"].split(os.pathsep)[0]) / "sysnative"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_site_config_turns_the_mode_on_and_sets_the_provider(cli: CliRun) -> None:
    cli.native("numpy", "1.24.2")
    path = _site_config('provider = "apt"\nsystem-native = true\nnative-fallback = "wheel"\n')

    # Plain `sysnative install` (no --system-native): the site config makes it the mode.
    result = cli.raw(
        "install", "--dry-run", "--index-url", cli.index.url, "--python", cli.python, "numpy"
    )

    assert result.code == 0, result.err
    assert "dry run: nothing was changed" in result.out
    assert "python3-numpy" in result.out

    shown = cli.raw("config", "show", "--json")
    settings = {row["key"]: row for row in json.loads(shown.out)["settings"]}
    assert settings["provider"]["value"] == "apt"
    assert settings["provider"]["source"] == f"site config {path}"
    assert settings["system-native"]["source"] == f"site config {path}"
    assert settings["native-fallback"]["value"] == "wheel"
    assert settings["sudo"]["source"] == "default"

    text = cli.raw("config", "show").out
    assert f"site config: {path} (read)" in text
    assert re.search(rf"^system-native +{re.escape(f'= true  [site config {path}]')}$", text, re.M)


def test_no_system_native_hands_to_pip_even_when_configured(cli: CliRun) -> None:
    _site_config("system-native = true\n")
    # pip's own --dry-run on an index without the project: pip's error, not sysnative's plan.
    result = cli.raw(
        "install",
        "--no-system-native",
        "--dry-run",
        "--no-deps",
        "--index-url",
        cli.index.url,
        "no-such-project-here",
    )
    assert result.code != 0
    assert "dry run: nothing was changed" not in result.out


def test_invalid_site_config_is_a_clean_error(cli: CliRun) -> None:
    path = _site_config('system-native = "yes"\n')
    result = cli.raw("install", "requests")
    message = assert_clean_error(result, str(path), "'system-native'")
    assert "not true or false" in message


def test_pyproject_layer_says_never_from_the_system(cli: CliRun) -> None:
    cli.native("lxml", "5.1.0")
    cli.monkeypatch.chdir(cli.tmp_path)
    (cli.tmp_path / "pyproject.toml").write_text(
        "[tool.sysnative.mapping.debian]\nlxml = false\n", encoding="utf-8"
    )

    result = cli.run("lxml")

    assert result.code == 0, result.err
    assert result.report is not None
    (row,) = [p for p in result.report["packages"] if p["name"] == "lxml"]
    assert row["route"] == "pypi"
    assert "pyproject.toml" in row["reason"]
    assert "always comes from the index" in row["reason"]


def test_mapping_flag_routes_to_another_package(cli: CliRun) -> None:
    cli.native("lxml", "4.9.2")
    repo = cli.new_apt()
    repo.add("python3-lxml-custom", LXML_DEB)
    repo.publish()
    mapping = cli.tmp_path / "mine.mapping.json"
    mapping.write_text(
        json.dumps({"mappings": [{"id": "dep:pypi/lxml", "specs": ["python3-lxml-custom"]}]}),
        encoding="utf-8",
    )

    result = cli.run("--mapping", str(mapping), "lxml")

    assert result.code == 0, result.err
    assert result.report is not None
    (row,) = [p for p in result.report["packages"] if p["name"] == "lxml"]
    assert row["package"] == "python3-lxml-custom"


def test_map_shows_traps_layers_and_what_apt_has(cli: CliRun) -> None:
    import os

    user = Path(os.environ["XDG_CONFIG_HOME"]) / "sysnative" / "debian.mapping.json"
    user.parent.mkdir(parents=True)
    user.write_text(
        json.dumps({"mappings": [{"id": "dep:pypi/scipy", "specs": ["python3-scipy"]}]}),
        encoding="utf-8",
    )
    names = ["psycopg2-binary", "opencv-python", "Pillow", "PyYAML", "h5py", "pygobject"]

    result = cli.raw("map", "--json", "--ecosystem", "debian", *names, "numpy", "scipy", "nope")

    assert result.code == 0, result.err
    rows = {row["project"]: row for row in json.loads(result.out)}
    assert [rows[n]["package"] for n in map(str.lower, names)] == [
        "python3-psycopg2",
        "python3-opencv",
        "python3-pil",
        "python3-yaml",
        "python3-h5py",
        "python3-gi",
    ]
    assert rows["numpy"]["layer"] == "built-in"
    assert rows["numpy"]["system"] == {"python3-numpy": {"installed": None, "candidate": NUMPY_DEB}}
    assert rows["pyyaml"]["system"] == {"python3-yaml": None}  # not in the local repo
    assert rows["scipy"]["layer"] == "user config"
    assert rows["scipy"]["origin"] == str(user)
    assert rows["nope"]["mapped"] is False

    text = cli.raw("map", "numpy", "nope").out
    assert f"package: python3-numpy  [available {NUMPY_DEB}]" in text
    assert "not mapped" in text


def test_map_check(cli: CliRun) -> None:
    good = cli.tmp_path / "good.mapping.json"
    good.write_text(
        json.dumps({"name": "debian", "mappings": [{"id": "dep:pypi/a", "specs": ["python3-a"]}]}),
        encoding="utf-8",
    )
    result = cli.raw("map", "--check", str(good))
    assert result.code == 0, result.err
    assert "valid, 1 entries for debian" in result.out

    bad = cli.tmp_path / "bad.mapping.json"
    bad.write_text(
        json.dumps(
            {
                "mappings": [
                    {"id": "dep:pypi/a", "specs": ["python3-a"]},
                    {"id": "dep:pypi/a", "specs": ["python3-b"]},
                ]
            }
        ),
        encoding="utf-8",
    )
    result = cli.raw("map", "--check", str(bad))
    assert_clean_error(result, f"{bad}: entry #1 (dep:pypi/a)", "duplicate id")


def test_user_mapping_file_says_never_from_the_system(cli: CliRun) -> None:
    import os

    cli.native("numpy", "1.26.4")
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "sysnative" / "debian.mapping.json"
    user.parent.mkdir(parents=True)
    entry = {"id": "dep:pypi/numpy", "specs": [], "extra_metadata": {"route": "pypi"}}
    user.write_text(json.dumps({"mappings": [entry]}), encoding="utf-8")

    result = cli.run("numpy")

    assert result.code == 0, result.err
    assert result.report is not None
    (row,) = result.report["packages"]
    assert (row["name"], row["route"], row["version"]) == ("numpy", "pypi", "1.26.4")
    assert f"the mapping layer user config ({user})" in row["reason"]
    assert result.report["system_transaction"] == []


def _serve_mixed_world(cli: CliRun) -> None:
    """An index with native and pure projects over the standard apt world."""
    cli.native("numpy", "2.0.0")
    cli.native("numpy", "1.26.4")
    cli.native("scipy", "1.11.4", requires_dist=["numpy>=1.22"])
    cli.native("pandas", "2.1.0", requires_dist=["numpy>=1.22", "python-dateutil>=2.8.2", "six"])
    cli.pure("python-dateutil", "2.9.0", requires_dist=["six>=1.5"])
    cli.pure("six", "1.17.0")
    cli.pure("tablib", "3.5.0", requires_dist=["python-dateutil>=2.9"])
    cli.pure("xarray", "3.0", requires_dist=["numpy>=2"])
    cli.pure("xarray", "2.0", requires_dist=["numpy>=1.24", "pandas"])


@pytest.mark.parametrize(
    "requirements",
    [
        ("xarray", "tablib"),  # resolved against the system; a pure dependency from the index
        ("scipy", "six"),  # the system's closure brings numpy
        ("numpy>=2",),  # a conflict: the same explanation either way
        ("numpy>=2", "--native-fallback", "wheel"),
    ],
)
def test_plans_are_the_same_without_the_accelerators(
    cli: CliRun, monkeypatch: pytest.MonkeyPatch, requirements: tuple[str, ...]
) -> None:
    """``SYSNATIVE_ACCELERATORS=off`` (no speculation, prefetching or CPU split) changes the
    time a plan takes, never the plan: the same rows, reasons and transaction, or the same
    error."""
    _serve_mixed_world(cli)
    accelerated = cli.run(*requirements)
    monkeypatch.setenv("SYSNATIVE_ACCELERATORS", "off")
    plain = cli.run(*requirements)
    assert (plain.code, plain.out, plain.err) == (
        accelerated.code,
        accelerated.out,
        accelerated.err,
    )
    assert plain.report == accelerated.report
    if requirements[0] == "xarray":  # the case is what it says: a plan with both sides
        assert accelerated.code == 0, accelerated.err
        assert {p["route"] for p in accelerated.packages.values()} == {"pypi", "system"}
