"""Test helpers: real wheels and sdists built at test time, and a fake package index.

Usage (the ``fake_index`` fixture in conftest.py does the setup)::

    fake_index.add_wheel("demo", "1.0", requires_dist=["dep>=2"])
    fake_index.add_wheel("dep", "2.1", requires_python=">=3.8")
    client = SimpleIndexClient(IndexConfig(index_url=fake_index.url), Cache(tmp_path))
    ...
    assert fake_index.downloads["demo-1.0-py3-none-any.whl"] == 0

:class:`FakeIndex` serves PEP 503 HTML or PEP 691 JSON pages (``flavour``), the files
themselves (with Range support unless switched off), PEP 658 ``.metadata`` files, ETags
for conditional GETs, and injected faults. Every request is counted per path, so tests can
check which strategy the client used.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import html
import io
import json
import re
import tarfile
import threading
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.tags import parse_tag
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

#: A fixed timestamp, so that the same inputs always give byte-identical wheels.
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "text/html; charset=utf-8"


def _escape(name: str) -> str:
    """The file-name form of a project name (PEP 427 / binary distribution format)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def metadata_text(
    name: str,
    version: str,
    *,
    requires_dist: Iterable[str] = (),
    requires_python: str | None = None,
    extras: Iterable[str] | Mapping[str, Sequence[str]] = (),
) -> str:
    """A Metadata-Version 2.1 METADATA/PKG-INFO file.

    ``extras`` is either extra names (their requirements already in ``requires_dist`` with
    ``extra == "..."`` markers) or a mapping of extra name to requirements, which are
    written with the marker added.
    """
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if requires_python is not None:
        lines.append(f"Requires-Python: {requires_python}")
    lines.extend(f"Requires-Dist: {req}" for req in requires_dist)
    for extra in extras:
        lines.append(f"Provides-Extra: {extra}")
        if isinstance(extras, Mapping):
            for req in extras[extra]:
                spec, _, marker = req.partition(";")
                condition = f"({marker.strip()}) and " if marker.strip() else ""
                lines.append(f'Requires-Dist: {spec.strip()}; {condition}extra == "{extra}"')
    return "\n".join(lines) + "\n\n"


def build_wheel(
    dest_dir: str | Path,
    name: str,
    version: str,
    *,
    requires_dist: Iterable[str] = (),
    requires_python: str | None = None,
    tag: str = "py3-none-any",
    extras: Iterable[str] | Mapping[str, Sequence[str]] = (),
    files: Mapping[str, str] | None = None,
) -> Path:
    """Build a valid, installable wheel in ``dest_dir`` and return its path.

    It holds ``<name>/__init__.py`` (``__version__`` set), any extra ``files`` (archive
    path -> text), and a ``.dist-info`` with METADATA, WHEEL and a RECORD with hashes.
    ``tag`` may be compressed (``py2.py3-none-any``); see :func:`metadata_text` for extras.
    """
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    stem = _escape(name)
    dist_info = f"{stem}-{version}.dist-info"
    purelib = all(t.abi == "none" and t.platform == "any" for t in parse_tag(tag))
    contents: dict[str, bytes] = {f"{stem}/__init__.py": f'__version__ = "{version}"\n'.encode()}
    for member, text in (files or {}).items():
        contents[member] = text.encode()
    contents[f"{dist_info}/METADATA"] = metadata_text(
        name,
        version,
        requires_dist=requires_dist,
        requires_python=requires_python,
        extras=extras,
    ).encode()
    wheel_lines = [
        "Wheel-Version: 1.0",
        "Generator: sysnative-tests",
        f"Root-Is-Purelib: {'true' if purelib else 'false'}",
        *(f"Tag: {t}" for t in sorted(str(t) for t in parse_tag(tag))),
    ]
    contents[f"{dist_info}/WHEEL"] = ("\n".join(wheel_lines) + "\n").encode()
    record = [f"{member},{_record_hash(data)},{len(data)}" for member, data in contents.items()]
    record.append(f"{dist_info}/RECORD,,")
    contents[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()

    path = dest / f"{stem}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member, data in contents.items():
            info = zipfile.ZipInfo(member, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return path


def build_sdist(dest_dir: str | Path, name: str, version: str) -> Path:
    """A minimal sdist ``<name>-<version>.tar.gz`` (PKG-INFO, pyproject.toml, package)."""
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    stem = _escape(name)
    root = f"{stem}-{version}"
    members = {
        f"{root}/PKG-INFO": metadata_text(name, version),
        f"{root}/pyproject.toml": (
            '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
            f'\n[project]\nname = "{name}"\nversion = "{version}"\n'
        ),
        f"{root}/{stem}/__init__.py": f'__version__ = "{version}"\n',
    }
    path = dest / f"{root}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for member, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mtime = 1577836800
            archive.addfile(info, io.BytesIO(data))
    return path


#: The environment variable a test sets to a file path: the backend of
#: :func:`build_backend_sdist` appends one line per hook it runs (``name version hook``).
BACKEND_LOG = "SYSNATIVE_TEST_BACKEND_LOG"

_BACKEND = """\
\"\"\"A PEP 517 build backend in the standard library alone (sysnative's tests).\"\"\"
import base64
import hashlib
import os
import zipfile
{imports}
NAME = {name!r}
VERSION = {version!r}
STEM = {stem!r}
TAG = {tag!r}
FAIL = {fail!r}
FAIL_BUILD = {fail_build!r}
METADATA = {metadata!r}
DIST_INFO = STEM + "-" + VERSION + ".dist-info"
WHEEL = (
    "Wheel-Version: 1.0\\nGenerator: sysnative-test-backend\\nRoot-Is-Purelib: true\\n"
    "Tag: " + TAG + "\\n"
)


def _log(hook):
    path = os.environ.get({log!r})
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(NAME + " " + VERSION + " " + hook + "\\n")
    if FAIL or (FAIL_BUILD and hook == "build_wheel"):
        raise RuntimeError("the test backend fails on purpose in " + hook)


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    _log("prepare_metadata_for_build_wheel")
    target = os.path.join(metadata_directory, DIST_INFO)
    os.makedirs(target)
    for member, text in (("METADATA", METADATA), ("WHEEL", WHEEL)):
        with open(os.path.join(target, member), "w", encoding="utf-8") as fh:
            fh.write(text)
    return DIST_INFO


def _hash(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _log("build_wheel")
    contents = {{
        STEM + "/__init__.py": ('__version__ = "' + VERSION + '"\\n').encode(),
        DIST_INFO + "/METADATA": METADATA.encode(),
        DIST_INFO + "/WHEEL": WHEEL.encode(),
    }}
    record = [m + "," + _hash(d) + "," + str(len(d)) for m, d in contents.items()]
    record.append(DIST_INFO + "/RECORD,,")
    contents[DIST_INFO + "/RECORD"] = ("\\n".join(record) + "\\n").encode()
    filename = STEM + "-" + VERSION + "-" + TAG + ".whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as archive:
        for member, data in contents.items():
            info = zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return filename
"""


def build_backend_sdist(
    dest_dir: str | Path,
    name: str,
    version: str,
    *,
    requires_dist: Iterable[str] = (),
    requires_python: str | None = None,
    build_requires: Sequence[str] = (),
    fail: bool = False,
    fail_build: bool = False,
) -> Path:
    """An sdist whose build needs no network and no setuptools: its PEP 517 backend is in the
    sdist itself (``backend-path``) and uses the standard library only.

    It builds the pure wheel ``<name>/__init__.py`` (``__version__`` set) with the given
    metadata. ``build_requires`` go to ``[build-system] requires`` and are imported by the
    backend (by their names), so the build only works when pip installed them into its build
    environment, from the index it was given. Each hook the backend runs is appended to the
    file named by the environment variable :data:`BACKEND_LOG`; with ``fail`` every hook
    raises, with ``fail_build`` only ``build_wheel`` (the metadata is prepared).
    """
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    stem = _escape(name)
    root = f"{stem}-{version}"
    metadata = metadata_text(
        name, version, requires_dist=requires_dist, requires_python=requires_python
    )
    backend = _BACKEND.format(
        imports="".join(f"import {_escape(r)}\n" for r in build_requires),
        name=name,
        version=version,
        stem=stem,
        tag="py3-none-any",
        fail=fail,
        fail_build=fail_build,
        metadata=metadata,
        log=BACKEND_LOG,
    )
    requires = ", ".join(f'"{r}"' for r in build_requires)
    members = {
        f"{root}/PKG-INFO": metadata,
        f"{root}/pyproject.toml": (
            f"[build-system]\nrequires = [{requires}]\n"
            'build-backend = "sysnative_test_backend"\nbackend-path = ["_backend"]\n'
        ),
        f"{root}/_backend/sysnative_test_backend.py": backend,
        f"{root}/{stem}/__init__.py": f'__version__ = "{version}"\n',
    }
    path = dest / f"{root}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for member, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mtime = 1577836800
            archive.addfile(info, io.BytesIO(data))
    return path


@dataclass
class _Entry:
    """One file the index serves."""

    filename: str
    project: str
    data: bytes
    sha256: str
    metadata: bytes | None
    requires_python: str | None = None
    yanked: str | None = None
    #: Bytes served instead of ``data`` (the page keeps announcing ``sha256``).
    served: bytes | None = None
    served_metadata: bytes | None = None

    @property
    def body(self) -> bytes:
        return self.served if self.served is not None else self.data


@dataclass
class FakeIndex:
    """A PEP 503/691 index on ``127.0.0.1`` backed by a ``pytest_httpserver.HTTPServer``.

    Options (plain attributes, change them any time):

    - ``flavour``: ``"html"`` (PEP 503) or ``"json"`` (PEP 691) pages.
    - ``advertise_metadata``: announce PEP 658/714 ``.metadata`` files (with their hash).
    - ``serve_metadata``: serve ``<file>.metadata`` even when not advertised.
    - ``support_range``: answer ``Range`` requests with 206; otherwise 200 with the body.

    Counters: ``requests[path]`` (every request), ``downloads[filename]`` (whole-file
    GETs, including Range requests the server ignored), ``range_requests[filename]``,
    ``not_modified`` (304 answers). ``reset_counters()`` clears them.
    """

    server: HTTPServer
    flavour: str = "html"
    advertise_metadata: bool = True
    serve_metadata: bool = True
    support_range: bool = True
    entries: dict[str, _Entry] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    requests: collections.Counter[str] = field(default_factory=collections.Counter)
    downloads: collections.Counter[str] = field(default_factory=collections.Counter)
    range_requests: collections.Counter[str] = field(default_factory=collections.Counter)
    not_modified: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wheel_dir: Path | None = None
    _owns_server: bool = False

    def __post_init__(self) -> None:
        self.server.expect_request(re.compile(r".*")).respond_with_handler(self._handle)

    @classmethod
    def start(
        cls, work_dir: str | Path, *, server: HTTPServer | None = None, **options: Any
    ) -> FakeIndex:
        """An index serving on ``server`` (or on a new one, stopped by :meth:`stop`).

        ``work_dir`` holds the wheels built by :meth:`add_wheel`. A shared, already running
        ``server`` is cleared first; reusing one server across tests avoids the half-second
        shutdown of each.
        """
        owns = server is None
        if server is None:
            server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
            server.start()
        else:
            server.clear()
        index = cls(server, **options)
        index._wheel_dir = Path(work_dir)
        index._owns_server = owns
        return index

    def stop(self) -> None:
        """Stop serving: stop an owned server, or clear a shared one."""
        if self._owns_server and self.server.is_running():
            self.server.stop()
        elif not self._owns_server:
            self.server.clear()

    def __enter__(self) -> FakeIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- content -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The simple index root, ``http://127.0.0.1:PORT/simple``."""
        return f"http://127.0.0.1:{self.server.port}/simple"

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def file_url(self, filename: str) -> str:
        return f"{self.root_url}/files/{filename}"

    def page_path(self, project: str) -> str:
        """The request path of a project page, for ``requests[...]``."""
        return f"/simple/{canonicalize_name(project)}/"

    def add(
        self, path: str | Path, *, requires_python: str | None = None, yanked: str | None = None
    ) -> Path:
        """Serve an existing wheel or sdist file; its project comes from its name."""
        path = Path(path)
        data = path.read_bytes()
        if path.name.endswith(".whl"):
            project = parse_wheel_filename(path.name)[0]
            metadata: bytes | None = _wheel_metadata(data)
        else:
            project = parse_sdist_filename(path.name)[0]
            metadata = None
        self.entries[path.name] = _Entry(
            filename=path.name,
            project=project,
            data=data,
            sha256=hashlib.sha256(data).hexdigest(),
            metadata=metadata,
            requires_python=requires_python,
            yanked=yanked,
        )
        return path

    def add_wheel(
        self,
        name: str,
        version: str,
        *,
        requires_dist: Iterable[str] = (),
        requires_python: str | None = None,
        tag: str = "py3-none-any",
        extras: Iterable[str] | Mapping[str, Sequence[str]] = (),
        files: Mapping[str, str] | None = None,
        yanked: str | None = None,
        page_requires_python: str | None = None,
    ) -> Path:
        """Build a wheel (see :func:`build_wheel`) and serve it.

        ``requires_python`` goes into the wheel's metadata *and*, unless
        ``page_requires_python`` says otherwise, into the page's data-requires-python.
        """
        if self._wheel_dir is None:
            raise RuntimeError("FakeIndex.start(work_dir) was not used; call add() instead")
        path = build_wheel(
            self._wheel_dir,
            name,
            version,
            requires_dist=requires_dist,
            requires_python=requires_python,
            tag=tag,
            extras=extras,
            files=files,
        )
        page_rp = page_requires_python if page_requires_python is not None else requires_python
        return self.add(path, requires_python=page_rp, yanked=yanked)

    def add_sdist(self, name: str, version: str) -> Path:
        if self._wheel_dir is None:
            raise RuntimeError("FakeIndex.start(work_dir) was not used; call add() instead")
        return self.add(build_sdist(self._wheel_dir, name, version))

    def add_buildable_sdist(self, name: str, version: str, **options: Any) -> Path:
        """Serve an sdist that pip can build offline (see :func:`build_backend_sdist`)."""
        if self._wheel_dir is None:
            raise RuntimeError("FakeIndex.start(work_dir) was not used; call add() instead")
        return self.add(build_backend_sdist(self._wheel_dir, name, version, **options))

    # -- faults --------------------------------------------------------------------------

    def yank(self, filename: str, reason: str = "") -> None:
        self.entries[filename].yanked = reason

    def fail_project(self, name: str, status: int = 500) -> None:
        """Answer ``status`` for the project's page from now on."""
        self.failures[canonicalize_name(name)] = status

    def corrupt(self, filename: str) -> None:
        """Serve other bytes than the page's hash announces (same length, one byte off)."""
        entry = self.entries[filename]
        body = bytearray(entry.data)
        body[len(body) // 2] ^= 0xFF
        entry.served = bytes(body)

    def corrupt_metadata(self, filename: str) -> None:
        """Serve a ``.metadata`` file that does not match the advertised hash."""
        entry = self.entries[filename]
        entry.served_metadata = (entry.metadata or b"") + b"X-Tampered: yes\n"

    def reset_counters(self) -> None:
        with self._lock:
            self.requests.clear()
            self.downloads.clear()
            self.range_requests.clear()
            self.not_modified = 0

    @property
    def page_requests(self) -> int:
        """How many project pages were requested in total."""
        return sum(n for path, n in self.requests.items() if path.startswith("/simple/"))

    # -- serving -------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        with self._lock:
            self.requests[request.path] += 1
        path = request.path
        if path.startswith("/simple/"):
            return self._serve_page(request, path[len("/simple/") :].strip("/"))
        if path.startswith("/files/"):
            filename = path[len("/files/") :]
            if filename.endswith(".metadata"):
                return self._serve_metadata(filename[: -len(".metadata")])
            return self._serve_file(request, filename)
        return Response("not found", status=404)

    def _files_of(self, project: str) -> list[_Entry]:
        return [e for e in self.entries.values() if e.project == project]

    def _serve_page(self, request: Request, name: str) -> Response:
        project = canonicalize_name(name)
        if name != project:
            return Response(status=301, headers={"Location": f"/simple/{project}/"})
        if project in self.failures:
            return Response("injected failure", status=self.failures[project])
        entries = self._files_of(project)
        if not entries:
            return Response("not found", status=404)
        wants_json = self.flavour == "json"
        body = self._json_page(project, entries) if wants_json else self._html_page(entries)
        etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            with self._lock:
                self.not_modified += 1
            return Response(status=304, headers={"ETag": etag})
        content_type = JSON_TYPE if wants_json else HTML_TYPE
        return Response(body, status=200, headers={"Content-Type": content_type, "ETag": etag})

    def _html_page(self, entries: list[_Entry]) -> str:
        links = []
        for e in entries:
            attrs = [f'href="../../files/{e.filename}#sha256={e.sha256}"']
            if e.requires_python is not None:
                attrs.append(f'data-requires-python="{html.escape(e.requires_python)}"')
            if e.yanked is not None:
                attrs.append(f'data-yanked="{html.escape(e.yanked)}"')
            if self.advertise_metadata and e.metadata is not None:
                digest = hashlib.sha256(e.metadata).hexdigest()
                attrs.append(f'data-core-metadata="sha256={digest}"')
                attrs.append(f'data-dist-info-metadata="sha256={digest}"')
            links.append(f"<a {' '.join(attrs)}>{html.escape(e.filename)}</a><br/>")
        return "<!DOCTYPE html>\n<html><body>\n" + "\n".join(links) + "\n</body></html>\n"

    def _json_page(self, project: str, entries: list[_Entry]) -> str:
        files = []
        for e in entries:
            item: dict[str, Any] = {
                "filename": e.filename,
                "url": f"../../files/{e.filename}",
                "hashes": {"sha256": e.sha256},
                "requires-python": e.requires_python,
                "yanked": e.yanked if e.yanked else (e.yanked is not None),
                "size": len(e.data),
            }
            if self.advertise_metadata and e.metadata is not None:
                digest = {"sha256": hashlib.sha256(e.metadata).hexdigest()}
                item["core-metadata"] = digest
                item["dist-info-metadata"] = digest
            files.append(item)
        return json.dumps({"meta": {"api-version": "1.1"}, "name": project, "files": files})

    def _serve_metadata(self, filename: str) -> Response:
        entry = self.entries.get(filename)
        if entry is None or entry.metadata is None:
            return Response("not found", status=404)
        if not (self.serve_metadata or self.advertise_metadata):
            return Response("not found", status=404)
        body = entry.served_metadata if entry.served_metadata is not None else entry.metadata
        return Response(body, status=200, headers={"Content-Type": "application/octet-stream"})

    def _serve_file(self, request: Request, filename: str) -> Response:
        entry = self.entries.get(filename)
        if entry is None:
            return Response("not found", status=404)
        body = entry.body
        wanted = _parse_range(request.headers.get("Range"), len(body))
        if wanted is None or not self.support_range:
            with self._lock:
                self.downloads[filename] += 1
            return Response(body, status=200, headers={"Content-Type": "application/zip"})
        with self._lock:
            self.range_requests[filename] += 1
        start, end = wanted
        headers = {
            "Content-Type": "application/zip",
            "Content-Range": f"bytes {start}-{end}/{len(body)}",
            "Accept-Ranges": "bytes",
        }
        return Response(body[start : end + 1], status=206, headers=headers)


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One ``bytes=`` range as (start, end inclusive), clipped to ``size``; else ``None``."""
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", (header or "").strip())
    if match is None or not any(match.groups()):
        return None
    first, last = match.groups()
    if not first:
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(size - 1, int(last)) if last else size - 1
    return (start, end) if start <= end else None


def _wheel_metadata(data: bytes) -> bytes | None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if re.fullmatch(r"[^/]+\.dist-info/METADATA", name):
                return archive.read(name)
    return None
