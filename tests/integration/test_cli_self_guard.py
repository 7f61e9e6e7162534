"""A plan that would break the running sysnative is refused, through ``main([...])``.

The target of the dry runs is the interpreter running these tests (``sys.executable``), the
environment sysnative itself runs in, and the FakeIndex on 127.0.0.1 serves ``packaging``
below what sysnative requires (``packaging>=26.0``): ``install --dry-run``, and
``install --lock --dry-run`` of a lock made for it, must both refuse with exit status 1.
Nothing there can change this interpreter: dry runs change nothing, and ``lock`` only writes
its file.

The real install (no ``--dry-run``) goes into a throwaway venv instead, never into the
environment running the tests: the venv gets a copy of the running sysnative's and
``packaging``'s metadata, and the self-check reads what sysnative needs with that venv's
site-packages first on the path, as if sysnative ran from it. The install must stop before
anything is downloaded or changed.

The provider is apt, pointed at an isolated, empty world (:class:`aptrepo.LocalAptRepo`):
the plans hold wheels only, and the machine's own apt is never asked.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from pytest_httpserver import HTTPServer

from aptrepo import LocalAptRepo, missing_tools
from clirun import Result, assert_clean_error
from fakeindex import FakeIndex
from sysnative.cli import main
from sysnative.install import selfguard
from sysnative.probe import probe

pytestmark = pytest.mark.apt


@dataclass(frozen=True)
class Running:
    """The running sysnative's own ``packaging``: its requirement and where it loads from."""

    requirement: Requirement
    location: str
    version: Version


@pytest.fixture(scope="module")
def running() -> Running:
    facts = selfguard.running_sysnative()
    if facts is None:
        pytest.skip("sysnative runs without installed metadata (from a source tree)")
    packaging = facts.distributions.get(canonicalize_name("packaging"))
    if packaging is None or packaging.version is None:
        pytest.skip("the running sysnative's packaging has no readable metadata")
    (need,) = [n for n in packaging.needs if n.by.startswith("sysnative ")]
    if need.requirement.specifier.contains("24.2"):
        pytest.skip(f"sysnative accepts packaging 24.2 ({need.requirement})")
    return Running(need.requirement, packaging.location, packaging.version)


@pytest.fixture(scope="module")
def empty_apt(tmp_path_factory: pytest.TempPathFactory) -> LocalAptRepo:
    missing = missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} to build a local apt repository")
    repo = LocalAptRepo(tmp_path_factory.mktemp("self-guard-apt") / "aptroot")
    repo.publish()
    return repo


@dataclass
class Cli:
    index: FakeIndex
    capsys: pytest.CaptureFixture[str]

    def __call__(self, *argv: str) -> Result:
        self.capsys.readouterr()
        code = main(list(argv))
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def install(self, *args: str, python: str) -> Result:
        return self(
            "install", "--system-native", "--index-url", self.index.url, "--python", python, *args
        )


@pytest.fixture
def cli(
    tmp_path_factory: pytest.TempPathFactory,
    fake_index_server: HTTPServer,
    empty_apt: LocalAptRepo,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Cli]:
    """A FakeIndex serving ``packaging`` 24.2 (below sysnative's requirement) and 26.0."""
    for key, value in empty_apt.env.items():
        monkeypatch.setenv(key, value)
    wheels = tmp_path_factory.mktemp("self-guard-wheels")
    with FakeIndex.start(wheels, server=fake_index_server, flavour="json") as index:
        index.add_wheel("packaging", "24.2")
        index.add_wheel("packaging", "26.0")
        yield Cli(index, capsys)


def assert_refused(result: Result, running: Running, target: str, directory: str) -> None:
    message = assert_clean_error(
        result,
        "Nothing was changed.",
        "packaging 24.2 (the wheel packaging-24.2-py3-none-any.whl)",
        f"would go into {directory}, where the running sysnative loads packaging "
        f"{running.version} from",
        f"requires packaging{running.requirement.specifier}, which 24.2 does not satisfy",
        "hint: Install sysnative in an environment of its own",
        "pipx install sysnative",
        f"--python {target}",
    )
    assert "dry run: nothing was changed" not in result.out, message


def test_dry_run_into_its_own_environment_is_refused(cli: Cli, running: Running) -> None:
    before = metadata.version("packaging")

    result = cli.install("--dry-run", "packaging<25", python=sys.executable)

    target = probe(sys.executable)
    assert_refused(result, running, target.executable, running.location)
    # The plan is still shown, so the user sees what was asked for.
    assert result.row("packaging")[:3] == ["packaging", "24.2", "pypi"]
    assert metadata.version("packaging") == before
    assert sum(cli.index.downloads.values()) == 0


def test_a_change_that_still_satisfies_the_requirement_goes_ahead(
    cli: Cli, running: Running
) -> None:
    """packaging 26.0 meets ``packaging>=26.0``: planned like any other change."""
    if running.version == Version("26.0"):
        pytest.skip("the running sysnative has packaging 26.0 already: no change to plan")

    result = cli.install("--dry-run", "packaging>=26,<26.1", python=sys.executable)

    assert result.code == 0, result.err
    assert result.row("packaging")[:3] == ["packaging", "26.0", "pypi"]
    assert "dry run: nothing was changed" in result.out


def test_install_lock_dry_run_into_its_own_environment_is_refused(
    cli: Cli, running: Running, tmp_path: Path
) -> None:
    lock = tmp_path / "pylock.toml"
    made = cli(
        "lock",
        "--index-url",
        cli.index.url,
        "--python",
        sys.executable,
        "-o",
        str(lock),
        "packaging<25",
    )
    assert made.code == 0, made.err

    result = cli("install", "--lock", str(lock), "--python", sys.executable, "--dry-run")

    target = probe(sys.executable)
    assert_refused(result, running, target.executable, running.location)


def test_a_real_install_stops_before_anything_changes(
    cli: Cli, running: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sysnative 'running from' a throwaway venv (its metadata copied there, first on the
    path); the install into that venv is refused before a download or a change."""
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True
    )
    python = str(venv / "bin" / "python")
    purelib = Path(probe(python).purelib)
    for name in ("sysnative", "packaging"):
        dist = metadata.distribution(name)
        info = purelib / f"{name}-{dist.version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(dist.read_text("METADATA") or "", encoding="utf-8")
    installed = probe(python).installed[canonicalize_name("packaging")]
    assert installed.version == running.version
    read = selfguard.running_sysnative
    path = [str(purelib), *sys.path]
    monkeypatch.setattr(selfguard, "running_sysnative", lambda: read(path))
    before = sorted(p.name for p in purelib.iterdir())

    result = cli.install("packaging<25", python=python)

    assert_refused(result, running, python, str(purelib.resolve()))
    assert sorted(p.name for p in purelib.iterdir()) == before
    assert sum(cli.index.downloads.values()) == 0
