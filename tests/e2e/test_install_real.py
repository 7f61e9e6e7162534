"""``sysnative install --system-native`` for real: this machine's apt and the real index.

These tests change the machine: apt installs Debian's ``python3-numpy`` (and what the corpus
set needs) for real, as a user's first run would. They run as root only (CI runs as root on a
fresh Debian 12), and skip without apt or when the index does not answer. The index is the
one pip's configuration gives (no host is named here). Everything runs as a user would run
it: the ``sysnative`` command in a subprocess, a venv made by ``sysnative venv``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from sysnative.providers.apt import SITE_DIRS, AptProvider

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CORPUS_SET = ROOT / "benchmarks" / "sets" / "scrapy_lxml_crypto.txt"
#: Import names of the corpus set's top-level requirements.
CORPUS_IMPORTS = (
    "twisted", "cryptography", "cssselect", "itemloaders", "parsel", "OpenSSL", "queuelib",
    "service_identity", "w3lib", "zope.interface", "protego", "itemadapter", "setuptools",
    "packaging", "tldextract", "lxml", "pydispatch",
)  # fmt: skip


#: What the venv's Python sees as installed (a pip freeze that needs no pip).
FREEZE = (
    "import importlib.metadata as m; "
    "print(sorted((d.metadata['Name'], d.version) for d in m.distributions()))"
)


@pytest.fixture(scope="module", autouse=True)
def real_machine() -> None:
    if os.geteuid() != 0:
        pytest.skip("real installs with apt need root")
    if not Path("/usr/bin/apt-get").exists() or not AptProvider.available():
        pytest.skip("needs apt")
    if not AptProvider().query(["python3-numpy"]):
        pytest.skip("apt's package lists do not know python3-numpy (run apt-get update)")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The user's environment, with a private sysnative cache shared by the module."""
    cache = tmp_path_factory.mktemp("e2e-install-cache")
    out = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    out["SYSNATIVE_CACHE_DIR"] = str(cache)
    return out


def sysnative(args: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sysnative", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


def python_in(venv: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def make_venv(path: Path, env: dict[str, str]) -> Path:
    done = sysnative(["venv", str(path)], env)
    assert done.returncode == 0, done.stderr
    return path


def dpkg_status() -> bytes:
    return Path("/var/lib/dpkg/status").read_bytes()


def test_first_run_then_second_run(tmp_path: Path, env: dict[str, str]) -> None:
    venv = make_venv(tmp_path / "venv", env)
    argv = ["install", "--system-native", "--python", str(venv / "bin" / "python")]

    first = sysnative([*argv, "numpy", "requests"], env)

    assert first.returncode == 0, first.stdout + first.stderr
    assert "Traceback" not in first.stderr
    imported = python_in(
        venv, "import numpy, requests; print(numpy.__file__); print(requests.__file__)"
    )
    assert imported.returncode == 0, imported.stderr
    numpy_file, requests_file = imported.stdout.split()
    assert numpy_file.startswith(SITE_DIRS[0] + "/")
    assert requests_file.startswith(str(venv) + "/")

    status = dpkg_status()
    freeze = python_in(venv, FREEZE)
    second = sysnative([*argv, "numpy", "requests"], env)

    assert second.returncode == 0, second.stdout + second.stderr
    assert "Nothing to do" in second.stdout
    assert dpkg_status() == status
    assert python_in(venv, FREEZE).stdout == freeze.stdout


def test_a_corpus_set_installs_and_imports(tmp_path: Path, env: dict[str, str]) -> None:
    venv = make_venv(tmp_path / "venv", env)

    done = sysnative(
        [
            "install",
            "--system-native",
            "--python",
            str(venv / "bin" / "python"),
            "-r",
            str(CORPUS_SET),
        ],
        env,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    imported = python_in(venv, "import " + ", ".join(CORPUS_IMPORTS))
    assert imported.returncode == 0, imported.stderr
    # The native ones come from the system, the pure ones from the venv.
    where = python_in(venv, "import lxml, twisted; print(lxml.__file__); print(twisted.__file__)")
    lxml_file, twisted_file = where.stdout.split()
    assert lxml_file.startswith(SITE_DIRS[0] + "/")
    assert twisted_file.startswith(str(venv) + "/")


def test_wrong_interpreter_is_refused_before_any_change(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """A venv that cannot see the system's packages (as a pyenv or uv Python cannot)."""
    venv = tmp_path / "isolated"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(venv)], check=True)
    status = dpkg_status()
    listing = sorted(p.name for p in venv.rglob("*"))

    done = sysnative(
        [
            "install",
            "--system-native",
            "--python",
            str(venv / "bin" / "python"),
            "numpy",
            "requests",
        ],
        env,
    )

    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "sysnative venv" in done.stderr  # the fix, spelled out
    assert dpkg_status() == status
    assert sorted(p.name for p in venv.rglob("*")) == listing
