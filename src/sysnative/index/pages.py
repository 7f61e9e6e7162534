"""Index pages read into :class:`IndexFile` values: file names, PEP 503 HTML, PEP 691 JSON.

Pure parsing, no I/O: the client (:mod:`sysnative.index.client`) fetches the bytes and hands
them here. Yanked files (PEP 592) are *kept* with :attr:`IndexFile.yanked` set: only the
caller knows whether a requirement pins the exact version (the one case where a yanked file
may be chosen), so the caller filters. Names that do not parse as a wheel or an sdist
(``.egg``, ``.exe``, legacy versions) are skipped silently, as pip does.

The same file names and requires-python strings recur thousands of times in a run (several
sources, several pages), so their parsing is memoized per process.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from sysnative.errors import IndexFailure
from sysnative.index.urls import redact_url
from sysnative.models import FileKind, IndexFile

logger = logging.getLogger(__name__)

_INDEX_HINT = "Check the URL and your network, or choose another index with --index-url."


# -- file names -----------------------------------------------------------------

#: Per-process memos of the per-string parsing work: the same file names (several sources,
#: several pages) and, above all, the same requires-python strings recur thousands of times.
#: Their values are immutable (``SpecifierSet`` is never mutated by sysnative), so sharing is
#: safe; plain dicts are enough, as dict reads and writes are atomic under the GIL and a race
#: only computes a value twice. Cleared wholesale when they grow past ``_MEMO_LIMIT``.
_MEMO_LIMIT = 100_000
#: Every memo made by :func:`parse_memo`, for :func:`clear_parse_caches`.
_memos: list[dict[str, Any]] = []


def parse_memo() -> dict[str, Any]:
    """A new per-process memo of string parsing, forgotten by :func:`clear_parse_caches`."""
    memo: dict[str, Any] = {}
    _memos.append(memo)
    return memo


def clear_parse_caches() -> None:
    """Forget the per-process parsing memos (for benchmarks and tests)."""
    for memo in _memos:
        memo.clear()


def remember(memo: dict[str, Any], key: str, value: Any) -> None:
    """Store ``value`` in a memo, clearing the memo wholesale once it is full."""
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[key] = value


_FileNameInfo = tuple[NormalizedName, Version, frozenset[Tag], FileKind]
_filename_memo: dict[str, _FileNameInfo | None] = parse_memo()
_requires_python_memo: dict[str, SpecifierSet | None] = parse_memo()
#: A wheel name's two halves, parsed once each: ``name-version[-build]`` (shared by every
#: file of a release) and the tag triple (shared by a platform's files across releases).
#: Sharing also makes equal versions and tag sets the *same* objects, which the per-call
#: identity memos of :func:`list_releases` and :func:`~sysnative.index.pagecache.encode_files`
#: rely on.
_wheel_stem_memo: dict[str, tuple[NormalizedName, Version] | None] = parse_memo()
_wheel_tags_memo: dict[str, frozenset[Tag] | None] = parse_memo()


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
    remember(_filename_memo, filename, info)
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
        remember(_wheel_stem_memo, head, parsed_stem)
    try:
        tags = _wheel_tags_memo[tag_text]
    except KeyError:
        try:
            tags = parse_wheel_filename(f"x-0-{tag_text}.whl")[3]
        except (InvalidWheelFilename, InvalidVersion):
            tags = None
        remember(_wheel_tags_memo, tag_text, tags)
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
    remember(_requires_python_memo, value, result)
    return result


# -- PEP 503 HTML ---------------------------------------------------------------

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


# -- PEP 691 JSON ---------------------------------------------------------------


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
