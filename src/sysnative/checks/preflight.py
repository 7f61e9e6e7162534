"""Is the target an environment system packages can work in? Pure checks, each with its fix.

``install --system-native`` puts native projects into the system's site dir through the
package manager and pure wheels into the target through pip. That only makes a working
environment when the target *sees* the system's site dir, runs the Python version the
system's packages were built for, and may be written to at all. Each of those is checked
here, before anything changes, on values probed beforehand (the target and the provider's
interpreter), so the checks are plain functions that tests can run on hand-built values.

Every :class:`Problem` carries the exact command that fixes it, because "your environment is
wrong" without a way out only moves the question to a search engine. The commands name the
provider's interpreter as probed (``Provider.interpreter()``), never a hard-coded path.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from sysnative.target import TargetEnvironment

__all__ = [
    "CHECKS",
    "EXTERNALLY_MANAGED",
    "PYTHON_VERSION",
    "SITE_DIR_NOT_SEEN",
    "Problem",
    "check_target",
]

#: Problem codes (stable: ``doctor --json`` reports them).
SITE_DIR_NOT_SEEN = "site-dir-not-seen"
PYTHON_VERSION = "python-version"
EXTERNALLY_MANAGED = "externally-managed"

#: Every check in the order it runs, with what passing it means (``doctor`` lists them all).
CHECKS: tuple[tuple[str, str], ...] = (
    (SITE_DIR_NOT_SEEN, "the target sees the system's site dir"),
    (PYTHON_VERSION, "the target runs the Python version the system's packages are built for"),
    (EXTERNALLY_MANAGED, "the target may be installed into (PEP 668)"),
)

#: Where a new venv goes when the target is not a venv (relative: the user's current dir).
_DEFAULT_VENV = ".venv"


@dataclass(frozen=True)
class Problem:
    """One reason to refuse the target, and the command that removes it."""

    code: str
    message: str
    #: The exact command that fixes the problem.
    fix: str
    #: Other ways out (another command, or a flag to add), in order of preference.
    alternatives: tuple[str, ...] = ()


def check_target(
    target: TargetEnvironment,
    provider_python: TargetEnvironment | None,
    site_dirs: Sequence[str],
    *,
    break_system_packages: bool,
    interpreter: str | None = None,
) -> tuple[Problem, ...]:
    """Every problem that makes ``target`` unusable with the provider; empty when usable.

    ``provider_python`` is the probe of the provider's interpreter (``None`` when it could not
    be probed: the version check is then skipped, and the caller reports why). ``site_dirs``
    are the provider's site dirs. ``interpreter`` names the provider's interpreter in the
    fixes; it defaults to the probed one's executable.
    """
    python = interpreter or (provider_python.executable if provider_python else None)
    fix, alternatives = _venv_fix(target, python)
    problems: list[Problem] = []

    unseen = [d for d in site_dirs if not target.sees(d)]
    if unseen:
        problems.append(
            Problem(
                SITE_DIR_NOT_SEEN,
                f"{target.executable} cannot see {', '.join(unseen)}, where the system's "
                f"packages are installed, so they would not be importable there: "
                f"{_why_unseen(target, python)}",
                fix,
                alternatives,
            )
        )

    if provider_python is not None and target.python_version != provider_python.python_version:
        problems.append(
            Problem(
                PYTHON_VERSION,
                f"{target.executable} is Python {target.python_version}, but the system's "
                f"packages are built for Python {provider_python.python_version} "
                f"({provider_python.executable}): their compiled modules would not load.",
                fix,
                alternatives,
            )
        )

    if target.externally_managed and not break_system_packages:
        # PEP 668 never applies inside a venv, so the fix is a new venv.
        problems.append(
            Problem(
                EXTERNALLY_MANAGED,
                f"{target.executable} is marked as externally managed (PEP 668): the "
                "system's package manager owns it, and packages pip puts there can break "
                "the system's own tools.",
                fix,
                (
                    *alternatives,
                    "add --break-system-packages to the install command to install into "
                    "the system's Python anyway",
                ),
            )
        )
    return tuple(problems)


def _why_unseen(target: TargetEnvironment, python: str | None) -> str:
    """The likely cause, in the words of the person who made the environment."""
    if target.is_venv and target.include_system_site_packages is False:
        return (
            "it is a venv created without --system-site-packages (recreating it removes "
            "what is installed in it)."
        )
    if target.is_venv:
        base = f"its base Python ({target.base_prefix})"
        return f"it is a venv whose {base} is not the system's Python ({python or 'unknown'})."
    return (
        f"it is not the system's Python ({python or 'unknown'}), for example a pyenv or "
        "uv-managed interpreter."
    )


def _venv_fix(target: TargetEnvironment, python: str | None) -> tuple[str, tuple[str, ...]]:
    """Recreate the target venv (or make a new one) from the provider's interpreter.

    A venv target is recreated in place (``--clear``), which is what the user wants: the same
    path, now able to see the system's packages. Anything else gets a new ``.venv``.
    """
    if target.is_venv:
        path = shlex.quote(target.prefix)
        command = f"sysnative venv --clear {path}"
        raw = f"-m venv --clear --system-site-packages {path}"
    else:
        command = f"sysnative venv {_DEFAULT_VENV}"
        raw = f"-m venv --system-site-packages {_DEFAULT_VENV}"
    alternatives = (f"{shlex.quote(python)} {raw}",) if python else ()
    return command, alternatives
