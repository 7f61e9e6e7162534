"""``sysnative lock``: plan exactly like ``install --dry-run`` and write the plan as a PEP 751
``pylock.toml``.

Planning is :func:`sysnative.session.planning_session`; the lock document is
:mod:`sysnative.lock`. This module does the I/O around them: the downloads that
complete a file's sha256 and size, and the file. It also reads a lock back
(:func:`read_lock`) and says what machine one is for (:func:`machine_facts`), for
``export`` and ``install --lock``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from sysnative.commands import output
from sysnative.commands.options import add_planning_arguments
from sysnative.commands.progress import TerminalProgress
from sysnative.errors import UsageError
from sysnative.models import Plan

if TYPE_CHECKING:
    from sysnative.index.client import SimpleIndexClient
    from sysnative.lock.model import Lock, LockMachine
    from sysnative.session import PlanningSession

logger = logging.getLogger(__name__)

__all__ = ["add_arguments", "machine_facts", "read_lock", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``sysnative lock``'s options and arguments."""
    add_planning_arguments(parser)
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default="pylock.toml",
        help="where to write the lock: pylock.toml or pylock.NAME.toml (PEP 751), or '-' "
        "for stdout (default: pylock.toml)",
    )


def run(args: argparse.Namespace, verbose: int) -> int:
    """``sysnative lock``: plan, then write the lock (nothing when the plan cannot be locked)."""
    from sysnative.commands import report
    from sysnative.commands.options import effective_config, start_planning
    from sysnative.lock.document import dumps, loads, to_document
    from sysnative.lock.from_plan import lock_from_plan
    from sysnative.lock.model import target_facts
    from sysnative.session import planning_session

    path: str = args.output
    _check_lock_name(path)
    config = effective_config(args)
    request, system = start_planning(args, config)
    out = output.summary_stream(path)
    with planning_session(request, system=system) as session:
        plan = session.plan
        if verbose >= 0:
            output.show_plan(plan, out)
        _refuse_builds(plan)
        plan = _complete_files(plan, session, verbose)
        lock = lock_from_plan(
            plan,
            machine=machine_facts(session.provider),
            target=target_facts(session.target),
            mapping=session.mapping,
            indexes=_indexes(plan, session.index),
            requirements=[str(r) for r in request.requirements.requirements],
            constraints=[str(c) for c in request.requirements.constraints],
        )
    text = dumps(to_document(lock))
    loads(text, path)  # never write a lock that does not read back
    output.write_text(path, text)
    if verbose >= 0:
        where = "stdout" if path == "-" else path
        closure = (
            f", {report.counted(len(lock.closure), 'distro package')} in the transaction"
            if lock.closure
            else ""
        )
        print(
            f"Wrote {where}: {len(lock.system)} from {lock.machine.provider}{closure}, "
            f"{report.counted(len(lock.wheels), 'wheel')} from the index; for "
            f"{lock.machine.distro_id} "
            f"{lock.machine.distro_version}"
            + (f" ({lock.machine.architecture})" if lock.machine.architecture else "")
            + f", {lock.target.describe()}.",
            file=out,
        )
    return 0


def _refuse_builds(plan: Plan) -> None:
    """A lock names the exact files to install: a wheel built here is on no index, and
    sysnative does not write sdists into locks (yet). Refused before anything is written."""
    from sysnative.commands.report import built_from_sdist

    built = [f"{r.name} {r.version}" for r in plan.pypi if built_from_sdist(r)]
    if built:
        raise UsageError(
            f"sysnative lock cannot lock {', '.join(built)}: the plan builds "
            f"{'it' if len(built) == 1 else 'them'} from sdists (--allow-build), and a lock "
            "records the exact wheels to install; sysnative does not write sdists into locks. "
            "Nothing was written.",
            "Pin a release that has a wheel for the target, take the project from the system "
            "(--system NAME, with a mapping entry naming its package), or build the wheel once "
            "(pip wheel --no-deps SDIST) and serve it from your own index or a find-links "
            "location, then lock again.",
        )


def _check_lock_name(path: str) -> None:
    """PEP 751 names: pip and other installers only read ``pylock.toml``/``pylock.*.toml``."""
    from packaging.pylock import is_valid_pylock_path

    if path != "-" and not is_valid_pylock_path(Path(path)):
        raise UsageError(
            f"{path!r} is not a lock file name PEP 751 allows.",
            "Name it pylock.toml or pylock.NAME.toml (pip reads only those), for example "
            "-o pylock.toml or -o pylock.ci.toml.",
        )


def _complete_files(plan: Plan, session: PlanningSession, verbose: int) -> Plan:
    """Every wheel of the plan with its sha256 and size: a lock must have both, and an index
    may publish neither (PEP 503 HTML pages have no sizes). Such files are downloaded once,
    through the wheel cache, and measured; an install from the lock then finds them there.
    """
    from sysnative.install import staging

    missing = [
        r.file
        for r in plan.pypi
        if r.file is not None and (r.file.sha256 is None or r.file.size is None)
    ]
    if not missing:
        return plan
    logger.debug("downloading %d wheels to learn their sha256 or size", len(missing))
    with tempfile.TemporaryDirectory(prefix="sysnative-lock-") as work:
        staged = staging.stage(
            missing,
            Path(work),
            session.index.http,
            cache=session.cache,
            progress=TerminalProgress.for_verbosity(sys.stderr, verbose),
        )
        found = {w.path.name: (w.sha256, w.path.stat().st_size, w.verified) for w in staged}
    rows = []
    for row in plan.packages:
        if row.file is not None and row.file.filename in found:
            sha256, size, verified = found[row.file.filename]
            if not verified:
                print(
                    f"warning: the index published no sha256 for {row.file.filename}; the lock "
                    "records the hash of the file downloaded now, which nothing else vouches for.",
                    file=sys.stderr,
                )
            row = replace(row, file=replace(row.file, sha256=sha256, size=size))
        rows.append(row)
    return replace(plan, packages=tuple(rows))


def _indexes(plan: Plan, index: SimpleIndexClient) -> dict[str, str | None]:
    """The index base URL each planned file was listed on (PEP 751 ``packages.index``).

    Asks the index client which of the configured indexes lists the file; its pages are
    memoised for the session, so this sends no request. Files from find-links locations
    have no index.
    """
    return {row.file.url: index.index_listing(row.file) for row in plan.pypi if row.file}


def machine_facts(provider: object) -> LockMachine:
    """The facts a lock is valid for: provider, distro ID and VERSION_ID, architecture."""
    from sysnative.lock.model import LockMachine
    from sysnative.machine import linux_distribution

    distro = linux_distribution()

    name = getattr(provider, "name", "")
    architecture = None
    ask = getattr(provider, "native_architecture", None)
    if callable(ask):
        answer = ask()
        architecture = answer if isinstance(answer, str) and answer else None
    return LockMachine(str(name), distro.id(), distro.version(), architecture)


def read_lock(path: str) -> Lock:
    """The lock at ``path`` (for ``export`` and ``install --lock``), or a :class:`LockError`
    that says how to make one."""
    from sysnative.lock.document import loads
    from sysnative.lock.model import LockError

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise LockError(
            f"Cannot read the lock file {path}: {exc.strerror or exc}.",
            "Make one with `sysnative lock REQ... -o pylock.toml`.",
        ) from exc
    except UnicodeDecodeError as exc:
        raise LockError(f"{path} is not a text file: {exc}.") from exc
    return loads(text, path)
