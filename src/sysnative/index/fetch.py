"""How sysnative fetches URLs, as a seam: the :class:`Fetcher` Protocol and the
:class:`Response` it returns.

The index client, the sdist builder and the wheel step are written against it; the
implementation on urllib3 is :class:`sysnative.index.http.HttpClient`, imported only when a
run needs the network (a warm run answers from the page cache and never does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import BinaryIO, Protocol

__all__ = ["Fetcher", "Response"]


@dataclass(frozen=True)
class Response:
    """A complete HTTP response. ``url`` is the final URL after redirects."""

    url: str
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Fetcher(Protocol):
    """What the index client, the sdist builder and the wheel step need to fetch URLs."""

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> Response:
        """GET ``url`` into memory, following redirects and retrying connection errors and 5xx.

        Returns every final status except 5xx; raises :class:`IndexFailure` when the server
        cannot be reached or keeps failing.
        """
        ...

    def download(
        self,
        url: str,
        sink: BinaryIO,
        headers: Mapping[str, str] | None = None,
        *,
        on_progress: Callable[[int], object] | None = None,
        chunk_size: int = 256 * 1024,
    ) -> Response:
        """GET ``url`` and stream a ``200`` body into ``sink`` (see :meth:`HttpClient.download`)."""
        ...

    def close(self) -> None: ...
