"""A trial import of the plan's native wheels in the target, before they are installed.

A platform wheel from the index was built against its own view of the native world, and its
metadata may not say what it needs at run time: pyarrow 26 declares no numpy requirement,
yet refuses to load beside numpy 1.24 ("pyarrow requires NumPy 2.0 or newer"). The resolver
cannot see that; an import can. So, after the system step and before the wheel step, every
staged wheel is unpacked into a scratch directory, and each native wheel's top-level modules
are imported in the target interpreter with that directory first on ``sys.path``: what the
target will see once the wheels are installed. A failure stops the run before the target's
site-packages change.

Reading a wheel's modules (:func:`top_level_modules`) and judging the answer are pure; the
unpacking and the import run at the edge (:func:`check`).
"""

from __future__ import annotations

import json
import logging
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.utils import canonicalize_name

from sysnative.errors import TrialImportError
from sysnative.runner import run

logger = logging.getLogger(__name__)

__all__ = [
    "ImportFailure",
    "NativeWheel",
    "check",
    "describe_failures",
    "judge",
    "top_level_modules",
]

#: Top-level names a wheel may ship that are not meant to be imported on their own.
_NOT_MODULES = frozenset({"test", "tests", "testing", "benchmarks", "docs", "examples"})
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: Imports each module named in argv[2] (JSON) with argv[1] first on sys.path and prints one
#: JSON line per module as it goes, so that a crash is pinned on the module being imported.
_SCRIPT = r"""
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
for name in json.loads(sys.argv[2]):
    print(json.dumps({"start": name}), flush=True)
    try:
        importlib.import_module(name)
    except BaseException as exc:
        text = "%s: %s" % (type(exc).__name__, exc)
        print(json.dumps({"module": name, "error": text[:2000]}), flush=True)
    else:
        print(json.dumps({"module": name, "error": None}), flush=True)
"""


@dataclass(frozen=True)
class ImportFailure:
    """A module of a staged wheel that the target could not import."""

    project: str
    version: str
    module: str
    #: ``ExceptionType: message`` (or how the interpreter died).
    error: str


@dataclass(frozen=True)
class NativeWheel:
    """A staged native wheel to try: its project, version and file."""

    project: str
    version: str
    path: Path


def top_level_modules(
    names: Iterable[str], declared: Iterable[str] | None = None, project: str | None = None
) -> tuple[str, ...]:
    """The importable top-level modules of a wheel, from its archive member names.

    Every first path component that is a package directory or a ``.py``/extension module
    counts; metadata, ``.data`` and test directories are left out. ``declared``: the lines
    of the wheel's ``top_level.txt``, when it has one; then only the modules it names are
    tried (unless it names none that the wheel ships). ``project``: when a module is named
    after the project, only such modules are tried: the duckdb wheel also ships
    ``adbc_driver_duckdb``, which needs a dependency of an optional extra only.
    """
    chosen = _top_level(names, declared)
    if project is not None:
        wanted = canonicalize_name(project).strip("-")
        named = tuple(m for m in chosen if canonicalize_name(m).strip("-") == wanted)
        if named:
            return named
    return chosen


def _top_level(names: Iterable[str], declared: Iterable[str] | None) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for member in names:
        parts = PurePosixPath(member).parts
        if not parts or parts[0].endswith((".dist-info", ".data")):
            continue
        first = parts[0]
        if len(parts) == 1:
            if not first.endswith((".py", ".so", ".pyd")):
                continue
            first = first.split(".", 1)[0]
        if _IDENTIFIER.match(first) and first not in _NOT_MODULES:
            found[first] = None
    if declared is not None:
        listed = {line.strip().split("/")[0] for line in declared}
        chosen = tuple(name for name in found if name in listed)
        if chosen:
            return chosen
    return tuple(found)


def _modules_of(wheel: Path, project: str) -> tuple[str, ...]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        listed = next((n for n in names if n.endswith(".dist-info/top_level.txt")), None)
        declared = archive.read(listed).decode("utf-8", "replace").splitlines() if listed else None
    return top_level_modules(names, declared, project)


def _unpack(wheel: Path, into: Path) -> None:
    """The wheel's files under ``into``, as installed (``.data`` left out); members that
    would land outside ``into`` are skipped."""
    root = into.resolve()
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            parts = PurePosixPath(info.filename).parts
            if not parts or parts[0].endswith(".data") or info.is_dir():
                continue
            destination = (root / info.filename).resolve()
            if root not in destination.parents:
                logger.debug("trial import: skipping %s from %s", info.filename, wheel.name)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, destination.open("wb") as out:
                while chunk := source.read(1 << 20):
                    out.write(chunk)


def check(
    python: str,
    natives: Sequence[NativeWheel],
    all_wheels: Sequence[Path],
    scratch: Path,
    *,
    timeout: float = 300,
) -> tuple[ImportFailure, ...]:
    """Import the top-level modules of ``natives`` in ``python``, with every wheel of
    ``all_wheels`` unpacked into ``scratch`` first on its path; the failures."""
    if not natives:
        return ()
    scratch.mkdir(parents=True, exist_ok=True)
    for wheel in all_wheels:
        _unpack(wheel, scratch)
    owners: dict[str, NativeWheel] = {}
    for native in natives:
        for module in _modules_of(native.path, native.project):
            owners.setdefault(module, native)
    if not owners:
        return ()
    done = run(
        [python, "-c", _SCRIPT, str(scratch), json.dumps(list(owners))],
        timeout=timeout,
    )
    return judge(done.stdout, done.returncode, owners)


def judge(
    output: str, returncode: int, owners: Mapping[str, NativeWheel]
) -> tuple[ImportFailure, ...]:
    """The failures the import script reported; when it died, the module it was importing."""
    failures: list[ImportFailure] = []
    started: str | None = None
    finished: set[str] = set()
    for line in output.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a module printing on import
        if not isinstance(event, dict):
            continue
        if "start" in event:
            started = str(event["start"])
            continue
        module = str(event.get("module"))
        finished.add(module)
        if event.get("error") and module in owners:
            wheel = owners[module]
            failures.append(
                ImportFailure(wheel.project, wheel.version, module, str(event["error"]))
            )
    if returncode != 0 and started is not None and started not in finished:
        culprit = owners.get(started)
        if culprit is not None:
            how = (
                f"the interpreter died with signal {-returncode}"
                if returncode < 0
                else f"the interpreter exited with status {returncode}"
            )
            failures.append(ImportFailure(culprit.project, culprit.version, started, how))
    return tuple(failures)


def describe_failures(failures: Sequence[ImportFailure], python: str) -> TrialImportError:
    """One error for all the failures: what failed, and what to try."""
    lines = [
        f"  import {f.module} ({f.project} {f.version} from the index): {f.error}" for f in failures
    ]
    first = failures[0]
    message = (
        f"The index's platform wheels were not installed: the target {python} cannot import "
        "them beside the system's packages:\n" + "\n".join(lines)
    )
    hint = (
        "Such a wheel was built for other versions of the native libraries it uses (the "
        "error usually names one). Add a constraint for an older release built for the "
        f"system's versions (for example '{first.project}<{first.version}' in a -c file), "
        "take what it needs from the index as well (--pypi NAME), or leave it out."
    )
    return TrialImportError(message, hint, failures=tuple(failures))
