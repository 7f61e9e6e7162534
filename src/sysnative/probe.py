"""The target environment: the interpreter sysnative installs into, asked once.

Markers, tags and requires-python are evaluated for the *target* interpreter, which is not
necessarily the one sysnative runs on (``--python``, an active venv, a Debian system
Python). The target is asked a single time, with a script (:mod:`sysnative.probe_script`)
that imports only the target's standard library and prints JSON, so any target can answer,
whatever sysnative's own dependencies need. The wheel tags are computed here, with
sysnative's ``packaging``, from the platform facts it reports (:mod:`sysnative.target_tags`).

Asking costs a tenth of a second on the critical path, so :func:`probe` can keep the answer
in the cache directory, the way uv caches interpreter information. An answer is reused only
while the interpreter and everything the answer was read from look exactly as they did
after it was taken: the same interpreter binary and ``pyvenv.cfg``, the same ``sys.path``,
site and user-site directories, and the same distribution metadata in them (compared by
``stat``: modification and change times, size, inode). An answer is not stored at all when
one of those changed while the probe ran (git's "racy" entries), so an install that was
under way cannot leave a half-seen environment behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import packaging

from sysnative import __version__
from sysnative.cache import atomic_write, mark_used, prune
from sysnative.errors import EnvironmentProbeError
from sysnative.probe_script import OLDEST
from sysnative.runner import CommandNotFound, run
from sysnative.target import TargetEnvironment
from sysnative.target_tags import PlatformFacts, TagFactsError, target_tags

logger = logging.getLogger(__name__)

#: The probe, run by the target interpreter from standard input (stdlib only; see its docstring).
_PROBE = (Path(__file__).parent / "probe_script.py").read_text(encoding="utf-8")


def choose_interpreter(python: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """``--python``, else the active venv's interpreter, else the running one."""
    if python:
        candidate = Path(python)
        if candidate.is_dir():  # pip accepts an environment directory too
            candidate = candidate / "bin" / "python"
        return str(candidate)
    venv = environ.get("VIRTUAL_ENV")
    if venv and (Path(venv) / "bin" / "python").exists():
        return str(Path(venv) / "bin" / "python")
    return sys.executable


def probe(interpreter: str, *, cache_dir: Path | None = None) -> TargetEnvironment:
    """Ask ``interpreter`` about itself (one subprocess).

    With ``cache_dir``, an answer stored there is reused while nothing it depends on has
    changed (see the module docstring), and a new answer is stored when it is safe to.
    Cache problems only cost the subprocess; they are logged at debug level.
    """
    if cache_dir is None:
        return TargetEnvironment.from_json(_run_probe(interpreter))
    entry = _probe_cache_file(interpreter, cache_dir)
    if entry is not None:
        cached = _read_cached_probe(entry)
        if cached is not None:
            logger.debug("probe of %s from cache %s", interpreter, entry.path)
            mark_used(entry.path)
            return cached
    started_ns = _now_ns()
    data = _run_probe(interpreter)
    target = TargetEnvironment.from_json(data)
    if entry is not None:
        _write_cached_probe(entry, data, target, started_ns)
    return target


def _run_probe(interpreter: str) -> dict[str, object]:
    """Run the probe script in ``interpreter`` and return its JSON answer, with the tags
    computed from its platform facts (``tags``)."""
    try:
        # On standard input rather than with -c: the same sys.path (the working directory
        # first), and the command line in -v logs stays one line.
        done = run([interpreter, "-"], input=_PROBE, timeout=60)
    except CommandNotFound as exc:
        raise EnvironmentProbeError(
            f"The target interpreter {interpreter!r} does not exist.",
            "Pass --python with the path of a Python interpreter or a venv directory.",
        ) from exc
    except PermissionError as exc:
        raise EnvironmentProbeError(
            f"The target interpreter {interpreter!r} cannot be run: {exc.strerror}."
        ) from exc
    if not done.ok:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        detail = "".join(f"\n    {line}" for line in tail)
        raise EnvironmentProbeError(
            f"Could not inspect the target interpreter {interpreter!r}: its probe "
            f"(a standard-library script) exited with status {done.returncode}{detail}",
            "Check that the interpreter starts (`PATH -c 'import sys'`); sysnative needs a "
            "CPython 3.9 or newer target.",
        )
    try:
        data = json.loads(done.stdout)
    except ValueError as exc:
        raise EnvironmentProbeError(
            f"The target interpreter {interpreter!r} answered something that is not JSON."
        ) from exc
    if not isinstance(data, dict):
        raise EnvironmentProbeError(
            f"The target interpreter {interpreter!r} answered something that is not an object."
        )
    if data.get("too_old"):
        oldest = ".".join(map(str, OLDEST))
        raise EnvironmentProbeError(
            f"The target interpreter {interpreter!r} is "
            f"{data.get('implementation') or 'Python'} {data.get('full_version')}; "
            f"sysnative needs Python {oldest} or newer as a target.",
            f"Pass --python with a Python {oldest} or newer interpreter, or a venv made from "
            "one (`sysnative venv PATH` makes one from the system's Python).",
        )
    try:
        facts = PlatformFacts.from_json(data.get("platform"))
        data["tags"] = [str(tag) for tag in target_tags(facts)]
    except TagFactsError as exc:
        raise EnvironmentProbeError(
            f"Could not work out the wheel tags of the target interpreter {interpreter!r}: {exc}."
        ) from exc
    return data


# -- the probe cache ---------------------------------------------------------------------

#: Bump when what is stored or checked changes (old entries then stop matching their key).
_PROBE_CACHE_FORMAT = 2

_PROBE_DIGEST = hashlib.sha256(_PROBE.encode()).hexdigest()

#: Variables that change the target's ``sys.path``, site directories, user site or tags.
#: ``HOME`` (and ``APPDATA`` on Windows) locate the user site when ``PYTHONUSERBASE`` is unset.
_KEY_VARIABLES = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONNOUSERSITE",
    "PYTHONSAFEPATH",
    "PYTHONUSERBASE",
    "PYTHONPLATLIBDIR",
    "PYTHONEXECUTABLE",
    "HOME",
    "APPDATA",
    "SYSTEM_VERSION_COMPAT",
    "_PYTHON_HOST_PLATFORM",
    "_PYTHON_SYSCONFIGDATA_NAME",
)

#: Files ``importlib.metadata`` reads for the probe, inside a ``.dist-info``/``.egg-info``.
_METADATA_FILES = {
    ".dist-info": ("METADATA", "INSTALLER"),
    ".egg-info": ("PKG-INFO", "requires.txt", "INSTALLER"),
}

#: File systems with coarse timestamps (FAT: 2 s, some network file systems: 1 s) can give
#: a change made just after the probe started an older time than the start itself.
_RACY_SLACK_NS = 2_000_000_000


def _now_ns() -> int:
    """The wall clock, in the unit of ``st_mtime_ns`` (a seam for tests)."""
    return time.time_ns()


@dataclass(frozen=True)
class _StatSignature:
    """What ``os.stat`` says about a path, enough to notice that it was changed."""

    mtime_ns: int
    ctime_ns: int
    size: int
    inode: int

    @classmethod
    def of(cls, path: str) -> _StatSignature | None:
        """The signature of ``path`` (following symlinks), or ``None`` if it does not exist."""
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return cls(st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)

    def changed_since(self, moment_ns: int) -> bool:
        """Whether the path was modified (or its inode changed) at ``moment_ns`` or later."""
        return max(self.mtime_ns, self.ctime_ns) >= moment_ns


@dataclass(frozen=True)
class _WatchedPath:
    """A path a cached probe depends on, and its signature (``None``: it did not exist)."""

    path: str
    signature: _StatSignature | None

    def unchanged(self) -> bool:
        return _StatSignature.of(self.path) == self.signature


@dataclass(frozen=True)
class _CacheEntry:
    """Where the probe of one interpreter, run from here and now, is cached."""

    path: Path
    #: The digest of the key (also stored in the entry, to notice garbage).
    key: str
    #: The absolute path of the interpreter (the one a bare name finds on ``PATH``).
    executable: str


def _probe_cache_file(interpreter: str, cache_dir: Path) -> _CacheEntry | None:
    """The cache file for ``interpreter`` as run from here, now; ``None`` if there is none."""
    executable = _executable(interpreter)
    if executable is None:
        return None  # not found: the probe says so
    try:
        ident = _probe_key(executable)
    except OSError as exc:  # e.g. the working directory was removed
        logger.debug("not caching the probe of %s: %s", interpreter, exc)
        return None
    key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()
    return _CacheEntry(Path(cache_dir) / "probe" / f"{key}.json", key, executable)


def _executable(interpreter: str) -> str | None:
    """The absolute path the probe runs: a bare name (``python3``) is looked up on ``PATH``."""
    if os.sep not in interpreter and not (os.altsep and os.altsep in interpreter):
        found = shutil.which(interpreter)
        return os.path.abspath(found) if found else None
    return os.path.abspath(interpreter)


def _probe_key(executable: str) -> dict[str, object]:
    """Everything outside the file system that the probe's answer depends on.

    The working directory is part of it: ``python -`` puts it on ``sys.path``, so a
    ``*.egg-info`` there is an installed distribution. The kernel and C library versions are
    too: they are in the markers (``platform_release``) and the tags (``manylinux_2_N``).
    """
    uname = os.uname() if hasattr(os, "uname") else None
    return {
        "format": _PROBE_CACHE_FORMAT,
        "interpreter": executable,
        "cwd": os.getcwd(),
        "sysnative": __version__,
        "packaging": packaging.__version__,
        "script": _PROBE_DIGEST,
        "environ": {name: os.environ.get(name) for name in _KEY_VARIABLES},
        "uname": [uname.sysname, uname.release, uname.version, uname.machine] if uname else None,
        "libc": _libc_version(),
    }


def _libc_version() -> str | None:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):  # not glibc, or not POSIX
        return None


def _read_cached_probe(entry: _CacheEntry) -> TargetEnvironment | None:
    """The cached answer, if there is one and nothing it depends on has changed since."""
    try:
        raw = entry.path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        logger.debug("cannot read cached probe %s: %s", entry.path, exc)
        return None
    try:
        watched, data = _decode_entry(raw, entry.key)
        stale = next((w.path for w in watched if not w.unchanged()), None)
        if stale is not None:
            logger.debug("cached probe %s is stale: %s changed", entry.path, stale)
            return None
        return TargetEnvironment.from_json(data)
    # from_json asserts the shape of what it reads, and a damaged file can have any shape.
    except (OSError, ValueError, KeyError, TypeError, AssertionError) as exc:
        logger.debug("ignoring unusable cached probe %s: %r", entry.path, exc)
        return None


def _write_cached_probe(
    entry: _CacheEntry,
    data: Mapping[str, object],
    target: TargetEnvironment,
    started_ns: int,
) -> None:
    """Store ``data`` unless something it depends on changed while the probe ran."""
    try:
        watched = tuple(_watch(entry.executable, target))
    except OSError as exc:
        logger.debug("not caching the probe of %s: %s", entry.executable, exc)
        return
    # Stat'ed after the probe: anything not older than its start may have changed under it.
    horizon = started_ns - _RACY_SLACK_NS
    racy = next(
        (w.path for w in watched if w.signature is not None and w.signature.changed_since(horizon)),
        None,
    )
    if racy is not None:
        logger.debug("not caching the probe of %s: %s changed just now", entry.executable, racy)
        return
    try:
        atomic_write(entry.path, _encode_entry(entry.key, watched, data))
    except (OSError, ValueError) as exc:
        logger.debug("cannot write cached probe %s: %s", entry.path, exc)
        return
    # One entry per interpreter, working directory and environment: those of other places
    # and of older sysnative versions go once unused for a month.
    prune(entry.path.parent, "*.json")


def _watch(executable: str, target: TargetEnvironment) -> Iterator[_WatchedPath]:
    """The paths the probe's answer was read from, with their signatures now."""
    for path in dict.fromkeys(_watched_paths(executable, target)):
        yield _WatchedPath(path, _StatSignature.of(path))


def _watched_paths(executable: str, target: TargetEnvironment) -> Iterator[str]:
    """The interpreter, ``pyvenv.cfg``, every directory searched for modules or
    distributions (missing ones too: creating one changes the answer), and the metadata
    of every distribution in them."""
    yield executable  # os.stat follows a venv's symlink to the real binary
    # Where Python looks for pyvenv.cfg: beside the executable and one level up.
    bin_dir = os.path.dirname(executable)
    yield os.path.join(bin_dir, "pyvenv.cfg")
    yield os.path.join(os.path.dirname(bin_dir), "pyvenv.cfg")
    yield os.path.join(target.prefix, "pyvenv.cfg")
    searched = [os.getcwd(), *target.sys_path, *target.site_packages, target.purelib]
    directories = [d for d in [*searched, target.user_site] if d]
    yield from directories
    for directory in dict.fromkeys(directories):
        yield from _metadata_paths(directory)


def _metadata_paths(directory: str) -> Iterator[str]:
    """Each ``*.dist-info``/``*.egg-info`` in ``directory`` and the files the probe reads
    from it (an egg on ``sys.path`` keeps its metadata in ``EGG-INFO``).

    The metadata files are watched themselves because a file rewritten in place (as
    ``setup.py develop`` does with ``PKG-INFO``) leaves its directory's time unchanged.
    """
    if directory.lower().endswith(".egg"):
        yield from _metadata_files(os.path.join(directory, "EGG-INFO"), ".egg-info")
    try:
        with os.scandir(directory) as entries:
            names = sorted(e.name for e in entries)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        for suffix in _METADATA_FILES:
            if name.lower().endswith(suffix):
                yield from _metadata_files(os.path.join(directory, name), suffix)


def _metadata_files(metadata_dir: str, suffix: str) -> list[str]:
    # Files that do not exist are left out: creating one changes the directory's times.
    files = (os.path.join(metadata_dir, name) for name in _METADATA_FILES[suffix])
    return [metadata_dir, *(path for path in files if os.path.lexists(path))]


def _encode_entry(key: str, watched: Iterable[_WatchedPath], data: Mapping[str, object]) -> bytes:
    rows = [[w.path, None if w.signature is None else _signature_row(w.signature)] for w in watched]
    return json.dumps({"key": key, "watched": rows, "probe": data}).encode()


def _signature_row(signature: _StatSignature) -> list[int]:
    return [signature.mtime_ns, signature.ctime_ns, signature.size, signature.inode]


def _decode_entry(raw: bytes, key: str) -> tuple[tuple[_WatchedPath, ...], Mapping[str, object]]:
    """The watched paths and the probe's answer; ``ValueError`` if anything is off."""
    entry = json.loads(raw)
    if not isinstance(entry, dict) or entry.get("key") != key:
        raise ValueError("not an entry for this key")
    rows, data = entry.get("watched"), entry.get("probe")
    if not isinstance(rows, list) or not rows or not isinstance(data, dict):
        raise ValueError("no watched paths or no probe answer")
    return tuple(_watched_path(row) for row in rows), data


def _watched_path(row: object) -> _WatchedPath:
    if not (isinstance(row, list) and len(row) == 2 and isinstance(row[0], str)):
        raise ValueError(f"bad watched path {row!r}")
    path, values = row
    if values is None:
        return _WatchedPath(path, None)
    if not (isinstance(values, list) and len(values) == 4 and all(type(v) is int for v in values)):
        raise ValueError(f"bad signature {values!r}")
    return _WatchedPath(path, _StatSignature(*values))
