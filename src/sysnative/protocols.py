"""The seams between the planning core and the world: the package index and the system
package manager.

The core (routing, resolution, assembly of the plan) is written against these Protocols
only; the clients that speak HTTP or run apt live at the edges (:mod:`sysnative.index`,
:mod:`sysnative.providers`) and are handed in by the session that wires a run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TextIO

from packaging.utils import NormalizedName
from packaging.version import Version

from sysnative.models import ClosureItem, CoreMetadata, IndexFile, SystemPackage


@dataclass(frozen=True)
class Privileges:
    """Whether this process can run the system step, and how.

    Checked before any change, so a user without root learns it before anything was
    installed, together with the exact command to run as root instead.
    """

    #: True when the install command can run: as root, or through password-less sudo.
    ok: bool
    #: What goes in front of the command: ``()`` as root, ``("sudo", "-n")`` through sudo.
    prefix: tuple[str, ...] = ()
    #: Why it cannot (when ``ok`` is False), in words for the user.
    why: str = ""


class SystemQuery(Protocol):
    """What planning asks of a system package manager: it changes nothing."""

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

    def prepare(self) -> bool:
        """Do slow one-time setup now (apt: its binary package cache), so later calls are fast.

        Called from a background thread while the index side works; never required for
        correctness, and errors are left for the real calls to report. Returns whether the
        provider was cold: False when its answers for the current system state are already
        cached, so that guessing ahead (``speculate``) would be wasted work.
        """
        ...


class Provider(SystemQuery, Protocol):
    """A system package manager: the query side plus the execution side.

    The execution side (``check_privileges``, ``check_install``, ``install``, ``verify``)
    carries out one planned transaction. ``packages`` there are ``(name, version)`` pairs of
    the requested packages; ``closure`` is what the plan read from ``simulate``.
    """

    def check_privileges(self) -> Privileges:
        """Whether the install command can run here (root, or sudo without a password)."""
        ...

    def install_command(
        self,
        packages: Sequence[tuple[str, str]],
        privileges: Privileges,
        *,
        lock_timeout: float = 120.0,
    ) -> list[str]:
        """The exact argv of the transaction: what ``install`` runs and what a message prints."""
        ...

    def check_install(
        self, packages: Sequence[tuple[str, str]], closure: Sequence[ClosureItem]
    ) -> None:
        """Simulate the exact transaction; :class:`ProviderError` naming any difference."""
        ...

    def install(
        self,
        packages: Sequence[tuple[str, str]],
        closure: Sequence[ClosureItem],
        privileges: Privileges,
        *,
        lock_timeout: float = 120.0,
        echo: TextIO | None = None,
    ) -> None:
        """Run the transaction, then :meth:`verify` it.

        The tool's output is captured for messages; with ``echo`` (a stream the command
        chose) it is also shown there as it comes (a large transaction runs for minutes). Raises
        :class:`sysnative.errors.SystemStepError` (with the package manager's record of each
        package and the undo commands) when the result is not exactly ``closure``, and
        :class:`sysnative.errors.PackageManagerLocked` when another package manager held the lock.
        """
        ...

    def verify(self, closure: Sequence[ClosureItem]) -> tuple[str, ...]:
        """What is not installed as planned, one line per package; ``()`` when all is."""
        ...

    def recovery(self) -> tuple[str, tuple[str, ...]]:
        """After an interrupted transaction: how to see what the package manager left
        unfinished (one sentence), and the commands that finish it (run as root; ``()``
        when running the same install again is enough)."""
        ...


class IndexClient(Protocol):
    """What the resolver needs from the indexes."""

    def get_files(self, project: NormalizedName) -> tuple[IndexFile, ...]:
        """Every file of ``project`` on every source (yanked ones marked, not dropped).

        Raises :class:`ProjectNotFound` when no source knows the project.
        """
        ...

    def get_metadata(self, file: IndexFile) -> CoreMetadata:
        """The core metadata of a wheel."""
        ...

    def prefetch_files(self, projects: Iterable[NormalizedName]) -> None:
        """Start fetching file lists in the background; returns at once."""
        ...

    def prefetch_metadata(self, files: Iterable[IndexFile]) -> None:
        """Start fetching metadata in the background; returns at once."""
        ...

    def close(self) -> None: ...


class Progress(Protocol):
    """What the install step reports while it runs, for the command to show.

    The install code never prints: the command that runs it hands in an implementation
    (:class:`sysnative.commands.progress.TerminalProgress` draws one line on a terminal) and
    decides what is shown, and where. The download methods are called from several threads.
    """

    def start(self, files: int, total_bytes: int | None) -> None:
        """Before the first byte: the number of files and their total size, if known."""
        ...

    def advance(self, nbytes: int) -> None:
        """``nbytes`` more bytes arrived (negative: a retried download started over)."""
        ...

    def file_done(self, filename: str) -> None:
        """One more file is staged and verified."""
        ...

    def finish(self) -> None:
        """Downloading ended (successfully or not)."""
        ...

    def notify(self, line: str) -> None:
        """A line for the user before a step that may take minutes (the system step,
        builds), so that a quiet terminal is not mistaken for a hung one."""
        ...
