"""``sysnative install --system-native`` for real (no ``--dry-run``), success and failure paths.

Every run goes through ``sysnative.cli.main(argv)`` in-process, against:

- a FakeIndex on 127.0.0.1 serving made-up tiny wheels named after real entries of the
  built-in Debian mapping: platform wheels for two native projects (``numpy`` and ``lxml``
  when possible, see :data:`NATIVES`), pure wheels for ``requests`` and ``idna``;
- an isolated apt+dpkg world (:class:`aptrepo.LocalAptRepo`) where installs really happen:
  private admin directory, install root, log and locks, reached through ``APT_CONFIG`` and
  ``DPKG_ADMINDIR`` set in the process environment, which the CLI's provider inherits. The
  ``world`` fixture fails the test if the machine's own dpkg got any trace of the world's
  packages (:class:`aptrepo.HostWatch`; other apt activity on the machine does not matter);
- a fresh target venv per test, made by the system's ``python3 -m venv
  --system-site-packages --without-pip`` so it sees the system's site dir (the target checks
  pass) and gets its pip from there; ``plain_venv`` makes one without system site packages.

Real installs need root (dpkg gives installed files their owners), so the module is skipped
for other users and where the system's ``python3`` is missing. The helpers are copied from
test_cli_dry_run.py rather than imported (see that module's docstring).

Every target sees the machine's own dist-packages, so a native project the machine already
has would be planned as "already installed by the system" and never reach apt. The native
projects are therefore taken from :data:`NATIVES`, leaving out those the machine's python3
sees (:func:`natives`).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from aptrepo import HostWatch, LocalAptRepo, assert_unchanged, missing_tools
from clirun import Result, assert_clean_error, platform_tag
from fakeindex import BACKEND_LOG, FakeIndex
from sysnative.cli import main
from sysnative.providers.apt.provider import INTERPRETER, SITE_DIRS

pytestmark = [
    pytest.mark.apt,
    pytest.mark.skipif(not Path(INTERPRETER).exists(), reason=f"needs the system's {INTERPRETER}"),
    pytest.mark.skipif(
        os.geteuid() != 0, reason="real installs need root (dpkg gives files their owners)"
    ),
]


@dataclass(frozen=True)
class Native:
    """A native project of the built-in mapping, its package, and a made-up Debian version."""

    project: str
    package: str
    deb: str
    #: ``deb`` read as PEP 440.
    version: str

    @property
    def module_file(self) -> str:
        """A file the package installs (below the isolated world's install root)."""
        return f"usr/lib/python3/dist-packages/{self.project}/__init__.py"

    @property
    def failing_postinst(self) -> str:
        return f"#!/bin/sh\necho 'postinst of {self.package} fails on purpose' >&2\nexit 1\n"


#: In order of preference; plain mapping entries (no other dist name, no wrong version).
NATIVES = (
    Native("numpy", "python3-numpy", "1:1.24.2-1+deb12u1", "1.24.2"),
    Native("lxml", "python3-lxml", "4.9.2-1+b1", "4.9.2"),
    Native("psycopg2", "python3-psycopg2", "2.9.5-1+b1", "2.9.5"),
    Native("msgpack", "python3-msgpack", "1.0.3-2+b1", "1.0.3"),
    Native("ujson", "python3-ujson", "5.7.0-1", "5.7.0"),
)
PURE = ("requests", "idna")

_SEES = """
import importlib.metadata as m, sys
for name in sys.argv[1:]:
    try:
        m.distribution(name)
    except m.PackageNotFoundError:
        continue
    print(name)
"""


def seen_by_the_system(*names: str) -> set[str]:
    """The distributions among ``names`` that the system's python3 already sees."""
    out = subprocess.run(
        [INTERPRETER, "-c", _SEES, *names], check=True, capture_output=True, text=True
    ).stdout
    return set(out.split())


@pytest.fixture(scope="session")
def natives() -> tuple[Native, Native]:
    """Two native projects the machine does not have: one installs, one's postinst fails."""
    seen = seen_by_the_system(*PURE, *(n.project for n in NATIVES))
    if seen & set(PURE):
        pytest.skip(f"the machine's python3 already sees {', '.join(sorted(seen & set(PURE)))}")
    free = [n for n in NATIVES if n.project not in seen]
    if len(free) < 2:
        pytest.skip(f"the machine's python3 already sees {', '.join(sorted(seen))}")
    return free[0], free[1]


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path, natives: tuple[Native, Native]) -> Iterator[LocalAptRepo]:
    """The first native package installs cleanly, the second one's postinst fails; neither
    may reach the machine's own dpkg."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} to build a local apt repository")
    good, bad = natives
    repo = LocalAptRepo(tmp_path / "aptroot")
    repo.add(good.package, good.deb, files={good.module_file: f'__version__ = "{good.version}"\n'})
    repo.add(bad.package, bad.deb, postinst=bad.failing_postinst)
    repo.publish()
    host = HostWatch(repo)
    yield repo
    host.check()


def make_venv(path: Path, *, system_site_packages: bool) -> str:
    """A venv made by the system's python3 (without pip, for speed); its interpreter."""
    argv = [INTERPRETER, "-m", "venv", "--without-pip"]
    if system_site_packages:
        argv.append("--system-site-packages")
    subprocess.run([*argv, str(path)], check=True, capture_output=True)
    return str(path / "bin" / "python")


@pytest.fixture(scope="session")
def native_tag() -> str:
    """A platform-specific tag the system's python3 (and so every target venv) supports."""
    tag = platform_tag(INTERPRETER)
    if tag is not None:
        return tag
    pytest.skip("the system's python3 supports no platform-specific wheel tag")


@dataclass
class Install:
    """Runs ``sysnative install --system-native`` (a real install) in-process."""

    index: FakeIndex
    apt: LocalAptRepo
    python: str
    native_tag: str
    #: Installs cleanly from the isolated world.
    good: Native
    #: Its postinst fails.
    bad: Native
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def __post_init__(self) -> None:
        # The provider runs apt and dpkg with the process environment: point it at the world.
        for key, value in self.apt.env.items():
            self.monkeypatch.setenv(key, value)

    def native(self, name: str, version: str, **kwargs: Any) -> Path:
        """Serve a platform wheel (compiled code) for the target."""
        return self.index.add_wheel(name, version, tag=self.native_tag, **kwargs)

    def pure(self, name: str, version: str, **kwargs: Any) -> Path:
        return self.index.add_wheel(name, version, **kwargs)

    def serve_standard(self) -> None:
        """Both natives (at the system's version and a newer one: only platform wheels) and
        requests -> idna (pure)."""
        for native in (self.good, self.bad):
            self.native(native.project, "99.0")
            self.native(native.project, native.version)
        self.pure("requests", "2.31.0", requires_dist=["idna>=2.5"])
        self.pure("idna", "3.6")

    def raw(self, *argv: str) -> Result:
        """``main(argv)`` exactly as given; output captured."""
        self.capsys.readouterr()
        code = main(list(argv))
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def run(self, *args: str, python: str | None = None) -> Result:
        """``sysnative install --system-native --index-url ... --python ... ARGS``."""
        return self.raw(
            "install",
            "--system-native",
            "--index-url",
            self.index.url,
            "--python",
            python or self.python,
            *args,
        )

    def plain_venv(self) -> str:
        """A venv of this test's own that does not see the system's site dir."""
        return make_venv(self.tmp_path / "plain-venv", system_site_packages=False)


@pytest.fixture
def inst(
    tmp_path: Path,
    fake_index_server: HTTPServer,
    world: LocalAptRepo,
    natives: tuple[Native, Native],
    native_tag: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Install]:
    """A fresh FakeIndex, the isolated apt world and a fresh system-site-packages venv."""
    python = make_venv(tmp_path / "venv", system_site_packages=True)
    with FakeIndex.start(tmp_path / "wheels", server=fake_index_server, flavour="html") as index:
        yield Install(
            index=index,
            apt=world,
            python=python,
            native_tag=native_tag,
            good=natives[0],
            bad=natives[1],
            tmp_path=tmp_path,
            monkeypatch=monkeypatch,
            capsys=capsys,
        )


# -- what the worlds look like ----------------------------------------------------------------


def site_packages(python: str) -> Path:
    (site,) = Path(python).parent.parent.glob("lib/python3*/site-packages")
    return site


def tree(root: Path) -> dict[str, tuple[bool, int, int]]:
    """Every path under ``root``: ``(is_dir, size, mtime_ns)``, so rewrites show too."""
    out: dict[str, tuple[bool, int, int]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        out[str(path.relative_to(root))] = (path.is_dir(), st.st_size, st.st_mtime_ns)
    return out


def snapshot(inst: Install, python: str | None = None) -> dict[str, object]:
    """The isolated dpkg world (status, installed files, log) and the target's site dir."""
    log = inst.apt.dpkg_log
    return {
        "status": inst.apt.status(),
        "inst": tree(inst.apt.inst_dir),
        "log": log.read_text(encoding="utf-8") if log.exists() else None,
        "site": tree(site_packages(python or inst.python)),
    }


def dpkg_status(repo: LocalAptRepo, *names: str) -> dict[str, str]:
    """``name -> "Status Version"`` straight from dpkg-query (DPKG_ADMINDIR), not the CLI."""
    out = repo.run_apt(["dpkg-query", "-W", "-f", "${Package} ${Status} ${Version}\n", *names])
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in out.stdout.splitlines()}


_DISTS = """
import importlib.metadata as m, json, sys
found = {}
for name in sys.argv[1:]:
    try:
        dist = m.distribution(name)
    except m.PackageNotFoundError:
        continue
    found[name] = [dist.version, str(dist.locate_file(""))]
print(json.dumps(found))
"""


def venv_dists(python: str, *names: str) -> dict[str, tuple[str, Path]]:
    """``name -> (version, location)`` as importlib.metadata inside the target sees them."""
    out = subprocess.run(
        [python, "-c", _DISTS, *names], check=True, capture_output=True, text=True
    ).stdout
    return {name: (v, Path(where)) for name, (v, where) in json.loads(out).items()}


def hint_command(message: str, lead: str) -> str:
    """The command that follows ``lead`` on a line of ``message``."""
    for line in message.splitlines():
        if lead in line:
            return line.split(lead, 1)[1].strip()
    raise AssertionError(f"no {lead!r} in:\n{message}")


# -- 1, 2: success, then nothing to do ---------------------------------------------------------


def test_installs_native_with_apt_and_pure_from_the_index(inst: Install) -> None:
    good = inst.good
    inst.serve_standard()

    result = inst.run(good.project, "requests")

    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    # The system step: dpkg (in the isolated world) records exactly the planned version.
    assert dpkg_status(inst.apt, good.package) == {good.package: f"install ok installed {good.deb}"}
    assert (inst.apt.inst_dir / good.module_file).is_file()
    # The wheel step: both pure wheels are in the venv's own site-packages, installed by pip.
    site = site_packages(inst.python)
    assert venv_dists(inst.python, "requests", "idna") == {
        "requests": ("2.31.0", site),
        "idna": ("3.6", site),
    }
    installer = site / "requests-2.31.0.dist-info" / "INSTALLER"
    assert installer.read_text(encoding="utf-8").strip() == "pip"
    # The plan table, then the summary of what came from where.
    assert f"apt: {good.package} {good.deb}" in result.out
    assert f"Installed with apt: {good.package} {good.deb}\n" in result.out
    assert "Installed from the index: idna 3.6, requests 2.31.0\n" in result.out
    assert "dry run" not in result.out
    assert "error:" not in result.err
    # Before the system step (minutes, for a large transaction) the terminal says so.
    assert "Installing 1 package with apt; -v shows its output ...\n" in result.err
    # The native project came from the system: no wheel of it was downloaded, no marker.
    assert not any(name.startswith(f"{good.project}-") for name in inst.index.downloads)
    assert not list(site.glob(f"{good.project}*"))


def test_second_run_has_nothing_to_do(inst: Install) -> None:
    inst.serve_standard()
    first = inst.run(inst.good.project, "requests")
    assert first.code == 0, first.err
    before = snapshot(inst)
    inst.index.reset_counters()

    again = inst.run(inst.good.project, "requests")

    assert again.code == 0, again.err
    assert "Traceback" not in again.err
    assert "Nothing to do: all 3 packages of the plan are already installed." in again.out
    assert "Installed" not in again.out
    assert "Installing" not in again.err
    assert_unchanged(before, snapshot(inst), "the dpkg world and the target")
    assert sum(inst.index.downloads.values()) == 0


# -- 3-6: failures, each before or without touching the venv -----------------------------------


def test_failing_postinst_reports_state_and_installs_nothing_from_the_index(
    inst: Install,
) -> None:
    bad = inst.bad
    inst.serve_standard()
    site_before = tree(site_packages(inst.python))

    result = inst.run(bad.project, "requests")

    message = assert_clean_error(
        result,
        "The apt transaction failed (apt-get exited with status 100)",
        f"postinst of {bad.package} fails on purpose",
        f"{bad.package} {bad.deb}: half-configured",
        "Nothing was installed from the index.",
        "hint: ",
        "dpkg --configure -a",
        f"apt-get purge -- {bad.package}",
    )
    assert dpkg_status(inst.apt, bad.package) == {
        bad.package: f"install ok half-configured {bad.deb}"
    }
    assert tree(site_packages(inst.python)) == site_before
    assert venv_dists(inst.python, "requests", "idna") == {}

    # The undo command printed does what it says (run in the isolated world).
    undo = hint_command(message, "To undo what this run installed, run: ")
    undone = inst.apt.run_apt(shlex.split(undo), stdin="y\n")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert dpkg_status(inst.apt, bad.package) == {}


def test_held_dpkg_lock_changes_nothing(inst: Install) -> None:
    inst.serve_standard()
    before = snapshot(inst)

    with inst.apt.hold_dpkg_lock() as lock:
        result = inst.run(inst.good.project, "requests", "--lock-timeout", "1")

    assert_clean_error(
        result,
        f"dpkg's lock {lock} is held by process {os.getpid()}",
        "within 1 seconds. Nothing was changed.",
        "hint: ",
    )
    assert_unchanged(before, snapshot(inst), "the dpkg world and the target")
    assert dpkg_status(inst.apt, inst.good.package) == {}
    assert venv_dists(inst.python, "requests", "idna") == {}


def test_wheel_hash_mismatch_stops_before_the_system_step(inst: Install) -> None:
    inst.serve_standard()
    requests = inst.index.entries["requests-2.31.0-py3-none-any.whl"]
    inst.index.corrupt(requests.filename)
    before = snapshot(inst)

    result = inst.run(inst.good.project, "requests")

    assert_clean_error(
        result,
        f"The file {requests.filename} from {inst.index.file_url(requests.filename)}",
        f"does not match the hash the index announced: expected sha256 {requests.sha256}",
        "nothing was installed",
    )
    assert inst.index.downloads[requests.filename] >= 1
    assert_unchanged(before, snapshot(inst), "the dpkg world and the target")
    assert dpkg_status(inst.apt, inst.good.package) == {}
    assert venv_dists(inst.python, "requests", "idna") == {}


def test_target_without_system_site_packages_is_refused_first(inst: Install) -> None:
    inst.serve_standard()
    plain = inst.plain_venv()
    venv_dir = shlex.quote(str(Path(plain).parent.parent))
    before = snapshot(inst, plain)

    result = inst.run(inst.good.project, "requests", python=plain)

    assert_clean_error(
        result,
        f"sysnative will not install into {plain}",
        f"cannot see {', '.join(SITE_DIRS)}",
        "created without --system-site-packages",
        f"fix: sysnative venv --clear {venv_dir}",
        f"or: {INTERPRETER} -m venv --clear --system-site-packages {venv_dir}",
        "Nothing was changed.",
    )
    assert_unchanged(before, snapshot(inst, plain), "the dpkg world and the target")
    assert dpkg_status(inst.apt, inst.good.package) == {}
    assert sum(inst.index.downloads.values()) == 0  # refused before staging


# -- 7, 8 --------------------------------------------------------------------------------------


def test_pure_only_plan_installs_into_a_plain_venv(inst: Install) -> None:
    """Without system packages in the plan, not seeing the system's site dir is no problem."""
    inst.serve_standard()
    plain = inst.plain_venv()
    status = inst.apt.status()

    result = inst.run("requests", python=plain)

    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    site = site_packages(plain)
    assert venv_dists(plain, "requests", "idna") == {
        "requests": ("2.31.0", site),
        "idna": ("3.6", site),
    }
    assert "Installed from the index: idna 3.6, requests 2.31.0\n" in result.out
    assert "Installed with apt" not in result.out
    assert_unchanged(status, inst.apt.status(), "the world's dpkg status")
    assert not any(inst.apt.inst_dir.iterdir())


def _serve_buildable(inst: Install) -> None:
    """A pure project published only as an sdist (its backend builds offline, needing a
    build requirement from the fake index), requiring a pure wheel."""
    inst.pure("zz-build-helper", "1.0")
    inst.pure("idna", "3.6")
    inst.index.add_buildable_sdist(
        "zzfake-built", "1.0", requires_dist=["idna>=3"], build_requires=["zz-build-helper"]
    )


def test_an_sdist_only_project_is_refused_without_allow_build(inst: Install) -> None:
    _serve_buildable(inst)
    plain = inst.plain_venv()
    before = snapshot(inst, plain)

    result = inst.run("zzfake-built", python=plain)

    message = assert_clean_error(result, "zzfake-built", "only an sdist")
    assert "--allow-build" in message
    assert snapshot(inst, plain) == before


def test_allow_build_builds_the_sdist_and_installs_its_wheel(
    inst: Install, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planned from the sdist's prepared metadata, built before anything changes, installed
    by the wheel step like any wheel (by name and hash, so pip records no file:// URL)."""
    log = inst.tmp_path / "backend.log"
    monkeypatch.setenv(BACKEND_LOG, str(log))
    _serve_buildable(inst)
    plain = inst.plain_venv()
    status = inst.apt.status()

    result = inst.run("zzfake-built", "--allow-build", python=plain)

    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    assert "pypi (build)" in result.out
    assert "Building 1 wheel from its sdist with pip" in result.err
    assert (
        "Installed from the index: idna 3.6, zzfake-built 1.0 (built from its sdist)\n"
        in result.out
    )
    site = site_packages(plain)
    assert venv_dists(plain, "zzfake-built", "idna") == {
        "zzfake-built": ("1.0", site),
        "idna": ("3.6", site),
    }
    dist_info = site / "zzfake_built-1.0.dist-info"
    assert not (dist_info / "direct_url.json").exists()
    hooks = log.read_text(encoding="utf-8").splitlines()
    assert hooks.count("zzfake-built 1.0 build_wheel") == 1
    assert_unchanged(status, inst.apt.status(), "the world's dpkg status")

    again = inst.run("zzfake-built", "--allow-build", python=plain)

    assert again.code == 0, again.err
    assert "Nothing to do" in again.out
    assert log.read_text(encoding="utf-8").splitlines() == hooks  # no preparation, no build


def test_a_failing_build_changes_nothing(inst: Install, monkeypatch: pytest.MonkeyPatch) -> None:
    """The metadata is prepared, the build fails: it runs before the system step, so neither
    apt nor the target changed, and the error names the release and what to try."""
    good = inst.good
    inst.serve_standard()
    log = inst.tmp_path / "backend.log"
    monkeypatch.setenv(BACKEND_LOG, str(log))
    inst.index.add_buildable_sdist("zzfake-built", "1.0", fail_build=True)
    before = snapshot(inst)

    result = inst.run(good.project, "zzfake-built", "--allow-build")

    message = assert_clean_error(
        result,
        "zzfake-built 1.0: building its wheel from its sdist zzfake_built-1.0.tar.gz failed",
        "Nothing was changed",
        "fails on purpose in build_wheel",
    )
    assert "a release of zzfake-built that has a wheel" in message
    assert "Installing 1 package with apt" not in result.err
    assert snapshot(inst) == before
    assert "zzfake-built 1.0 build_wheel" in log.read_text(encoding="utf-8")


def test_report_file_is_written_by_a_real_install(inst: Install) -> None:
    good = inst.good
    inst.serve_standard()
    report_path = inst.tmp_path / "plan.json"

    result = inst.run(good.project, "requests", "--report", str(report_path))

    assert result.code == 0, result.err
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["version"] == "1"
    assert report["target_python"] == inst.python
    packages = {p["name"]: p for p in report["packages"]}
    assert {name: p["route"] for name, p in packages.items()} == {
        good.project: "system",
        "requests": "pypi",
        "idna": "pypi",
    }
    assert packages[good.project]["distro_version"] == good.deb
    assert report["system_transaction"] == [
        {"package": good.package, "version": good.deb, "architecture": "all", "replaces": None}
    ]
    # ... and the install happened.
    assert "Installed from the index: idna 3.6, requests 2.31.0" in result.out
    assert dpkg_status(inst.apt, good.package) == {good.package: f"install ok installed {good.deb}"}


def test_report_to_stdout_stays_json(inst: Install) -> None:
    """``--report -``: stdout is the plan JSON alone, also when the install runs."""
    inst.serve_standard()

    result = inst.run(inst.good.project, "requests", "--report", "-")

    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert {p["name"] for p in report["packages"]} == {inst.good.project, "requests", "idna"}
    assert "Installed from the index: idna 3.6, requests 2.31.0" in result.err
    assert venv_dists(inst.python, "requests")["requests"][0] == "2.31.0"


# -- the trial import --------------------------------------------------------------------------


def test_a_native_wheel_that_cannot_be_imported_is_not_installed(inst: Install) -> None:
    """An unpackaged native takes the index's wheel by default; when that wheel cannot be
    imported beside the system's packages, the wheel step does not run at all."""
    inst.serve_standard()
    inst.native(
        "zzfake-native",
        "2.0",
        files={"zzfake_native/__init__.py": "raise ImportError('needs libfoo 2, found 1')\n"},
    )
    inst.native("zzfake-fine", "1.0", files={"_zzfake_fine_ext.py": "VALUE = 1\n"})

    result = inst.run("zzfake-native", "zzfake-fine", "requests")

    message = assert_clean_error(
        result,
        "cannot import them beside the system's packages",
        "import zzfake_native (zzfake-native 2.0 from the index): "
        "ImportError: needs libfoo 2, found 1",
        "Nothing was installed from the index.",
    )
    assert "zzfake_fine" not in message  # it imports
    assert "_zzfake_fine_ext" not in message
    assert "'zzfake-native<2.0'" in result.err  # the hint: a constraint to try
    site = site_packages(inst.python)
    assert venv_dists(inst.python, "requests", "idna", "zzfake-native", "zzfake-fine") == {}
    assert not list(site.glob("zzfake*"))


def test_the_trial_import_falls_back_to_an_older_release(inst: Install) -> None:
    """A wheel that cannot be imported sends the plan back for the release line before it;
    the older release imports, and is what gets installed."""
    inst.serve_standard()
    inst.native(
        "zzfake-native",
        "2.1.0",
        files={"zzfake_native/__init__.py": "raise ImportError('needs libfoo 2, found 1')\n"},
    )
    inst.native("zzfake-native", "1.4.0", files={"zzfake_native/__init__.py": "V = 1\n"})

    result = inst.run("zzfake-native", "requests")

    assert result.code == 0, result.err
    assert "zzfake-native 2.1.0 cannot be imported beside the system's packages" in result.err
    site = site_packages(inst.python)
    dists = venv_dists(inst.python, "zzfake-native", "requests")
    assert dists["zzfake-native"] == ("1.4.0", site)
    assert "requests" in dists


def test_native_wheels_that_import_are_installed(inst: Install) -> None:
    inst.serve_standard()
    inst.native("zzfake-fine", "1.0", requires_dist=["idna"])

    result = inst.run("zzfake-fine")

    assert result.code == 0, result.err
    site = site_packages(inst.python)
    assert venv_dists(inst.python, "zzfake-fine") == {"zzfake-fine": ("1.0", site)}
