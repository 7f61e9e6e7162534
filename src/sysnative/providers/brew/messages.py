"""How the Homebrew provider puts a failure to the user: formulae that changed since the plan,
an installation this user cannot write, and a transaction that did not end as planned.

Homebrew installs only a formula's current version and cannot downgrade, so the undo it can
offer is to uninstall what was new and to link again the kegs an upgrade replaced (kept,
because every command runs without cleanup).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from sysnative.errors import PrivilegeError, ProviderError, SystemStepError
from sysnative.providers.brew.parse import KegState
from sysnative.runner import Completed

__all__ = ["formulae_changed_error", "owner_error", "transaction_error"]


def formulae_changed_error(changed: Sequence[str], hint: str) -> ProviderError:
    """A requested formula is no longer at the planned version (one line per formula)."""
    return ProviderError(
        "Homebrew's formulae changed since the plan was made, and brew cannot install "
        "another version than the formula's own:\n" + "\n".join("    " + line for line in changed),
        hint,
    )


def owner_error(why: str, argv: Sequence[str]) -> PrivilegeError:
    """This user cannot run the install: hand the command to the installation's owner (never
    to root: Homebrew refuses root)."""
    command = shlex.join(argv)
    return PrivilegeError(
        f"Installing with Homebrew is not possible: {why}. Nothing was changed.",
        f"Run this command as the Homebrew installation's owner, then run sysnative "
        f"again:\n    {command}",
        command=command,
    )


def transaction_error(result: Completed, states: Sequence[KegState]) -> SystemStepError:
    """What brew said, what is not as planned, and how to undo it: brew cannot downgrade, but
    the kegs an upgrade replaced were kept (no cleanup)."""
    state = tuple(f"{s.item.name}: {', '.join(s.kegs) or 'not installed'}" for s in states)
    new = [s.item.name for s in states if s.item.replaces is None and s.kegs]
    upgraded = [f"{s.item.name} {s.item.replaces}" for s in states if s.item.replaces and s.kegs]
    undo: list[str] = []
    if new:
        undo.append(shlex.join(["brew", "uninstall", "--formula", "--", *new]))
    head = (
        "brew reported success, but not every formula of the transaction is installed at "
        "the planned version."
        if result.ok
        else f"The Homebrew transaction failed (brew exited with status {result.returncode})."
    )
    tail = [
        line.rstrip()
        for line in (result.stderr + "\n" + result.stdout).splitlines()
        if line.startswith(("Error:", "Warning:"))
    ][-15:]
    parts = [head]
    if tail:
        parts.append("brew said:\n" + "\n".join("    " + line for line in tail))
    problems = [s.describe() for s in states if not s.ok]
    parts.append("Not as planned:\n" + "\n".join("    " + line for line in problems))
    hints = []
    if undo:
        hints.append("To remove what this run installed, run: " + " && ".join(undo))
    if upgraded:
        hints.append(
            "Homebrew cannot downgrade; the older kegs were kept (no cleanup), so `brew link "
            "--overwrite` of the old keg restores them: " + ", ".join(upgraded)
        )
    if not (new or upgraded):
        hints.append("Nothing was installed. Fix what brew reports above and try again.")
    return SystemStepError("\n".join(parts), "\n".join(hints), state=state, undo=tuple(undo))
