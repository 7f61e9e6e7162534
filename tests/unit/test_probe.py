from __future__ import annotations

import sys
from pathlib import Path

import pytest
from memory import target
from packaging.utils import canonicalize_name

from sysnative.errors import EnvironmentProbeError
from sysnative.probe import choose_interpreter, probe


def test_choose_interpreter_order(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    assert choose_interpreter("/x/python", {"VIRTUAL_ENV": str(venv)}) == "/x/python"
    assert choose_interpreter(str(venv), {}) == str(venv / "bin" / "python")
    assert choose_interpreter(None, {"VIRTUAL_ENV": str(venv)}) == str(venv / "bin" / "python")
    assert choose_interpreter(None, {}) == sys.executable


def test_probe_the_running_interpreter() -> None:
    env = probe(sys.executable)
    assert env.python_version == "{}.{}".format(*sys.version_info[:2])
    assert env.markers["python_version"] == env.python_version
    assert env.tags, "the target reports its wheel tags"
    assert any(t.platform == "any" and t.abi == "none" for t in env.tags)
    assert env.installed, "the test environment has distributions installed"
    assert "packaging" in env.installed


def test_probe_missing_interpreter(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentProbeError, match="does not exist"):
        probe(str(tmp_path / "no-python"))


def test_from_json_first_distribution_on_path_wins() -> None:
    env = target(
        installed=[
            {"name": "Foo", "version": "2.0", "location": "/venv/site-packages"},
            {"name": "foo", "version": "1.0", "location": "/usr/lib/python3/dist-packages"},
            {"name": "Bar", "version": "not a version", "location": "/x"},
        ]
    )
    assert str(env.installed[canonicalize_name("foo")].version) == "2.0"
    assert env.installed[canonicalize_name("bar")].version is None
    assert env.is_venv
    assert env.sees("/usr/lib/python3/dist-packages/")
