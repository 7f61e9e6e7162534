"""How the conda provider puts a failure to the user: a solve that failed, a transaction that
would remove packages, an environment this user cannot write, and a transaction that did not
end as planned.

Each message quotes the tool (through :func:`sysnative.providers.conda.parse.parse_failure`)
and ends with what to do. conda installs into an environment, not the system: nothing here
asks for root.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from sysnative.errors import PrivilegeError, ProviderError, SystemStepError
from sysnative.providers.base import step_error
from sysnative.providers.common import privilege_error
from sysnative.providers.conda.meta import PackageState
from sysnative.providers.conda.names import install_specs
from sysnative.providers.conda.parse import CondaFailure, parse_failure
from sysnative.runner import Completed

__all__ = ["owner_error", "removal_error", "solve_error", "transaction_error"]


def solve_error(
    tool: str,
    prefix: Path,
    specs: Sequence[str],
    failure: CondaFailure | None,
    result: Completed,
    command: str,
) -> ProviderError:
    """The tool cannot install ``specs``: quote it; ``command`` is the dry run to rerun."""
    lines = failure.lines() if failure else ()
    if not lines:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        lines = tuple(line.strip() for line in tail if line.strip())
    quoted = "\n".join("    " + line for line in lines)
    if failure is not None and failure.missing:
        hint = (
            f"{', '.join(failure.missing)} is not in the environment's channels. "
            "Check the name in the mapping, or the channels (`conda config --show "
            "channels`)."
        )
    else:
        hint = f"Run `{command}` to see {tool}'s full explanation."
    return ProviderError(
        f"{tool} cannot install {', '.join(specs)} into {prefix} "
        f"(exit status {result.returncode}):\n{quoted}",
        hint,
    )


def removal_error(
    tool: str, specs: Sequence[str], removals: Sequence[str], *, now: bool = False
) -> ProviderError:
    """Installing ``specs`` would remove packages from the environment: refused (``now``: at
    the last check before the install)."""
    return ProviderError(
        f"Installing {', '.join(specs)} with {tool} would {'now ' if now else ''}"
        f"remove {', '.join(removals)}.",
        "sysnative does not remove packages from the environment; nothing was changed."
        if now
        else "sysnative does not remove packages from the environment. Resolve the "
        "conflict yourself, or take these projects from the index instead.",
    )


def owner_error(why: str, argv: Sequence[str]) -> PrivilegeError:
    """This user cannot write the environment: hand the command to its owner (not root)."""
    return privilege_error(
        why,
        argv,
        cannot="Installing into the conda environment is not possible",
        run_as="the environment's owner",
        then="",
    )


def transaction_error(
    tool: str, prefix: str, result: Completed, states: Sequence[PackageState]
) -> SystemStepError:
    """The transaction did not end as planned: what the tool said, what conda-meta records
    now, and the commands that undo what this run installed (remove the new packages,
    install the replaced builds again)."""
    state = tuple(
        f"{s.item.name}: {', '.join(s.present) if s.present else 'not installed'}" for s in states
    )
    new = [s.item.name for s in states if s.item.replaces is None and s.present]
    restore = install_specs(
        [
            (s.item.name, s.item.replaces)
            for s in states
            if s.item.replaces is not None and s.present and s.present[0] != s.item.replaces
        ]
    )
    undo: list[str] = []
    if new:
        undo.append(shlex.join([tool, "remove", "--yes", "-p", prefix, "--", *new]))
    if restore:
        undo.append(shlex.join([tool, "install", "--yes", "-p", prefix, "--", *restore]))
    failure = parse_failure(result.stdout + "\n" + result.stderr)
    quoted = failure.lines() if failure else ()
    if not quoted:
        tail = (result.stderr or result.stdout).strip().splitlines()[-10:]
        quoted = tuple(line.rstrip() for line in tail if line.strip())
    return step_error(
        result,
        tool=tool,
        program=tool,
        succeeded=f"{tool} reported success, but conda-meta does not record every package of "
        "the transaction at the planned build.",
        quoted=quoted,
        listed=("Not as planned", [s.describe() for s in states if not s.ok]),
        state=state,
        undo=undo,
        changed=bool(undo),
    )
