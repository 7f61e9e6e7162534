"""The seam between sysnative and a system package manager."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from packaging.version import Version

from sysnative.models import ClosureItem, SystemPackage


class Provider(Protocol):
    """What the pipeline asks of a system package manager (query side)."""

    #: Short name used on the command line and in reports: ``"apt"``.
    name: str
    #: The mapping ecosystem whose data names this provider's packages: ``"debian"``.
    ecosystem: str

    def query(self, packages: Sequence[str]) -> Mapping[str, SystemPackage]:
        """Candidate and installed versions for all ``packages`` in one batched call.

        Names the provider does not know are absent from the result.
        """
        ...

    def simulate(self, packages: Sequence[str]) -> tuple[ClosureItem, ...]:
        """Everything installing ``packages`` would install or upgrade; changes nothing."""
        ...

    def to_pep440(self, distro_version: str) -> Version | None:
        """Translate a distro version to PEP 440, ``None`` when there is no sensible reading."""
        ...

    def site_dirs(self) -> tuple[str, ...]:
        """The directories where this provider's Python packages land."""
        ...

    def interpreter(self) -> str:
        """The Python interpreter this provider's packages are built for."""
        ...

    def prepare(self) -> None:
        """Do slow one-time setup now (apt: its binary package cache), so later calls are fast.

        Called from a background thread while the index side works; never required for
        correctness, and errors are left for the real calls to report.
        """
        ...
