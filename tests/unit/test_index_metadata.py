"""Core metadata parsed (sysnative.index.metadata) and read from a wheel's zip (index.wheelzip)."""

from __future__ import annotations

import io
import zipfile

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from sysnative.errors import IndexFailure
from sysnative.index.metadata import parse_core_metadata
from sysnative.index.pages import clear_parse_caches, make_index_file
from sysnative.index.wheelzip import RangeFile, read_wheel_metadata

PAGE = "http://127.0.0.1:1/simple/demo/"


def test_core_metadata_parsing() -> None:
    data = (
        b"Metadata-Version: 2.1\nName: Demo_Pkg\nVersion: 1.0.post1\n"
        b"Requires-Python: >=3.8\nRequires-Dist: dep (>=2)\nRequires-Dist: ??? broken\n"
        b'Requires-Dist: extra-dep; extra == "Fast"\nProvides-Extra: Fast\n\nBody text\n'
    )

    meta = parse_core_metadata(data)

    assert meta.name == "demo-pkg"
    assert meta.version == Version("1.0.post1")
    assert [str(r) for r in meta.requires_dist] == ["dep>=2", 'extra-dep; extra == "fast"']
    assert meta.requires_python == SpecifierSet(">=3.8")
    assert meta.provides_extra == frozenset({"fast"})


def test_releases_share_their_parsed_requirements() -> None:
    clear_parse_caches()
    template = (
        b"Metadata-Version: 2.1\nName: demo\nVersion: %s\n"
        b"Requires-Dist: dep (>=2)\nRequires-Dist: ??? broken\n"
    )

    older, newer = (parse_core_metadata(template % v) for v in (b"1.0", b"2.0"))

    assert older.requires_dist[0] is newer.requires_dist[0]
    assert [str(r) for r in newer.requires_dist] == ["dep>=2"]  # the broken line, both times
    clear_parse_caches()


@pytest.mark.parametrize(
    "data", [b"<html>not metadata</html>", b"Name: x\nVersion: not a version\n"]
)
def test_core_metadata_rejects_non_metadata(data: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any ValueError subclass
        parse_core_metadata(data)


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_range_file_reads_member_with_few_fetches() -> None:
    metadata = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n\n"
    filler = {f"demo/{i}.py": bytes(range(256)) * 20 for i in range(200)}
    blob = _zip_bytes({**filler, "demo-1.0.dist-info/METADATA": metadata})
    fetched: list[tuple[int, int]] = []

    def fetch(start: int, stop: int) -> bytes:
        fetched.append((start, stop))
        return blob[start:stop]

    file = make_index_file("demo-1.0-py3-none-any.whl", PAGE + "demo-1.0-py3-none-any.whl")
    assert file is not None
    lazy = RangeFile(fetch, len(blob), blob[-1024:], min_range=4096)

    assert read_wheel_metadata(lazy, file) == metadata
    assert 1 <= len(fetched) <= 3
    assert sum(stop - start for start, stop in fetched) < len(blob) // 2


def test_wheel_without_metadata_member() -> None:
    file = make_index_file("demo-1.0-py3-none-any.whl", PAGE)
    assert file is not None
    with pytest.raises(IndexFailure, match="METADATA"):
        read_wheel_metadata(io.BytesIO(_zip_bytes({"demo/__init__.py": b""})), file)
    with pytest.raises(IndexFailure, match="not a valid zip"):
        read_wheel_metadata(io.BytesIO(b"PK garbage"), file)
