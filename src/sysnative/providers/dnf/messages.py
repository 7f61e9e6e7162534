"""How the dnf provider puts dnf's and rpm's failures to the user: a failed resolution, a lock
held by another process, a transaction that did not end as planned, and rpm failing.

Each message quotes dnf (through the parsers of :mod:`.parse`) and ends with what to do; the
shared wording of locks and failed transactions is in :mod:`sysnative.providers.base`.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from sysnative.errors import PackageManagerLocked, ProviderError, SystemStepError
from sysnative.providers.base import locked_error, quoted_failure, step_error
from sysnative.providers.common import posix_lock_holder, process_name
from sysnative.providers.dnf.parse import (
    LockHolder,
    PackageState,
    nevra,
    parse_dnf_problems,
    relevant_dnf_lines,
)
from sysnative.runner import Completed

__all__ = ["check_rpm", "lock_error", "simulation_error", "transaction_error"]


def check_rpm(result: Completed) -> None:
    """rpm's exit status counts the names it found nothing for; its ``error:`` lines are
    the real failures (an unreadable database)."""
    if not result.ok and "error:" in result.stderr:
        raise ProviderError(
            "rpm could not report installed packages: " + result.describe(),
            "Check that the rpm database is readable (`rpm -qa`; `rpm --rebuilddb` as root "
            "repairs a damaged one).",
        )


def simulation_error(command: str, specs: Sequence[str], result: Completed) -> ProviderError:
    """Turn a failed resolution into a message that quotes dnf."""
    message = (
        f"dnf cannot install {', '.join(specs)} "
        f"(`{command} install --assumeno` exited with status {result.returncode}):\n"
        + quoted_failure(parse_dnf_problems(result.stdout, result.stderr), result)
    )
    said = result.stdout + "\n" + result.stderr
    shown = f"`{command} install --assumeno {' '.join(shlex.quote(s) for s in specs)}`"
    if "No match for argument" in said or "Unable to find a match" in said:
        hint = (
            "The package is not in the enabled repositories. Check the name in the mapping, "
            "or refresh the metadata with `dnf makecache --refresh` and try again."
        )
    elif "Problem" in said:
        hint = (
            "dnf cannot satisfy the dependencies of these packages on this system. Run "
            f"{shown} to see dnf's full explanation, or take these projects from the index "
            "instead."
        )
    else:
        hint = f"Run {shown} to see dnf's full explanation."
    return ProviderError(message, hint)


def lock_error(held: LockHolder, lock: str, lock_timeout: float) -> PackageManagerLocked:
    """``held`` (whose file is ``lock``), held for longer than sysnative waited; the holding
    process from the kernel's lock table when dnf did not name it."""
    pid = held.pid if held.pid is not None else posix_lock_holder(lock)
    process = held.process or (process_name(pid) if pid is not None else None)
    what = "rpm's transaction lock" if held.kind == "rpm" else f"dnf's {held.lock} lock"
    return locked_error(
        what, lock, pid, process, lock_timeout,
        running="dnf, rpm, PackageKit (GNOME Software) or dnf-automatic",
    )  # fmt: skip


def transaction_error(
    result: Completed, states: Sequence[PackageState], dnf: Sequence[str]
) -> SystemStepError:
    """Describe a transaction that did not end as planned: what dnf said, what rpm records
    now (``states``), and how to finish or undo it with ``dnf`` (``[sudo] dnf [options]``)."""
    state = tuple(s.describe() for s in states)
    # What this run put there: the planned packages rpm now records (new ones, and
    # upgrades whose old version is gone).
    new = [
        nevra(s.item.name, s.item.version, s.item.architecture)
        for s in states
        if s.item.replaces is None and s.present
    ]
    downgrade = [
        nevra(s.item.name, s.item.replaces, s.item.architecture)
        for s in states
        if s.item.replaces and s.present and not s.stale
    ]
    undo: list[str] = []
    if new:
        undo.append(shlex.join([*dnf, "remove", "--", *new]))
    if downgrade:
        undo.append(shlex.join([*dnf, "downgrade", "--", *downgrade]))
    rerun = [
        nevra(s.item.name, s.item.version, s.item.architecture)
        for s in states
        if s.present and s.failed_scriptlets
    ]
    retry = (shlex.join([*dnf, "reinstall", "--", *rerun]),) if rerun else ()
    return step_error(
        result,
        tool="dnf",
        program="dnf",
        succeeded="dnf reported success, but the transaction did not end as planned: rpm does "
        "not record every package at the planned version, or a scriptlet failed.",
        quoted=relevant_dnf_lines(result.stdout, result.stderr),
        listed=("rpm now records", state),
        state=state,
        undo=undo,
        retry=retry,
        retry_hint="To run the failed scriptlets again once their cause is fixed, run: ",
        changed=bool(new or downgrade),
    )
