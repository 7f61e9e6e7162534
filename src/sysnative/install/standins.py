"""Marker ``.dist-info`` directories for system packages that pip cannot see as what they are.

After the system step, pip and ``importlib.metadata`` must find every system-provided project
under its PyPI name at the version the system installed; otherwise a later plain ``pip
install`` reinstalls it from the index (a second, conflicting copy of the native code) and
version checks fail. Some system packages do not register that truth: Debian's opencv
registers no metadata, h5py registers as ``h5py._debian_h5py_serial``, ``psycopg2-binary``
appears as ``psycopg2``, kiwisolver reports ``0.0.0``. Those facts are mapping data
(``dist_names``, ``registers_version``); this module only compares them with what the target
sees, and writes a small marker distribution for each gap: ``METADATA`` with the name and
version, ``INSTALLER`` naming sysnative (so pip and people can tell who wrote it), and
``RECORD``.

Markers go into the *target's* purelib, never the package manager's directory: the package
manager owns that, and a venv's purelib comes first on ``sys.path``, so a marker there also
shadows a wrong one from the system (``importlib.metadata`` returns the first distribution
on the path). Writing is all or nothing: each marker is staged in a hidden temporary
directory and renamed into place; a dist-info that another installer owns is never touched.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from sysnative.errors import MarkerError
from sysnative.mapping.table import MappingEntry, MappingTable
from sysnative.models import STANDIN_INSTALLER, PlannedPackage, Route
from sysnative.plan.sysversion import is_placeholder
from sysnative.target import InstalledDistribution, TargetEnvironment

__all__ = [
    "INSTALLER",
    "MarkerDist",
    "marker_location",
    "markers_needed",
    "remove_markers",
    "write_markers",
]

#: The ``INSTALLER`` of every marker; also how sysnative recognises its own markers.
INSTALLER = STANDIN_INSTALLER

_METADATA_SUFFIXES = (".dist-info", ".egg-info")
#: ``INSTALLER`` values of Python installers: their copies are not the system's.
_PYTHON_INSTALLERS = frozenset({"pip", "uv", "pdm", "poetry", "installer"})


@dataclass(frozen=True)
class MarkerDist:
    """One marker distribution to write: a project the system provides, as pip should see it."""

    name: NormalizedName
    version: Version
    #: The system package that really provides the project, and its provider.
    package: str
    provider: str
    #: Why the target does not see the project on its own (from the mapping data).
    reason: str

    @property
    def dist_info_name(self) -> str:
        """``{name}-{version}.dist-info``, with the name escaped as the wheel spec says."""
        return f"{_escape(self.name)}-{self.version}.dist-info"

    def metadata(self) -> str:
        return (
            "Metadata-Version: 2.1\n"
            f"Name: {self.name}\n"
            f"Version: {self.version}\n"
            f"Summary: Provided by the system package {self.package} ({self.provider}); "
            "this marker only records it for pip and importlib.metadata.\n"
        )


# --------------------------------------------------------------------------------------------
# Deciding (pure)


def markers_needed(
    plan_system_rows: Iterable[PlannedPackage],
    mapping: MappingTable,
    target_after: TargetEnvironment,
) -> tuple[MarkerDist, ...]:
    """The markers that make ``target_after`` see every system-routed project truthfully.

    ``target_after`` is the target probed after the system step. A project needs a marker
    when the target does not see a distribution of its name at the planned version *and*
    the mapping says why: the package registers no metadata, or another name that the target
    does see (``dist_names``); or the package registers a placeholder version (the rule of
    :mod:`sysnative.plan.sysversion`); or an earlier sysnative marker is out of date. When
    the mapping explains nothing, no marker is written: a gap it cannot explain (a failed
    install, a different copy installed by pip) must stay visible, not be papered over.
    """
    found: dict[NormalizedName, MarkerDist] = {}
    for row in plan_system_rows:
        if row.route is not Route.SYSTEM or row.name in found:
            continue
        seen = target_after.installed.get(row.name)
        if seen is not None and seen.version == row.version:
            continue
        package = row.package or "?"
        reason = _reason(mapping.lookup(row.name), seen, row.version, package, target_after)
        if reason is not None:
            found[row.name] = MarkerDist(
                row.name, row.version, package, row.provider or "system", reason
            )
    return tuple(found.values())


def _reason(
    entry: MappingEntry | None,
    seen: InstalledDistribution | None,
    planned: Version,
    package: str,
    target: TargetEnvironment,
) -> str | None:
    if seen is not None and seen.installer == INSTALLER:
        return f"an earlier sysnative marker records version {seen.version}"
    if (
        seen is not None
        and seen.version is not None
        and seen.installer.strip().lower() not in _PYTHON_INSTALLERS
        and is_placeholder(seen.version, planned)
    ):
        # sysversion's rule: the plan took the package's own version for this reason. (A
        # copy that a Python installer put there is no placeholder: it stays visible.)
        return f"{package} registers version {seen.version}"
    if entry is None:
        return None
    if seen is None:
        if entry.dist_names == ():
            return f"{package} registers no distribution metadata"
        # Registered under another name: only when the target really sees that name (else
        # the package is not there, and a marker would say it is).
        other = [n for n in entry.dist_names or () if canonicalize_name(n) in target.installed]
        return f"{package} registers it as {', '.join(other)}" if other else None
    return None


def marker_location(target: TargetEnvironment, site_dirs: Sequence[str]) -> str:
    """Where markers for ``target`` go: its purelib (a venv's, or what ``sysconfig`` says
    for a system Python, ``/usr/local/...`` on Debian), never a package manager's site dir.

    Refuses a purelib the target does not have on ``sys.path`` (a marker there would be seen
    by nobody).
    """
    purelib = os.path.normpath(target.purelib)
    if any(os.path.normpath(d) == purelib for d in site_dirs):
        raise MarkerError(
            f"The purelib of {target.executable} is {purelib}, which the system's package "
            "manager owns; sysnative does not write there.",
            "Install into a venv made with `sysnative venv PATH`.",
        )
    if not target.sees(purelib):
        raise MarkerError(
            f"{target.executable} does not have its purelib {purelib} on sys.path, so "
            "metadata written there would not be seen.",
            "Install into a venv made with `sysnative venv PATH`.",
        )
    return purelib


# --------------------------------------------------------------------------------------------
# Writing and removing (I/O)


def write_markers(
    markers: Iterable[MarkerDist], purelib: str | os.PathLike[str]
) -> tuple[Path, ...]:
    """Write one ``.dist-info`` per marker into ``purelib``; all of them or none.

    An older sysnative marker of the same project is replaced (it is restored if a later
    step fails); a distribution of the same project that anything else installed makes the
    whole call fail before anything is written.
    """
    root = Path(purelib)
    todo = list({m.name: m for m in markers}.values())
    existing = _metadata_dirs(root)
    replaced: list[Path] = []
    for marker in todo:
        for path in existing.get(marker.name, ()):
            owner = _installer(path)
            if owner != INSTALLER:
                raise MarkerError(
                    f"{root} already has {path.name}, installed by {owner or 'an unknown tool'}"
                    f"; sysnative will not write a marker for {marker.name} over it.",
                    f"If {marker.name} should come from the system ({marker.package}), "
                    f"uninstall that copy first: python -m pip uninstall {marker.name}",
                )
            replaced.append(path)
    staged: list[Path] = []
    moved: list[tuple[Path, Path]] = []
    written: list[Path] = []
    try:
        root.mkdir(parents=True, exist_ok=True)
        for marker in todo:
            staged.append(_stage(root, marker))
        for path in replaced:
            aside = root / f".{path.name}.old-{secrets.token_hex(6)}"
            os.rename(path, aside)
            moved.append((path, aside))
        for marker, stage in zip(todo, staged):
            final = root / marker.dist_info_name
            os.rename(stage, final)
            written.append(final)
    except BaseException as exc:
        for path in written:
            shutil.rmtree(path, ignore_errors=True)
        for original, aside in reversed(moved):
            os.rename(aside, original)
        for stage in staged:
            shutil.rmtree(stage, ignore_errors=True)
        if isinstance(exc, OSError):
            raise MarkerError(
                f"Could not write marker metadata into {root}: {exc.strerror or exc}.",
                "Check that the directory is writable; nothing was changed.",
            ) from exc
        raise
    for _, aside in moved:
        shutil.rmtree(aside, ignore_errors=True)
    return tuple(written)


def remove_markers(paths: Iterable[str | os.PathLike[str]]) -> tuple[Path, ...]:
    """Remove markers written by :func:`write_markers` (rollback); return what was removed.

    Only directories whose ``INSTALLER`` is sysnative are removed; anything else (or a path
    that is already gone) is left alone.
    """
    removed: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.name.endswith(".dist-info") and path.is_dir() and _installer(path) == INSTALLER:
            shutil.rmtree(path)
            removed.append(path)
    return tuple(removed)


def _stage(root: Path, marker: MarkerDist) -> Path:
    """The marker's files in a hidden directory next to its final place (same filesystem)."""
    stage = Path(tempfile.mkdtemp(dir=root, prefix=f".{marker.dist_info_name}.tmp-"))
    os.chmod(stage, 0o755)  # mkdtemp makes it private; metadata must be readable by all
    files = {"METADATA": marker.metadata(), "INSTALLER": INSTALLER + "\n"}
    record = []
    for name, text in files.items():
        data = text.encode("utf-8")
        (stage / name).write_bytes(data)
        record.append(f"{marker.dist_info_name}/{name},sha256={_digest(data)},{len(data)}\n")
    record.append(f"{marker.dist_info_name}/RECORD,,\n")
    (stage / "RECORD").write_text("".join(record), encoding="utf-8")
    return stage


def _digest(data: bytes) -> str:
    """RECORD's hash form: urlsafe base64 of the sha256, without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _escape(name: str) -> str:
    """The wheel spec's file-name escaping of a project name."""
    return re.sub(r"[-_.]+", "_", name).lower()


def _metadata_dirs(root: Path) -> dict[NormalizedName, list[Path]]:
    """Every ``*.dist-info`` / ``*.egg-info`` in ``root``, by canonical project name."""
    found: dict[NormalizedName, list[Path]] = {}
    try:
        entries = sorted(root.iterdir())
    except FileNotFoundError:
        return found
    for path in entries:
        if path.name.startswith(".") or not path.name.endswith(_METADATA_SUFFIXES):
            continue
        stem = path.name.rsplit(".", 1)[0]
        name = canonicalize_name(stem.split("-", 1)[0])
        found.setdefault(name, []).append(path)
    return found


def _installer(path: Path) -> str:
    """The ``INSTALLER`` of a dist-info ("" for egg-info or when unknown)."""
    try:
        return (path / "INSTALLER").read_text(encoding="utf-8").strip()
    except OSError:
        return ""
