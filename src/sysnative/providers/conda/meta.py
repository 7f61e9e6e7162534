"""The environment's own records: ``PREFIX/conda-meta``, read directly.

conda, mamba, micromamba and rattler all write one ``NAME-VERSION-BUILD.json`` record per
installed package there, so the file names alone say exactly what is installed, with no
process to start. The provider reads installed versions, the state of the environment (for
its cache of dry runs), the site-packages of its ``python`` and the result of an install from
here; the records' text is parsed by :mod:`sysnative.providers.conda.parse`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sysnative.models import ClosureItem
from sysnative.providers.conda.parse import (
    CondaRecord,
    parse_conda_meta,
    parse_conda_meta_filename,
    python_site_packages,
)
from sysnative.providers.conda.version import join_version_build, split_version_build

__all__ = [
    "Listing",
    "PackageState",
    "declared_site_packages",
    "installed_records",
    "listing",
    "package_states",
    "read_record",
    "site_packages",
    "state_digest",
]

#: Installed ``(version, build)`` pairs by package name.
Listing = dict[str, list[tuple[str, str]]]


def listing(meta: Path) -> Listing:
    """Installed ``(version, build)`` by name, from the file names in ``meta`` (sorted)."""
    found: Listing = {}
    try:
        names = sorted(os.listdir(meta))
    except FileNotFoundError:
        return found
    for filename in names:
        parsed = parse_conda_meta_filename(filename)
        if parsed is not None:
            found.setdefault(parsed[0], []).append((parsed[1], parsed[2]))
    return found


def state_digest(prefix: Path) -> str:
    """A digest that changes whenever the environment's packages change."""
    digest = hashlib.sha256(str(prefix).encode())
    meta = prefix / "conda-meta"
    try:
        for filename in sorted(os.listdir(meta)):
            st = os.stat(meta / filename)
            digest.update(f"{filename}:{st.st_size}:{st.st_mtime_ns}".encode())
    except FileNotFoundError:
        pass
    return digest.hexdigest()


def read_record(meta: Path, name: str, version: str, build: str) -> CondaRecord | None:
    """The record ``NAME-VERSION-BUILD.json``; ``None`` when it is missing or unreadable."""
    path = meta / f"{name}-{version}-{build}.json"
    try:
        return parse_conda_meta(path.read_text(encoding="utf-8"))
    except OSError:
        return None


def installed_records(meta: Path) -> dict[str, CondaRecord]:
    """Every installed package's record (with the PyPI projects it installs), by name."""
    found: dict[str, CondaRecord] = {}
    for name, builds in listing(meta).items():
        record = read_record(meta, name, *builds[0])
        if record is not None:
            found[name] = record
    return found


def declared_site_packages(meta: Path, version: str, build: str) -> str | None:
    """The ``python_site_packages_path`` of the ``python`` record (CEP 17), if it has one."""
    path = meta / f"python-{version}-{build}.json"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict):
        return None
    value = document.get("python_site_packages_path")
    return value if isinstance(value, str) and value else None


def site_packages(prefix: Path, seen: CondaRecord | None) -> tuple[str, ...]:
    """The environment's site-packages: from its ``python`` record, else from ``seen`` (the
    ``python`` a simulation would link); ``()`` when there is neither."""
    meta = prefix / "conda-meta"
    found = listing(meta)
    record = seen
    declared: str | None = None
    if "python" in found:
        version, build = found["python"][0]
        record = CondaRecord("python", version, build)
        declared = declared_site_packages(meta, version, build)
    if record is None:
        return ()
    relative = python_site_packages(record.version, record.build, declared)
    return (str(prefix / relative),) if relative else ()


@dataclass(frozen=True)
class PackageState:
    """What conda-meta records for one package of a transaction."""

    item: ClosureItem
    #: Every installed ``VERSION=BUILD`` of the item's name.
    present: tuple[str, ...]
    #: The exact record of the planned build is there (a bare ``VERSION``: some build of it).
    ok: bool

    def describe(self) -> str:
        """One line for the user."""
        item = self.item
        if self.present:
            return (
                f"{item.name}: installed at {', '.join(self.present)}, but the plan has "
                f"{item.version}"
            )
        return f"{item.name} {item.version}: not installed"


def package_states(meta: Path, closure: Sequence[ClosureItem]) -> tuple[PackageState, ...]:
    """conda-meta's record of every package in ``closure``: ok when the exact
    ``NAME-VERSION-BUILD.json`` record is there and says so."""
    found = listing(meta)
    out: list[PackageState] = []
    for item in closure:
        version, build = split_version_build(item.version)
        if build is not None:
            record = read_record(meta, item.name, version, build)
            ok = record is not None and (record.name, record.version, record.build) == (
                item.name,
                version,
                build,
            )
        else:
            ok = any(v == version for v, _b in found.get(item.name, []))
        present = tuple(join_version_build(v, b) for v, b in found.get(item.name, []))
        out.append(PackageState(item, present, ok))
    return tuple(out)
