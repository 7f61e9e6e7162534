"""System versions are what pip will see, planned the same before and after the install.

In a throwaway Debian root (tests/debroot.py), with the real apt and the real index:
python3-regex spells its version ``0.1.20221031`` but registers ``regex 2022.10.31``, and
python3-kiwisolver 1.4.4 registers ``0.0.0``. ``regex>=2022.1`` and ``kiwisolver>=1.3`` must
both plan from apt (and ``nltk``, which needs ``regex>=2021.8.3``, at its newest release),
the same way once both packages are installed; and after the install, pip and
``importlib.metadata`` see the versions the plan showed.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from debroot import DebRoot

pytestmark = pytest.mark.e2e
pytest_plugins = ("debroot",)

REQUIREMENTS = ("regex>=2022.1", "kiwisolver>=1.3", "nltk")
VERSIONS = (
    "import importlib.metadata as m; "
    "print(m.version('regex'), m.version('kiwisolver'), m.version('nltk'))"
)


def plan_rows(root: DebRoot, python: str, name: str) -> dict[str, tuple[str, str]]:
    """``install --dry-run --report``: project -> (route, version)."""
    report = f"{root.home}/{name}.json"
    done = root.sysnative(
        "install", "--system-native", "--dry-run", "--python", python, "--report", report,
        *REQUIREMENTS,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    rows = json.loads(root.host_path(report).read_text("utf-8"))["packages"]
    return {row["name"]: (row["route"], row["version"]) for row in rows}


def newest_nltk(root: DebRoot, python: str) -> str:
    """The newest nltk the index has for the root's Python, as pip says."""
    done = root.run([python, "-m", "pip", "index", "versions", "nltk"], timeout=300)
    assert done.returncode == 0, done.stderr
    # "nltk (3.9.2)" on the first line.
    return done.stdout.split("(", 1)[1].split(")", 1)[0]


def test_versions_pip_sees_before_and_after_install(debroot: DebRoot) -> None:
    assert debroot.installed_version("python3-regex") is None, "the fresh root has regex"
    made = debroot.sysnative("venv", f"{debroot.home}/versions")
    assert made.returncode == 0, made.stderr
    python = f"{debroot.home}/versions/bin/python"
    nltk = newest_nltk(debroot, python)

    before = plan_rows(debroot, python, "before")

    assert before["regex"] == ("system", "2022.10.31")
    assert before["kiwisolver"] == ("system", "1.4.4")
    assert before["nltk"] == ("pypi", nltk)

    done = debroot.sysnative("install", "--system-native", "--python", python, *REQUIREMENTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert debroot.installed_version("python3-regex") is not None
    assert debroot.installed_version("python3-kiwisolver") is not None
    code = debroot.run([python, "-c", VERSIONS])
    assert code.returncode == 0, code.stderr
    assert code.stdout.split() == ["2022.10.31", "1.4.4", nltk]
    check = debroot.run([python, "-m", "pip", "check"], timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr

    after = plan_rows(debroot, python, "after")

    assert {name: after[name] for name in before} == before
