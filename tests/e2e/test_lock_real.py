"""``sysnative lock`` and ``install --lock`` for real: the real apt and the real index, in a root.

A lock of numpy (from apt) and a small pure project (from the index) is made against one
venv, then reproduced in another made by ``sysnative venv``, and its index part installed by
plain pip 26.1 or newer. apt installs Debian's python3-numpy for real, inside a throwaway
Debian root (tests/debroot.py), never on the host; the module gets a fresh copy, where
neither numpy nor the pure project is installed. The index is pip's default inside the root;
no host is named here. Everything runs as a user would: the ``sysnative`` command.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from sysnative.providers.apt.provider import INTERPRETER
from sysnative.tomlcompat import loads_toml

if TYPE_CHECKING:
    from debroot import DebRoot

pytestmark = pytest.mark.e2e
#: The root's fixtures (``debroot``).
pytest_plugins = ("debroot",)

#: A small pure project without dependencies, not in the fresh root.
PURE = "iniconfig"

_VERSIONS = """
import importlib.metadata as m, json, sys
print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))
"""


def make_venv(root: DebRoot, path: str) -> str:
    """``sysnative venv PATH`` in the root; the venv's python."""
    done = root.sysnative("venv", path)
    assert done.returncode == 0, done.stderr
    return f"{path}/bin/python"


def versions(root: DebRoot, python: str, *names: str) -> dict[str, str]:
    """The installed versions of ``names`` as ``python`` in the root sees them."""
    done = root.run([python, "-c", _VERSIONS, *names])
    assert done.returncode == 0, done.stderr
    result: dict[str, str] = json.loads(done.stdout)
    return result


def test_lock_reproduce_and_pip(debroot: DebRoot) -> None:
    assert debroot.installed_version("python3-numpy") is None, "the fresh root has numpy"
    seen = debroot.run([INTERPRETER, "-c", f"import {PURE}"])
    assert seen.returncode != 0, f"the fresh root's python3 already has {PURE}"
    lock_path = f"{debroot.home}/pylock.toml"
    locking = make_venv(debroot, f"{debroot.home}/lock-venv")

    made = debroot.sysnative("lock", "numpy", PURE, "--python", locking, "-o", lock_path)

    assert made.returncode == 0, made.stdout + made.stderr
    text = debroot.host_path(lock_path).read_text(encoding="utf-8")
    document: dict[str, Any] = loads_toml(text)
    system = {row["project"]: row for row in document["tool"]["sysnative"]["system"]}
    assert system["numpy"]["package"] == "python3-numpy"
    (package,) = [p for p in document["packages"] if p["name"] == PURE]
    (wheel,) = package["wheels"]
    assert len(wheel["hashes"]["sha256"]) == 64
    assert wheel["size"] > 0
    assert "@" not in wheel["url"].split("/")[2]  # no credentials
    assert debroot.installed_version("python3-numpy") is None  # locking changes nothing

    # A new venv: install --lock reproduces the same versions.
    fresh = make_venv(debroot, f"{debroot.home}/venv")
    installed = debroot.sysnative("install", "--lock", lock_path, "--python", fresh)

    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "Traceback" not in installed.stderr
    assert versions(debroot, fresh, "numpy", PURE) == {
        "numpy": system["numpy"]["version"],
        PURE: package["version"],
    }
    assert debroot.installed_version("python3-numpy") == system["numpy"]["distro-version"]

    again = debroot.sysnative("install", "--lock", lock_path, "--python", fresh)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing to do" in again.stdout

    # Plain pip (26.1 or newer reads pylock.toml) installs the index part of the same file.
    made_venv = debroot.run(
        [INTERPRETER, "-m", "venv", "--system-site-packages", f"{debroot.home}/pip"]
    )
    assert made_venv.returncode == 0, made_venv.stderr
    python = f"{debroot.home}/pip/bin/python"
    upgraded = debroot.run([python, "-m", "pip", "install", "-q", "pip>=26.1"])
    if upgraded.returncode != 0:
        pytest.skip(f"pip>=26.1 could not be installed: {upgraded.stderr.strip()[-300:]}")

    by_pip = debroot.run([python, "-m", "pip", "install", "--no-deps", "-r", lock_path])

    assert by_pip.returncode == 0, by_pip.stdout + by_pip.stderr
    assert versions(debroot, python, PURE) == {PURE: package["version"]}
