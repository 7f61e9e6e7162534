"""The one switch for every accelerator of a run, and the plain index client used when off.

A run is made fast by work done ahead or aside, never by a different answer:

- :mod:`~sysnative.session.speculate`: the provider's slow setup started at once, and its
  answers for the likely native packages asked before the plan asks;
- :mod:`~sysnative.session.prefetch`: the likely dependency graph walked ahead of the
  resolver, and the index client's own background fetching of listings and metadata;
- :mod:`~sysnative.session.cpushare`: a CPU of its own for apt's cache build;
- the garbage collector paused for the run (:func:`collector_paused`).

``SYSNATIVE_ACCELERATORS=off`` (or ``0``, ``false``, ``no``) switches all of them off: the
stages then run one after the other, in the order the design describes, which is what to
compare against when a plan looks wrong or a run hangs. Plans are the same either way; the
differential tests show it.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

# For annotations only: the command line reads the setting before it imports anything else.
if TYPE_CHECKING:
    from packaging.utils import NormalizedName

    from sysnative.models import CoreMetadata, IndexFile
    from sysnative.protocols import IndexClient

__all__ = ["SETTING", "PlainIndex", "collector_paused", "enabled"]

#: The environment variable that switches the accelerators off.
SETTING = "SYSNATIVE_ACCELERATORS"
_OFF = frozenset({"0", "off", "false", "no"})


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this run may work ahead and aside (the default), as :data:`SETTING` says."""
    value = (os.environ if environ is None else environ).get(SETTING, "")
    return value.strip().lower() not in _OFF


class PlainIndex:
    """An :class:`~sysnative.protocols.IndexClient` that asks only when asked: the inner
    client's background fetching (``prefetch_*``) is switched off."""

    def __init__(self, inner: IndexClient) -> None:
        self._inner = inner

    def get_files(self, project: NormalizedName) -> tuple[IndexFile, ...]:
        return self._inner.get_files(project)

    def get_metadata(self, file: IndexFile) -> CoreMetadata:
        return self._inner.get_metadata(file)

    def prefetch_files(self, projects: Iterable[NormalizedName]) -> None:
        """Nothing ahead of time."""

    def prefetch_metadata(self, files: Iterable[IndexFile]) -> None:
        """Nothing ahead of time."""

    def close(self) -> None:
        self._inner.close()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off for the run, the objects frozen at its end.

    Planning builds a few hundred thousand long-lived objects (index listings, metadata,
    candidates), and collecting them again and again freed nothing (a cold plan of an xarray
    set peaks at the same 92 MB either way) while stopping every thread: 0.2 s of that plan's
    1.7 s. At exit the objects are frozen, which spares the interpreter's final full
    collection (30 ms). With the accelerators off, the collector is left as it is.
    """
    if not enabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
