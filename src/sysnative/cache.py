"""The on-disk cache: immutable blobs by hash, and index pages by URL with a short TTL.

Blobs (core metadata, keyed by the wheel's sha256 or another stable key) never change, so
they are kept forever. Index pages do change, so they are reused for ``page_ttl`` seconds
and then revalidated with a conditional GET (ETag / Last-Modified), which costs one small
``304`` instead of the page. Every write is atomic (temp file in the same directory, then
``os.replace``), so a crash or a concurrent run never leaves a half-written entry; an entry
that cannot be read or parsed anyway is treated as missing and fetched again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import platformdirs

logger = logging.getLogger(__name__)

#: How long an index page is used without asking the server again, in seconds.
DEFAULT_PAGE_TTL = 600.0

#: Entries that only one machine state or one interpreter ever uses (a target probe, an apt
#: simulation) are removed once they have not been used for this long, in seconds.
STALE_AFTER = 30 * 24 * 3600.0

#: What each directory under the cache root holds. ``sysnative cache info`` lists them, and
#: ``sysnative cache purge`` removes these directories and nothing else.
KINDS = {
    "pages": "index pages (asked again after 10 minutes)",
    "parsed-pages": "the same pages, parsed",
    "metadata": "core metadata of wheels (and sdists, prepared by --allow-build), by file hash",
    "wheels": "downloaded wheels (and sdists), by sha256",
    "apt": "apt's binary cache (when the system keeps none) and simulations",
    "probe": "what each target interpreter said about itself",
    "pip-default": "the installed pip's default index URL",
}

_PAGE_FORMAT = 1


def default_cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """``$SYSNATIVE_CACHE_DIR``, else the platform's user cache directory for sysnative."""
    override = environ.get("SYSNATIVE_CACHE_DIR")
    if override:
        return Path(override)
    return Path(platformdirs.user_cache_dir("sysnative"))


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@dataclass(frozen=True)
class CachedPage:
    """An index page (or the fact that it did not exist) as last fetched."""

    url: str
    #: HTTP status of the fetch: 200, or 404 for "this index does not know the project".
    status: int
    content_type: str
    body: bytes
    fetched_at: float
    etag: str | None = None
    last_modified: str | None = None

    def is_fresh(self, ttl: float, now: float | None = None) -> bool:
        age = (time.time() if now is None else now) - self.fetched_at
        return 0 <= age < ttl

    def revalidated(self, now: float | None = None) -> CachedPage:
        """The same page, marked as confirmed by the server just now (after a 304)."""
        return replace(self, fetched_at=time.time() if now is None else now)


class Cache:
    """The sysnative cache directory.

    ``root`` defaults to :func:`default_cache_dir`. Cache failures (read-only directory,
    full disk, corrupt entries) only cost speed: they are logged at debug level and the
    data is fetched again.
    """

    def __init__(
        self, root: str | os.PathLike[str] | None = None, *, page_ttl: float = DEFAULT_PAGE_TTL
    ) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.page_ttl = page_ttl

    # -- blobs ---------------------------------------------------------------------------

    def _blob_path(self, namespace: str, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.root / namespace / digest[:2] / digest

    def get_blob(self, namespace: str, key: str) -> bytes | None:
        """The blob stored under ``key`` in ``namespace`` (e.g. ``"metadata"``), or ``None``."""
        path = self._blob_path(namespace, key)
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        checksum, sep, data = raw.partition(b"\n")
        if not sep or checksum != hashlib.sha256(data).hexdigest().encode():
            logger.debug("ignoring corrupt cache entry %s", path)
            return None
        logger.debug("cache hit: %s/%s", namespace, key)
        return data

    def put_blob(self, namespace: str, key: str, data: bytes) -> None:
        """Store ``data`` with its checksum, so a damaged entry is noticed on reading."""
        entry = hashlib.sha256(data).hexdigest().encode() + b"\n" + data
        try:
            atomic_write(self._blob_path(namespace, key), entry)
        except OSError as exc:
            logger.debug("cannot write cache entry %s/%s: %s", namespace, key, exc)

    def drop_blob(self, namespace: str, key: str) -> None:
        """Forget a blob that turned out to be corrupt."""
        with contextlib.suppress(OSError):
            self._blob_path(namespace, key).unlink()

    # -- pages ---------------------------------------------------------------------------

    def _page_path(self, url: str) -> Path:
        digest = hashlib.sha256(url.encode()).hexdigest()
        return self.root / "pages" / digest[:2] / digest

    def get_page(self, url: str) -> CachedPage | None:
        """The cached page for ``url`` (fresh or not), or ``None`` if missing or corrupt."""
        path = self._page_path(url)
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        page = _decode_page(raw, url)
        if page is None:
            logger.debug("ignoring corrupt cached page %s", path)
        return page

    def put_page(self, page: CachedPage, key_url: str | None = None) -> None:
        """Store ``page`` under ``key_url`` (defaults to ``page.url``)."""
        key = key_url if key_url is not None else page.url
        try:
            atomic_write(self._page_path(key), _encode_page(page, key))
        except OSError as exc:
            logger.debug("cannot write cached page for %s: %s", page.url, exc)


def _encode_page(page: CachedPage, key: str) -> bytes:
    """One JSON header line (with the key, to detect hash collisions and garbage), then the body."""
    header = {
        "format": _PAGE_FORMAT,
        "key": hashlib.sha256(key.encode()).hexdigest(),
        "url": page.url,
        "status": page.status,
        "content_type": page.content_type,
        "fetched_at": page.fetched_at,
        "etag": page.etag,
        "last_modified": page.last_modified,
        "length": len(page.body),
    }
    return json.dumps(header).encode() + b"\n" + page.body


def _decode_page(raw: bytes, key: str) -> CachedPage | None:
    head, sep, body = raw.partition(b"\n")
    if not sep:
        return None
    try:
        header = json.loads(head)
        if (
            header["format"] != _PAGE_FORMAT
            or header["key"] != hashlib.sha256(key.encode()).hexdigest()
            or header["length"] != len(body)
        ):
            return None
        return CachedPage(
            url=str(header["url"]),
            status=int(header["status"]),
            content_type=str(header["content_type"]),
            body=body,
            fetched_at=float(header["fetched_at"]),
            etag=_opt_str(header.get("etag")),
            last_modified=_opt_str(header.get("last_modified")),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


# -- housekeeping ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """The files under one kind of cache directory."""

    kind: str
    files: int
    size: int


def usage(root: Path) -> list[Usage]:
    """The files and bytes of every kind of :data:`KINDS` under ``root`` (0 when absent)."""
    out = []
    for kind in KINDS:
        files = size = 0
        for dirpath, _dirnames, filenames in os.walk(root / kind):
            for name in filenames:
                with contextlib.suppress(OSError):
                    size += os.lstat(os.path.join(dirpath, name)).st_size
                    files += 1
        out.append(Usage(kind, files, size))
    return out


def purge(root: Path, kinds: Iterable[str]) -> None:
    """Remove the directories of ``kinds`` (names from :data:`KINDS` only)."""
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"not a cache kind: {kind}")
        shutil.rmtree(root / kind, ignore_errors=True)


def prune(directory: Path, pattern: str, *, now: float | None = None) -> int:
    """Remove files matching ``pattern`` in ``directory`` unused for :data:`STALE_AFTER`
    (their modification time; :func:`mark_used` moves it). Returns how many went."""
    horizon = (time.time() if now is None else now) - STALE_AFTER
    removed = 0
    with contextlib.suppress(OSError):
        for path in directory.glob(pattern):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < horizon:
                    path.unlink()
                    removed += 1
    if removed:
        logger.debug("removed %d unused entries from %s", removed, directory)
    return removed


def mark_used(path: Path) -> None:
    """Note that an entry :func:`prune` looks at was just used."""
    with contextlib.suppress(OSError):
        os.utime(path)
