"""Fixtures for driving ``sysnative.cli.main`` against a FakeIndex and a real local apt repo.

The pieces:

- ``target_python``: a session venv made from ``/usr/bin/python3`` (or the running
  interpreter's base) *without* system site packages and without pip, so nothing Debian
  installed on this machine leaks into a plan.
- ``native_tag``: a platform wheel tag the target supports (read from the target itself).
- ``standard_apt``: one session-wide local apt repository holding tiny ``python3-*`` packages
  named after real entries of the built-in Debian mapping, at made-up versions.
- ``cli``: a :class:`CliRun` combining a fresh FakeIndex with an apt world (``standard_apt``
  unless the test builds its own with :meth:`CliRun.new_apt`), which runs ``main([...])``
  with ``--index-url`` and ``--python`` filled in and returns exit code, output and report.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from aptrepo import LocalAptRepo, missing_tools
from fakeindex import FakeIndex
from sysnative.cli import main
from sysnative.environment import probe

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
    """The target's most preferred platform-specific tag (e.g. ``cp311-cp311-manylinux_...``)."""
    target = probe(target_python)
    for tag in target.tags:
        if tag.abi != "none" and tag.platform != "any":
            return str(tag)
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
class Result:
    """What one ``main([...])`` call did."""

    code: int
    out: str
    err: str
    #: The ``--report`` JSON (``None`` when no report was written).
    report: dict[str, Any] | None = None

    @property
    def packages(self) -> dict[str, dict[str, Any]]:
        """The report's packages by name."""
        assert self.report is not None, f"no report; stderr:\n{self.err}"
        return {p["name"]: p for p in self.report["packages"]}

    def row(self, name: str) -> list[str]:
        """The table row of ``name``, split on runs of two or more spaces."""
        for line in self.out.splitlines():
            cells = [c for c in line.split("  ") if c.strip()]
            if cells and cells[0].strip() == name:
                return [c.strip() for c in cells]
        raise AssertionError(f"no table row for {name!r} in:\n{self.out}")


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
