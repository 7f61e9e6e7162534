"""The commands of the ``sysnative`` program, one module each.

Each command module has, as pip's commands do, its ``NAME``, ``SUMMARY`` (the line in
``sysnative --help``) and ``DESCRIPTION``, ``add_arguments(parser)`` and
``run(args, verbose) -> int``; :mod:`sysnative.cli` builds the parser from them, runs the one
asked for and turns errors into messages and exit codes.

- :mod:`~sysnative.commands.install`: ``install`` (pip's, or ``--system-native``); its
  ``--lock FILE`` mode is :mod:`~sysnative.commands.install_lock`
- :mod:`~sysnative.commands.lock`, :mod:`~sysnative.commands.export`: PEP 751 locks
- :mod:`~sysnative.commands.venv`, :mod:`~sysnative.commands.doctor`: the target environment
- :mod:`~sysnative.commands.map`, :mod:`~sysnative.commands.config`,
  :mod:`~sysnative.commands.cache`: what sysnative knows and keeps

Shared by them: :mod:`~sysnative.commands.options` (flags and how they go over the
configuration), :mod:`~sysnative.commands.report` (the plan as text and JSON, pure),
:mod:`~sysnative.commands.output` (what is printed and written, and where) and
:mod:`~sysnative.commands.progress` (the install step's progress on a terminal).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["COMMANDS", "CommandInfo"]


@dataclass(frozen=True)
class CommandInfo:
    """What ``sysnative --help`` says of a command, and its own ``--help``'s description."""

    summary: str
    description: str


#: Every command, by name, in ``sysnative --help``'s order; the module of the same name holds
#: ``add_arguments(parser)`` and ``run(args, verbose) -> int`` (pip keeps its commands the
#: same way).
COMMANDS: dict[str, CommandInfo] = {
    "install": CommandInfo(
        summary=(
            "install requirements (like pip install; --system-native routes native code to the "
            "system)"
        ),
        description=("Without --system-native, the arguments go to `pip install` unchanged."),
    ),
    "venv": CommandInfo(
        summary=("make a venv that sees the system's packages (for install --system-native)"),
        description=(
            "Make a venv at PATH with the Python the system's packages are built for, --system-"
            "site-packages and pip."
        ),
    ),
    "doctor": CommandInfo(
        summary=("check whether install --system-native can work with a target, and how to fix it"),
        description=(
            "Exit status 0 when the target is usable for install --system-native, 1 otherwise."
        ),
    ),
    "lock": CommandInfo(
        summary=("plan like install --dry-run and write the plan as a PEP 751 pylock.toml"),
        description=(
            "Resolve the requirements as `install --system-native --dry-run` would and write the "
            "result, system packages included, to a PEP 751 lock file. `sysnative install --lock "
            "FILE` reproduces it on a machine like this one; `pip install --no-deps -r FILE` (pip"
            " 26.1 or newer) installs its index part."
        ),
    ),
    "export": CommandInfo(
        summary=("turn a lock into a Dockerfile snippet or a shell script (no sysnative needed)"),
        description=(
            "Write the steps that reproduce a lock made by `sysnative lock` with apt-get, python3"
            " -m venv and pip alone."
        ),
    ),
    "map": CommandInfo(
        summary=("show which system package provides each project, and from which mapping layer"),
        description=(
            "Show the layered mapping for each NAME (built-in data, $XDG_DATA_DIRS/external-"
            "packaging-metadata-mappings, site and user config, pyproject.toml "
            "[tool.sysnative.mapping.<ecosystem>], --mapping) and, when the ecosystem's package "
            "manager is on this machine, whether the package exists."
        ),
    ),
    "config": CommandInfo(
        summary=("show the effective configuration and where each value comes from"),
        description=(
            "Layers, lowest first: the site config.toml, the user config.toml, SYSNATIVE_* "
            "environment variables, command-line flags."
        ),
    ),
    "cache": CommandInfo(
        summary=("show or empty sysnative's cache"),
        description=(
            "Where the cache is (SYSNATIVE_CACHE_DIR overrides), what it holds, and emptying it. "
            "Nothing is lost by emptying it: the next run fetches again."
        ),
    ),
}
