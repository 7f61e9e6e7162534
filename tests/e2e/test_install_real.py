"""``sysnative install --system-native`` for real: the real apt and the real index, in a root.

apt installs Debian's ``python3-numpy`` (and what the corpus set needs) for real, as a user's
first run would, but inside a throwaway Debian root (tests/debroot.py), never on the host:
the assertions read the root's dpkg state. The module gets a fresh copy of the root, so the
packages a first run installs are not installed yet. The index is pip's default inside the
root (no host is named here). Everything runs as a user would run it: the ``sysnative``
command, a venv made by ``sysnative venv``. Skips (with the reason) where the root cannot be
built: not root, no mmdebstrap, no archive or index.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sysnative.providers.apt.provider import SITE_DIRS

if TYPE_CHECKING:
    from debroot import DebRoot

pytestmark = pytest.mark.e2e
#: The root's fixtures (``debroot``).
pytest_plugins = ("debroot",)

CORPUS_SET = Path(__file__).resolve().parents[2] / "benchmarks" / "sets" / "scrapy_lxml_crypto.txt"
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


def make_venv(root: DebRoot, path: str) -> str:
    """``sysnative venv PATH`` in the root; the venv's python."""
    done = root.sysnative("venv", path)
    assert done.returncode == 0, done.stderr
    return f"{path}/bin/python"


def python_code(root: DebRoot, python: str, code: str) -> tuple[int, str, str]:
    """Run ``code`` with ``python`` in the root: exit status, stdout, stderr."""
    done = root.run([python, "-c", code], timeout=300)
    return done.returncode, done.stdout, done.stderr


def test_first_run_then_second_run(debroot: DebRoot) -> None:
    assert debroot.installed_version("python3-numpy") is None, "the fresh root has numpy"
    candidate = debroot.candidate_version("python3-numpy")
    assert candidate is not None, "apt in the root does not know python3-numpy"
    python = make_venv(debroot, f"{debroot.home}/first")
    argv = ["install", "--system-native", "--python", python, "numpy", "requests"]

    first = debroot.sysnative(*argv)

    assert first.returncode == 0, first.stdout + first.stderr
    assert "Traceback" not in first.stderr
    assert debroot.installed_version("python3-numpy") == candidate
    code, out, err = python_code(
        debroot, python, "import numpy, requests; print(numpy.__file__); print(requests.__file__)"
    )
    assert code == 0, err
    numpy_file, requests_file = out.split()
    assert numpy_file.startswith(SITE_DIRS[0] + "/")
    assert requests_file.startswith(f"{debroot.home}/first/")

    status = debroot.dpkg_status()
    freeze = python_code(debroot, python, FREEZE)
    second = debroot.sysnative(*argv)

    assert second.returncode == 0, second.stdout + second.stderr
    assert "Nothing to do" in second.stdout
    assert debroot.dpkg_status() == status
    assert python_code(debroot, python, FREEZE) == freeze


def test_a_corpus_set_installs_and_imports(debroot: DebRoot) -> None:
    assert debroot.installed_version("python3-lxml") is None, "the fresh root has lxml"
    requirements = f"{debroot.home}/{CORPUS_SET.name}"
    debroot.host_path(requirements).write_text(CORPUS_SET.read_text("utf-8"), "utf-8")
    python = make_venv(debroot, f"{debroot.home}/corpus")

    done = debroot.sysnative("install", "--system-native", "--python", python, "-r", requirements)

    assert done.returncode == 0, done.stdout + done.stderr
    assert debroot.installed_version("python3-lxml") is not None
    code, _, err = python_code(debroot, python, "import " + ", ".join(CORPUS_IMPORTS))
    assert code == 0, err
    # The native ones come from the system, the pure ones from the venv.
    code, out, err = python_code(
        debroot, python, "import lxml, twisted; print(lxml.__file__); print(twisted.__file__)"
    )
    assert code == 0, err
    lxml_file, twisted_file = out.split()
    assert lxml_file.startswith(SITE_DIRS[0] + "/")
    assert twisted_file.startswith(f"{debroot.home}/corpus/")


def test_wrong_interpreter_is_refused_before_any_change(debroot: DebRoot) -> None:
    """A venv that cannot see the system's packages (as a pyenv or uv Python cannot)."""
    assert debroot.installed_version("python3-scipy") is None, "the fresh root has scipy"
    made = debroot.run(
        ["/usr/bin/python3", "-m", "venv", "--without-pip", f"{debroot.home}/isolated"]
    )
    assert made.returncode == 0, made.stderr
    venv = debroot.host_path(f"{debroot.home}/isolated")
    status = debroot.dpkg_status()
    listing = sorted(p.name for p in venv.rglob("*"))

    done = debroot.sysnative(
        "install",
        "--system-native",
        "--python",
        f"{debroot.home}/isolated/bin/python",
        "scipy",
        "requests",
    )

    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "sysnative venv" in done.stderr  # the fix, spelled out
    assert debroot.dpkg_status() == status
    assert sorted(p.name for p in venv.rglob("*")) == listing
