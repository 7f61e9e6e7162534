"""``sysnative venv``, ``sysnative doctor``, the target checks and marker .dist-info, with real
interpreters and real venvs.

Everything is made from the apt provider's interpreter (``Provider.interpreter()``, Debian's
``python3``) and checked against its site dir; the tests skip where there is no apt or that
interpreter cannot make venvs with pip (Debian without ``python3-venv``). Commands go through
``sysnative.cli.main``; what a venv sees is asked from the venv's own python, and what pip sees
from the venv's own pip.
"""

from __future__ import annotations

import contextlib
import io
import json
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from sysnative.checks.preflight import SITE_DIR_NOT_SEEN, check_target
from sysnative.cli import main
from sysnative.commands.venv import explain_venv_failure
from sysnative.errors import TargetRefused
from sysnative.install.standins import (
    INSTALLER,
    MarkerDist,
    marker_location,
    markers_needed,
    remove_markers,
    write_markers,
)
from sysnative.mapping.files import load_builtin
from sysnative.models import PlannedPackage, Route
from sysnative.probe import probe
from sysnative.providers.apt.provider import AptProvider
from sysnative.runner import Completed, run


def _usable_provider() -> AptProvider | None:
    if not AptProvider.available():
        return None
    provider = AptProvider()
    check = subprocess.run(
        [provider.interpreter(), "-c", "import ensurepip, venv"], capture_output=True, check=False
    )
    return provider if check.returncode == 0 else None


PROVIDER = _usable_provider()
needs_system_python = pytest.mark.skipif(
    PROVIDER is None, reason="needs apt and its python3 with venv and ensurepip (python3-venv)"
)


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


def cli(argv: Sequence[str]) -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return CliResult(code, out.getvalue(), err.getvalue())


def in_venv(venv: Path, *args: str) -> Completed:
    return run([str(venv / "bin" / "python"), *args], timeout=300)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CliResult]:
    """One venv made by ``sysnative venv`` for the module (making one takes seconds)."""
    if PROVIDER is None:
        pytest.skip("needs apt and its python3 with venv and ensurepip (python3-venv)")
    venv = tmp_path_factory.mktemp("venvs") / "env"
    return venv, cli(["venv", str(venv)])


@pytest.fixture
def system_venv(made: tuple[Path, CliResult]) -> Path:
    venv, result = made
    assert result.code == 0, result.err
    return venv


# --------------------------------------------------------------------------------------------
# sysnative venv


@needs_system_python
def test_sysnative_venv_sees_the_system_site_dir_and_has_its_own_pip(
    made: tuple[Path, CliResult], system_venv: Path
) -> None:
    assert PROVIDER is not None
    _, result = made
    assert f"source {system_venv}/bin/activate" in result.out
    assert f"--python {system_venv}" in result.out
    cfg = (system_venv / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in cfg
    asked = in_venv(
        system_venv, "-c", "import json, sys, pip; print(json.dumps([sys.path, pip.__file__]))"
    )
    assert asked.ok, asked.describe()
    sys_path, pip_file = json.loads(asked.stdout)
    for site_dir in PROVIDER.site_dirs():
        assert site_dir in sys_path
    assert pip_file.startswith(str(system_venv))  # ensurepip's pip, not the system's
    version = in_venv(system_venv, "-c", "import sys; print('%d.%d' % sys.version_info[:2])")
    system = run(
        [PROVIDER.interpreter(), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
    )
    assert version.stdout == system.stdout


@needs_system_python
def test_sysnative_venv_never_writes_over_a_directory_that_is_not_a_venv(tmp_path: Path) -> None:
    keep = tmp_path / "project"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine\n")
    for argv in (["venv", str(keep)], ["venv", "--clear", str(keep)]):
        result = cli(argv)
        assert result.code == 1
        assert "is not a virtual environment" in result.err
    assert [p.name for p in keep.iterdir()] == ["notes.txt"]


@needs_system_python
def test_sysnative_venv_replaces_an_existing_venv_only_with_clear(system_venv: Path) -> None:
    result = cli(["venv", str(system_venv)])
    assert result.code == 1
    assert "already a virtual environment" in result.err
    assert f"sysnative venv --clear {system_venv}" in result.err


def test_a_missing_ensurepip_is_explained_with_the_debian_package_to_install() -> None:
    # What Debian 12's python3 -m venv prints when python3-venv is not installed.
    debian_output = (
        "The virtual environment was not created successfully because ensurepip is not\n"
        "available.  On Debian/Ubuntu systems, you need to install the python3-venv\n"
        "package using the following command.\n\n    apt install python3.11-venv\n\n"
        "You may need to use sudo with that command.  After installing the python3-venv\n"
        "package, recreate your virtual environment.\n\n"
        "Failing command: /srv/env/bin/python3\n"
    )
    error = explain_venv_failure(Completed(("python3", "-m", "venv", "env"), 1, debian_output, ""))
    assert "ensurepip" in error.message
    assert error.hint is not None
    assert "apt-get install python3-venv" in error.hint
    other = explain_venv_failure(Completed(("python3", "-m", "venv", "env"), 1, "", "disk full"))
    assert "disk full" in other.message
    assert other.hint is None


# --------------------------------------------------------------------------------------------
# sysnative doctor and the checks


@needs_system_python
def test_doctor_on_a_venv_made_by_sysnative_venv_exits_0(system_venv: Path) -> None:
    assert PROVIDER is not None
    result = cli(["doctor", "--python", str(system_venv)])
    assert result.code == 0, result.out
    assert "Usable for `sysnative install --system-native`: yes" in result.out
    report = json.loads(cli(["doctor", "--python", str(system_venv), "--json"]).out)
    assert report["usable"] is True
    assert {c["status"] for c in report["checks"]} == {"ok"}
    assert report["target"]["is_venv"] is True
    assert report["target"]["sees_provider_site_dirs"] is True
    assert report["provider"] == {
        "name": "apt",
        "tools_present": True,
        "interpreter": PROVIDER.interpreter(),
        "interpreter_version": report["target"]["version"],
        "site_dirs": list(PROVIDER.site_dirs()),
        "error": None,
    }


@needs_system_python
def test_doctor_redacts_index_credentials(
    system_venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "http://reader:s3cret@127.0.0.1:9/simple")
    result = cli(["doctor", "--python", str(system_venv)])
    assert "s3cret" not in result.out
    assert "http://reader:****@127.0.0.1:9/simple" in result.out
    assert "environment variable PIP_INDEX_URL" in result.out


@needs_system_python
def test_a_plain_venv_is_refused_and_the_printed_fix_repairs_it(tmp_path: Path) -> None:
    assert PROVIDER is not None
    venv = tmp_path / "plain"
    made = run([PROVIDER.interpreter(), "-m", "venv", "--without-pip", str(venv)])
    assert made.ok, made.describe()

    # The checks refuse it...
    target = probe(str(venv / "bin" / "python"))
    problems = check_target(
        target,
        probe(PROVIDER.interpreter()),
        PROVIDER.site_dirs(),
        break_system_packages=False,
    )
    assert [p.code for p in problems] == [SITE_DIR_NOT_SEEN]
    refused = TargetRefused(target.executable, problems)
    assert problems[0].fix in refused.message

    # ... doctor says so and prints the fix ...
    result = cli(["doctor", "--python", str(venv)])
    assert result.code == 1
    assert "Usable for `sysnative install --system-native`: no" in result.out
    fix = f"sysnative venv --clear {venv}"
    assert f"fix: {fix}" in result.out

    # ... and running that fix makes doctor happy.
    argv = shlex.split(fix)
    assert argv[0] == "sysnative"
    assert cli(argv[1:]).code == 0
    assert cli(["doctor", "--python", str(venv)]).code == 0


@needs_system_python
def test_doctor_without_a_target_reports_instead_of_failing(tmp_path: Path) -> None:
    result = cli(["doctor", "--python", str(tmp_path / "no-python")])
    assert result.code == 1
    assert "does not exist" in result.out
    assert "not checked" in result.out


# --------------------------------------------------------------------------------------------
# Marker .dist-info


def _system_row(name: str, version: str, package: str) -> PlannedPackage:
    return PlannedPackage(
        name=canonicalize_name(name),
        version=Version(version),
        route=Route.SYSTEM,
        reason="native: only platform wheels",
        provider="apt",
        package=package,
        distro_version=f"{version}-1",
    )


def _pip_list(venv: Path) -> dict[str, str]:
    listed = in_venv(venv, "-m", "pip", "list", "--format", "json", "--disable-pip-version-check")
    assert listed.ok, listed.describe()
    return {canonicalize_name(d["name"]): d["version"] for d in json.loads(listed.stdout)}


def _metadata_version(venv: Path, name: str) -> str:
    asked = in_venv(venv, "-c", f"import importlib.metadata as m; print(m.version({name!r}))")
    return asked.stdout.strip() if asked.ok else f"error: {asked.stderr.strip().splitlines()[-1]}"


@needs_system_python
def test_markers_in_a_venv_are_seen_by_importlib_metadata_pip_list_and_pip_install(
    system_venv: Path,
) -> None:
    assert PROVIDER is not None
    table = load_builtin("debian")
    before = probe(str(system_venv / "bin" / "python"))
    rows = [
        _system_row("opencv-python", "4.6.0", "python3-opencv"),
        _system_row("psycopg2-binary", "2.9.5", "python3-psycopg2"),
    ]
    markers = markers_needed(rows, table, before)
    assert [m.name for m in markers] == ["opencv-python"]  # psycopg2 is not there at all
    purelib = marker_location(before, PROVIDER.site_dirs())
    written = write_markers(markers, purelib)
    try:
        assert _metadata_version(system_venv, "opencv-python") == "4.6.0"
        assert _pip_list(system_venv)["opencv-python"] == "4.6.0"
        again = in_venv(system_venv, "-m", "pip", "install", "--no-index", "opencv-python==4.6.0")
        assert again.ok, again.describe()
        assert "Requirement already satisfied" in again.stdout
        after = probe(str(system_venv / "bin" / "python"))
        seen = after.installed[canonicalize_name("opencv-python")]
        assert (seen.version, seen.installer) == (Version("4.6.0"), INSTALLER)
        assert markers_needed(rows[:1], table, after) == ()
    finally:
        assert remove_markers(written) == written
    assert _metadata_version(system_venv, "opencv-python").startswith("error:")


@needs_system_python
def test_a_venv_marker_shadows_a_wrong_version_registered_by_the_system(
    system_venv: Path, tmp_path: Path
) -> None:
    """kiwisolver on Debian 12 registers 0.0.0. The stand-in 'system' dir is on the venv's
    path after its purelib, as the real system site dir is."""
    assert PROVIDER is not None
    system_dir = tmp_path / "system-site"
    wrong = system_dir / "kiwisolver-0.0.0.dist-info"
    wrong.mkdir(parents=True)
    (wrong / "METADATA").write_text("Metadata-Version: 2.1\nName: kiwisolver\nVersion: 0.0.0\n")
    before = probe(str(system_venv / "bin" / "python"))
    pth = Path(marker_location(before, PROVIDER.site_dirs())) / "sysnative-test-system.pth"
    pth.write_text(f"{system_dir}\n")
    written: tuple[Path, ...] = ()
    try:
        assert _metadata_version(system_venv, "kiwisolver") == "0.0.0"
        target = probe(str(system_venv / "bin" / "python"))
        rows = [_system_row("kiwisolver", "1.4.4", "python3-kiwisolver")]
        (marker,) = markers_needed(rows, load_builtin("debian"), target)
        assert isinstance(marker, MarkerDist)
        assert marker.reason == "python3-kiwisolver registers version 0.0.0"
        written = write_markers([marker], marker_location(target, PROVIDER.site_dirs()))

        assert _metadata_version(system_venv, "kiwisolver") == "1.4.4"
        assert _pip_list(system_venv)["kiwisolver"] == "1.4.4"
        after = probe(str(system_venv / "bin" / "python"))
        assert after.installed[canonicalize_name("kiwisolver")].version == Version("1.4.4")
        assert markers_needed(rows, load_builtin("debian"), after) == ()
        assert (wrong / "METADATA").is_file()  # the system's own metadata is left alone
    finally:
        remove_markers(written)
        pth.unlink()
