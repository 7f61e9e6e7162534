"""The wheel step with real pip into throwaway venvs: success, a failure midway, SIGTERM.

pip's install order among unrelated wheels is its own business, so the failure tests put
the broken wheel between two good ones by name (``aaa``, ``mmm``, ``zzz``): whichever way
pip orders them, one good wheel is installed before the broken one stops it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from fakeindex import build_wheel
from sysnative.errors import WheelStepError
from sysnative.install.staging import StagedWheel
from sysnative.install.wheels import find_pip, install_wheels
from sysnative.probe import probe
from sysnative.target import TargetEnvironment

GOOD = ("aaa", "zzz")


def _make_venv(where: Path, *, with_pip: bool) -> Path:
    argv = [sys.executable, "-m", "venv", str(where)]
    if not with_pip:
        argv.insert(3, "--without-pip")
    subprocess.run(argv, check=True, capture_output=True)
    return where / "bin" / "python"


@pytest.fixture
def bare_venv(tmp_path: Path) -> Path:
    """A venv without pip (the running interpreter's pip serves it with --python)."""
    return _make_venv(tmp_path / "venv", with_pip=False)


@pytest.fixture
def pip_venv(tmp_path: Path) -> Path:
    """A venv with its own pip."""
    return _make_venv(tmp_path / "venv", with_pip=True)


def _staged(directory: Path, name: str, version: str, *, corrupt: bool = False) -> StagedWheel:
    path = build_wheel(directory, name, version)
    if corrupt:
        _corrupt_package_member(path, name)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return StagedWheel(canonicalize_name(name), Version(version), path, digest, True)


def _corrupt_package_member(path: Path, name: str) -> None:
    """Damage the compressed bytes of ``<name>/__init__.py``; the metadata stays readable.

    pip reads the metadata while preparing (fine) and fails only when it extracts the
    package, that is after it installed the wheels it took before this one.
    """
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(f"{name}/__init__.py")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data = bytearray(path.read_bytes())
    for i in range(start, start + info.compress_size):
        data[i] ^= 0x55
    path.write_bytes(bytes(data))


def _versions(target: TargetEnvironment, *names: str) -> dict[str, str | None]:
    """The version of each name installed in the target's own site dir (None: not there)."""
    found: dict[str, str | None] = {}
    for name in names:
        dist = target.installed.get(canonicalize_name(name))
        inside = (
            dist is not None and Path(dist.location).resolve() == Path(target.purelib).resolve()
        )
        found[name] = str(dist.version) if dist is not None and inside else None
    return found


def _has_pip(target: TargetEnvironment) -> bool:
    return any(Path(target.purelib).glob("pip-*.dist-info"))


def _site_entries(target: TargetEnvironment, *names: str) -> list[str]:
    """Files and directories of ``names`` (packages and .dist-info) in the site dir."""
    site = Path(target.purelib)
    return sorted(p.name for p in site.iterdir() if p.name.split("-")[0] in names)


def test_installs_with_the_targets_own_pip_and_skips_what_is_there(
    pip_venv: Path, tmp_path: Path
) -> None:
    wheels = tmp_path / "wheels"
    demo, dep = _staged(wheels, "demo", "1.0"), _staged(wheels, "dep", "2.0")
    target = probe(str(pip_venv))

    outcome = install_wheels([demo, dep], target, work_dir=tmp_path / "work1")

    assert outcome.installed == (demo, dep)
    assert outcome.skipped == ()
    assert outcome.command[:3] == (str(pip_venv), "-m", "pip")
    after = probe(str(pip_venv))
    assert _versions(after, "demo", "dep") == {"demo": "1.0", "dep": "2.0"}
    # Installed like from an index: no direct URL to the staging directory.
    freeze = subprocess.run(
        [str(pip_venv), "-m", "pip", "freeze"], check=True, capture_output=True, text=True
    ).stdout.split()
    assert "demo==1.0" in freeze
    assert "dep==2.0" in freeze

    newer, other = _staged(wheels, "demo", "1.1"), _staged(wheels, "other", "0.1")
    second = install_wheels([dep, newer, other], after, work_dir=tmp_path / "work2")

    assert second.skipped == (dep,)
    assert second.installed == (newer, other)
    assert second.replaced == ((canonicalize_name("demo"), Version("1.0")),)
    assert _versions(probe(str(pip_venv)), "demo", "dep", "other") == {
        "demo": "1.1",
        "dep": "2.0",
        "other": "0.1",
    }


def test_a_target_without_pip_uses_the_running_pip_and_gets_no_pip(
    bare_venv: Path, tmp_path: Path
) -> None:
    demo = _staged(tmp_path / "wheels", "demo", "1.0")
    target = probe(str(bare_venv))
    assert not _has_pip(target)

    outcome = install_wheels([demo], target, work_dir=tmp_path / "work")

    assert outcome.command[:5] == (sys.executable, "-m", "pip", "--python", str(bare_venv))
    after = probe(str(bare_venv))
    assert _versions(after, "demo") == {"demo": "1.0"}
    assert not _has_pip(after)


def test_without_a_usable_pip_it_explains_instead_of_bootstrapping(bare_venv: Path) -> None:
    target = probe(str(bare_venv))

    with pytest.raises(WheelStepError, match=r"has no pip.*pip 22\.2") as caught:
        find_pip(target, running_pip=Version("22.2"))

    assert "ensurepip" in (caught.value.hint or "")


def test_a_wheel_pip_rejects_midway_rolls_back_the_ones_installed_before(
    bare_venv: Path, tmp_path: Path
) -> None:
    wheels = tmp_path / "wheels"
    keep = _staged(wheels, "keep", "1.0")
    install_wheels([keep], probe(str(bare_venv)), work_dir=tmp_path / "before")
    # A distribution the venv sees outside its site dir (as it sees the system's): pip does
    # not touch it, the copy it installs in front of it is removed again.
    elsewhere = tmp_path / "elsewhere"
    build_wheel(tmp_path / "x", "shadow", "1.0")
    with zipfile.ZipFile(tmp_path / "x" / "shadow-1.0-py3-none-any.whl") as archive:
        archive.extractall(elsewhere)
    target = probe(str(bare_venv))
    (Path(target.purelib) / "elsewhere.pth").write_text(f"{elsewhere}\n")
    target = probe(str(bare_venv))
    assert str(target.installed[canonicalize_name("shadow")].version) == "1.0"
    staged = [
        _staged(wheels, "aaa", "1.0"),
        _staged(wheels, "mmm", "1.0", corrupt=True),
        _staged(wheels, "shadow", "2.0"),
        _staged(wheels, "zzz", "1.0"),
    ]

    with pytest.raises(WheelStepError) as caught:
        install_wheels(staged, target, work_dir=tmp_path / "work")

    error = caught.value
    assert not error.interrupted
    assert "Installing the wheels failed" in str(error)
    installed_first = [text.split()[0] for text in error.installed]
    assert any(name in GOOD for name in installed_first), error.installed
    assert "mmm" not in installed_first
    assert error.removed == error.installed
    assert error.not_restored == ()
    after = probe(str(bare_venv))
    assert _versions(after, "aaa", "mmm", "zzz", "shadow", "keep") == {
        "aaa": None,
        "mmm": None,
        "zzz": None,
        "shadow": None,
        "keep": "1.0",
    }
    assert str(after.installed[canonicalize_name("shadow")].version) == "1.0"
    # Not even the file pip was writing when it failed is left.
    assert _site_entries(after, "aaa", "mmm", "zzz", "shadow") == []


def test_an_upgrade_in_place_is_reported_with_the_command_that_restores_it(
    bare_venv: Path, tmp_path: Path
) -> None:
    wheels = tmp_path / "wheels"
    old = [_staged(wheels, "aaa", "1.0"), _staged(wheels, "zzz", "1.0")]
    install_wheels(old, probe(str(bare_venv)), work_dir=tmp_path / "before")
    staged = [
        _staged(wheels, "aaa", "2.0"),
        _staged(wheels, "mmm", "1.0", corrupt=True),
        _staged(wheels, "zzz", "2.0"),
    ]

    with pytest.raises(WheelStepError) as caught:
        install_wheels(staged, probe(str(bare_venv)), work_dir=tmp_path / "work")

    error = caught.value
    ((upgraded, version),) = [tuple(text.split()) for text in error.installed]
    assert upgraded in GOOD
    assert version == "2.0"
    assert error.removed == ()
    assert error.not_restored == (f"{upgraded} 1.0 was upgraded in place to 2.0",)
    (command,) = error.commands
    assert command.endswith(f"install {upgraded}==1.0")
    assert f"{upgraded}==1.0" in (error.hint or "")
    untouched = "zzz" if upgraded == "aaa" else "aaa"
    assert _versions(probe(str(bare_venv)), upgraded, untouched, "mmm") == {
        upgraded: "2.0",
        untouched: "1.0",
        "mmm": None,
    }


# -- interruption ----------------------------------------------------------------------------

#: Loaded into every Python of the venv (through a .pth file): when pip starts writing the
#: package of a second wheel, say which one came first and wait on a FIFO that nobody
#: writes to. The step is then interrupted at a known point, with one wheel installed.
_HOOK = """
import os, sys

_FIFO = os.environ.get("SYSNATIVE_TEST_BLOCK_FIFO")
_SITE = os.path.dirname(os.path.abspath(__file__))
_first = []


def _hook(event, args):
    if event != "open" or not isinstance(args[0], str) or "w" not in str(args[1]):
        return
    relative = os.path.relpath(args[0], _SITE)
    if relative.startswith("..") or not relative.endswith("__init__.py"):
        return
    package = relative.split(os.sep)[0]
    if not _first:
        _first.append(package)
    elif package != _first[0]:
        with open(_FIFO + ".ready", "w") as ready:
            ready.write(_first[0])
        with open(_FIFO, "rb") as fifo:
            fifo.read()


if _FIFO:
    sys.addaudithook(_hook)
"""

#: Runs the step in its own process, the way the CLI would, and records what came out.
_RUNNER = """
import json, sys
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

from sysnative.probe import probe
from sysnative.errors import WheelStepError
from sysnative.install.staging import StagedWheel
from sysnative.install.wheels import install_wheels

args = json.loads(Path(sys.argv[1]).read_text())
wheels = [
    StagedWheel(canonicalize_name(w["project"]), Version(w["version"]), Path(w["path"]),
                w["sha256"], True)
    for w in args["wheels"]
]
try:
    install_wheels(wheels, probe(args["python"]), work_dir=Path(args["work_dir"]))
except WheelStepError as exc:
    result = {"message": str(exc), "hint": exc.hint, "installed": exc.installed,
              "removed": exc.removed, "not_restored": exc.not_restored,
              "interrupted": exc.interrupted}
    Path(args["result"]).write_text(json.dumps(result))
    sys.exit(exc.exit_code)
Path(args["result"]).write_text(json.dumps({"completed": True}))
"""


@contextlib.contextmanager
def _released(fifo: Path) -> Iterator[None]:
    """Let a process still waiting on ``fifo`` go, whatever happens in the test."""
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)


def _wait_for(path: Path, process: subprocess.Popen[bytes]) -> str:
    """The contents of ``path`` once it exists; fails if ``process`` ends first.

    The deadline only keeps a broken run from hanging; nothing is asserted about time.
    """
    deadline = time.monotonic() + 300
    while not path.exists():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the step ended before it was interrupted:\n{out!r}\n{err!r}")
        if time.monotonic() > deadline:
            pytest.fail("pip never reached the second wheel")
        time.sleep(0.05)
    return path.read_text()


def test_sigterm_during_the_step_rolls_back(pip_venv: Path, tmp_path: Path) -> None:
    site = Path(probe(str(pip_venv)).purelib)
    (site / "_block_second_wheel.py").write_text(textwrap.dedent(_HOOK))
    (site / "_block_second_wheel.pth").write_text("import _block_second_wheel\n")
    fifo = tmp_path / "block.fifo"
    os.mkfifo(fifo)
    wheels = [_staged(tmp_path / "wheels", name, "1.0") for name in ("aaa", "zzz")]
    args = tmp_path / "args.json"
    result = tmp_path / "result.json"
    args.write_text(
        json.dumps(
            {
                "python": str(pip_venv),
                "work_dir": str(tmp_path / "work"),
                "result": str(result),
                "wheels": [
                    {
                        "project": w.project,
                        "version": str(w.version),
                        "path": str(w.path),
                        "sha256": w.sha256,
                    }
                    for w in wheels
                ],
            }
        )
    )
    script = tmp_path / "run_step.py"
    script.write_text(_RUNNER)
    env = {**os.environ, "SYSNATIVE_TEST_BLOCK_FIFO": str(fifo)}

    with _released(fifo):
        process = subprocess.Popen(
            [sys.executable, str(script), str(args)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            first = _wait_for(Path(f"{fifo}.ready"), process)
            # pip is now blocked in the middle of the second wheel; the first is installed.
            assert first in ("aaa", "zzz")
            assert (site / f"{first}-1.0.dist-info" / "RECORD").exists()
            process.send_signal(signal.SIGTERM)
            _out, err = process.communicate(timeout=300)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()

    assert process.returncode == 130, err.decode()
    outcome = json.loads(result.read_text())
    assert outcome["interrupted"]
    assert outcome["installed"] == [f"{first} 1.0"]
    assert outcome["removed"] == [f"{first} 1.0"]
    assert outcome["not_restored"] == []
    assert "interrupted" in outcome["message"]
    after = probe(str(pip_venv))
    assert _versions(after, "aaa", "zzz") == {"aaa": None, "zzz": None}
    # The directory pip had begun for the second wheel is gone as well.
    assert _site_entries(after, "aaa", "zzz") == []
    # Only this run's wheels were removed.
    assert _has_pip(after)
