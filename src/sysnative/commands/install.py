"""``sysnative install``: pip's ``install``, or with the system-native mode pure wheels from
the index and native projects from the system package manager.

Without the mode (``--system-native``, ``--lock`` or the configuration turn it on) the
arguments go to ``pip install`` unchanged: :func:`pip_arguments` decides that before any
parsing, so that every pip flag keeps working. With it, the command plans
(:func:`sysnative.session.planning_session`), shows the plan and hands it to
:func:`sysnative.install.execute.execute`; when the trial import refuses a platform wheel it
plans again with an older release (:func:`older_than`). ``install --lock FILE`` installs a
lock instead of planning (:mod:`sysnative.commands.install_lock`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sysnative.commands import output
from sysnative.commands.options import (
    add_planning_arguments,
    effective_config,
    install_options,
    start_planning,
)
from sysnative.commands.progress import TerminalProgress
from sysnative.errors import SysnativeError

if TYPE_CHECKING:
    from sysnative.config import Config
    from sysnative.session import PlanRequest, SystemSide

__all__ = [
    "TRIAL_RETRIES",
    "add_arguments",
    "hand_to_pip",
    "older_than",
    "pip_arguments",
    "run",
]

#: How many times a trial import that fails sends the plan back for older releases.
TRIAL_RETRIES = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``sysnative install``'s options and arguments."""
    add_planning_arguments(parser)
    parser.add_argument(
        "--system-native",
        action="store_true",
        help="pure wheels from the index, native projects from the system",
    )
    parser.add_argument(
        "--no-system-native",
        action="store_true",
        help="hand everything to pip, even when the configuration turns the mode on",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="compute and show the plan, change nothing"
    )
    parser.add_argument(
        "--report", metavar="FILE", help="write the plan as versioned JSON ('-' for stdout)"
    )
    parser.add_argument(
        "--break-system-packages",
        action="store_true",
        help="allow installing into an externally managed (PEP 668) Python, as in pip",
    )
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long to wait for another package manager's lock (default: 120)",
    )
    parser.add_argument(
        "--lock",
        metavar="FILE",
        help="install exactly what a pylock.toml written by `sysnative lock` records "
        "(no resolution; implies --system-native)",
    )


def pip_arguments(argv: Sequence[str]) -> list[str] | None:
    """The arguments for ``pip install`` when the command line ``argv`` is an ``install``
    without the system-native mode; ``None`` when sysnative runs it.

    ``--system-native`` and ``--lock`` turn the mode on, ``--no-system-native`` off, and
    otherwise the configuration decides (a distribution may turn the mode on by default).
    """
    if list(argv[:1]) != ["install"]:
        return None
    args = argv[1:]
    if "--no-system-native" not in args:
        if any(a == "--system-native" or a == "--lock" or a.startswith("--lock=") for a in args):
            return None
        from sysnative import config

        if config.load().system_native:
            return None
    return [a for a in args if a != "--no-system-native"]


def hand_to_pip(args: Sequence[str]) -> int:
    """Run ``pip install ARGS`` with this interpreter and the terminal; its exit status."""
    from sysnative.runner import run_passthrough

    return run_passthrough([sys.executable, "-m", "pip", "install", *args])


def run(args: argparse.Namespace, verbose: int) -> int:
    """Plan and install; when the trial import refuses a platform wheel, plan again with
    the release lines before it (:func:`older_than`), at most :data:`TRIAL_RETRIES` times.
    The system step of the first attempt is done by then: the next plans see it installed,
    and only the index side changes. When no older release fits, the trial import's own
    error stands."""
    if args.lock:
        from sysnative.commands import install_lock

        return install_lock.run(args, verbose)
    import dataclasses

    from packaging.requirements import Requirement

    from sysnative.errors import TrialImportError
    from sysnative.install.trialimport import ImportFailure
    from sysnative.models import UserRequirement

    config = effective_config(args)
    request, system = start_planning(args, config)
    asked = request.requirements
    excluded: list[UserRequirement] = []
    last: TrialImportError | None = None
    for attempt in range(TRIAL_RETRIES + 1):
        constraints = (*asked.constraints, *excluded)
        request = dataclasses.replace(
            request, requirements=dataclasses.replace(asked, constraints=constraints)
        )
        try:
            return _install_once(args, verbose, config, request, system)
        except TrialImportError as exc:
            last = exc
        except SysnativeError:
            if last is None:
                raise
            raise last from None  # no older release fits: the first refusal says why
        tried = sorted(
            {(f.project, f.version) for f in last.failures if isinstance(f, ImportFailure)}
        )
        if attempt == TRIAL_RETRIES or not tried:
            raise last
        system = None  # the first session stopped it; the next one starts its own
        for project, version in tried:
            excluded.append(
                UserRequirement(Requirement(older_than(project, version)), "the trial import")
            )
        if verbose >= 0:
            shown = ", ".join(f"{p} {v}" for p, v in tried)
            print(
                f"note: {shown} cannot be imported beside the system's packages; "
                "planning again with an older release",
                file=sys.stderr,
            )
    raise AssertionError("unreachable")


def older_than(project: str, version: str) -> str:
    """The constraint that asks for the release line before ``version``: one built before
    it is likelier to suit older system libraries than the next patch of the same line
    (``pyarrow<26.0`` after pyarrow 26.0.1; ``lib<2.0.0`` after 2.0.0)."""
    from packaging.version import InvalidVersion, Version

    try:
        parsed = Version(version)
    except InvalidVersion:
        return f"{project}!={version}"
    line = ".".join(str(part) for part in (*parsed.release, 0)[:2])
    if Version(line) < parsed:
        return f"{project}<{line}"
    return f"{project}<{version}"


def _install_once(
    args: argparse.Namespace,
    verbose: int,
    config: Config,
    request: PlanRequest,
    system: SystemSide | None,
) -> int:
    from sysnative import probe
    from sysnative.commands import report
    from sysnative.install import execute, selfguard
    from sysnative.session import planning_session

    with planning_session(request, system=system) as session:
        plan, target, provider = session.plan, session.target, session.provider
        shown = output.present_plan(plan, verbose, args.report)
        if args.dry_run:
            # A real install refuses this in execute(); a dry run says so too (exit 1).
            selfguard.refuse_self_changes_to(plan, target, provider.site_dirs())
            if shown:
                caveats = (
                    report.unseen_warning(plan, target, provider.site_dirs()),
                    _note(report.unchecked_by_dry_run(plan)),
                )
                output.show_dry_run(plan, [line for line in caveats if line])
            return 0
        progress = TerminalProgress.for_verbosity(sys.stderr, verbose)
        result = execute.execute(
            plan,
            target=target,
            provider=provider,
            mapping=session.mapping,
            http=session.index.http,
            cache=session.cache,
            options=install_options(args, config, verbose),
            progress=progress,
            notify=progress.notify,
            probe=probe.probe,
            builder=session.builder,
        )
    return output.show_result(
        result, provider.name, verbose, out=output.summary_stream(args.report)
    )


def _note(text: str | None) -> str | None:
    return f"note: {text}" if text else None
