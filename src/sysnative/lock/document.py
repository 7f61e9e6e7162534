"""A lock as a PEP 751 ``pylock.toml`` document, with the system side in ``[tool.sysnative]``.

The index side is plain PEP 751: one ``[[packages]]`` entry per wheel, with its URL, size
and sha256 and the index it came from, so ``pip install --no-deps -r pylock.toml`` (pip 26.1
or newer) and uv can install it too. The system side cannot be a ``[[packages]]`` entry
(PEP 751 requires a file or a VCS/directory source for each, and pip would try to install
it), so it lives in the tool table, which PEP 751 reserves for tools and other installers
ignore:

- ``[tool.sysnative.machine]``: the provider, distro ID, VERSION_ID and architecture. A
  distro version is only meaningful on the distro release it came from, so installing
  refuses another machine instead of guessing.
- ``[tool.sysnative.target]``: the target Python (version, implementation, the full marker
  environment). The top-level ``requires-python`` and ``environments`` say the same in
  PEP 751 terms, for pip.
- ``[[tool.sysnative.system]]``: one row per project the system provides: the distro package
  and its exact version, whether it was asked for by name or came as a dependency, whether
  it was already installed when the lock was made, and the mapping facts the marker step
  needs (``dist-names``, ``registers-version``), so ``install --lock`` writes the same marker
  metadata a normal install does without reading mapping files that may have changed.
- ``[[tool.sysnative.closure]]``: every distro package the system step installed or upgraded
  when the lock was made, with its version and architecture, so the provider's fresh
  simulation can be compared with it package by package.

Writing: :func:`to_document` (a :class:`~sysnative.lock.model.Lock` as a TOML-shaped dict),
:func:`dumps` (``tomli_w``). Reading: :func:`loads` (``tomllib``/``tomli``), then
:func:`from_document`, which leaves the standard part to :class:`packaging.pylock.Pylock`
and checks only what PEP 751 does not say: the ``[tool.sysnative]`` schema and what a lock
sysnative writes always has (one wheel with a sha256 per package, no markers). Text in, text
out: reading and writing the file belongs to the commands (:mod:`sysnative.commands`).
"""

from __future__ import annotations

import logging
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import tomli_w
from packaging.pylock import Package, Pylock, PylockValidationError
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from sysnative.lock.model import (
    CREATED_BY,
    LOCK_VERSION,
    TOOL_FORMAT,
    Lock,
    LockedSystem,
    LockedWheel,
    LockError,
    LockMachine,
    LockTarget,
)
from sysnative.models import ClosureItem
from sysnative.tomlcompat import TOMLDecodeError, loads_toml

logger = logging.getLogger(__name__)

__all__ = ["dumps", "from_document", "loads", "to_document"]

# --------------------------------------------------------------------------------------------
# Lock -> document -> text


def to_document(lock: Lock) -> dict[str, Any]:
    """The PEP 751 document, keys in the order PEP 751 lists them, rows sorted by name."""
    return {
        "lock-version": LOCK_VERSION,
        "environments": list(lock.environment_markers),
        "requires-python": lock.python_specifier,
        "created-by": CREATED_BY,
        "packages": [_wheel_document(w) for w in lock.wheels],
        "tool": {"sysnative": _tool_document(lock)},
    }


def dumps(document: Mapping[str, Any]) -> str:
    """``document`` as TOML text; the same document always gives the same text.

    ``tomli_w`` writes each table under its own header and arrays of tables as ``[[...]]``,
    except an array whose tables all fit on one line, which it writes as an array of inline
    tables: the same TOML data either way.
    """
    return tomli_w.dumps(document)


def _present(table: dict[str, Any]) -> dict[str, Any]:
    """``table`` without its ``None`` values: TOML has no null, an unknown key is left out."""
    return {key: value for key, value in table.items() if value is not None}


def _wheel_document(wheel: LockedWheel) -> dict[str, Any]:
    file = _present(
        {
            "name": wheel.filename,
            "url": wheel.url,
            "size": wheel.size,
            "hashes": {"sha256": wheel.sha256},
        }
    )
    tool = {
        "reason": wheel.reason,
        "required-by": list(wheel.required_by),
        "native-wheel": True if wheel.native_wheel else None,
    }
    return _present(
        {
            "name": wheel.project,
            "version": str(wheel.version),
            "index": wheel.index or None,
            "wheels": [file],
            "tool": {"sysnative": _present(tool)},
        }
    )


def _tool_document(lock: Lock) -> dict[str, Any]:
    machine = {
        "provider": lock.machine.provider,
        "distro-id": lock.machine.distro_id,
        "distro-version": lock.machine.distro_version,
        "architecture": lock.machine.architecture or None,
    }
    return {
        "format": TOOL_FORMAT,
        "sysnative-version": lock.sysnative_version,
        "requirements": list(lock.requirements),
        "constraints": list(lock.constraints),
        "notes": list(lock.notes),
        "machine": _present(machine),
        "target": {
            "implementation": lock.target.implementation,
            "python-version": lock.target.python_version,
            "python-full-version": lock.target.python_full_version,
            "markers": dict(sorted(lock.target.markers.items())),
        },
        "system": [_system_document(s) for s in lock.system],
        "closure": [_closure_document(c) for c in lock.closure],
    }


def _system_document(row: LockedSystem) -> dict[str, Any]:
    return _present(
        {
            "project": row.project,
            "version": str(row.version),
            "package": row.package or None,
            "distro-version": row.distro_version or None,
            "architecture": row.architecture or None,
            "requested": row.requested,
            "installed": row.installed,
            "reason": row.reason,
            "required-by": list(row.required_by),
            "dist-names": None if row.dist_names is None else list(row.dist_names),
            "registers-version": row.registers_version,
        }
    )


def _closure_document(item: ClosureItem) -> dict[str, Any]:
    return _present(
        {
            "package": item.name,
            "version": item.version,
            "architecture": item.architecture or None,
            "replaces": item.replaces or None,
        }
    )


# --------------------------------------------------------------------------------------------
# text -> document -> Lock (validated)

_REWRITE = (
    "Write the lock again with `sysnative lock ... -o pylock.toml`; a lock is written by "
    "tools, not edited by hand."
)


def loads(text: str, source: str = "pylock.toml") -> Lock:
    """Parse and validate a lock file's text; :class:`LockError` naming what is wrong."""
    try:
        document = loads_toml(text)
    except TOMLDecodeError as exc:
        raise LockError(f"{source} is not valid TOML: {exc}.", _REWRITE) from exc
    return from_document(document, source)


def from_document(document: Mapping[str, Any], source: str = "pylock.toml") -> Lock:
    """Validate ``document`` as PEP 751 (with :mod:`packaging.pylock`) and as a sysnative
    lock (the ``[tool.sysnative]`` schema, format :data:`TOOL_FORMAT`), and read it."""
    _check_lock_version(document, source)
    try:
        pylock = Pylock.from_dict(document)
    except PylockValidationError as exc:
        raise LockError(f"{source} is not a valid PEP 751 lock file: {exc}.", _REWRITE) from exc
    reader = _Reader(source)
    tool = _sysnative_table(pylock, reader)
    machine = reader.table(tool.get("machine"), "tool.sysnative.machine")
    target = reader.table(tool.get("target"), "tool.sysnative.target")
    markers = reader.table(target.get("markers"), "tool.sysnative.target.markers")
    lock = Lock(
        machine=LockMachine(
            provider=reader.string(machine, "provider", "tool.sysnative.machine"),
            distro_id=reader.string(machine, "distro-id", "tool.sysnative.machine"),
            distro_version=reader.string(machine, "distro-version", "tool.sysnative.machine"),
            architecture=reader.optional_string(machine, "architecture", "tool.sysnative.machine"),
        ),
        target=LockTarget(
            python_version=reader.string(target, "python-version", "tool.sysnative.target"),
            python_full_version=reader.string(
                target, "python-full-version", "tool.sysnative.target"
            ),
            implementation=reader.string(target, "implementation", "tool.sysnative.target"),
            markers={
                str(k): reader.string(markers, str(k), "tool.sysnative.target.markers")
                for k in markers
            },
        ),
        system=tuple(
            _read_system(reader, row, f"tool.sysnative.system[{i}]")
            for i, row in enumerate(reader.tables(tool.get("system"), "tool.sysnative.system"))
        ),
        closure=tuple(
            _read_closure(reader, row, f"tool.sysnative.closure[{i}]")
            for i, row in enumerate(reader.tables(tool.get("closure"), "tool.sysnative.closure"))
        ),
        wheels=tuple(
            _read_wheel(reader, package, f"packages[{i}]")
            for i, package in enumerate(pylock.packages)
        ),
        requirements=reader.strings(tool, "requirements", "tool.sysnative"),
        constraints=reader.strings(tool, "constraints", "tool.sysnative"),
        notes=reader.strings(tool, "notes", "tool.sysnative"),
        sysnative_version=reader.optional_string(tool, "sysnative-version", "tool.sysnative") or "",
        environments=tuple(str(m) for m in pylock.environments or ()) or None,
        requires_python=str(pylock.requires_python) if pylock.requires_python else None,
    )
    _check_consistent(lock, source)
    return lock


def _check_lock_version(document: Mapping[str, Any], source: str) -> None:
    """Refuse a lock-version other than 1.x before anything else is read: a new major
    version may mean anything (PEP 751), and :mod:`packaging.pylock` checks the version only
    once the whole document has validated as 1.x. A newer 1.x is read, with a warning, as
    PEP 751 asks of installers."""
    raw = document.get("lock-version")
    try:
        version = Version(raw) if isinstance(raw, str) else None
    except InvalidVersion:
        version = None
    if version is None:
        raise LockError(
            f"{source} has no valid lock-version ({raw!r}); PEP 751 lock files start with "
            'lock-version = "1.0".',
            _REWRITE,
        )
    if not Version("1") <= version < Version("2"):
        raise LockError(
            f"{source} has lock-version {raw}; this sysnative reads PEP 751 lock files of "
            f"version 1.x (it writes {LOCK_VERSION}).",
            "Install it with the tool that wrote it, or write the lock again with "
            "`sysnative lock`.",
        )
    if version > Version(LOCK_VERSION):
        logger.warning(
            "%s has lock-version %s, newer than the %s this sysnative writes; reading it as %s.",
            source,
            raw,
            LOCK_VERSION,
            LOCK_VERSION,
        )


def _sysnative_table(pylock: Pylock, reader: _Reader) -> Mapping[str, Any]:
    """``[tool.sysnative]``, of the format this sysnative reads; a lock of another tool or
    of another format is refused, saying what to use instead."""
    source = reader.source
    tool = (pylock.tool or {}).get("sysnative")
    if tool is None:
        raise LockError(
            f"{source} was not written by sysnative (created-by = {pylock.created_by!r}): it "
            "has no [tool.sysnative] table, so it does not say which system packages the "
            "environment needs, nor which machine it was made for.",
            "To install only its packages from the index, use pip 26.1 or newer: "
            f"pip install --no-deps -r {shlex.quote(source)}. To lock the system side too, "
            "make the lock with `sysnative lock`.",
        )
    tool = reader.table(tool, "tool.sysnative")
    version = tool.get("format")
    if version != TOOL_FORMAT:
        raise LockError(
            f"{source}: [tool.sysnative] has format {version!r}; this sysnative reads "
            f"format {TOOL_FORMAT}.",
            "Use the sysnative version that wrote the lock (its version is in "
            "tool.sysnative.sysnative-version), or write the lock again with this one.",
        )
    return tool


def _read_system(reader: _Reader, row: Mapping[str, Any], where: str) -> LockedSystem:
    dist_names = row.get("dist-names")
    return LockedSystem(
        project=reader.project(row, "project", where),
        version=reader.version(row, "version", where),
        package=reader.optional_string(row, "package", where),
        distro_version=reader.optional_string(row, "distro-version", where),
        architecture=reader.optional_string(row, "architecture", where),
        requested=reader.boolean(row, "requested", where),
        installed=reader.boolean(row, "installed", where),
        reason=reader.optional_string(row, "reason", where) or "",
        required_by=reader.strings(row, "required-by", where),
        dist_names=None if dist_names is None else reader.strings(row, "dist-names", where),
        registers_version=reader.optional_string(row, "registers-version", where),
    )


def _read_closure(reader: _Reader, row: Mapping[str, Any], where: str) -> ClosureItem:
    return ClosureItem(
        name=reader.string(row, "package", where),
        version=reader.string(row, "version", where),
        architecture=reader.optional_string(row, "architecture", where),
        replaces=reader.optional_string(row, "replaces", where),
    )


def _read_wheel(reader: _Reader, package: Package, where: str) -> LockedWheel:
    """A ``[[packages]]`` entry as sysnative writes it: a version, exactly one wheel with a
    URL and a sha256, no marker (a sysnative lock is for exactly one environment).
    :mod:`packaging.pylock` has checked the name, the types and that ``hashes`` is a table
    of strings."""
    name = package.name
    if package.marker is not None or package.sdist is not None:
        raise LockError(
            f"{reader.source}: {where} ({name}) has a marker or an sdist, which sysnative "
            "never writes: this is not a lock for one environment.",
            _REWRITE,
        )
    wheels = package.wheels or ()
    if len(wheels) != 1:
        raise LockError(
            f"{reader.source}: {where} ({name}) has {len(wheels)} wheels; a sysnative lock "
            "names exactly one file per package.",
            _REWRITE,
        )
    (wheel,) = wheels
    if not wheel.url:
        raise reader.fail(f"{where}.wheels[0]", "url", "a non-empty string")
    sha256 = reader.string(wheel.hashes, "sha256", f"{where}.wheels[0].hashes").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise LockError(
            f"{reader.source}: {where}.wheels[0].hashes.sha256 of {name} is not a sha256 "
            f"({sha256!r}).",
            _REWRITE,
        )
    # Older packaging.pylock takes a boolean for an integer.
    if wheel.size is not None and (isinstance(wheel.size, bool) or wheel.size < 0):
        raise LockError(f"{reader.source}: {where}.wheels[0].size must be a size in bytes.")
    tool = reader.table((package.tool or {}).get("sysnative") or {}, f"{where}.tool.sysnative")
    if package.version is None:
        raise reader.fail(where, "version", "a non-empty string")
    return LockedWheel(
        project=name,
        version=package.version,
        filename=wheel.name or urlsplit(wheel.url).path.rsplit("/", 1)[-1],
        url=wheel.url,
        sha256=sha256,
        size=wheel.size,
        index=package.index or None,
        reason=reader.optional_string(tool, "reason", f"{where}.tool.sysnative") or "",
        required_by=reader.strings(tool, "required-by", f"{where}.tool.sysnative"),
        native_wheel=bool(tool.get("native-wheel", False)),
    )


def _check_consistent(lock: Lock, source: str) -> None:
    """Each project once; system rows with a package have a version; each wheel's file
    name is its project and version (:mod:`packaging.pylock` checks that only from 26.1 on).
    """
    seen: dict[str, str] = {}
    for name, where in [
        *((s.project, "tool.sysnative.system") for s in lock.system),
        *((w.project, "packages") for w in lock.wheels),
    ]:
        if name in seen:
            raise LockError(f"{source} lists {name} twice ({seen[name]} and {where}).", _REWRITE)
        seen[name] = where
    for row in lock.system:
        if row.package and not row.distro_version:
            raise LockError(
                f"{source}: the system package {row.package} ({row.project}) has no "
                "distro-version; a lock pins every package to an exact version.",
                _REWRITE,
            )
    for wheel in lock.wheels:
        try:
            name, version, _, _ = parse_wheel_filename(wheel.filename)
        except InvalidWheelFilename as exc:
            raise LockError(f"{source}: {wheel.filename!r} is not a wheel: {exc}.") from exc
        if name != wheel.project or version != wheel.version:
            raise LockError(
                f"{source}: the file {wheel.filename} is not {wheel.project} {wheel.version}.",
                _REWRITE,
            )


@dataclass(frozen=True)
class _Reader:
    """Typed access to the tool tables, each failure a :class:`LockError` naming the key."""

    source: str

    def fail(self, where: str, key: str, what: str) -> LockError:
        return LockError(
            f"{self.source}: {where}.{key} must be {what}; the lock is damaged or was not "
            "written by this sysnative.",
            _REWRITE,
        )

    def table(self, value: object, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise LockError(f"{self.source}: [{where}] is missing or not a table.", _REWRITE)
        return value

    def tables(self, value: object, where: str) -> list[Mapping[str, Any]]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise LockError(f"{self.source}: {where} must be an array of tables.", _REWRITE)
        return value

    def string(self, table: Mapping[str, Any], key: str, where: str) -> str:
        value = table.get(key)
        if not isinstance(value, str) or not value:
            raise self.fail(where, key, "a non-empty string")
        return value

    def optional_string(self, table: Mapping[str, Any], key: str, where: str) -> str | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(where, key, "a string")
        return value or None

    def strings(self, table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(where, key, "a list of strings")
        return tuple(value)

    def boolean(self, table: Mapping[str, Any], key: str, where: str) -> bool:
        value = table.get(key)
        if not isinstance(value, bool):
            raise self.fail(where, key, "true or false")
        return value

    def version(self, table: Mapping[str, Any], key: str, where: str) -> Version:
        text = self.string(table, key, where)
        try:
            return Version(text)
        except InvalidVersion as exc:
            raise self.fail(where, key, f"a PEP 440 version (not {text!r})") from exc

    def project(self, table: Mapping[str, Any], key: str, where: str) -> NormalizedName:
        text = self.string(table, key, where)
        name = canonicalize_name(text)
        if name != text:
            raise self.fail(where, key, f"a normalized project name (not {text!r})")
        return name
