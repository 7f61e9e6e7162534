"""How the apt provider puts apt's failures to the user: a failed simulation, dpkg's lock held
by another process, a transaction that did not end as planned, and dpkg-query failing.

Each message quotes apt (through the parsers of :mod:`.parse`) and ends with what to do; the
shared wording of locks and failed transactions is in :mod:`sysnative.providers.base`.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from sysnative.errors import PackageManagerLocked, ProviderError, SystemStepError
from sysnative.protocols import Privileges
from sysnative.providers.apt.parse import (
    CONFIGURABLE,
    LockHolder,
    PackageState,
    parse_apt_errors,
    parse_lock_error,
    parse_unmet_dependencies,
    relevant_apt_lines,
)
from sysnative.providers.base import locked_error, quoted_failure, step_error
from sysnative.providers.common import posix_lock_holder, process_name
from sysnative.runner import Completed

__all__ = [
    "check_dpkg_query",
    "find_lock_holder",
    "lock_error",
    "simulation_error",
    "transaction_error",
]


def find_lock_holder(held: LockHolder) -> LockHolder:
    """``held`` with the holding process filled in from the kernel when apt did not name it.

    apt 2.x reports the holder of a lock it waited for (``DPkg::Lock::Timeout``) only in a
    "Waiting for cache lock" progress line, which it prints or not depending on an
    uninitialised flag of its progress meter (``OpProgress::MajorChange``): the final error
    names no process. The kernel's lock table does, as long as the holder still holds it.
    """
    if held.pid is not None:
        return held
    pid = posix_lock_holder(held.lock)
    if pid is None:
        return held
    return LockHolder(held.lock, pid, process_name(pid))


def lock_error(said: str, lock_timeout: float) -> PackageManagerLocked | None:
    """dpkg's lock, held for longer than apt waited (``DPkg::Lock::Timeout``), when apt's
    output ``said`` so."""
    held = parse_lock_error(said)
    if held is None:
        return None
    held = find_lock_holder(held)
    return locked_error(
        "dpkg's lock", held.lock, held.pid, held.process, lock_timeout,
        running="on a freshly booted machine this is usually unattended-upgrades or "
        "apt's daily job, otherwise another apt, dpkg or software updater",
    )  # fmt: skip


def check_dpkg_query(result: Completed) -> None:
    """dpkg-query exits 1 for names it does not know; 2 and above is a real failure."""
    if result.returncode not in (0, 1):
        raise ProviderError(
            "dpkg-query could not report installed packages: " + result.describe(),
            "Check that the dpkg database is not damaged (`dpkg --audit`).",
        )


def simulation_error(names: Sequence[str], result: Completed) -> ProviderError:
    """Turn a failed ``apt-get install -s`` into a message that quotes apt."""
    output = result.stderr + "\n" + result.stdout
    errors = parse_apt_errors(result.stderr) + parse_apt_errors(result.stdout)
    unmet = parse_unmet_dependencies(result.stdout)
    message = (
        f"apt cannot install {', '.join(names)} "
        f"(`apt-get install -s` exited with status {result.returncode}):\n"
        + quoted_failure([*unmet, *errors], result)
    )
    shown = "`apt-get install -s --no-install-recommends " + " ".join(names) + "`"
    if "Unable to locate package" in output:
        hint = (
            "The package is not in apt's lists. Check the name in the mapping, or refresh "
            "the lists with `apt-get update` (as root) and try again."
        )
    elif "could not get lock" in output.lower():
        hint = "Another package manager holds apt's lock; wait for it to finish and try again."
    elif unmet or "held broken packages" in output:
        hint = (
            f"apt cannot satisfy the dependencies of these packages on this system. Run {shown} "
            "to see apt's full explanation, or take these projects from the index instead."
        )
    else:
        hint = f"Run {shown} to see apt's full explanation."
    return ProviderError(message, hint)


def transaction_error(
    result: Completed,
    states: Sequence[PackageState],
    audit: Sequence[str],
    env: Mapping[str, str],
    privileges: Privileges,
) -> SystemStepError:
    """Describe a transaction that did not end as planned: what apt said, what dpkg records
    now (``states`` and ``dpkg --audit``), and how to finish or undo it. ``env`` is the
    provider's extra environment: its ``APT_CONFIG`` and ``DPKG_ADMINDIR`` go into the
    commands."""
    state = tuple(s.describe() for s in states)
    if audit:
        state += ("dpkg --audit reports:", *("  " + line for line in audit))
    sudo = ("sudo",) if privileges.ok and privileges.prefix else ()
    apt_env = ("env", f"APT_CONFIG={env['APT_CONFIG']}") if "APT_CONFIG" in env else ()
    dpkg_env = ("env", f"DPKG_ADMINDIR={env['DPKG_ADMINDIR']}") if "DPKG_ADMINDIR" in env else ()
    apt = [*sudo, *apt_env, "apt-get"]
    new = [s.item.name for s in states if s.item.replaces is None and s.present]
    upgraded = [
        f"{s.item.name}={s.item.replaces}"
        for s in states
        if s.item.replaces and s.present and s.version != s.item.replaces
    ]
    undo: list[str] = []
    if new:
        undo.append(shlex.join([*apt, "purge", "--", *new]))
    if upgraded:
        undo.append(shlex.join([*apt, "install", "--allow-downgrades", "--", *upgraded]))
    retry: tuple[str, ...] = ()
    if any(s.status in CONFIGURABLE for s in states) or any(
        "dpkg --configure" in line for line in audit
    ):
        retry = (shlex.join([*sudo, *dpkg_env, "dpkg", "--configure", "-a"]),)
    return step_error(
        result,
        tool="apt",
        program="apt-get",
        succeeded="apt reported success, but dpkg does not record every package of the "
        "transaction as installed at the planned version.",
        quoted=relevant_apt_lines(result.stdout, result.stderr),
        listed=("dpkg now records", state),
        state=state,
        undo=undo,
        retry=retry,
        retry_hint="To finish configuring the unfinished packages, run: ",
        changed=bool(new or upgraded),
    )
