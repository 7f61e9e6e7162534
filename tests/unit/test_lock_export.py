"""``sysnative export``: a lock as a Dockerfile snippet or a POSIX shell script."""

from __future__ import annotations

import shlex
import shutil
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from sysnative.cli import main
from sysnative.lock import document, export
from sysnative.lock.model import Lock, LockedSystem, LockedWheel, LockMachine, LockTarget
from sysnative.models import ClosureItem

SHA = "c" * 64


def make_lock(**changes: object) -> Lock:
    lock = Lock(
        machine=LockMachine("apt", "debian", "12", "amd64"),
        target=LockTarget(
            "3.11",
            "3.11.2",
            "cpython",
            {
                "implementation_name": "cpython",
                "platform_machine": "x86_64",
                "platform_python_implementation": "CPython",
                "python_version": "3.11",
                "sys_platform": "linux",
            },
        ),
        system=(
            LockedSystem(
                canonicalize_name("numpy"),
                Version("1.24.2"),
                "python3-numpy",
                "1:1.24.2-1+deb12u1",
                "amd64",
                requested=True,
            ),
            LockedSystem(
                canonicalize_name("pyyaml"),
                Version("6.0"),
                "python3-yaml",
                "6.0-3+b2",
                installed=True,
            ),
            LockedSystem(canonicalize_name("six"), Version("1.16.0"), None, None, installed=True),
        ),
        closure=(
            ClosureItem("python3-numpy", "1:1.24.2-1+deb12u1", "amd64"),
            ClosureItem("libgfortran5", "12.2.0-14", "i386"),
            ClosureItem("python3-beniget", "0.4.1-3", "all"),
        ),
        wheels=(
            LockedWheel(
                canonicalize_name("requests"),
                Version("2.31.0"),
                "requests-2.31.0-py3-none-any.whl",
                "https://127.0.0.1:8443/files/requests-2.31.0-py3-none-any.whl",
                SHA,
                100,
                index="https://127.0.0.1:8443/simple",
            ),
        ),
        requirements=("numpy", "requests"),
    )
    return replace(lock, **changes)  # type: ignore[arg-type]


PINS = (
    "libgfortran5:i386=12.2.0-14",  # a foreign architecture is named
    "python3-beniget=0.4.1-3",  # "all" is not
    "python3-numpy=1:1.24.2-1+deb12u1",
    "python3-yaml=6.0-3+b2",  # installed when the lock was made: a fresh image needs it
)


def test_every_distro_package_is_pinned() -> None:
    assert export.apt_pins(make_lock()) == PINS


def test_requirements_carry_the_locked_hashes() -> None:
    assert export.requirement_lines(make_lock()) == (f"requests==2.31.0 --hash=sha256:{SHA}",)


def sh_syntax(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.sh"
    script.write_text(text, encoding="utf-8")
    return subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True, check=False)


def test_the_shell_script_is_valid_sh(tmp_path: Path) -> None:
    text = export.shell_script(make_lock())
    checked = sh_syntax(text, tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert text.startswith("#!/bin/sh\n")
    assert "\nset -eu\n" in text
    assert 'if [ "$(id -u)" -eq 0 ]; then' in text  # root, or sudo
    for pin in PINS:
        assert f"    {shlex.quote(pin)}" in text
    assert "apt-get install -y --no-install-recommends" in text
    assert "dpkg-query -W -f '${Version}'" in text
    assert 'python3 -m venv --system-site-packages "$venv"' in text
    assert shlex.quote(f"requests==2.31.0 --hash=sha256:{SHA}") in text
    assert "-m pip install --no-deps --require-hashes" in text


def test_the_dockerfile_pins_versions_and_hashes() -> None:
    text = export.dockerfile(make_lock(), venv="/srv/app venv")
    lines = text.splitlines()
    assert all(line.startswith(("#", "RUN ", " ", "ENV ")) for line in lines), text
    assert lines[-1] == "ENV VIRTUAL_ENV='/srv/app venv' PATH='/srv/app venv/bin':$PATH"
    apt = text[text.index("RUN apt-get update") :]
    for pin in PINS:
        assert f"      {shlex.quote(pin)} \\" in apt
    assert " && rm -rf /var/lib/apt/lists/*" in apt
    assert "RUN python3 -m venv --system-site-packages '/srv/app venv'" in text
    assert f"'requests==2.31.0 --hash=sha256:{SHA}'" in text
    assert "--no-deps --require-hashes" in text
    # The RUN steps are shell: each must parse (continuations joined).
    for step in text.split("\nRUN ")[1:]:
        body = step.split("\nENV ")[0].replace("\\\n", "")
        assert subprocess.run(["sh", "-n", "-c", body], check=False).returncode == 0, body


def test_the_machine_check_refuses_another_machine(tmp_path: Path) -> None:
    """Run for real: the check fails first (no such distro), before root or apt; a hostile
    value in the lock stays a string."""
    if not Path("/etc/os-release").is_file() or shutil.which("dpkg") is None:
        pytest.skip("needs /etc/os-release and dpkg")
    hostile = make_lock(
        machine=LockMachine("apt", "no'distro$(touch pwned)", "0.1", "amd64"),
        requirements=("numpy; $(touch pwned2)",),
    )
    script = tmp_path / "install.sh"
    script.write_text(export.shell_script(hostile), encoding="utf-8")

    done = subprocess.run(
        ["sh", str(script), str(tmp_path / "venv")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 1
    assert "error: the lock was made on no'distro$(touch pwned) 0.1 (amd64)" in done.stderr
    assert "This machine is: " in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["install.sh"]


def test_a_lock_without_wheels_or_system_packages() -> None:
    lock = make_lock(system=(), closure=(), wheels=())
    text = export.shell_script(lock)
    assert "pip install" not in text
    assert "dpkg-query" not in text
    assert "    python3-venv\n" in text  # the venv still needs it
    assert "pip install" not in export.dockerfile(lock)


def test_export_command_writes_an_executable_script(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock_path = tmp_path / "pylock.toml"
    lock_path.write_text(document.dumps(document.to_document(make_lock())), encoding="utf-8")
    out = tmp_path / "install.sh"

    assert main(["export", "--format", "shell", str(lock_path), "-o", str(out)]) == 0
    assert main(["export", "--format", "dockerfile", str(lock_path)]) == 0

    lock = document.loads(lock_path.read_text(encoding="utf-8"), str(lock_path))
    assert out.read_text(encoding="utf-8") == export.shell_script(lock, source=str(lock_path))
    assert out.stat().st_mode & stat.S_IXUSR
    assert capsys.readouterr().out == export.dockerfile(lock, source=str(lock_path))
