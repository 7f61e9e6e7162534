"""Parsed index pages kept on disk next to the cached pages.

A large page (numpy's lists thousands of files) costs tens of milliseconds to parse; a warm
run reads the parsed list back instead. An entry is used only when everything the parse
depends on is unchanged (see :func:`parse_page_cached`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from packaging import __version__ as packaging_version
from packaging.tags import Tag
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from sysnative import __version__ as sysnative_version
from sysnative.cache import Cache
from sysnative.index.pages import parse_page, parse_requires_python
from sysnative.models import FileKind, IndexFile

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
