"""Download every planned wheel and check its sha256 before anything is installed.

The wheel step must not start changing the target while a later file may still turn out to
be missing or tampered with, so all files are fetched first, each into the staging
directory under its own file name, and each is hashed as it lands. Only when every file is
there and matches does :func:`stage` return; otherwise it raises and removes what it
staged, leaving the target untouched.

Files are streamed to disk (wheels can be hundreds of megabytes), several at a time, and
kept in the on-disk cache by sha256: wheels are immutable, so a wheel whose hash the index
announced and the cache already holds is never downloaded again. A cached copy is hashed
again before use, so a damaged cache entry only costs a download. ``file://`` URLs
(find-links directories, ``file://`` indexes) are copied, not cached: they are local
already.

A file the index lists without a sha256 cannot be *verified*; its hash is computed and the
:class:`StagedWheel` says ``verified=False``, so the caller can refuse it or go on knowingly.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urldefrag, urlsplit
from urllib.request import url2pathname

from packaging.utils import NormalizedName
from packaging.version import Version

from sysnative.cache import Cache
from sysnative.errors import HashMismatch, IndexFailure
from sysnative.index.fetch import Fetcher
from sysnative.index.urls import redact_url
from sysnative.models import IndexFile
from sysnative.protocols import Progress

logger = logging.getLogger(__name__)

#: Cache namespace (a directory under the cache root) for wheels, keyed by sha256.
WHEELS = "wheels"

_CHUNK = 256 * 1024
_HINT = "Check the URL and your network, or choose another index with --index-url."


@dataclass(frozen=True)
class StagedWheel:
    """A wheel on local disk, ready for pip."""

    project: NormalizedName
    version: Version
    path: Path
    #: The sha256 of the file at ``path`` (computed while staging it).
    sha256: str
    #: True when ``sha256`` equals the hash the index announced; False when the index
    #: announced none, so nothing vouches for the file.
    verified: bool


class _Cancelled(Exception):
    """Another file failed (or the user interrupted): stop this download early."""


class _NullProgress:
    """Nothing shown (no terminal, ``-q``, or a caller that wants no progress)."""

    def start(self, files: int, total_bytes: int | None) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def file_done(self, filename: str) -> None:
        pass

    def finish(self) -> None:
        pass

    def notify(self, line: str) -> None:
        pass


def stage(
    files: Sequence[IndexFile],
    dest: Path,
    http: Fetcher,
    *,
    cache: Cache | None = None,
    progress: Progress | None = None,
    max_workers: int = 8,
) -> tuple[StagedWheel, ...]:
    """Put every file into ``dest`` (as ``dest/<filename>``) and check its sha256.

    Returns the staged wheels in the order of ``files``. Raises :class:`HashMismatch` when
    a file differs from the hash the index announced, :class:`IndexFailure` when one cannot
    be fetched; either way every file this call put into ``dest`` is removed again.
    ``cache`` ``None`` disables the wheel cache.
    """
    unique = _unique(files)
    dest.mkdir(parents=True, exist_ok=True)
    report: Progress = progress if progress is not None else _NullProgress()
    sizes = [f.size for f in unique]
    total = sum(s for s in sizes if s is not None) if all(s is not None for s in sizes) else None
    report.start(len(unique), total)
    stop = threading.Event()
    staged: dict[str, StagedWheel] = {}
    lock = threading.Lock()

    def one(file: IndexFile) -> StagedWheel:
        wheel = _stage_one(file, dest, http, cache, report, stop)
        with lock:
            staged[file.filename] = wheel
        report.file_done(file.filename)
        return wheel

    pool = ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="stage")
    try:
        futures = [pool.submit(one, f) for f in unique]
        wait(futures, return_when=FIRST_EXCEPTION)
        failed = _first_failure(futures)
        if failed is not None:
            raise failed
        return tuple(f.result() for f in futures)
    except BaseException:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        for wheel in staged.values():
            with contextlib.suppress(OSError):
                wheel.path.unlink()
        raise
    finally:
        pool.shutdown(wait=True)
        report.finish()


def _unique(files: Sequence[IndexFile]) -> list[IndexFile]:
    """``files`` without repeats; two different files with one name cannot share ``dest``."""
    by_name: dict[str, IndexFile] = {}
    for file in files:
        known = by_name.setdefault(file.filename, file)
        if known != file:
            raise ValueError(f"two different files are both named {file.filename}")
    return list(by_name.values())


def _first_failure(futures: Sequence[Future[StagedWheel]]) -> BaseException | None:
    """The failure of the earliest file that failed (in the caller's order), if any.

    A hash mismatch is preferred over a network error: it is the one that needs attention.
    """
    failures = [f.exception() for f in futures if f.done() and not f.cancelled()]
    found = [exc for exc in failures if exc is not None and not isinstance(exc, _Cancelled)]
    for exc in found:
        if isinstance(exc, HashMismatch):
            return exc
    return found[0] if found else None


def _stage_one(
    file: IndexFile,
    dest: Path,
    http: Fetcher,
    cache: Cache | None,
    progress: Progress,
    stop: threading.Event,
) -> StagedWheel:
    final = dest / file.filename
    expected = file.sha256.lower() if file.sha256 else None
    if cache is not None and expected is not None and _from_cache(cache, expected, final):
        logger.debug("%s: from the cache", file.filename)
        with contextlib.suppress(OSError):
            progress.advance(final.stat().st_size)
        return _staged(file, final, expected, verified=True)

    url = urldefrag(file.url)[0]
    with _part_file(dest, file.filename) as (part, fh):
        if url.startswith("file:"):
            _copy_local(url, fh, progress, stop)
        else:
            _download(url, file.filename, fh, http, progress, stop)
        fh.close()
        actual = _file_sha256(part)
        if expected is not None and actual != expected:
            raise HashMismatch(
                file.filename,
                redact_url(url),
                expected,
                actual,
                "The index, a proxy or the network damaged or changed the file; nothing was "
                "installed. Try again later, and report it to the index maintainers if it "
                "persists.",
            )
        os.replace(part, final)
    if expected is None:
        logger.debug("%s: no sha256 announced; computed %s (unverified)", file.filename, actual)
    if cache is not None and not url.startswith("file:"):
        _into_cache(cache, actual, final)
    return _staged(file, final, actual, verified=expected is not None)


def _staged(file: IndexFile, path: Path, sha256: str, *, verified: bool) -> StagedWheel:
    return StagedWheel(file.project, file.version, path, sha256, verified)


@contextlib.contextmanager
def _part_file(dest: Path, filename: str) -> Iterator[tuple[Path, BinaryIO]]:
    """A temporary file next to the final one; removed unless the caller renamed it."""
    fd, name = tempfile.mkstemp(dir=dest, prefix=".part-", suffix=f"-{filename}")
    part = Path(name)
    fh = os.fdopen(fd, "wb")
    try:
        yield part, fh
    finally:
        fh.close()
        with contextlib.suppress(OSError):
            part.unlink()


def _download(
    url: str,
    filename: str,
    fh: BinaryIO,
    http: Fetcher,
    progress: Progress,
    stop: threading.Event,
) -> None:
    def advance(nbytes: int) -> None:
        if stop.is_set():
            raise _Cancelled
        progress.advance(nbytes)

    response = http.download(url, fh, on_progress=advance)
    if response.status != 200:
        hint = _HINT
        if response.status in (401, 403):
            hint = "Check the credentials for this index (user:password@ in the URL)."
        raise IndexFailure(
            f"Could not download {filename} from {redact_url(url)}: "
            f"HTTP {response.status} {response.reason}.",
            hint,
        )


def _copy_local(url: str, fh: BinaryIO, progress: Progress, stop: threading.Event) -> None:
    path = Path(url2pathname(urlsplit(url).path))
    try:
        with path.open("rb") as src:
            while True:
                if stop.is_set():
                    raise _Cancelled
                chunk = src.read(_CHUNK)
                if not chunk:
                    return
                fh.write(chunk)
                progress.advance(len(chunk))
    except OSError as exc:
        raise IndexFailure(
            f"Cannot read {path}: {exc.strerror or exc}.",
            "Check the find-links or file:// index locations in pip's configuration.",
        ) from exc


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- the wheel cache -----------------------------------------------------------------------
#
# Wheels live next to the other cache entries, one file per sha256. They are not stored as
# ``Cache`` blobs: a blob is read into memory whole, and its checksum is the file name here.


def cache_path(cache: Cache, sha256: str) -> Path:
    """Where the wheel with ``sha256`` is kept in ``cache``."""
    return cache.root / WHEELS / sha256[:2] / sha256


def _from_cache(cache: Cache, sha256: str, final: Path) -> bool:
    """Put the cached wheel at ``final`` if the cache holds an intact copy."""
    cached = cache_path(cache, sha256)
    try:
        if _file_sha256(cached) != sha256:
            logger.debug("ignoring damaged cached wheel %s", cached)
            with contextlib.suppress(OSError):
                cached.unlink()
            return False
        _link_or_copy(cached, final)
    except OSError:
        return False
    return True


def _into_cache(cache: Cache, sha256: str, staged: Path) -> None:
    """Keep ``staged`` in the cache (atomically); failing only costs a later download."""
    target = cache_path(cache, sha256)
    if target.exists():
        return
    try:
        _link_or_copy(staged, target)
    except OSError as exc:
        logger.debug("cannot cache %s: %s", staged.name, exc)


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard-link (or copy) ``source`` to ``target`` through a temp name and ``os.replace``.

    Readers see the whole file or none; a hard link costs no space, and a cached entry is
    re-hashed on every use, so sharing the inode with a staging copy is safe.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    os.close(fd)
    tmp = Path(name)
    try:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
