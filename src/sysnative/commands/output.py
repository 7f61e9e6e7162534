"""What the commands print and write: the plan (its table and notes, a dry run's summary),
the outcome of an install, and the files ``--report`` and ``-o`` name.

The text comes from :mod:`sysnative.commands.report` (pure); this module decides the stream.
Summaries go to stdout unless stdout carries a document (``--report -``, ``-o -``); warnings
and errors go to stderr.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from sysnative.commands import report
from sysnative.errors import SysnativeError

if TYPE_CHECKING:
    from sysnative.install.execute import InstallResult
    from sysnative.models import Plan

__all__ = [
    "present_plan",
    "show_dry_run",
    "show_plan",
    "show_result",
    "summary_stream",
    "write_report",
    "write_text",
]


def summary_stream(document: str | None) -> TextIO:
    """Where the human summary goes when ``document`` (``--report``, ``-o``) names where a
    document is written: stderr when that is ``-`` (stdout carries the document alone)."""
    return sys.stderr if document == "-" else sys.stdout


def present_plan(plan: Plan, verbose: int, report_path: str | None) -> bool:
    """Write the ``--report`` document (when asked), then show the plan unless ``-q`` was
    given or stdout carries the report; whether the plan was shown."""
    if report_path:
        write_report(plan, report_path)
    shown = verbose >= 0 and report_path != "-"
    if shown:
        show_plan(plan)
    return shown


def show_plan(plan: Plan, out: TextIO | None = None) -> None:
    """The plan's table and notes, and a blank line between them."""
    out = sys.stdout if out is None else out
    print(report.render_table(plan), file=out)
    print(file=out)
    for note in report.notes(plan):
        print(f"note: {note}", file=out)


def show_dry_run(plan: Plan, caveats: Sequence[str] = ()) -> None:
    """After a dry run's plan: ``caveats`` (warnings and notes, one line each), then what
    would be installed."""
    for line in caveats:
        print(line)
    print(report.summary(plan) + report.dry_run_suffix(plan))


def show_result(result: InstallResult, provider: str, verbose: int, *, out: TextIO) -> int:
    """The human summary of a real install: what came from where; exit 1 on new problems.

    The summary goes to ``out``, warnings and errors to stderr.
    """
    if not result.changed and not result.new_problems:
        if verbose >= 0:
            print(
                f"Nothing to do: all {len(result.already_present)} packages of the plan are "
                "already installed.",
                file=out,
            )
        return 0
    if verbose >= 0:
        print("\n".join(_installed_lines(result, provider)), file=out)
    for name in result.unverified:
        _stderr(
            f"warning: the index published no sha256 for {name}; it was hashed on download, "
            "so nothing vouches for its content."
        )
    for problem in result.old_problems:
        _stderr(f"warning: {problem.describe()} (already so before this run)")
    if result.distro_problems:
        _stderr(
            f"warning: the {provider} packages just installed declare requirements that "
            f"{provider} does not install with them (pip check reports them too; the "
            "distribution built its packages to work without them):"
        )
        for problem in result.distro_problems:
            _stderr(f"    {problem.describe()}")
    if result.new_problems:
        _stderr("error: after the install, requirements are not met:")
        for problem in result.new_problems:
            _stderr(f"    {problem.describe()}")
        _stderr(
            "hint: the packages stay installed; install a version that fits, or report the "
            "plan (--dry-run --report FILE) as a sysnative bug."
        )
        return 1
    return 0


def _installed_lines(result: InstallResult, provider: str) -> list[str]:
    lines = []
    if result.system_installed:
        asked = ", ".join(f"{name} {version}" for name, version in result.system_requested)
        extra = len(result.system_installed) - len(result.system_requested)
        lines.append(
            f"Installed with {provider}: {asked}"
            + (f" (and {extra} dependencies)" if extra > 0 else "")
        )
    if result.wheels_installed:
        built = {(w.project, w.version) for w in result.built}
        lines.append(
            "Installed from the index: "
            + ", ".join(
                f"{w.project} {w.version}"
                + (" (built from its sdist)" if (w.project, w.version) in built else "")
                for w in result.wheels_installed
            )
        )
    if result.markers:
        lines.append(
            "Recorded system packages for pip and importlib.metadata: "
            + ", ".join(path.name for path in result.markers)
        )
    if result.already_present:
        count = len(result.already_present)
        lines.append(f"Already installed: {count} package{'s' if count != 1 else ''}.")
    return lines


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def write_report(plan: Plan, path: str) -> None:
    """Write the JSON report atomically (``-`` means stdout)."""
    text = json.dumps(report.to_json(plan), indent=2, sort_keys=False) + "\n"
    write_text(path, text, subject=f"the report to {path!r}", shared=False)


def write_text(path: str, text: str, *, subject: str | None = None, shared: bool = True) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file in the same directory, then a
    rename); ``-`` is stdout.

    ``shared``: readable by everyone, as any file a user commits (otherwise only by the user).
    ``subject`` names the file in the error message (default: the path).
    """
    if path == "-":
        sys.stdout.write(text)
        return
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or Path("."))
    except OSError as exc:
        raise SysnativeError(
            f"Could not write {subject or path}: {exc.strerror or exc}.",
            "Check that the directory exists and is writable.",
        ) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        if shared:
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
