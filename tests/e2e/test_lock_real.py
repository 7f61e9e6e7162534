"""``sysnative lock`` and ``install --lock`` for real: this machine's apt and the real index.

A lock of numpy (from apt) and a small pure project (from the index) is made against one
venv, then reproduced in another made by ``sysnative venv``, and its index part installed by
plain pip 26.1 or newer. Like test_install_real.py this may change the machine (apt installs
Debian's python3-numpy when it is missing), so it runs as root only, and skips without apt
or when the index does not answer. The index is the one pip's configuration gives; no host
is named here. Everything runs as a user would: the ``sysnative`` command in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from sysnative.providers.apt import INTERPRETER, AptProvider
from sysnative.tomlcompat import loads_toml

pytestmark = pytest.mark.e2e

#: A small pure project without dependencies; Debian's python3 must not have it already.
PURE = "iniconfig"
#: The environment as the run started (conftest switches pip's configuration off later).
_USER_ENVIRON = dict(os.environ)

_VERSIONS = """
import importlib.metadata as m, json, sys
print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))
"""


@pytest.fixture(scope="module", autouse=True)
def real_machine() -> None:
    if os.geteuid() != 0:
        pytest.skip("real installs with apt need root")
    if not Path(INTERPRETER).exists() or not AptProvider.available():
        pytest.skip("needs apt and the system's python3")
    if not AptProvider().query(["python3-numpy"]):
        pytest.skip("apt's package lists do not know python3-numpy (run apt-get update)")
    seen = subprocess.run(
        [INTERPRETER, "-c", f"import importlib.util as u; print(bool(u.find_spec({PURE!r})))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if seen == "True":
        pytest.skip(f"the system's python3 already has {PURE}")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The user's environment (pip's configuration included), a private sysnative cache."""
    out = {k: v for k, v in _USER_ENVIRON.items() if k != "VIRTUAL_ENV"}
    out["SYSNATIVE_CACHE_DIR"] = str(tmp_path_factory.mktemp("e2e-lock-cache"))
    return out


def run(argv: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), env=env, capture_output=True, text=True, timeout=600, check=False
    )


def sysnative(args: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "sysnative", *args], env)


def make_venv(path: Path, env: dict[str, str]) -> str:
    done = sysnative(["venv", str(path)], env)
    assert done.returncode == 0, done.stderr
    return str(path / "bin" / "python")


def versions(python: str, *names: str) -> dict[str, str]:
    done = subprocess.run(
        [python, "-c", _VERSIONS, *names], capture_output=True, text=True, check=True
    )
    result: dict[str, str] = json.loads(done.stdout)
    return result


def dpkg_version(package: str) -> str:
    return subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", package],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_lock_reproduce_and_pip(tmp_path: Path, env: dict[str, str]) -> None:
    lock_path = tmp_path / "pylock.toml"
    locking = make_venv(tmp_path / "lock-venv", env)

    made = sysnative(["lock", "numpy", PURE, "--python", locking, "-o", str(lock_path)], env)

    assert made.returncode == 0, made.stdout + made.stderr
    document: dict[str, Any] = loads_toml(lock_path.read_text(encoding="utf-8"))
    system = {row["project"]: row for row in document["tool"]["sysnative"]["system"]}
    assert system["numpy"]["package"] == "python3-numpy"
    (package,) = [p for p in document["packages"] if p["name"] == PURE]
    (wheel,) = package["wheels"]
    assert len(wheel["hashes"]["sha256"]) == 64
    assert wheel["size"] > 0
    assert "@" not in wheel["url"].split("/")[2]  # no credentials

    # A new venv: install --lock reproduces the same versions.
    fresh = make_venv(tmp_path / "venv", env)
    installed = sysnative(["install", "--lock", str(lock_path), "--python", fresh], env)

    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "Traceback" not in installed.stderr
    assert versions(fresh, "numpy", PURE) == {
        "numpy": system["numpy"]["version"],
        PURE: package["version"],
    }
    assert dpkg_version("python3-numpy") == system["numpy"]["distro-version"]

    again = sysnative(["install", "--lock", str(lock_path), "--python", fresh], env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing to do" in again.stdout

    # Plain pip (26.1 or newer reads pylock.toml) installs the index part of the same file.
    pip_venv = tmp_path / "pip-venv"
    made_venv = run([INTERPRETER, "-m", "venv", "--system-site-packages", str(pip_venv)], env)
    assert made_venv.returncode == 0, made_venv.stderr
    python = str(pip_venv / "bin" / "python")
    upgraded = run([python, "-m", "pip", "install", "-q", "pip>=26.1"], env)
    if upgraded.returncode != 0:
        pytest.skip(f"pip>=26.1 could not be installed: {upgraded.stderr.strip()[-300:]}")

    by_pip = run([python, "-m", "pip", "install", "--no-deps", "-r", str(lock_path)], env)

    assert by_pip.returncode == 0, by_pip.stdout + by_pip.stderr
    assert versions(python, PURE) == {PURE: package["version"]}
