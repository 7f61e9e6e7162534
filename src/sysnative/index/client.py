"""The package index client: lists a project's files and reads wheels' core metadata.

Sources, queried in pip's order and merged: the main index, every extra index (HTTP(S) or
``file://`` PEP 503 trees) and every find-links location (local directories, local HTML
files, or HTML pages). Both index page formats are understood (see
:mod:`sysnative.index.pages`): the server picks via the ``Accept`` header and the
``Content-Type`` decides the parser.

Resolving wants metadata for many candidates quickly, so a wheel's metadata is read the
cheapest way that works: the PEP 658 ``.metadata`` file (also tried when not advertised,
as some indexes serve it silently), then only the ``METADATA`` member through HTTP range
requests, and only then the whole wheel. Results are cached on disk forever (keyed by the
wheel's hash); pages are cached for a few minutes and revalidated with conditional GETs.
Every fetch of a run goes through a per-URL memo, so prefetching from a thread pool and
asking later never fetches anything twice.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit
from urllib.request import url2pathname

from packaging.utils import NormalizedName, canonicalize_name

from sysnative.cache import Cache, CachedPage
from sysnative.errors import HashMismatch, IndexFailure, ProjectNotFound, SysnativeError
from sysnative.index.fetch import Fetcher, Response
from sysnative.index.metadata import metadata_matches, parse_content_range, parse_core_metadata
from sysnative.index.pagecache import parse_page_cached
from sysnative.index.pages import make_index_file, parse_html_page
from sysnative.index.pipconfig import IndexConfig
from sysnative.index.urls import is_url, redact_url, strip_userinfo, with_userinfo_of
from sysnative.index.wheelzip import RangeFile, read_wheel_metadata
from sysnative.models import CoreMetadata, FileKind, IndexFile

logger = logging.getLogger(__name__)

#: Prefer PEP 691 JSON, accept PEP 503 HTML.
ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html;q=0.1, "
    "text/html;q=0.01"
)
#: Bytes asked from the end of a wheel by the first range request; covers the central
#: directory of nearly every pure-Python wheel, so two requests usually suffice.
TAIL_BYTES = 64 * 1024
#: Smallest range fetched on a miss, so zipfile's many small reads cost one request.
MIN_RANGE = 64 * 1024

_INDEX_HINT = "Check the URL and your network, or choose another index with --index-url."

K = TypeVar("K")
V = TypeVar("V")


class MetadataUnavailable(SysnativeError):
    """Core metadata was asked for a file the index client cannot read it from (an sdist:
    only a build can tell, see :mod:`sysnative.install.sdists`)."""


# -- run-wide memo ---------------------------------------------------------------------


class _Memo(Generic[K, V]):
    """Compute each key once per run; concurrent askers wait for the first computation.

    The first caller computes in its own thread (never by submitting and waiting on the
    pool), so a pool worker waiting here can never deadlock the pool. Failures are
    remembered too: the URL is not asked again, the error is raised to every asker.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: dict[K, Future[V]] = {}

    def get(self, key: K, compute: Callable[[], V]) -> V:
        with self._lock:
            future = self._futures.get(key)
            owner = future is None
            if future is None:
                future = self._futures[key] = Future()
        if owner:
            try:
                future.set_result(compute())
            except BaseException as exc:
                future.set_exception(exc)
        return future.result()


# -- sources -----------------------------------------------------------------------------


def _file_url_path(url: str) -> Path:
    return Path(url2pathname(urlsplit(url).path))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SimpleIndexClient:
    """:class:`IndexClient` over PEP 503/691 indexes, ``file://`` indexes and find-links.

    ``cache`` ``None`` disables the disk cache. ``refresh`` ignores the page TTL (pages are
    revalidated with conditional GETs). ``max_workers`` bounds the prefetch thread pool.
    """

    def __init__(
        self,
        config: IndexConfig,
        cache: Cache | None = None,
        *,
        refresh: bool = False,
        max_workers: int = 16,
        http: Fetcher | None = None,
    ) -> None:
        self.config = config
        self.cache = cache
        self.refresh = refresh
        self._http = http
        self._http_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="index")
        self._files: _Memo[NormalizedName, tuple[IndexFile, ...]] = _Memo()
        self._pages: _Memo[str, CachedPage] = _Memo()
        self._links: _Memo[str, tuple[IndexFile, ...]] = _Memo()
        self._metadata: _Memo[str, CoreMetadata] = _Memo()
        #: Unadvertised ``.metadata`` guesses by file host: [answered, missing].
        self._guesses: dict[str, list[int]] = {}
        self._guesses_lock = threading.Lock()

    # -- IndexClient ---------------------------------------------------------------------

    def get_files(self, project: NormalizedName) -> tuple[IndexFile, ...]:
        project = canonicalize_name(project)
        return self._files.get(project, lambda: self._collect_files(project))

    def get_metadata(self, file: IndexFile) -> CoreMetadata:
        if file.kind is not FileKind.WHEEL:
            raise MetadataUnavailable(
                f"The index client does not read metadata from the source distribution "
                f"{file.filename}: that takes a build (--allow-build prepares it with pip).",
                "This is a bug in sysnative: only wheels should reach this point.",
            )
        return self._metadata.get(file.url, lambda: self._load_metadata(file))

    def prefetch_files(self, projects: Iterable[NormalizedName]) -> None:
        for project in projects:
            self._pool.submit(self._quietly, self.get_files, project)

    def prefetch_metadata(self, files: Iterable[IndexFile]) -> None:
        for file in files:
            if file.kind is FileKind.WHEEL:
                self._pool.submit(self._quietly, self.get_metadata, file)

    @property
    def http(self) -> Fetcher:
        """The HTTP client, made on first use: a run that the page cache answers imports no
        HTTP library at all."""
        with self._http_lock:
            if self._http is None:
                from sysnative.index.http import HttpClient

                self._http = HttpClient(timeout=self.config.timeout, cafile=self.config.cert)
            return self._http

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> SimpleIndexClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _quietly(function: Callable[[Any], object], argument: Any) -> None:
        """Run a prefetch; its failure is remembered by the memo and raised on ``get_*``."""
        try:
            function(argument)
        except Exception as exc:
            logger.debug("prefetch of %s failed: %s", argument, exc)

    # -- file lists ----------------------------------------------------------------------

    def _collect_files(self, project: NormalizedName) -> tuple[IndexFile, ...]:
        """Merge all sources in order; a URL listed by two sources appears once."""
        found: list[IndexFile] = []
        known = False
        for index_url in self.config.index_urls:
            files = self._index_files(index_url, project)
            if files is not None:
                known = True
                found.extend(files)
        for location in self.config.find_links:
            files = tuple(f for f in self._find_links_files(location) if f.project == project)
            if files:
                known = True
                found.extend(files)
        if not known:
            searched = (*self.config.index_urls, *self.config.find_links)
            raise ProjectNotFound(project, tuple(redact_url(u) for u in searched))
        seen: set[str] = set()
        unique = []
        for file in found:
            if file.url not in seen:
                seen.add(file.url)
                unique.append(file)
        return tuple(unique)

    def index_listing(self, file: IndexFile) -> str | None:
        """The configured index whose page lists ``file`` (PEP 751's ``packages.index``), or
        ``None`` (a find-links location, or no index answers). Pages are memoised for the
        session, so after planning this sends no request."""
        for url in self.config.index_urls:
            try:
                files = self._index_files(url, file.project)
            except SysnativeError:
                continue
            if files and any(f.url == file.url for f in files):
                return url
        return None

    def _index_files(self, index_url: str, project: NormalizedName) -> tuple[IndexFile, ...] | None:
        """The project's files on one index, or ``None`` when that index does not know it."""
        page_url = index_url.rstrip("/") + f"/{project}/"
        if index_url.startswith("file:"):
            page_file = _file_url_path(page_url) / "index.html"
            try:
                body = page_file.read_bytes()
            except (FileNotFoundError, NotADirectoryError):
                logger.debug("%s: not on %s", project, index_url)
                return None
            except OSError as exc:
                raise IndexFailure(f"Cannot read {page_file}: {exc}.", _INDEX_HINT) from exc
            logger.debug("read %s", page_file)
            return parse_html_page(body, page_url, project)
        page = self._pages.get(page_url, lambda: self._fetch_page(page_url))
        if page.status == 404:
            return None
        return self._parsed(page, page_url, project)

    def _parsed(
        self, page: CachedPage, asked: str, project: NormalizedName | None
    ) -> tuple[IndexFile, ...]:
        """The files a fetched page lists; file URLs carry the credentials ``asked`` had."""
        return parse_page_cached(
            self.cache, page.body, page.content_type, with_userinfo_of(page.url, asked), project
        )

    def _find_links_files(self, location: str) -> tuple[IndexFile, ...]:
        """All files of one find-links location (listed once per run)."""
        return self._links.get(location, lambda: self._list_find_links(location))

    def _list_find_links(self, location: str) -> tuple[IndexFile, ...]:
        if is_url(location) and not location.startswith("file:"):
            page = self._pages.get(location, lambda: self._fetch_page(location))
            if page.status == 404:
                logger.debug("find-links page %s does not exist", redact_url(location))
                return ()
            return self._parsed(page, location, None)
        path = _file_url_path(location) if is_url(location) else Path(location).absolute()
        if path.is_dir():
            files = (
                make_index_file(entry.name, entry.as_uri(), size=entry.stat().st_size)
                for entry in sorted(path.iterdir())
                if entry.is_file()
            )
            return tuple(f for f in files if f is not None)
        if path.is_file():
            return parse_html_page(path.read_bytes(), path.as_uri(), None)
        logger.debug("find-links location %s does not exist", location)
        return ()

    def _fetch_page(self, url: str) -> CachedPage:
        """An index page through the disk cache: fresh copy, 304 revalidation, or a GET."""
        key = redact_url(url)
        cached = self.cache.get_page(key) if self.cache is not None else None
        ttl = self.cache.page_ttl if self.cache is not None else 0.0
        if cached is not None and not self.refresh and cached.is_fresh(ttl):
            logger.debug("page %s: cache hit", key)
            return cached
        headers = {"Accept": ACCEPT}
        if cached is not None and cached.status == 200:
            if cached.etag:
                headers["If-None-Match"] = cached.etag
            if cached.last_modified:
                headers["If-Modified-Since"] = cached.last_modified
        logger.debug("page %s: fetching (cached copy: %s)", key, cached is not None)
        response = self.http.get(url, headers)
        page = self._page_from_response(url, response, cached)
        if self.cache is not None:
            self.cache.put_page(page, key_url=key)
        return page

    @staticmethod
    def _page_from_response(url: str, response: Response, cached: CachedPage | None) -> CachedPage:
        now = time.time()
        if response.status == 304 and cached is not None:
            logger.debug("page %s: not modified", redact_url(url))
            return cached.revalidated(now)
        if response.status in (404, 410):
            return CachedPage(strip_userinfo(response.url), 404, "", b"", now)
        if response.status != 200:
            hint = _INDEX_HINT
            if response.status in (401, 403):
                hint = "Check the credentials for this index (user:password@ in the URL)."
            raise IndexFailure(
                f"Could not get {redact_url(url)}: HTTP {response.status} {response.reason}.",
                hint,
            )
        return CachedPage(
            url=strip_userinfo(response.url),
            status=200,
            content_type=response.header("content-type") or "text/html",
            body=response.body,
            fetched_at=now,
            etag=response.header("etag"),
            last_modified=response.header("last-modified"),
        )

    # -- metadata ------------------------------------------------------------------------

    def _metadata_key(self, file: IndexFile) -> str:
        if file.sha256:
            return f"sha256:{file.sha256}"
        if file.url.startswith("file:"):
            path = _file_url_path(file.url)
            try:
                stat = path.stat()
            except OSError:
                return f"url:{file.url}"
            return f"local:{path}:{stat.st_size}:{stat.st_mtime_ns}"
        return f"url:{redact_url(file.url)}"

    def _load_metadata(self, file: IndexFile) -> CoreMetadata:
        key = self._metadata_key(file)
        if self.cache is not None:
            data = self.cache.get_blob("metadata", key)
            if data is not None:
                try:
                    return parse_core_metadata(data)
                except ValueError:
                    self.cache.drop_blob("metadata", key)
        logger.debug("metadata of %s: fetching", file.filename)
        data = self._fetch_metadata(file)
        try:
            meta = parse_core_metadata(data)
        except ValueError as exc:
            raise IndexFailure(
                f"The metadata of {file.filename} cannot be parsed ({exc}).",
                "The file is broken; report it to the project or the index maintainers.",
            ) from exc
        if not metadata_matches(meta, file):
            raise IndexFailure(
                f"The metadata of {file.filename} names {meta.name} {meta.version}, "
                f"not {file.project} {file.version}.",
                "The file is broken; report it to the project or the index maintainers.",
            )
        if self.cache is not None:
            self.cache.put_blob("metadata", key, data)
        return meta

    def _fetch_metadata(self, file: IndexFile) -> bytes:
        """The METADATA bytes, the cheapest way: .metadata, range requests, whole wheel."""
        if file.url.startswith("file:"):
            return read_wheel_metadata(_file_url_path(file.url), file)
        if file.metadata_advertised or self._worth_guessing(file.url):
            data = self._metadata_file(file)
            if data is not None:
                return data
        return self._wheel_metadata_by_range(file)

    def _worth_guessing(self, url: str) -> bool:
        """Whether to try an unadvertised ``.metadata`` file on ``url``'s host first.

        Guessing is free where the host serves them, and costs a round trip where it does
        not (a slow one: a missing file is often looked up further upstream). Each host's
        guesses are counted for the run: once two have missed and misses outnumber answers,
        its wheels are read by range requests straight away.
        """
        with self._guesses_lock:
            answered, missing = self._guesses.get(urlsplit(url).netloc, (0, 0))
        return missing < 2 or answered >= missing

    def _count_guess(self, url: str, *, answered: bool) -> None:
        with self._guesses_lock:
            counts = self._guesses.setdefault(urlsplit(url).netloc, [0, 0])
            counts[0 if answered else 1] += 1

    def _metadata_file(self, file: IndexFile) -> bytes | None:
        """PEP 658 ``<url>.metadata``: trusted (and hash-checked) when advertised, else
        accepted only when it parses as this wheel's metadata."""
        url = file.url + ".metadata"
        try:
            response = self.http.get(url, {"Accept-Encoding": "gzip"})
        except IndexFailure:
            if file.metadata_advertised:
                raise
            self._count_guess(url, answered=False)
            return None  # an unadvertised guess; the wheel itself may still be reachable
        if response.status != 200:
            if file.metadata_advertised:
                logger.debug("advertised %s answered %s", redact_url(url), response.status)
            else:
                self._count_guess(url, answered=False)
            return None
        data = response.body
        if file.metadata_advertised:
            if file.metadata_sha256 and _sha256(data) != file.metadata_sha256:
                raise _hash_mismatch(
                    file.filename + ".metadata", url, file.metadata_sha256, _sha256(data)
                )
            logger.debug("metadata of %s: from advertised .metadata", file.filename)
            return data
        try:
            meta = parse_core_metadata(data)
        except ValueError:
            meta = None
        answered = meta is not None and metadata_matches(meta, file)
        self._count_guess(url, answered=answered)
        if not answered:
            return None
        logger.debug("metadata of %s: from unadvertised .metadata", file.filename)
        return data

    def _wheel_metadata_by_range(self, file: IndexFile) -> bytes:
        """Read the central directory and the METADATA member with range requests.

        A server that ignores ``Range`` answers 200 with the whole wheel, which is then
        used (and hash-checked) as a full download.
        """
        response = self.http.get(
            file.url, {"Range": f"bytes=-{TAIL_BYTES}", "Accept-Encoding": "identity"}
        )
        if response.status == 200:
            logger.debug("metadata of %s: server ignored Range, full body", file.filename)
            return self._metadata_from_whole(file, response.body)
        content_range = parse_content_range(response.header("content-range"))
        if response.status != 206 or content_range is None:
            if response.status == 404:
                raise IndexFailure(
                    f"Could not get {redact_url(file.url)}: HTTP 404 {response.reason}.",
                    _INDEX_HINT,
                )
            logger.debug("range request for %s answered %s", file.filename, response.status)
            return self._download_metadata(file)
        start, end, total = content_range
        if start != total - len(response.body) or end != total - 1:
            return self._download_metadata(file)

        def fetch(first: int, stop: int) -> bytes:
            return self._fetch_range(file, first, stop)

        logger.debug("metadata of %s: by range requests", file.filename)
        return read_wheel_metadata(
            RangeFile(fetch, total, response.body, min_range=MIN_RANGE), file
        )

    def _fetch_range(self, file: IndexFile, start: int, stop: int) -> bytes:
        response = self.http.get(
            file.url, {"Range": f"bytes={start}-{stop - 1}", "Accept-Encoding": "identity"}
        )
        if response.status == 200:
            return response.body[start:stop]
        found = parse_content_range(response.header("content-range"))
        if response.status != 206 or found is None or found[0] != start:
            raise IndexFailure(
                f"Range request for {redact_url(file.url)} failed: "
                f"HTTP {response.status} {response.reason}.",
                _INDEX_HINT,
            )
        return response.body

    def _download_metadata(self, file: IndexFile) -> bytes:
        response = self.http.get(file.url)
        if response.status != 200:
            raise IndexFailure(
                f"Could not get {redact_url(file.url)}: HTTP {response.status} {response.reason}.",
                _INDEX_HINT,
            )
        logger.debug("metadata of %s: full download", file.filename)
        return self._metadata_from_whole(file, response.body)

    def _metadata_from_whole(self, file: IndexFile, body: bytes) -> bytes:
        if file.sha256:
            actual = _sha256(body)
            if actual != file.sha256:
                raise _hash_mismatch(file.filename, file.url, file.sha256, actual)
        return read_wheel_metadata(io.BytesIO(body), file)


def _hash_mismatch(filename: str, url: str, expected: str, actual: str) -> HashMismatch:
    return HashMismatch(
        filename,
        redact_url(url),
        expected,
        actual,
        "The index, a proxy or the network damaged or changed the file; try again later, "
        "and report it to the index maintainers if it persists.",
    )


def open_index_client(
    config: IndexConfig, *, refresh: bool = False, cache_dir: str | os.PathLike[str] | None = None
) -> SimpleIndexClient:
    """A :class:`SimpleIndexClient` with the default disk cache."""
    return SimpleIndexClient(config, Cache(cache_dir), refresh=refresh)
