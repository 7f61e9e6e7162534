"""The target probe, run for real in every kind of interpreter this machine has.

The probe runs inside the target with nothing but the target's standard library, and the
tags are computed from what it reports. Checked here:

* on the interpreter running the tests, against ``packaging`` itself: the same marker
  environment as ``default_environment()`` and the same tags, in the same order, as
  ``sys_tags()``;
* on the oldest and the newest supported CPython found on the machine: the probe works
  there, imports only that interpreter's standard library, and its tags are those the
  target's own pip reports (``pip debug --verbose``, whose vendored ``packaging`` runs
  inside the target);
* on an interpreter older than supported: the error names its version.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.tags import sys_tags

from sysnative.errors import EnvironmentProbeError
from sysnative.probe import probe

SCRIPT = Path(__file__).resolve().parents[2] / "src" / "sysnative" / "probe_script.py"


def _ask(python: str, code: str) -> str | None:
    """What ``python -c code`` prints, or ``None`` when it does not run."""
    try:
        done = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _version_of(python: str) -> tuple[int, int] | None:
    answer = _ask(python, "import sys; print('%d %d' % sys.version_info[:2])")
    if answer is None:
        return None
    major, minor = answer.split()
    return int(major), int(minor)


def _candidates() -> list[str]:
    """``python3.N`` and ``python2.7`` on ``PATH``, and the interpreters pyenv keeps."""
    names = ["python2.7", *(f"python3.{minor}" for minor in range(0, 30))]
    found = [path for path in map(shutil.which, names) if path]
    pyenv = shutil.which("pyenv")
    if pyenv:
        done = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        versions = Path(done.stdout.strip()) / "versions"
        if done.returncode == 0 and versions.is_dir():
            found += sorted(str(p) for p in versions.glob("*/bin/python") if p.is_file())
    return found


def _interpreters() -> dict[tuple[int, int], str]:
    """The interpreters of :func:`_candidates` that really run, by version."""
    found: dict[tuple[int, int], str] = {}
    for path in _candidates():
        version = _version_of(path)
        if version:
            found.setdefault(version, path)
    return found


INTERPRETERS = _interpreters()
SUPPORTED = sorted(v for v in INTERPRETERS if v >= (3, 9))
TOO_OLD = sorted(v for v in INTERPRETERS if v < (3, 9))
#: The oldest and the newest supported interpreter on this machine (one id each).
ENDS = sorted({SUPPORTED[0], SUPPORTED[-1]}) if SUPPORTED else []


def _label(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def test_running_interpreter_matches_packaging(tmp_path: Path) -> None:
    target = probe(sys.executable)
    assert dict(target.markers) == dict(default_environment())
    assert list(target.tags) == list(sys_tags())


@pytest.mark.parametrize("version", ENDS, ids=[_label(v) for v in ENDS])
def test_oldest_and_newest_supported_targets(version: tuple[int, int]) -> None:
    python = INTERPRETERS[version]
    target = probe(python)
    assert target.python_version == _label(version)
    assert target.markers["python_version"] == _label(version)
    nodot = f"{version[0]}{version[1]}"
    assert str(target.tags[0]).startswith(f"cp{nodot}-cp{nodot}")
    assert any(str(tag) == f"cp{nodot}-none-any" for tag in target.tags)
    assert str(target.tags[-1]) == "py30-none-any"
    pip_tags = _pip_debug_tags(python)
    if pip_tags is None:
        pytest.skip(f"no pip in {python} to compare the tags with")
    # pip's vendored packaging may be older and order linux_* differently; the set is the
    # contract (and the order is checked against sys_tags() above).
    assert {str(t) for t in target.tags} == pip_tags


def _pip_debug_tags(python: str) -> set[str] | None:
    done = subprocess.run(
        [python, "-m", "pip", "debug", "--verbose"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0 or "Compatible tags:" not in done.stdout:
        return None
    listing = done.stdout.split("Compatible tags:", 1)[1].splitlines()[1:]
    return {line.strip() for line in listing if re.fullmatch(r"\s+\S+-\S+-\S+", line)}


@pytest.mark.parametrize("version", ENDS, ids=[_label(v) for v in ENDS])
def test_probe_imports_only_the_targets_standard_library(version: tuple[int, int]) -> None:
    """Run the probe's whole description in the target, then list every module it loaded
    that is not built in or from the target's standard library."""
    check = (
        "import sys, sysconfig, os\n"
        "before = set(sys.modules)\n"
        "namespace = {'__name__': 'probe'}\n"
        f"exec(compile(open({str(SCRIPT)!r}).read(), 'probe', 'exec'), namespace)\n"
        "namespace['describe']()\n"
        "paths = sysconfig.get_paths()\n"
        "roots = tuple(os.path.realpath(paths[k]) + os.sep for k in ('stdlib', 'platstdlib'))\n"
        "outside = sorted(\n"
        "    name for name in set(sys.modules) - before\n"
        "    if getattr(sys.modules[name], '__file__', None)\n"
        "    and not os.path.realpath(sys.modules[name].__file__).startswith(roots)\n"
        ")\n"
        "print(outside)\n"
    )
    python = INTERPRETERS[version]
    done = subprocess.run(
        [python, "-c", check], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


@pytest.mark.skipif(not TOO_OLD, reason="no interpreter older than 3.9 on this machine")
@pytest.mark.parametrize("version", TOO_OLD, ids=[_label(v) for v in TOO_OLD])
def test_too_old_target_is_named(version: tuple[int, int]) -> None:
    python = INTERPRETERS[version]
    with pytest.raises(EnvironmentProbeError) as info:
        probe(python)
    full = _ask(python, "import platform; print(platform.python_version())")
    assert f"is CPython {full}; sysnative needs Python 3.9 or newer" in info.value.message
    assert info.value.hint
    assert "3.9 or newer" in info.value.hint


def test_the_probe_answers_json_on_its_own() -> None:
    """What the target prints is one JSON object (no import of sysnative needed there)."""
    done = subprocess.run(
        [sys.executable, "-I", "-c", SCRIPT.read_text(encoding="utf-8")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(done.stdout)
    assert answer["platform"]["python_version"] == list(sys.version_info[:2])
    assert answer["executable"] == sys.executable
