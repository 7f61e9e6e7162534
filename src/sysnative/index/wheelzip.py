"""The ``METADATA`` member of a wheel, read from a local file, a whole body in memory, or a
remote file through HTTP range requests (only the bytes ``zipfile`` reads are fetched).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any

from sysnative.errors import IndexFailure
from sysnative.index.metadata import metadata_member
from sysnative.models import IndexFile


class RangeFile(io.RawIOBase):
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


def read_wheel_metadata(source: Any, file: IndexFile) -> bytes:
    """The METADATA member of a wheel given as a path or a seekable binary file object."""
    try:
        with zipfile.ZipFile(source) as archive:
            member = metadata_member(archive.namelist(), file.project)
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
