"""The package index client: lists a project's files and reads wheels' core metadata.

Sources, queried in pip's order and merged: the main index, every extra index (HTTP(S) or
``file://`` PEP 503 trees) and every find-links location (local directories, local HTML
files, or HTML pages). Both index page formats are understood: PEP 503 HTML and PEP 691
JSON; the server picks via the ``Accept`` header and the ``Content-Type`` decides the parser.

Yanked files (PEP 592) are *kept* in the lists with :attr:`IndexFile.yanked` set: only
the caller knows whether a requirement pins the exact version (the one case where a
yanked file may be chosen), so the caller filters.

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
import html
import io
import json
import logging
import os
import re
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import unquote, urldefrag, urljoin, urlsplit, urlunsplit
from urllib.request import url2pathname

from packaging import __version__ as packaging_version
from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from sysnative import __version__ as sysnative_version
from sysnative.cache import Cache, CachedPage
from sysnative.errors import HashMismatch, IndexFailure, ProjectNotFound, SysnativeError
from sysnative.index.http import HttpClient, Response, redact_url
from sysnative.index.pipconfig import IndexConfig
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


# -- parsing: file names -----------------------------------------------------------------

#: Per-process memos of the per-string parsing work: the same file names (several sources,
#: several pages) and, above all, the same requires-python strings recur thousands of times.
#: Their values are immutable (``SpecifierSet`` is never mutated by sysnative), so sharing is
#: safe; plain dicts are enough, as dict reads and writes are atomic under the GIL and a race
#: only computes a value twice. Cleared wholesale when they grow past ``_MEMO_LIMIT``.
_MEMO_LIMIT = 100_000
_FileNameInfo = tuple[NormalizedName, Version, frozenset[Tag], FileKind]
_filename_memo: dict[str, _FileNameInfo | None] = {}
_requires_python_memo: dict[str, SpecifierSet | None] = {}
#: A wheel name's two halves, parsed once each: ``name-version[-build]`` (shared by every
#: file of a release) and the tag triple (shared by a platform's files across releases).
#: Sharing also makes equal versions and tag sets the *same* objects, which the per-call
#: identity memos of :func:`list_releases` and :func:`_encode_files` rely on.
_wheel_stem_memo: dict[str, tuple[NormalizedName, Version] | None] = {}
_wheel_tags_memo: dict[str, frozenset[Tag] | None] = {}
_requires_dist_memo: dict[str, Requirement | None] = {}


def clear_parse_caches() -> None:
    """Forget the per-process parsing memos (for benchmarks and tests)."""
    for memo in (
        _filename_memo,
        _requires_python_memo,
        _wheel_stem_memo,
        _wheel_tags_memo,
        _requires_dist_memo,
    ):
        memo.clear()


def _remember(memo: dict[str, Any], key: str, value: Any) -> None:
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[key] = value


def _parse_filename(filename: str) -> _FileNameInfo | None:
    """Project, version, tags and kind of a wheel/sdist name; ``None`` if it does not parse."""
    try:
        return _filename_memo[filename]
    except KeyError:
        pass
    info: _FileNameInfo | None
    if filename.endswith(".whl"):
        info = _parse_wheel_filename(filename)
    else:
        try:
            name, version = parse_sdist_filename(filename)
            info = (name, version, frozenset(), FileKind.SDIST)
        except (InvalidSdistFilename, InvalidVersion):
            info = None
    _remember(_filename_memo, filename, info)
    return info


def _parse_wheel_filename(filename: str) -> _FileNameInfo | None:
    """``packaging.utils.parse_wheel_filename``, each half of the name parsed once per run.

    packaging's checks of the stem (project name, version, build tag) and of the tag triple
    are independent of each other, so each half is validated by packaging itself, next to a
    neutral other half (``py3-none-any``, ``x-0``): the verdict is packaging's, for whichever
    packaging is installed, and a page's thousands of files cost a few dozen parses.
    """
    stem = filename[:-4]
    dashes = stem.count("-")
    if dashes not in (4, 5):
        return None
    head = stem.rsplit("-", 3)[0]  # name-version[-build]
    tag_text = stem[len(head) + 1 :]  # python-abi-platform
    try:
        parsed_stem = _wheel_stem_memo[head]
    except KeyError:
        try:
            name, version, _build, _tags = parse_wheel_filename(f"{head}-py3-none-any.whl")
            parsed_stem = (name, version)
        except (InvalidWheelFilename, InvalidVersion):
            parsed_stem = None
        _remember(_wheel_stem_memo, head, parsed_stem)
    try:
        tags = _wheel_tags_memo[tag_text]
    except KeyError:
        try:
            tags = parse_wheel_filename(f"x-0-{tag_text}.whl")[3]
        except (InvalidWheelFilename, InvalidVersion):
            tags = None
        _remember(_wheel_tags_memo, tag_text, tags)
    if parsed_stem is None or tags is None:
        return None
    return (*parsed_stem, tags, FileKind.WHEEL)


def make_index_file(
    filename: str,
    url: str,
    *,
    project: NormalizedName | None = None,
    sha256: str | None = None,
    requires_python: str | None = None,
    yanked: str | None = None,
    metadata: bool | str | None = None,
    size: int | None = None,
) -> IndexFile | None:
    """An :class:`IndexFile`, or ``None`` for names that are not wheels/sdists of ``project``.

    ``metadata`` is PEP 658's value: false/None, true, or the metadata file's sha256.
    Names that do not parse (``.egg``, ``.exe``, legacy versions) are skipped silently, as
    pip does.
    """
    info = _parse_filename(filename)
    if info is None:
        return None
    name, version, tags, kind = info
    if project is not None and name != project:
        return None
    return IndexFile(
        project=name,
        version=version,
        filename=filename,
        url=url,
        kind=kind,
        tags=tags,
        sha256=sha256.lower() if sha256 else None,
        requires_python=parse_requires_python(requires_python),
        yanked=yanked,
        metadata_advertised=bool(metadata),
        metadata_sha256=metadata.lower() if isinstance(metadata, str) else None,
        size=size,
    )


def parse_requires_python(value: str | None) -> SpecifierSet | None:
    """A Requires-Python value; empty or invalid ones mean "no constraint", as in pip.

    Memoized per string: the returned ``SpecifierSet`` may be shared, do not mutate it.
    """
    if not value:
        return None
    try:
        return _requires_python_memo[value]
    except KeyError:
        pass
    result: SpecifierSet | None = None
    if value.strip():
        try:
            result = SpecifierSet(value)
        except InvalidSpecifier:
            logger.debug("ignoring invalid requires-python %r", value)
    _remember(_requires_python_memo, value, result)
    return result


# -- parsing: PEP 503 HTML ---------------------------------------------------------------

#: The start tags that matter on a PEP 503 page (``<a ...>`` and ``<base ...>``, any case,
#: attributes across lines, ``>`` allowed inside quoted values), plus what html.parser would
#: not read as markup at all: comments and the raw text of ``<script>``/``<style>``, matched
#: so that links inside them are skipped. A start tag that never ends (no closing quote or
#: ``>`` up to the end of the page) matches without group 3: the scan stops there, as
#: html.parser's does, which also keeps the scan linear on malformed pages.
_TAG_RE = re.compile(
    r"<!--.*?(?:-->|\Z)"
    r"|<(script|style)(?=[\s/>]).*?(?:</\1\s*>|\Z)"
    r"|<(a|base)(?=[\s/>])(?:([^>\"']*(?:(?:\"[^\"]*\"|'[^']*')[^>\"']*)*)>)?",
    re.IGNORECASE | re.DOTALL,
)
#: One attribute inside a start tag, as html.parser reads it: a name, then optionally
#: ``=`` and a double-quoted, single-quoted or unquoted value. (Quotes always delimit a
#: value here: an unquoted value containing ``"`` or ``'``, which HTML forbids, is the one
#: case where html.parser and this tokenizer may split a page differently.)
_ATTR_RE = re.compile(r"([^\s/>\"'=][^\s/>=]*)(?:\s*=+\s*(\"[^\"]*\"|'[^']*'|[^\s>]*))?")
#: An absolute http(s) URL that ``urljoin``/``urldefrag`` would return unchanged: plain
#: netloc, a path, no query/params, no whitespace (see :func:`_resolve_href`).
_PLAIN_URL_RE = re.compile(r"https?://[A-Za-z0-9._~:@!$&'()*+,=%-]+/[^?#;\s]*(?:#\S*)?\Z")


def _attributes(text: str) -> dict[str, str | None]:
    """The attributes of one start tag: names lowercased, values unquoted and unescaped,
    ``None`` for an attribute without a value; the last of duplicates wins (as before)."""
    attrs: dict[str, str | None] = {}
    for match in _ATTR_RE.finditer(text):
        name, value = match.group(1, 2)
        if value is not None:
            if value[:1] in ('"', "'"):
                value = value[1:-1]
            if "&" in value:
                value = html.unescape(value)
        attrs[name.lower()] = value
    return attrs


def _scan_html(text: str) -> tuple[list[dict[str, str | None]], str | None]:
    """The attributes of every ``<a>`` and the ``href`` of the first ``<base>`` (or None)."""
    anchors: list[dict[str, str | None]] = []
    base: str | None = None
    for match in _TAG_RE.finditer(text):
        tag, inside = match.group(2, 3)
        if tag is None:  # a comment or a script/style element
            continue
        if inside is None:  # an unterminated start tag: the rest is not markup
            break
        attrs = _attributes(inside)
        if tag.lower() == "a":
            anchors.append(attrs)
        elif base is None:
            base = attrs.get("href")
    return anchors, base


def _resolve_href(base: str, href: str) -> tuple[str, str, str]:
    """``href`` against ``base``: the URL without fragment, the fragment, the file name.

    Index pages mostly link plain absolute URLs, for which ``urljoin`` and ``urldefrag``
    are the identity plus a split at ``#``; those skip the (slow) general path.
    """
    if _PLAIN_URL_RE.match(href):
        url, _sep, fragment = href.partition("#")
        return url, fragment, unquote(url.rsplit("/", 1)[-1])
    url, fragment = urldefrag(urljoin(base, href))
    return url, fragment, unquote(urlsplit(url).path.rsplit("/", 1)[-1])


def _metadata_attr(value: str | None) -> bool | str:
    """PEP 658 attribute value: ``"true"``/no value -> True, ``"sha256=X"`` -> X."""
    if value is None:
        return True
    value = value.strip()
    if value.lower() == "false":
        return False
    algo, sep, digest = value.partition("=")
    if sep and algo.lower() == "sha256" and digest:
        return digest
    return True


def parse_html_page(
    body: bytes | str, page_url: str, project: NormalizedName | None = None
) -> tuple[IndexFile, ...]:
    """Files linked from a PEP 503 page (attribute values are HTML-unescaped)."""
    text = body if isinstance(body, str) else body.decode("utf-8", errors="replace")
    anchors, base_href = _scan_html(text)
    base = urljoin(page_url, base_href) if base_href else page_url
    files = []
    for attrs in anchors:
        href = attrs.get("href")
        if not href:
            continue
        url, fragment, filename = _resolve_href(base, href.strip())
        metadata_value: bool | str = False
        if "data-core-metadata" in attrs:
            metadata_value = _metadata_attr(attrs["data-core-metadata"])
        elif "data-dist-info-metadata" in attrs:
            metadata_value = _metadata_attr(attrs["data-dist-info-metadata"])
        yanked = (attrs["data-yanked"] or "") if "data-yanked" in attrs else None
        found = make_index_file(
            filename,
            url,
            project=project,
            sha256=_fragment_sha256(fragment),
            requires_python=attrs.get("data-requires-python"),
            yanked=yanked,
            metadata=metadata_value,
        )
        if found is not None:
            files.append(found)
    return tuple(files)


def _fragment_sha256(fragment: str) -> str | None:
    algo, sep, digest = fragment.partition("=")
    return digest if sep and algo.lower() == "sha256" and digest else None


# -- parsing: PEP 691 JSON ---------------------------------------------------------------


def parse_json_page(
    body: bytes | str, page_url: str, project: NormalizedName | None = None
) -> tuple[IndexFile, ...]:
    """Files listed on a PEP 691 JSON page; raises :class:`IndexFailure` on malformed JSON."""
    try:
        data = json.loads(body)
        entries = data["files"]
        if not isinstance(entries, list):
            raise TypeError("files is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise IndexFailure(
            f"{redact_url(page_url)} is not a valid PEP 691 JSON page ({exc}).", _INDEX_HINT
        ) from exc
    files = []
    for entry in entries:
        found = _json_file(entry, page_url, project) if isinstance(entry, dict) else None
        if found is not None:
            files.append(found)
    return tuple(files)


def _json_file(
    entry: Mapping[str, Any], page_url: str, project: NormalizedName | None
) -> IndexFile | None:
    filename, href = entry.get("filename"), entry.get("url")
    if not isinstance(filename, str) or not isinstance(href, str):
        return None
    url = urldefrag(urljoin(page_url, href))[0]
    hashes = entry.get("hashes")
    sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
    yanked_value = entry.get("yanked", False)
    yanked = yanked_value if isinstance(yanked_value, str) else ("" if yanked_value else None)
    metadata = entry.get("core-metadata", entry.get("dist-info-metadata", False))
    if isinstance(metadata, dict):
        digest = metadata.get("sha256")
        metadata = digest if isinstance(digest, str) and digest else True
    requires_python = entry.get("requires-python")
    size = entry.get("size")
    return make_index_file(
        filename,
        url,
        project=project,
        sha256=sha256 if isinstance(sha256, str) else None,
        requires_python=requires_python if isinstance(requires_python, str) else None,
        yanked=yanked,
        metadata=metadata if isinstance(metadata, (bool, str)) else False,
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
    )


def parse_page(
    body: bytes, content_type: str, page_url: str, project: NormalizedName | None
) -> tuple[IndexFile, ...]:
    """Dispatch on the media type: JSON for ``*json``, HTML for everything else."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media.endswith("json"):
        return parse_json_page(body, page_url, project)
    charset = re.search(r"charset=\"?([\w.-]+)", content_type, re.IGNORECASE)
    text = body.decode(charset.group(1) if charset else "utf-8", errors="replace")
    return parse_html_page(text, page_url, project)


# -- parsed pages on disk ----------------------------------------------------------------

#: Bump whenever parsing can give a different result for the same page.
_PARSED_FORMAT = 1
_PARSED_NAMESPACE = "parsed-pages"


def _parsed_header(body: bytes, content_type: str, page_url: str, project: str | None) -> str:
    """What a parsed list depends on; an entry is used only when its header is identical."""
    return json.dumps(
        [
            _PARSED_FORMAT,
            sysnative_version,
            packaging_version,
            page_url,
            project,
            content_type,
            hashlib.sha256(body).hexdigest(),
        ]
    )


def _encode_files(header: str, files: Iterable[IndexFile]) -> bytes:
    # Versions, tag sets and Requires-Python values are shared objects (see the parsing
    # memos), recurring across hundreds of files: each is spelled once, keyed by identity.
    # The values hold their objects, so an id cannot be reused while the dict lives.
    spelled: dict[int, tuple[object, str]] = {}

    def spell(value: object, render: Callable[[Any], str] = str) -> str:
        known = spelled.get(id(value))
        if known is None:
            known = spelled[id(value)] = (value, render(value))
        return known[1]

    rows = [
        [
            f.project,
            spell(f.version),
            f.filename,
            f.url,
            f.kind.value,
            spell(f.tags, _spell_tags),
            f.sha256,
            spell(f.requires_python) if f.requires_python is not None else None,
            f.yanked,
            f.metadata_advertised,
            f.metadata_sha256,
            f.size,
        ]
        for f in files
    ]
    return (header + "\n" + json.dumps(rows, separators=(",", ":"))).encode()


def _spell_tags(tags: frozenset[Tag]) -> str:
    return " ".join(sorted(str(t) for t in tags))


def _decode_files(data: bytes, header: str) -> tuple[IndexFile, ...] | None:
    """The files of an entry written by :func:`_encode_files`; ``None`` if stale or corrupt."""
    head, sep, body = data.partition(b"\n")
    if not sep or head.decode("utf-8", errors="replace") != header:
        return None
    names: dict[str, NormalizedName] = {}
    versions: dict[str, Version] = {}
    tag_sets: dict[str, frozenset[Tag]] = {"": frozenset()}
    files = []
    try:
        rows = json.loads(body)
        if not isinstance(rows, list):
            return None
        for row in rows:
            name, version, filename, url, kind, tags, sha256, requires_python = row[:8]
            yanked, metadata_advertised, metadata_sha256, size = row[8:]
            if not (isinstance(filename, str) and isinstance(url, str)):
                return None
            if not isinstance(metadata_advertised, bool):
                return None
            project = names.get(name)
            if project is None:
                project = names[name] = canonicalize_name(name)
            parsed_version = versions.get(version)
            if parsed_version is None:
                parsed_version = versions[version] = Version(version)
            tag_set = tag_sets.get(tags)
            if tag_set is None:
                tag_set = tag_sets[tags] = frozenset(Tag(*t.split("-")) for t in tags.split())
            files.append(
                IndexFile(
                    project=project,
                    version=parsed_version,
                    filename=filename,
                    url=url,
                    kind=FileKind(kind),
                    tags=tag_set,
                    sha256=_opt_str(sha256),
                    requires_python=parse_requires_python(_opt_str(requires_python)),
                    yanked=_opt_str(yanked),
                    metadata_advertised=metadata_advertised,
                    metadata_sha256=_opt_str(metadata_sha256),
                    size=size if isinstance(size, int) and not isinstance(size, bool) else None,
                )
            )
    except (ValueError, TypeError, AttributeError):  # InvalidVersion is a ValueError
        return None
    return tuple(files)


def _opt_str(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"expected a string or null, got {type(value).__name__}")


def parse_page_cached(
    cache: Cache | None,
    body: bytes,
    content_type: str,
    page_url: str,
    project: NormalizedName | None,
) -> tuple[IndexFile, ...]:
    """:func:`parse_page`, remembering the result on disk next to the cached page.

    The entry is keyed by the page URL and project (one entry per page, overwritten when
    the page changes) and used only when the page body (by hash), content type, URL,
    project, parser format and ``packaging`` version are all the same; a stale or corrupt
    entry is parsed again and rewritten. Pages whose URL carries credentials are never
    stored, so no password reaches the disk.
    """
    if cache is None or "@" in urlsplit(page_url).netloc:
        return parse_page(body, content_type, page_url, project)
    key = json.dumps([page_url, project])
    header = _parsed_header(body, content_type, page_url, project)
    data = cache.get_blob(_PARSED_NAMESPACE, key)
    if data is not None:
        files = _decode_files(data, header)
        if files is not None:
            return files
    files = parse_page(body, content_type, page_url, project)
    cache.put_blob(_PARSED_NAMESPACE, key, _encode_files(header, files))
    return files


# -- parsing: core metadata --------------------------------------------------------------


def parse_requires_dist(line: str) -> Requirement | None:
    """A Requires-Dist value, or ``None`` if it does not parse.

    Memoized per string, as Requires-Python is: a project's releases repeat the same lines
    (xarray's thirty releases, each with dozens of extras), and packaging's parser costs tens
    of microseconds per line. The returned ``Requirement`` may be shared: do not mutate it.
    """
    try:
        return _requires_dist_memo[line]
    except KeyError:
        pass
    try:
        requirement: Requirement | None = Requirement(line)
    except InvalidRequirement:
        requirement = None
    _remember(_requires_dist_memo, line, requirement)
    return requirement


def parse_core_metadata(data: bytes) -> CoreMetadata:
    """The resolver's view of a METADATA file; unparsable requirement lines are skipped.

    Raises ``ValueError`` when the name or version is missing or invalid: such data is not
    core metadata at all (e.g. an error page served with status 200).
    """
    raw, _unparsed = parse_email(data)
    name, version = raw.get("name"), raw.get("version")
    if not name or not version:
        raise ValueError("no Name or Version field")
    requires = []
    for line in raw.get("requires_dist", []):
        requirement = parse_requires_dist(line)
        if requirement is None:
            logger.debug("skipping unparsable Requires-Dist %r of %s", line, name)
        else:
            requires.append(requirement)
    extras = frozenset(canonicalize_name(e) for e in raw.get("provides_extra", []))
    return CoreMetadata(
        name=canonicalize_name(name),
        version=Version(version),  # InvalidVersion is a ValueError
        requires_dist=tuple(requires),
        requires_python=parse_requires_python(raw.get("requires_python")),
        provides_extra=extras,
    )


def _matches(meta: CoreMetadata, file: IndexFile) -> bool:
    return meta.name == file.project and meta.version == file.version


# -- lazy wheel reading ------------------------------------------------------------------


class _RangeFile(io.RawIOBase):
    """A seekable view of a remote file that fetches only the byte ranges ``zipfile`` reads."""

    def __init__(
        self, fetch: Callable[[int, int], bytes], size: int, tail: bytes, *, min_range: int
    ) -> None:
        super().__init__()
        self._fetch = fetch
        self._size = size
        self._pos = 0
        self._min_range = min_range
        #: Disjoint fetched spans, as (start, data).
        self._spans: list[tuple[int, bytes]] = [(size - len(tail), tail)] if tail else []

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._pos = offset
        elif whence == io.SEEK_CUR:
            self._pos += offset
        else:
            self._pos = self._size + offset
        self._pos = max(0, self._pos)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        end = min(self._pos + len(buffer), self._size)
        if end <= self._pos:
            return 0
        data = self._read_span(self._pos, end)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _read_span(self, start: int, end: int) -> bytes:
        for span_start, data in self._spans:
            if span_start <= start and end <= span_start + len(data):
                return data[start - span_start : end - span_start]
        fetch_end = min(self._size, max(end, start + self._min_range))
        data = self._fetch(start, fetch_end)
        self._spans.append((start, data))
        return data[: end - start]


def _parse_content_range(value: str | None) -> tuple[int, int, int] | None:
    """``bytes START-END/TOTAL`` -> (start, end inclusive, total)."""
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+)\s*", value or "")
    if match is None:
        return None
    start, end, total = (int(g) for g in match.groups())
    return start, end, total


def _metadata_member(names: Iterable[str], project: NormalizedName) -> str | None:
    """The top-level ``<name>-<version>.dist-info/METADATA`` of the wheel for ``project``."""
    candidates = [n for n in names if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
    for name in candidates:
        dist = name.split("/", 1)[0][: -len(".dist-info")]
        if canonicalize_name(dist.rsplit("-", 1)[0]) == project:
            return name
    return candidates[0] if len(candidates) == 1 else None


def read_wheel_metadata(source: Any, file: IndexFile) -> bytes:
    """The METADATA member of a wheel given as a path or a seekable binary file object."""
    try:
        with zipfile.ZipFile(source) as archive:
            member = _metadata_member(archive.namelist(), file.project)
            if member is None:
                raise IndexFailure(
                    f"The wheel {file.filename} has no .dist-info/METADATA file.",
                    "The file is broken; report it to the project or the index maintainers.",
                )
            return archive.read(member)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise IndexFailure(
            f"The wheel {file.filename} is not a valid zip file ({exc}).",
            "The file is broken or was damaged on the way; try again, or report it.",
        ) from exc


# -- sources -----------------------------------------------------------------------------


def _is_url(location: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", location))


def _file_url_path(url: str) -> Path:
    return Path(url2pathname(urlsplit(url).path))


def _strip_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _with_userinfo_of(url: str, origin: str) -> str:
    """Put ``origin``'s credentials back on ``url`` when both name the same host."""
    origin_parts, parts = urlsplit(origin), urlsplit(url)
    if "@" not in origin_parts.netloc or "@" in parts.netloc:
        return url
    if parts.hostname != origin_parts.hostname:
        return url
    userinfo = origin_parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


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
        http: HttpClient | None = None,
    ) -> None:
        self.config = config
        self.cache = cache
        self.refresh = refresh
        self.http = http or HttpClient(timeout=config.timeout, cafile=config.cert)
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

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.http.close()

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
        return parse_page_cached(
            self.cache,
            page.body,
            page.content_type,
            _with_userinfo_of(page.url, page_url),
            project,
        )

    def _find_links_files(self, location: str) -> tuple[IndexFile, ...]:
        """All files of one find-links location (listed once per run)."""
        return self._links.get(location, lambda: self._list_find_links(location))

    def _list_find_links(self, location: str) -> tuple[IndexFile, ...]:
        if _is_url(location) and not location.startswith("file:"):
            page = self._pages.get(location, lambda: self._fetch_page(location))
            if page.status == 404:
                logger.debug("find-links page %s does not exist", redact_url(location))
                return ()
            return parse_page_cached(
                self.cache,
                page.body,
                page.content_type,
                _with_userinfo_of(page.url, location),
                None,
            )
        path = _file_url_path(location) if _is_url(location) else Path(location).absolute()
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
            return CachedPage(_strip_userinfo(response.url), 404, "", b"", now)
        if response.status != 200:
            hint = _INDEX_HINT
            if response.status in (401, 403):
                hint = "Check the credentials for this index (user:password@ in the URL)."
            raise IndexFailure(
                f"Could not get {redact_url(url)}: HTTP {response.status} {response.reason}.",
                hint,
            )
        return CachedPage(
            url=_strip_userinfo(response.url),
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
        if not _matches(meta, file):
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
        answered = meta is not None and _matches(meta, file)
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
        content_range = _parse_content_range(response.header("content-range"))
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
            _RangeFile(fetch, total, response.body, min_range=MIN_RANGE), file
        )

    def _fetch_range(self, file: IndexFile, start: int, stop: int) -> bytes:
        response = self.http.get(
            file.url, {"Range": f"bytes={start}-{stop - 1}", "Accept-Encoding": "identity"}
        )
        if response.status == 200:
            return response.body[start:stop]
        found = _parse_content_range(response.header("content-range"))
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
