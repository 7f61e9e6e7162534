"""A lock as a Dockerfile snippet or a POSIX shell script that reproduces it without sysnative.

CI images are often built where installing sysnative first is unwelcome. The export carries
out the same steps as ``sysnative install --lock``, in plain ``apt-get``, ``python3 -m venv``
and ``pip``, and keeps the checks that can be kept:

1. the machine must be the one the lock was made for (``/etc/os-release``'s ``ID`` and
   ``VERSION_ID``, ``dpkg --print-architecture``): a distro version exists only in its
   release, and on another one apt would fail half way or install something else;
2. one ``apt-get install`` of every distro package of the lock at its exact version
   (``pkg=version``), plus ``python3-venv`` to make the venv, then ``dpkg-query`` confirms
   each version (apt can succeed with something other than what was asked for a dependency);
3. a venv from the system's ``python3`` with ``--system-site-packages`` (so it sees the
   system's packages), checked to be the lock's Python version;
4. ``pip install --no-deps --require-hashes`` of ``name==version --hash=sha256:...`` lines:
   pip refuses any file whose hash is not the locked one, whichever index serves it.

What the export cannot do: compare apt's whole transaction with the lock's closure before
installing (``install --lock`` refuses a machine that would need other packages first), and
write the marker metadata some system packages need (see ``docs/ci.md``).

Every value that reaches a shell is quoted with :func:`shlex.quote`. Pure functions: a
:class:`~sysnative.lock.model.Lock` in, text out.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sysnative import __version__

if TYPE_CHECKING:
    from sysnative.lock.model import Lock

__all__ = ["FORMATS", "apt_pins", "dockerfile", "requirement_lines", "shell_script"]

FORMATS = ("dockerfile", "shell")

#: What the venv needs on Debian and Ubuntu; not in the lock (the lock's system packages
#: are what the environment imports), so installed at the release's own version.
_VENV_PACKAGE = "python3-venv"
#: Where the Dockerfile puts the venv, unless told otherwise.
DOCKER_VENV = "/opt/venv"
SHELL_VENV = ".venv"


def apt_pins(lock: Lock) -> tuple[str, ...]:
    """``package[:arch]=version`` for every distro package of the lock, sorted.

    The closure (what the system step installed when the lock was made) and the system
    rows that were already installed then (a fresh image needs them too). A foreign
    architecture is named; ``all`` and the native one are not.
    """
    pins: dict[str, str] = {}
    native = lock.machine.architecture
    for item in lock.closure:
        name = item.name
        if item.architecture and item.architecture not in ("all", native):
            name = f"{name}:{item.architecture}"
        pins.setdefault(name, item.version)
    in_closure = {item.name for item in lock.closure}
    for row in lock.system:
        if row.package and row.distro_version and row.package not in in_closure:
            pins.setdefault(row.package, row.distro_version)
    return tuple(f"{name}={version}" for name, version in sorted(pins.items()))


def requirement_lines(lock: Lock) -> tuple[str, ...]:
    """``name==version --hash=sha256:...`` for each wheel of the lock, as pip reads them."""
    return tuple(f"{w.project}=={w.version} --hash=sha256:{w.sha256}" for w in lock.wheels)


def _q(words: Sequence[str]) -> str:
    return " ".join(shlex.quote(w) for w in words)


def _machine_check(lock: Lock, source: str) -> str:
    """One shell command that exits 1, saying what differs, on another distro or arch."""
    machine = lock.machine
    want = f"{machine.distro_id} {machine.distro_version}"
    from sysnative.lock.replay import relock_command

    relock = relock_command(lock, source)
    tests = [
        f'[ "${{ID:-}}" != {shlex.quote(machine.distro_id)} ]',
        f'[ "${{VERSION_ID:-}}" != {shlex.quote(machine.distro_version)} ]',
    ]
    what = f"{want}"
    if machine.architecture:
        tests.append(f'[ "$(dpkg --print-architecture)" != {shlex.quote(machine.architecture)} ]')
        what += f" ({machine.architecture})"
    message = shlex.quote(
        f"error: the lock was made on {what}; its exact versions do not exist elsewhere. "
        f"Make a new lock on this machine: {relock}. This machine is: "
    )
    return (
        ". /etc/os-release && if "
        + " || ".join(tests)
        + f'; then echo {message}"${{ID:-unknown}} ${{VERSION_ID:-unknown}} '
        + '$(dpkg --print-architecture)" >&2; exit 1; fi'
    )


def _verify_pins(pins: Sequence[str]) -> str:
    """One shell command that confirms every pinned version with dpkg-query."""
    return (
        f"for pin in {_q(pins)}; do name=${{pin%%=*}}; want=${{pin#*=}}; "
        "have=$(dpkg-query -W -f '${Version}' \"$name\" 2>/dev/null || true); "
        'if [ "$have" != "$want" ]; then '
        'echo "error: $name is ${have:-not installed}, the lock has $want" >&2; exit 1; fi; '
        "done"
    )


def _python_check(lock: Lock, python: str) -> str:
    """Exit 1 unless ``python`` (a shell word, quoted by the caller) is the lock's version."""
    major, _, minor = lock.target.python_version.partition(".")
    code = f"import sys; sys.exit(sys.version_info[:2] != ({int(major)}, {int(minor)}))"
    message = shlex.quote(
        f"error: the venv Python is not Python {lock.target.python_version}, as the lock requires"
    )
    return f"{{ {python} -c {shlex.quote(code)} || {{ echo {message} >&2; exit 1; }}; }}"


def _header(lock: Lock, source: str, how: str) -> list[str]:
    machine = lock.machine
    made = f"{machine.distro_id} {machine.distro_version}" + (
        f" ({machine.architecture})" if machine.architecture else ""
    )
    lines = [
        f"# Reproduces {source} without sysnative: `sysnative export --format {how}`",
        f"# (sysnative {__version__}). The lock was made on {made} for {lock.target.describe()}",
        f"# by sysnative {lock.sysnative_version or 'unknown'}.",
    ]
    indexes = sorted({w.index for w in lock.wheels if w.index})
    if indexes:
        lines.append(
            "# The wheels came from "
            + ", ".join(indexes)
            + "; pip uses its own index configuration and accepts only the locked hashes."
        )
    return lines


def dockerfile(lock: Lock, *, source: str = "pylock.toml", venv: str = DOCKER_VENV) -> str:
    """``RUN`` steps for a Dockerfile whose base image is the lock's distro release."""
    pins = apt_pins(lock)
    python = f"{venv}/bin/python"
    lines = _header(lock, source, "dockerfile")
    lines.append(
        f"# Base image: {lock.machine.distro_id}:{lock.machine.distro_version} "
        "(as root). The venv is " + venv + "."
    )
    lines.append(f"RUN {_machine_check(lock, source)}")
    apt = [
        "RUN apt-get update \\",
        " && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\",
        *(f"      {shlex.quote(p)} \\" for p in (_VENV_PACKAGE, *pins)),
    ]
    if pins:
        apt.append(f" && {_verify_pins(pins)} \\")
    apt.append(" && rm -rf /var/lib/apt/lists/*")
    lines += apt
    venv_step = [
        f"RUN python3 -m venv --system-site-packages {shlex.quote(venv)} \\",
        f" && {_python_check(lock, shlex.quote(python))}",
    ]
    requirements = requirement_lines(lock)
    if requirements:
        listing = f"{venv}/sysnative-lock.txt"
        venv_step[-1] += " \\"
        venv_step += [
            " && printf '%s\\n' \\",
            *(f"      {shlex.quote(r)} \\" for r in requirements),
            f"    > {shlex.quote(listing)} \\",
            f" && {shlex.quote(python)} -m pip install --no-cache-dir --no-deps "
            f"--require-hashes --only-binary :all: -r {shlex.quote(listing)}",
        ]
    lines += venv_step
    bin_dir = shlex.quote(f"{venv}/bin")
    lines.append(f"ENV VIRTUAL_ENV={shlex.quote(venv)} PATH={bin_dir}:$PATH")
    return "\n".join(lines) + "\n"


def shell_script(lock: Lock, *, source: str = "pylock.toml") -> str:
    """A POSIX ``sh`` script: ``sh SCRIPT [VENV]`` (default ``.venv``), as root or with sudo."""
    pins = apt_pins(lock)
    lines = ["#!/bin/sh", *_header(lock, source, "shell")]
    lines += [
        f"# Usage: sh SCRIPT [VENV] (default: {SHELL_VENV}); as root, or with sudo.",
        "set -eu",
        "",
        f'venv="${{1:-{SHELL_VENV}}}"',
        "",
        "# The machine the lock was made for: distro versions exist only in their release.",
        _machine_check(lock, source),
        "",
        "# apt needs root: run as root, or through sudo.",
        'if [ "$(id -u)" -eq 0 ]; then',
        "    as_root=",
        "elif command -v sudo >/dev/null 2>&1; then",
        "    as_root=sudo",
        "else",
        "    echo 'error: installing the system packages needs root: run this script as "
        "root, or install sudo' >&2",
        "    exit 1",
        "fi",
        "",
        "# The system packages at the exact versions of the lock, then dpkg's word on them.",
        "$as_root apt-get update",
        "$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\",
    ]
    lines += [f"    {shlex.quote(p)} \\" for p in (_VENV_PACKAGE, *pins)]
    lines[-1] = lines[-1][: -len(" \\")]
    if pins:
        lines.append(_verify_pins(pins))
    lines += [
        "",
        "# A venv of the system's python3 that sees the system's packages.",
        'python3 -m venv --system-site-packages "$venv"',
        _python_check(lock, '"$venv/bin/python"'),
    ]
    requirements = requirement_lines(lock)
    if requirements:
        lines += [
            "",
            "# The wheels from the index: pip accepts only files with the locked hashes.",
            'requirements="$(mktemp)"',
            "trap 'rm -f \"$requirements\"' EXIT",
            "printf '%s\\n' \\",
            *(f"    {shlex.quote(r)} \\" for r in requirements),
            '    > "$requirements"',
            '"$venv/bin/python" -m pip install --no-deps --require-hashes --only-binary :all: '
            '-r "$requirements"',
        ]
    lines += ["", 'echo "Installed the lock into $venv."']
    return "\n".join(lines) + "\n"
