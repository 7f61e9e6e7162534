"""``sysnative lock`` then ``sysnative install --lock`` for real, in-process.

The same worlds as test_cli_install.py (whose helpers are copied, not imported): a FakeIndex
on 127.0.0.1 serving made-up wheels, an isolated apt+dpkg world (:class:`aptrepo.LocalAptRepo`)
where installs really happen, and fresh venvs made by the system's ``python3``. The native
project's package depends on a library package that maps to no project, so the locked
transaction has two distro packages.

What is checked: a lock made against one venv reproduces exactly (``pip freeze`` and dpkg's
versions equal the lock) in a fresh venv; ``install --lock`` sends no index page or metadata
request, downloads only the locked files, and nothing at all when they are cached; a second
run has nothing to do; a lock with an edited sha256, or made for another distro release or
Python, is refused before anything changes. The pip interoperability test needs pip 26.1 or
newer from pip's own configuration (the network), so it is marked ``e2e``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import distro
import pytest
from packaging.pylock import Pylock
from pytest_httpserver import HTTPServer

from aptrepo import HostWatch, LocalAptRepo, assert_unchanged, missing_tools
from clirun import Result, assert_clean_error, platform_tag
from fakeindex import BACKEND_LOG, FakeIndex
from sysnative.cli import main
from sysnative.lock.document import dumps
from sysnative.probe import probe
from sysnative.providers.apt.provider import INTERPRETER
from sysnative.tomlcompat import loads_toml

pytestmark = [
    pytest.mark.apt,
    pytest.mark.skipif(not Path(INTERPRETER).exists(), reason=f"needs the system's {INTERPRETER}"),
    pytest.mark.skipif(
        os.geteuid() != 0, reason="real installs need root (dpkg gives files their owners)"
    ),
]

#: The environment as the test run started, before conftest switched pip's configuration
#: off: the pip interoperability test gets a new pip the way the machine's pip would.
_USER_ENVIRON = dict(os.environ)


@dataclass(frozen=True)
class Native:
    project: str
    package: str
    deb: str
    version: str


#: Plain entries of the built-in mapping; the first one the machine's python3 does not see
#: is used (a project it sees would be planned as already installed and never reach apt).
NATIVES = (
    Native("psycopg2", "python3-psycopg2", "2.9.5-1+b1", "2.9.5"),
    Native("msgpack", "python3-msgpack", "1.0.3-2+b1", "1.0.3"),
    Native("ujson", "python3-ujson", "5.7.0-1", "5.7.0"),
    Native("lxml", "python3-lxml", "4.9.2-1+b1", "4.9.2"),
    Native("numpy", "python3-numpy", "1:1.24.2-1+deb12u1", "1.24.2"),
)
#: A library the native package depends on: in the closure, mapped to no project.
LIBRARY = ("libsysnative-test1", "1.0-1")

_SEES = """
import importlib.metadata as m, sys
for name in sys.argv[1:]:
    try:
        m.distribution(name)
    except m.PackageNotFoundError:
        continue
    print(name)
"""


@pytest.fixture(scope="session")
def native() -> Native:
    out = subprocess.run(
        [INTERPRETER, "-c", _SEES, "requests", "idna", *(n.project for n in NATIVES)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    if {"requests", "idna"} & set(out):
        pytest.skip("the machine's python3 already sees requests or idna")
    free = [n for n in NATIVES if n.project not in out]
    if not free:
        pytest.skip(f"the machine's python3 already sees {', '.join(out)}")
    return free[0]


@pytest.fixture(scope="session")
def native_tag() -> str:
    tag = platform_tag(INTERPRETER)
    if tag is None:
        pytest.skip("the system's python3 supports no platform-specific wheel tag")
    return tag


@pytest.fixture
def world(tmp_path: Path, native: Native) -> Iterator[LocalAptRepo]:
    missing = missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} to build a local apt repository")
    repo = LocalAptRepo(tmp_path / "aptroot")
    repo.add(*LIBRARY)
    repo.add(
        native.package,
        native.deb,
        depends=[LIBRARY[0]],
        files={f"usr/lib/python3/dist-packages/{native.project}/__init__.py": "\n"},
    )
    repo.publish()
    host = HostWatch(repo)  # none of the world's packages may reach the machine's own dpkg
    yield repo
    host.check()


def make_venv(path: Path) -> str:
    """A venv of the system's python3 that sees the system's packages (no pip: faster)."""
    subprocess.run(
        [INTERPRETER, "-m", "venv", "--without-pip", "--system-site-packages", str(path)],
        check=True,
        capture_output=True,
    )
    return str(path / "bin" / "python")


@dataclass
class Locking:
    """One test's worlds, and ``main([...])`` in-process."""

    index: FakeIndex
    apt: LocalAptRepo
    native: Native
    native_tag: str
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def __post_init__(self) -> None:
        for key, value in self.apt.env.items():
            self.monkeypatch.setenv(key, value)
        n = self.native
        self.index.add_wheel(n.project, "99.0", tag=self.native_tag)
        self.index.add_wheel(n.project, n.version, tag=self.native_tag)
        self.index.add_wheel("requests", "2.31.0", requires_dist=["idna>=2.5"])
        self.index.add_wheel("idna", "3.6")
        self.lock_path = self.tmp_path / "pylock.toml"

    def main(self, *argv: str) -> Result:
        self.capsys.readouterr()
        code = main(list(argv))
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def lock(self) -> Result:
        python = make_venv(self.tmp_path / "lock-venv")
        return self.main(
            "lock",
            "--index-url",
            self.index.url,
            "--python",
            python,
            self.native.project,
            "requests",
            "-o",
            str(self.lock_path),
        )

    def install(self, python: str, lock: Path | None = None, *extra: str) -> Result:
        return self.main(
            "install", "--lock", str(lock or self.lock_path), "--python", python, *extra
        )

    def fresh_cache(self, name: str) -> None:
        """A new, empty sysnative cache: wheels must be downloaded again."""
        cache = self.tmp_path / name
        cache.mkdir()
        self.monkeypatch.setenv("SYSNATIVE_CACHE_DIR", str(cache))

    def document(self) -> dict[str, Any]:
        return loads_toml(self.lock_path.read_text(encoding="utf-8"))

    def write(self, document: dict[str, Any], name: str) -> Path:
        path = self.tmp_path / name / "pylock.toml"
        path.parent.mkdir()
        path.write_text(dumps(document), encoding="utf-8")
        return path


@pytest.fixture
def locking(
    tmp_path: Path,
    fake_index_server: HTTPServer,
    world: LocalAptRepo,
    native: Native,
    native_tag: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Locking]:
    with FakeIndex.start(tmp_path / "wheels", server=fake_index_server, flavour="html") as index:
        yield Locking(index, world, native, native_tag, tmp_path, monkeypatch, capsys)


# -- what the worlds look like ----------------------------------------------------------------


def pip_freeze(python: str) -> list[str]:
    """``pip freeze --local`` of the target (with this interpreter's pip: targets have none)."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "freeze", "--local"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PIP_CONFIG_FILE": os.devnull},
    )
    return sorted(line for line in done.stdout.splitlines() if line)


def dpkg_versions(repo: LocalAptRepo, *names: str) -> dict[str, str]:
    """``name -> "Status Version"`` from dpkg-query in the isolated admindir."""
    out = repo.run_apt(["dpkg-query", "-W", "-f", "${Package} ${Status} ${Version}\n", *names])
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in out.stdout.splitlines()}


def tree(root: Path) -> dict[str, tuple[bool, int, int]]:
    out: dict[str, tuple[bool, int, int]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        out[str(path.relative_to(root))] = (path.is_dir(), st.st_size, st.st_mtime_ns)
    return out


def snapshot(locking: Locking, python: str) -> dict[str, object]:
    """The isolated dpkg world and the whole target venv."""
    return {
        "status": locking.apt.status(),
        "inst": tree(locking.apt.inst_dir),
        "venv": tree(Path(python).parent.parent),
    }


# -- lock, then install --lock into a fresh venv -----------------------------------------------


def test_lock_then_install_reproduces_it_in_a_fresh_venv(locking: Locking) -> None:
    n = locking.native
    made = locking.lock()
    assert made.code == 0, made.err
    assert f"Wrote {locking.lock_path}: 1 from apt, 2 distro packages" in made.out

    document = locking.document()
    Pylock.from_dict(document).validate()  # a valid PEP 751 file
    tool = document["tool"]["sysnative"]
    assert tool["machine"]["distro-id"] == distro.id()
    assert tool["machine"]["distro-version"] == distro.version()
    assert [(c["package"], c["version"]) for c in tool["closure"]] == sorted(
        [LIBRARY, (n.package, n.deb)]
    )
    (system,) = tool["system"]
    assert (system["project"], system["package"], system["distro-version"]) == (
        n.project,
        n.package,
        n.deb,
    )
    assert system["requested"] is True
    wheels = {p["name"]: p for p in document["packages"]}
    assert sorted(wheels) == ["idna", "requests"]
    requests_file = locking.index.entries["requests-2.31.0-py3-none-any.whl"]
    assert wheels["requests"]["index"] == locking.index.url
    (wheel,) = wheels["requests"]["wheels"]
    assert wheel["hashes"] == {"sha256": requests_file.sha256}
    assert wheel["size"] == len(requests_file.data)  # the HTML page has no sizes

    fresh = make_venv(locking.tmp_path / "fresh")
    locking.fresh_cache("install-cache")
    locking.index.reset_counters()

    installed = locking.install(fresh)

    assert installed.code == 0, installed.err
    assert "Traceback" not in installed.err
    assert f"Installed with apt: {n.package} {n.deb} (and 1 dependencies)" in installed.out
    assert "Installed from the index: idna 3.6, requests 2.31.0" in installed.out
    assert pip_freeze(fresh) == ["idna==3.6", "requests==2.31.0"]
    assert dpkg_versions(locking.apt, n.package, LIBRARY[0]) == {
        n.package: f"install ok installed {n.deb}",
        LIBRARY[0]: f"install ok installed {LIBRARY[1]}",
    }
    # No index page, no metadata: only the two locked files, each downloaded once.
    assert dict(locking.index.requests) == {
        "/files/idna-3.6-py3-none-any.whl": 1,
        "/files/requests-2.31.0-py3-none-any.whl": 1,
    }

    before = snapshot(locking, fresh)
    locking.index.reset_counters()

    again = locking.install(fresh)

    assert again.code == 0, again.err
    assert "Nothing to do: all 3 packages of the plan are already installed." in again.out
    assert_unchanged(before, snapshot(locking, fresh), "the dpkg world and the venv")
    assert sum(locking.index.requests.values()) == 0


def test_install_lock_takes_cached_wheels_without_any_request(locking: Locking) -> None:
    """The lock downloaded the wheels to learn their sizes; the cache keeps them by sha256."""
    assert locking.lock().code == 0
    locking.index.reset_counters()
    fresh = make_venv(locking.tmp_path / "fresh")

    installed = locking.install(fresh)

    assert installed.code == 0, installed.err
    assert pip_freeze(fresh) == ["idna==3.6", "requests==2.31.0"]
    assert sum(locking.index.requests.values()) == 0


def test_edited_sha256_is_refused_before_any_change(locking: Locking) -> None:
    assert locking.lock().code == 0
    document = locking.document()
    requests = next(p for p in document["packages"] if p["name"] == "requests")
    real = requests["wheels"][0]["hashes"]["sha256"]
    requests["wheels"][0]["hashes"]["sha256"] = "0" * 64
    tampered = locking.write(document, "tampered")
    fresh = make_venv(locking.tmp_path / "fresh")
    locking.fresh_cache("install-cache")
    before = snapshot(locking, fresh)

    result = locking.install(fresh, tampered)

    assert_clean_error(
        result,
        "requests-2.31.0-py3-none-any.whl",
        f"does not match the hash {tampered} records: expected sha256 {'0' * 64}, got {real}",
        "hint: The lock was edited, or the index now serves another file under the same name.",
        "Nothing was installed.",
    )
    assert "the index announced" not in result.err  # the lock, not the index, said so
    assert_unchanged(before, snapshot(locking, fresh), "the dpkg world and the venv")
    assert dpkg_versions(locking.apt, locking.native.package) == {}


@pytest.mark.parametrize("what", ["distro", "python"])
def test_lock_for_another_machine_is_refused_before_any_change(locking: Locking, what: str) -> None:
    assert locking.lock().code == 0
    document = locking.document()
    tool = document["tool"]["sysnative"]
    python = tool["target"]["python-version"]
    if what == "distro":
        tool["machine"]["distro-version"] = "0.1"
        expected = (
            f"distribution: the lock says {distro.id()} 0.1, here it is "
            f"{distro.id()} {distro.version()}"
        )
    else:
        tool["target"]["python-version"] = "3.99"
        expected = f"the lock says CPython 3.99, here it is CPython {python}"
    other = locking.write(document, what)
    fresh = make_venv(locking.tmp_path / "fresh")
    before = snapshot(locking, fresh)
    locking.index.reset_counters()

    result = locking.install(fresh, other)

    assert_clean_error(
        result,
        f"{other} was made for another machine",
        expected,
        "Nothing was changed.",
        f"hint: A lock reproduces the machine it was made on. Make a new lock on this machine "
        f"(or in the image you install into): sysnative lock {locking.native.project} "
        f"requests -o {other}",
    )
    assert_unchanged(before, snapshot(locking, fresh), "the dpkg world and the venv")
    assert sum(locking.index.requests.values()) == 0


def test_a_version_apt_no_longer_offers_is_refused_before_any_change(locking: Locking) -> None:
    """As after a point release replaced the locked version on the mirror."""
    assert locking.lock().code == 0
    n = locking.native
    gone = n.deb + "~old1"
    document = locking.document()
    tool = document["tool"]["sysnative"]
    for row in (*tool["system"], *tool["closure"]):
        if row.get("package") == n.package:
            row["distro-version" if "project" in row else "version"] = gone
    old = locking.write(document, "old")
    fresh = make_venv(locking.tmp_path / "fresh")
    locking.fresh_cache("install-cache")
    before = snapshot(locking, fresh)
    locking.index.reset_counters()

    result = locking.install(fresh, old)

    assert_clean_error(
        result,
        f"apt cannot install {n.package}={gone}",
        f"The lock {old} cannot be reproduced exactly on this machine. Nothing was changed.",
        "hint: The system's packages here differ from the machine the lock was made on",
        "run `apt-get update` as root",
    )
    assert_unchanged(before, snapshot(locking, fresh), "the dpkg world and the venv")
    assert sum(locking.index.downloads.values()) == 0  # refused before staging


def test_dry_run_shows_the_locked_plan_and_changes_nothing(locking: Locking) -> None:
    assert locking.lock().code == 0
    fresh = make_venv(locking.tmp_path / "fresh")
    before = snapshot(locking, fresh)
    locking.index.reset_counters()

    result = locking.install(fresh, None, "--dry-run")

    assert result.code == 0, result.err
    assert f"apt: {locking.native.package} {locking.native.deb}" in result.out
    assert "Would install: 1 from apt (2 distro packages in the transaction), 2 wheels" in (
        result.out
    )
    assert_unchanged(before, snapshot(locking, fresh), "the dpkg world and the venv")
    assert sum(locking.index.requests.values()) == 0


# -- pip reads the same file -------------------------------------------------------------------


@pytest.fixture(scope="module")
def new_pip(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A venv with pip 26.1 or newer (the first pip that reads pylock.toml), installed the
    way the machine's pip would install it (its own configuration and index)."""
    venv = tmp_path_factory.mktemp("new-pip") / "venv"
    subprocess.run([INTERPRETER, "-m", "venv", str(venv)], check=True, capture_output=True)
    python = str(venv / "bin" / "python")
    done = subprocess.run(
        [python, "-m", "pip", "install", "-q", "pip>=26.1"],
        capture_output=True,
        text=True,
        env={k: v for k, v in _USER_ENVIRON.items() if not k.startswith("SYSNATIVE_")},
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"pip>=26.1 could not be installed: {done.stderr.strip()[-300:]}")
    return python


@pytest.mark.e2e
def test_pip_installs_the_index_part_of_the_lock(locking: Locking, new_pip: str) -> None:
    assert locking.lock().code == 0
    # A venv of the same interpreter, so the lock's environments and requires-python hold.
    assert probe(new_pip).python_version == locking.document()["requires-python"][2:-2]

    done = subprocess.run(
        [new_pip, "-m", "pip", "install", "--no-deps", "-r", str(locking.lock_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PIP_CONFIG_FILE": os.devnull},
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    freeze = subprocess.run(
        [new_pip, "-m", "pip", "freeze", "--local"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert {"idna==3.6", "requests==2.31.0"} <= set(freeze)
    assert not any(line.startswith(f"{locking.native.project}==") for line in freeze)


def test_lock_refuses_a_plan_that_builds_from_an_sdist(
    locking: Locking, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--allow-build is a planning option ``lock`` shares; a lock names exact wheels, so a
    plan that builds one is refused before anything is written."""
    monkeypatch.setenv(BACKEND_LOG, str(locking.tmp_path / "backend.log"))
    locking.index.add_buildable_sdist("zzfake-built", "1.0")
    python = make_venv(locking.tmp_path / "lock-venv")

    result = locking.main(
        "lock",
        "--index-url",
        locking.index.url,
        "--python",
        python,
        "--allow-build",
        "zzfake-built",
        "-o",
        str(locking.lock_path),
    )

    message = assert_clean_error(result, "cannot lock zzfake-built 1.0", "--allow-build", code=2)
    assert "Nothing was written" in message
    assert not locking.lock_path.exists()


def test_install_lock_refuses_allow_build(locking: Locking) -> None:
    made = locking.lock()
    assert made.code == 0, made.err

    result = locking.install(make_venv(locking.tmp_path / "venv"), None, "--allow-build")

    assert_clean_error(result, "--allow-build", code=2)
