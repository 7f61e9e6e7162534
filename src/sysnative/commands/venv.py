"""``sysnative venv PATH``: the one kind of venv in which system packages and pip agree.

A venv for ``install --system-native`` must be made by the interpreter the system's packages
are built for, with ``--system-site-packages`` (so their site dir is on ``sys.path``), and must
have pip (the index side is installed with it). Each of those is easy to get wrong by hand: a
pyenv or uv Python, a forgotten flag, or Debian's split of ``ensurepip`` into the separate
``python3-venv`` package, whose absence leaves a venv without pip and a message that scrolls
by. So this module makes the venv with the provider's interpreter, checks the result, and
turns each failure into one explanation.

It never deletes what it did not make: an existing directory that is not a venv is refused,
even with ``--clear``, and an existing venv is replaced only with ``--clear``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from sysnative import runner
from sysnative.commands.options import add_provider_argument, effective_config
from sysnative.errors import VenvError
from sysnative.runner import CommandNotFound, Completed

__all__ = [
    "CreatedVenv",
    "activation_lines",
    "add_arguments",
    "create_venv",
    "explain_venv_failure",
    "run",
]

_PYTHON3_VENV_HINT = (
    "On Debian and Ubuntu, ensurepip comes with the python3-venv package: "
    "apt-get install python3-venv (as root), then run this command again."
)


@dataclass(frozen=True)
class CreatedVenv:
    """A venv that was made and checked."""

    path: Path
    #: ``path/bin/python``.
    python: Path
    #: The interpreter the venv was made from (the provider's).
    base_interpreter: str
    pip_version: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``sysnative venv``'s options and arguments."""
    parser.add_argument("path", metavar="PATH", help="where to make the venv")
    add_provider_argument(parser)
    parser.add_argument(
        "--clear",
        action="store_true",
        help="replace an existing venv at PATH (what is installed in it is removed)",
    )


def run(args: argparse.Namespace, verbose: int) -> int:
    """``sysnative venv PATH``: make it, check it, and say how to use it."""
    from sysnative import probe
    from sysnative.checks import preflight
    from sysnative.errors import TargetRefused
    from sysnative.providers import select_provider

    config = effective_config(args)
    provider = select_provider(config.provider, options=config.all_provider_options)
    interpreter = provider.interpreter()
    created = create_venv(args.path, interpreter, clear=args.clear)
    made = probe.probe(str(created.python))
    problems = preflight.check_target(
        made,
        probe.probe(interpreter),
        provider.site_dirs(),
        break_system_packages=False,
    )
    if problems:  # made with the provider's Python, so only a broken system gets here
        raise TargetRefused(str(created.path), problems)
    print(
        f"Created {created.path}: Python {made.python_full_version} from {interpreter}, "
        f"seeing the system's packages ({', '.join(provider.site_dirs())}), pip "
        f"{created.pip_version}."
    )
    print("Activate it with:")
    for line in activation_lines(args.path):
        print(f"  {line}")
    print("or install into it without activating:")
    print(f"  sysnative install --system-native --python {shlex.quote(args.path)} REQ...")
    return 0


def create_venv(
    path: str | os.PathLike[str], interpreter: str, *, clear: bool = False
) -> CreatedVenv:
    """Make a venv at ``path`` from ``interpreter`` with the system's site packages and pip.

    Raises :class:`VenvError` (and leaves no half-made venv behind when the directory did not
    exist before) when ``path`` is in the way, the interpreter is missing, or pip is not there.
    """
    target = Path(os.path.abspath(path))
    before = _check_destination(target, clear=clear)
    argv = [interpreter, "-m", "venv", "--system-site-packages"]
    if clear:
        argv.append("--clear")
    argv.append(str(target))
    try:
        done = runner.run(argv, timeout=600)
    except CommandNotFound as exc:
        raise VenvError(
            f"The system's Python {interpreter} was not found, so no venv was made.",
            "Install the system's python3 with the system package manager.",
        ) from exc
    if not done.ok:
        _undo(target, before)
        raise explain_venv_failure(done)
    python = target / "bin" / "python"
    pip = runner.run([str(python), "-m", "pip", "--version"], timeout=120)
    if not pip.ok:
        _undo(target, before)
        raise VenvError(
            f"The new venv at {target} has no working pip: {pip.describe()}",
            _PYTHON3_VENV_HINT,
        )
    words = pip.stdout.split()
    version = words[1] if len(words) > 1 and words[0] == "pip" else "unknown"
    return CreatedVenv(target, python, interpreter, version)


def _check_destination(target: Path, *, clear: bool) -> str:
    """Refuse a destination we could damage; say what is there: absent, empty or venv."""
    if not target.exists():
        return "absent"
    if not target.is_dir():
        raise VenvError(
            f"{target} exists and is not a directory, so no venv was made there.",
            "Choose another path.",
        )
    if not any(target.iterdir()):
        return "empty"
    if not (target / "pyvenv.cfg").is_file():
        raise VenvError(
            f"{target} is not empty and is not a virtual environment; sysnative will not "
            "write over it.",
            "Choose another path, or empty the directory yourself first.",
        )
    if not clear:
        raise VenvError(
            f"{target} is already a virtual environment.",
            f"Recreate it with: sysnative venv --clear {shlex.quote(str(target))} "
            "(this removes what is installed in it), or choose another path.",
        )
    return "venv"


def _undo(target: Path, before: str) -> None:
    """Take a failed venv away again, back to what was there (an old venv is gone anyway)."""
    if before == "absent":
        shutil.rmtree(target, ignore_errors=True)
    elif before == "empty":
        for child in target.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def explain_venv_failure(done: Completed) -> VenvError:
    """A failed ``python -m venv`` as an error; a missing ``ensurepip`` gets its own hint."""
    text = f"{done.stdout}\n{done.stderr}"
    if "ensurepip" in text:
        return VenvError(
            "The venv was not created: this Python's ensurepip module, which installs pip "
            "into new venvs, is not available.",
            _PYTHON3_VENV_HINT,
        )
    return VenvError(f"The venv was not created: {done.describe()}")


def activation_lines(path: str) -> tuple[str, ...]:
    """How to use the venv at ``path`` (as the user typed it), one line per shell."""
    bin_dir = shlex.quote(os.path.join(path, "bin"))
    return (
        f"source {bin_dir}/activate        # bash, zsh",
        f"source {bin_dir}/activate.fish   # fish",
        f"source {bin_dir}/activate.csh    # csh, tcsh",
    )
