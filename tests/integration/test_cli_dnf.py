"""``sysnative install --system-native --dry-run --provider dnf`` end to end: a FakeIndex on
127.0.0.1 and a real rpm repository built at test time (rpmbuild, createrepo_c), read by the
real dnf confined to an empty install root (``SYSNATIVE_DNF_OPTIONS``, or the site
``config.toml``'s ``[provider-options]``).

Fedora's mapping is a rule (``python3dist({name})``) plus exceptions, so these tests also show
that a project routes to dnf without any entry of its own, that the plan names the real RPM
and its exact EVR, and that the closure maps back to projects through ``python3dist()``.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from clirun import Result, platform_tag
from fakeindex import FakeIndex
from rpmrepo import PYTHON_VERSION, LocalRpmRepo, RpmWorld, require_rpm_tools
from sysnative.cli import main

pytestmark = pytest.mark.rpm


@pytest.fixture(scope="module")
def rpm_repo(tmp_path_factory: pytest.TempPathFactory) -> LocalRpmRepo:
    require_rpm_tools()
    repo = LocalRpmRepo(tmp_path_factory.mktemp("cli-dnf-repo"))
    # What every Fedora Python package requires; it tells sysnative the Python version.
    repo.add("python3-libs", "3.12.4", "1.fc40", provides=[f"python(abi) = {PYTHON_VERSION}"])
    repo.add("python3-numpy", "1.26.4", "7.fc40", epoch=1, python_project="numpy")
    repo.add(
        "python3-scipy",
        "1.11.3",
        "2.fc40",
        python_project="scipy",
        requires=["python3dist(numpy) >= 1.22"],
    )
    repo.add("python3-psycopg2", "2.9.9", "1.fc40", python_project="psycopg2")
    repo.publish()
    return repo


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> str:
    venv = tmp_path_factory.mktemp("dnf-target") / "venv"
    subprocess.run(
        ["/usr/bin/python3", "-m", "venv", "--without-pip", str(venv)],
        check=True,
        capture_output=True,
    )
    return str(venv / "bin" / "python")


@pytest.fixture
def world(tmp_path: Path, rpm_repo: LocalRpmRepo) -> RpmWorld:
    return RpmWorld(tmp_path / "world", [rpm_repo])


@pytest.fixture
def index(
    tmp_path_factory: pytest.TempPathFactory, fake_index_server: HTTPServer, target: str
) -> Iterator[FakeIndex]:
    tag = platform_tag(target)
    if tag is None:
        pytest.skip("the target supports no platform wheel tag")
    with FakeIndex.start(
        tmp_path_factory.mktemp("dnf-wheels"), server=fake_index_server, flavour="html"
    ) as fake:
        fake.add_wheel("numpy", "2.1.0", tag=tag)
        fake.add_wheel("numpy", "1.26.4", tag=tag)
        fake.add_wheel("scipy", "1.11.3", tag=tag, requires_dist=["numpy>=1.22"])
        fake.add_wheel("psycopg2-binary", "2.9.9", tag=tag)
        fake.add_wheel("xarray", "2024.1.0", requires_dist=["numpy>=1.23"])
        yield fake


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return Result(code, out.out, out.err)


def test_dnf_dry_run_routes_and_pins_from_the_repository(
    world: RpmWorld,
    index: FakeIndex,
    target: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SYSNATIVE_DNF_OPTIONS", shlex.join(world.options))
    report = tmp_path / "plan.json"

    result = run(
        capsys,
        "install",
        "--system-native",
        "--dry-run",
        "--provider",
        "dnf",
        "--index-url",
        index.url,
        "--python",
        target,
        "--report",
        str(report),
        "xarray",
        "scipy",
        "psycopg2-binary",
    )

    assert result.code == 0, result.err
    plan = json.loads(report.read_text(encoding="utf-8"))
    rows = {row["name"]: row for row in plan["packages"]}
    # numpy: no entry of its own, the rule python3dist(numpy) found python3-numpy; the
    # index's numpy 2.1.0 lost to the system's 1.26.4 (sequential resolution).
    assert rows["numpy"]["route"] == "system"
    assert rows["numpy"]["provider"] == "dnf"
    assert rows["numpy"]["package"] == "python3-numpy"
    assert rows["numpy"]["distro_version"] == "1:1.26.4-7.fc40"
    assert rows["numpy"]["version"] == "1.26.4"
    assert rows["scipy"]["package"] == "python3-scipy"
    assert rows["scipy"]["distro_version"] == "1.11.3-2.fc40"
    # The Fedora exception: psycopg2-binary is python3-psycopg2.
    assert rows["psycopg2-binary"]["package"] == "python3-psycopg2"
    assert rows["xarray"]["route"] == "pypi"
    transaction = {item["package"]: item["version"] for item in plan["system_transaction"]}
    assert transaction == {
        "python3-libs": "3.12.4-1.fc40",  # python(abi), which every python3-* requires
        "python3-numpy": "1:1.26.4-7.fc40",
        "python3-psycopg2": "2.9.9-1.fc40",
        "python3-scipy": "1.11.3-2.fc40",
    }
    assert "python3-numpy" in result.out
    assert "dry run: nothing was changed" in result.out
    # Nothing was installed into the world.
    assert world.installed() == {}


def test_site_config_makes_dnf_the_default_and_says_so(
    world: RpmWorld,
    index: FakeIndex,
    target: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    site = Path(os.environ["XDG_CONFIG_DIRS"].split(os.pathsep)[0]) / "sysnative"
    site.mkdir(parents=True)
    config = site / "config.toml"
    options = ", ".join(json.dumps(o) for o in world.options)
    config.write_text(
        f'provider = "dnf"\nsystem-native = true\n\n[provider-options]\ndnf = [{options}]\n',
        encoding="utf-8",
    )

    # Plain `sysnative install`: neither --system-native nor --provider.
    result = run(
        capsys, "install", "--dry-run", "--index-url", index.url, "--python", target, "scipy"
    )

    assert result.code == 0, result.err
    assert "dnf: python3-scipy 1.11.3-2.fc40" in result.out
    assert "dnf: python3-numpy 1:1.26.4-7.fc40" in result.out

    shown = run(capsys, "config", "show")
    assert f"provider          = dnf  [site config {config}]" in shown.out
    assert f"system-native     = true  [site config {config}]" in shown.out


def test_dnf_without_a_package_explains(
    world: RpmWorld,
    index: FakeIndex,
    target: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    tag = platform_tag(target)
    assert tag is not None
    index.add_wheel("lxml", "5.1.0", tag=tag)
    monkeypatch.setenv("SYSNATIVE_DNF_OPTIONS", shlex.join(world.options))

    result = run(
        capsys,
        "install",
        "--system-native",
        "--dry-run",
        "--provider",
        "dnf",
        "--index-url",
        index.url,
        "--python",
        target,
        "lxml",
        "--unpackaged-native",
        "error",
    )

    assert result.code != 0
    assert "lxml" in result.err
    assert "dnf has no package python3dist(lxml)" in result.err
