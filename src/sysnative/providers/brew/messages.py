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
from sysnative.providers.base import step_error
from sysnative.providers.brew.parse import KegState
from sysnative.providers.common import privilege_error
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
    return privilege_error(
        why,
        argv,
        cannot="Installing with Homebrew is not possible",
        run_as="the Homebrew installation's owner",
        then="",
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
    quoted = [
        line.rstrip()
        for line in (result.stderr + "\n" + result.stdout).splitlines()
        if line.startswith(("Error:", "Warning:"))
    ][-15:]
    relink = (
        "Homebrew cannot downgrade; the older kegs were kept (no cleanup), so `brew link "
        "--overwrite` of the old keg restores them: " + ", ".join(upgraded)
        if upgraded
        else ""
    )
    return step_error(
        result,
        tool="brew",
        program="brew",
        transaction="Homebrew",
        succeeded="brew reported success, but not every formula of the transaction is "
        "installed at the planned version.",
        quoted=quoted,
        listed=("Not as planned", [s.describe() for s in states if not s.ok]),
        state=state,
        undo=undo,
        undo_hint="To remove what this run installed, run: ",
        more_hint=relink,
        changed=bool(new or upgraded),
    )
