"""PEP 751 lock files (``pylock.toml``) with the system side in ``[tool.sysnative]``.

A lock must say *everything* a later install needs so that it can reproduce the plan without
resolving and without asking the index for metadata. The PyPI part is plain PEP 751: one
``[[packages]]`` entry per wheel, with its URL, size and sha256 and the index it came from,
so ``pip install --no-deps -r pylock.toml`` (pip 26.1 or newer) can install it too. The
system part cannot be a ``[[packages]]`` entry (PEP 751 requires a file or a VCS/directory
source for each, and pip would try to install it), so it lives in the tool table, which
PEP 751 reserves for tools and other installers ignore:

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

Everything here is pure: a :class:`~sysnative.models.Plan` and machine facts in, a TOML
document out, and back; :func:`locked_plan` turns a lock into the Plan that
:func:`sysnative.install.execute.execute` carries out. I/O (probing, apt, downloads, writing the
file) lives in :mod:`sysnative.commands.lock`.
"""

from __future__ import annotations

import logging
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from packaging.markers import InvalidMarker, Marker
from packaging.pylock import (
    Pylock,
    PylockUnsupportedVersionError,
    PylockValidationError,
)
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from sysnative import __version__
from sysnative.errors import SysnativeError
from sysnative.mapping.table import MappingEntry, MappingTable
from sysnative.models import ClosureItem, FileKind, IndexFile, Plan, PlannedPackage, Route
from sysnative.target import TargetEnvironment
from sysnative.tomlcompat import TOMLDecodeError, loads_toml

logger = logging.getLogger(__name__)

__all__ = [
    "CREATED_BY",
    "LOCK_VERSION",
    "TOOL_FORMAT",
    "Difference",
    "Lock",
    "LockError",
    "LockMachine",
    "LockMismatch",
    "LockTarget",
    "LockedSystem",
    "LockedWheel",
    "dumps",
    "from_document",
    "loads",
    "lock_from_plan",
    "lock_mapping",
    "locked_plan",
    "machine_differences",
    "mismatch_error",
    "missing_system_projects",
    "relock_command",
    "strip_credentials",
    "target_facts",
    "to_document",
    "with_credentials",
]

#: The PEP 751 version sysnative writes (and the major version it reads).
LOCK_VERSION = "1.0"
#: ``created-by``.
CREATED_BY = "sysnative"
#: The version of the ``[tool.sysnative]`` schema; bump on any incompatible change.
TOOL_FORMAT = 1

#: Marker variables that name the environment a lock is for (``environments``). The
#: kernel's ``platform_release``/``platform_version`` are recorded but never compared: they
#: change with every kernel update and say nothing about which wheels or packages work.
_ENVIRONMENT_KEYS = ("implementation_name", "python_version", "sys_platform", "platform_machine")


class LockError(SysnativeError):
    """A lock file cannot be used: unreadable, malformed, not written by sysnative, of an
    unknown version, or inconsistent. Raised before anything is changed; the message names
    the file and the part that is wrong, the hint how to get a usable lock (usually: write
    it again with ``sysnative lock``)."""


class LockMismatch(LockError):
    """The lock was made for another machine (distro, release, architecture, provider or
    target Python). Its exact distro versions would not exist or not work here, so nothing
    is installed; ``differences`` lists each fact as the lock has it and as it is here."""

    def __init__(
        self, message: str, hint: str | None = None, *, differences: Sequence[Difference] = ()
    ) -> None:
        super().__init__(message, hint)
        self.differences = tuple(differences)


# --------------------------------------------------------------------------------------------
# The lock, as values


@dataclass(frozen=True)
class LockMachine:
    """What the distro versions in a lock are valid for."""

    provider: str
    distro_id: str
    distro_version: str
    #: The package manager's native architecture (``dpkg --print-architecture``); ``None``
    #: when the provider could not tell.
    architecture: str | None = None


@dataclass(frozen=True)
class LockTarget:
    """The Python a lock was made for."""

    python_version: str
    python_full_version: str
    #: ``implementation_name`` (``cpython``).
    implementation: str
    #: The whole PEP 508 marker environment of the target, as probed.
    markers: Mapping[str, str] = field(default_factory=dict)

    @property
    def environment_marker(self) -> str:
        """The PEP 751 ``environments`` entry: implementation, version, OS and machine."""
        parts = [
            f"{key} == {_marker_value(self.markers[key])}"
            for key in _ENVIRONMENT_KEYS
            if key in self.markers
        ]
        return str(Marker(" and ".join(parts)))

    @property
    def requires_python(self) -> str:
        return f"=={self.python_version}.*"

    def describe(self) -> str:
        name = self.markers.get("platform_python_implementation") or self.implementation
        return f"{name} {self.python_version}"


@dataclass(frozen=True)
class LockedSystem:
    """One project the system provides, as locked."""

    project: NormalizedName
    version: Version
    #: The distro package and its exact version; ``None`` for a project the target already
    #: saw in the system's site dir without a package the mapping could name.
    package: str | None
    distro_version: str | None
    architecture: str | None = None
    #: Asked for by name (True) or only a dependency of those (False).
    requested: bool = False
    #: Already installed when the lock was made (then it is not in the closure).
    installed: bool = False
    reason: str = ""
    required_by: tuple[str, ...] = ()
    #: The mapping's ``dist_names`` (``None``: registered under its own name; ``()``:
    #: registers no metadata) and ``registers_version``, for the marker step.
    dist_names: tuple[str, ...] | None = None
    registers_version: str | None = None


@dataclass(frozen=True)
class LockedWheel:
    """One wheel from the index, as locked: always with its sha256 and size."""

    project: NormalizedName
    version: Version
    filename: str
    url: str
    sha256: str
    #: Always known in a lock sysnative writes; ``None`` only when reading one without it.
    size: int | None
    #: The index base URL the file was listed on (PEP 751 ``packages.index``); ``None``
    #: for find-links locations.
    index: str | None = None
    reason: str = ""
    required_by: tuple[str, ...] = ()
    native_wheel: bool = False


@dataclass(frozen=True)
class Lock:
    machine: LockMachine
    target: LockTarget
    system: tuple[LockedSystem, ...] = ()
    closure: tuple[ClosureItem, ...] = ()
    wheels: tuple[LockedWheel, ...] = ()
    #: The requirements and constraints the lock was made from (for "lock again" hints).
    requirements: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    sysnative_version: str = __version__
    #: PEP 751 ``environments`` and ``requires-python`` as read (``None``: from ``target``).
    environments: tuple[str, ...] | None = None
    requires_python: str | None = None

    @property
    def environment_markers(self) -> tuple[str, ...]:
        if self.environments is not None:
            return self.environments
        return (self.target.environment_marker,)

    @property
    def python_specifier(self) -> str:
        return (
            self.requires_python
            if self.requires_python is not None
            else (self.target.requires_python)
        )


# --------------------------------------------------------------------------------------------
# Plan -> Lock


def target_facts(target: TargetEnvironment) -> LockTarget:
    """The lock's view of a probed target."""
    return LockTarget(
        python_version=target.python_version,
        python_full_version=target.python_full_version,
        implementation=target.markers.get("implementation_name", ""),
        markers=dict(sorted(target.markers.items())),
    )


def lock_from_plan(
    plan: Plan,
    *,
    machine: LockMachine,
    target: LockTarget,
    mapping: MappingTable,
    indexes: Mapping[str, str | None] | None = None,
    requirements: Sequence[str] = (),
    constraints: Sequence[str] = (),
) -> Lock:
    """The lock for ``plan``.

    Every index row's file must carry its sha256 and size (:mod:`sysnative.commands.lock`
    downloads the files whose index published neither before calling this). ``indexes``
    maps a file URL to the index base URL it was listed on. URLs are written without
    credentials (:func:`strip_credentials`): a lock is meant to be committed.
    """
    arch_of = {item.name: item.architecture for item in plan.system_closure}
    system: list[LockedSystem] = []
    for row in plan.system:
        entry = mapping.lookup(row.name)
        system.append(
            LockedSystem(
                project=row.name,
                version=row.version,
                package=row.package or None,
                distro_version=row.distro_version or None,
                architecture=arch_of.get(row.package) if row.package else None,
                requested=row.requested,
                installed=row.already_installed,
                reason=row.reason,
                required_by=tuple(row.required_by),
                dist_names=entry.dist_names if entry is not None else None,
                registers_version=entry.registers_version if entry is not None else None,
            )
        )
    wheels: list[LockedWheel] = []
    for row in plan.pypi:
        file = row.file
        if file is None or file.sha256 is None or file.size is None:
            raise ValueError(f"{row.name}: a locked file needs its sha256 and size")
        index = (indexes or {}).get(file.url)
        wheels.append(
            LockedWheel(
                project=row.name,
                version=row.version,
                filename=file.filename,
                url=strip_credentials(file.url),
                sha256=file.sha256.lower(),
                size=file.size,
                index=strip_credentials(index) if index else None,
                reason=row.reason,
                required_by=tuple(row.required_by),
                native_wheel=row.native_wheel,
            )
        )
    return Lock(
        machine=machine,
        target=target,
        system=tuple(sorted(system, key=lambda s: s.project)),
        closure=tuple(sorted(plan.system_closure, key=lambda c: (c.name, c.architecture or ""))),
        wheels=tuple(sorted(wheels, key=lambda w: w.project)),
        requirements=tuple(requirements),
        constraints=tuple(constraints),
        notes=tuple(plan.notes),
    )


def strip_credentials(url: str) -> str:
    """``url`` without ``user:password@``: a lock is committed and shared, and must never
    carry a secret. ``install --lock`` puts the credentials of pip's configuration back
    (:func:`with_credentials`)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def with_credentials(url: str, configured: Iterable[str]) -> str:
    """``url`` with the credentials of the first ``configured`` URL (pip's index URLs) on
    the same scheme, host and port; unchanged when none matches or it has its own."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        return url
    for candidate in configured:
        other = urlsplit(candidate)
        if "@" not in other.netloc:
            continue
        userinfo, _, hostport = other.netloc.rpartition("@")
        if (other.scheme, hostport.lower()) == (parts.scheme, parts.netloc.lower()):
            return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))
    return url


# --------------------------------------------------------------------------------------------
# Lock -> document (a TOML-shaped dict) -> text


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


def _wheel_document(wheel: LockedWheel) -> dict[str, Any]:
    package: dict[str, Any] = {"name": wheel.project, "version": str(wheel.version)}
    if wheel.index:
        package["index"] = wheel.index
    file: dict[str, Any] = {"name": wheel.filename, "url": wheel.url}
    if wheel.size is not None:
        file["size"] = wheel.size
    file["hashes"] = {"sha256": wheel.sha256}
    package["wheels"] = [file]
    tool: dict[str, Any] = {"reason": wheel.reason, "required-by": list(wheel.required_by)}
    if wheel.native_wheel:
        tool["native-wheel"] = True
    package["tool"] = {"sysnative": tool}
    return package


def _tool_document(lock: Lock) -> dict[str, Any]:
    machine: dict[str, Any] = {
        "provider": lock.machine.provider,
        "distro-id": lock.machine.distro_id,
        "distro-version": lock.machine.distro_version,
    }
    if lock.machine.architecture:
        machine["architecture"] = lock.machine.architecture
    return {
        "format": TOOL_FORMAT,
        "sysnative-version": lock.sysnative_version,
        "requirements": list(lock.requirements),
        "constraints": list(lock.constraints),
        "notes": list(lock.notes),
        "machine": machine,
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
    out: dict[str, Any] = {"project": row.project, "version": str(row.version)}
    if row.package:
        out["package"] = row.package
    if row.distro_version:
        out["distro-version"] = row.distro_version
    if row.architecture:
        out["architecture"] = row.architecture
    out["requested"] = row.requested
    out["installed"] = row.installed
    out["reason"] = row.reason
    out["required-by"] = list(row.required_by)
    if row.dist_names is not None:
        out["dist-names"] = list(row.dist_names)
    if row.registers_version is not None:
        out["registers-version"] = row.registers_version
    return out


def _closure_document(item: ClosureItem) -> dict[str, Any]:
    out: dict[str, Any] = {"package": item.name, "version": item.version}
    if item.architecture:
        out["architecture"] = item.architecture
    if item.replaces:
        out["replaces"] = item.replaces
    return out


# -- a small TOML writer ----------------------------------------------------------------------
#
# A lock has a few fixed shapes (strings, integers, booleans, lists of strings, tables,
# arrays of tables, and one inline table: ``hashes``). Writing them here keeps the output
# byte-for-byte deterministic and adds no dependency; tests read every written document
# back with tomllib and compare.

#: Tables written inline (``hashes = {sha256 = "..."}``), as PEP 751's examples do.
_INLINE = frozenset({"hashes"})
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
            "\r": "\\r"}  # fmt: skip


def dumps(document: Mapping[str, Any]) -> str:
    """``document`` as TOML text; the same document always gives the same bytes."""
    lines: list[str] = []
    _emit_table(lines, (), document, array=False)
    return "\n".join(lines).strip("\n") + "\n"


def _is_table(key: str, value: object) -> bool:
    return isinstance(value, Mapping) and key not in _INLINE


def _is_table_array(value: object) -> bool:
    return (
        isinstance(value, (list, tuple))
        and bool(value)
        and all(isinstance(v, Mapping) for v in value)
    )


def _emit_table(
    lines: list[str], path: tuple[str, ...], table: Mapping[str, Any], *, array: bool
) -> None:
    """A table's plain keys under its header, then its sub-tables and arrays of tables in
    the document's order (TOML needs the plain keys before any nested header)."""
    plain = [(k, v) for k, v in table.items() if not _is_table(k, v) and not _is_table_array(v)]
    if path and (array or plain or not table):
        header = ".".join(_key(p) for p in path)
        if lines:
            lines.append("")
        lines.append(f"[[{header}]]" if array else f"[{header}]")
    lines.extend(f"{_key(k)} = {_value(v)}" for k, v in plain)
    for key, value in table.items():
        if _is_table(key, value):
            _emit_table(lines, (*path, key), value, array=False)
        elif _is_table_array(value):
            for item in value:
                _emit_table(lines, (*path, key), item, array=True)


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to a lock file")


def _string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _marker_value(value: str) -> str:
    """A marker string literal (PEP 508 has no escapes: pick the quote the value lacks)."""
    return f"'{value}'" if '"' in value else f'"{value}"'


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
    except PylockUnsupportedVersionError as exc:  # pragma: no cover - checked above
        raise LockError(f"{source}: {exc}.", _REWRITE) from exc
    except PylockValidationError as exc:
        raise LockError(f"{source} is not a valid PEP 751 lock file: {exc}.", _REWRITE) from exc
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
    reader = _Reader(source)
    tool = reader.table(tool, "tool.sysnative")
    version = tool.get("format")
    if version != TOOL_FORMAT:
        raise LockError(
            f"{source}: [tool.sysnative] has format {version!r}; this sysnative reads "
            f"format {TOOL_FORMAT}.",
            "Use the sysnative version that wrote the lock (its version is in "
            "tool.sysnative.sysnative-version), or write the lock again with this one.",
        )
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
            for i, package in enumerate(document.get("packages") or [])
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
    version may mean anything (PEP 751). A newer 1.x is read, with a warning, as PEP 751
    asks of installers."""
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


def _read_wheel(reader: _Reader, package: Mapping[str, Any], where: str) -> LockedWheel:
    """A ``[[packages]]`` entry as sysnative writes it: a version, exactly one wheel with a
    URL and a sha256, no marker (a sysnative lock is for exactly one environment)."""
    name = reader.project(package, "name", where)
    if package.get("marker") is not None or package.get("sdist") is not None:
        raise LockError(
            f"{reader.source}: {where} ({name}) has a marker or an sdist, which sysnative "
            "never writes: this is not a lock for one environment.",
            _REWRITE,
        )
    wheels = reader.tables(package.get("wheels"), f"{where}.wheels")
    if len(wheels) != 1:
        raise LockError(
            f"{reader.source}: {where} ({name}) has {len(wheels)} wheels; a sysnative lock "
            "names exactly one file per package.",
            _REWRITE,
        )
    wheel = wheels[0]
    url = reader.string(wheel, "url", f"{where}.wheels[0]")
    hashes = reader.table(wheel.get("hashes"), f"{where}.wheels[0].hashes")
    sha256 = reader.string(hashes, "sha256", f"{where}.wheels[0].hashes").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise LockError(
            f"{reader.source}: {where}.wheels[0].hashes.sha256 of {name} is not a sha256 "
            f"({sha256!r}).",
            _REWRITE,
        )
    filename = (
        reader.optional_string(wheel, "name", f"{where}.wheels[0]")
        or (urlsplit(url).path.rsplit("/", 1)[-1])
    )
    size = wheel.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise LockError(f"{reader.source}: {where}.wheels[0].size must be a size in bytes.")
    tool = reader.table(
        (reader.table(package.get("tool") or {}, f"{where}.tool")).get("sysnative") or {},
        f"{where}.tool.sysnative",
    )
    return LockedWheel(
        project=name,
        version=reader.version(package, "version", where),
        filename=filename,
        url=url,
        sha256=sha256,
        size=size,
        index=reader.optional_string(package, "index", where),
        reason=reader.optional_string(tool, "reason", f"{where}.tool.sysnative") or "",
        required_by=reader.strings(tool, "required-by", f"{where}.tool.sysnative"),
        native_wheel=bool(tool.get("native-wheel", False)),
    )


def _check_consistent(lock: Lock, source: str) -> None:
    """Each project once; system rows with a package have a version; the provider known."""
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
    try:
        for marker in lock.environment_markers:
            Marker(marker)
        SpecifierSet(lock.python_specifier)
    except (InvalidMarker, InvalidSpecifier) as exc:  # pragma: no cover - pylock checked
        raise LockError(f"{source}: {exc}.", _REWRITE) from exc


@dataclass(frozen=True)
class _Reader:
    """Typed access to the tool table, each failure a :class:`LockError` naming the key."""

    source: str

    def fail(self, where: str, key: str, what: str) -> LockError:
        return LockError(
            f"{self.source}: {where}.{key} must be {what}; the lock is damaged or was not "
            "written by this sysnative.",
            _REWRITE,
        )

    def table(self, value: object, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise LockError(
                f"{self.source}: [{where}] is missing or not a table.",
                _REWRITE,
            )
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


# --------------------------------------------------------------------------------------------
# Does this machine match? (pure: the facts are probed by the caller)


@dataclass(frozen=True)
class Difference:
    """One fact the lock and this machine disagree on."""

    what: str
    locked: str
    here: str

    def describe(self) -> str:
        return f"{self.what}: the lock says {self.locked}, here it is {self.here}"


def machine_differences(
    lock: Lock, here: LockMachine, target: TargetEnvironment
) -> tuple[Difference, ...]:
    """Every way this machine and target differ from what ``lock`` was made for.

    The PEP 751 ``environments`` and ``requires-python`` checks are reported only when the
    plain facts agree (otherwise they would repeat the Python difference in other words).
    """
    out: list[Difference] = []
    locked = lock.machine
    if locked.provider != here.provider:
        out.append(Difference("package manager", locked.provider, here.provider))
    if (locked.distro_id, locked.distro_version) != (here.distro_id, here.distro_version):
        out.append(
            Difference(
                "distribution",
                f"{locked.distro_id} {locked.distro_version}",
                f"{here.distro_id or 'unknown'} {here.distro_version or '(no VERSION_ID)'}",
            )
        )
    if locked.architecture and here.architecture and locked.architecture != here.architecture:
        out.append(Difference("architecture", locked.architecture, here.architecture))
    facts = target_facts(target)
    if (lock.target.implementation, lock.target.python_version) != (
        facts.implementation,
        facts.python_version,
    ):
        out.append(
            Difference(
                f"Python (the target {target.executable})",
                lock.target.describe(),
                facts.describe(),
            )
        )
        return tuple(out)
    environment = dict(target.markers)
    markers = lock.environment_markers
    if markers and not any(Marker(m).evaluate(environment) for m in markers):
        out.append(
            Difference(
                "environment (PEP 751 environments)",
                " or ".join(markers),
                ", ".join(f"{k} = {environment.get(k, '?')!r}" for k in _ENVIRONMENT_KEYS),
            )
        )
    if not SpecifierSet(lock.python_specifier).contains(
        target.python_full_version, prereleases=True
    ):
        out.append(
            Difference(
                "Python version (requires-python)",
                lock.python_specifier,
                target.python_full_version,
            )
        )
    return tuple(out)


def relock_command(lock: Lock, output: str = "pylock.toml") -> str:
    """The ``sysnative lock`` command that makes this lock again, on the current machine."""
    words = ["sysnative", "lock", *lock.requirements]
    command = shlex.join([*words, "-o", output])
    if lock.constraints:
        command += " -c CONSTRAINTS-FILE"
    return command


def mismatch_error(lock: Lock, source: str, differences: Sequence[Difference]) -> LockMismatch:
    """The refusal for a lock made on another machine: each difference, then the way out."""
    lines = "\n".join("    " + d.describe() for d in differences)
    return LockMismatch(
        f"{source} was made for another machine, so its exact versions cannot be installed "
        f"here. Nothing was changed.\n{lines}",
        "A lock reproduces the machine it was made on. Make a new lock on this machine (or in "
        f"the image you install into): {relock_command(lock, source)}. To install only its "
        f"packages from the index, use pip 26.1 or newer: pip install --no-deps -r "
        f"{shlex.quote(source)}",
        differences=differences,
    )


def missing_system_projects(lock: Lock, target: TargetEnvironment) -> tuple[str, ...]:
    """System rows without a package (seen in the system's site dir when the lock was made,
    no package known): the target must see them at the locked version, as nothing here can
    install them. One line per missing project."""
    out = []
    for row in lock.system:
        if row.package:
            continue
        dist = target.installed.get(row.project)
        if dist is None or dist.version != row.version:
            seen = f"it sees {dist.version}" if dist is not None else "it does not see it"
            out.append(
                f"{row.project} {row.version} (already on the system when the lock was made, "
                f"from no package sysnative knows): {seen}"
            )
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Lock -> Plan (for execute)


def locked_plan(
    lock: Lock,
    *,
    installed: Mapping[str, str],
    target: TargetEnvironment,
    urls: Mapping[str, str] | None = None,
) -> Plan:
    """The plan that reproduces ``lock`` here, for :func:`sysnative.install.execute.execute`.

    ``installed`` maps distro package names to the version installed on this machine now.
    A system row whose package is installed at its locked version is already installed;
    any other is installed at the locked version: asked for by name when the lock asked
    for it by name or when it was already installed when the lock was made (nothing else
    in the lock pulls it in then). If only dependency rows are missing, they are asked for
    by name, since nothing else would install them.

    The expected closure is the lock's, less what is installed here at the locked version,
    plus the packages asked for that were installed when the lock was made. The provider's
    fresh simulation must match it exactly (``check_install``), so a machine that would need
    other packages is refused before any change. ``urls`` replaces a locked URL by the one to
    download (with credentials put back).
    """
    rows: list[PlannedPackage] = []
    for s in lock.system:
        present = s.package is None or installed.get(s.package) == s.distro_version
        rows.append(
            PlannedPackage(
                s.project,
                s.version,
                Route.SYSTEM,
                s.reason or "from the lock",
                s.required_by,
                provider=lock.machine.provider,
                package=s.package,
                distro_version=s.distro_version,
                already_installed=present,
                requested=not present and (s.requested or s.installed),
            )
        )
    if not any(r.requested for r in rows):
        rows = [
            replace(r, requested=True) if not r.already_installed and r.package else r for r in rows
        ]
    closure = [
        ClosureItem(c.name, c.version, c.architecture, replaces=_replaced(installed, c))
        for c in lock.closure
        if installed.get(c.name) != c.version
    ]
    in_closure = {c.name for c in lock.closure}
    arch = {s.package: s.architecture for s in lock.system if s.package}
    for row in rows:
        if row.requested and row.package and row.distro_version and row.package not in in_closure:
            item = ClosureItem(row.package, row.distro_version, arch.get(row.package))
            closure.append(replace(item, replaces=_replaced(installed, item)))
            in_closure.add(row.package)
    for w in lock.wheels:
        seen = target.installed.get(w.project)
        rows.append(
            PlannedPackage(
                w.project,
                w.version,
                Route.PYPI,
                w.reason or "from the lock",
                w.required_by,
                file=_index_file(w, (urls or {}).get(w.url, w.url)),
                native_wheel=w.native_wheel,
                already_installed=seen is not None and seen.version == w.version,
            )
        )
    rows.sort(key=lambda r: (r.route is not Route.SYSTEM, r.name))
    return Plan(
        packages=tuple(rows),
        provider=lock.machine.provider,
        target_python=target.executable,
        system_closure=tuple(closure),
        notes=lock.notes,
    )


def _replaced(installed: Mapping[str, str], item: ClosureItem) -> str | None:
    """The version installed here that ``item`` would replace (``None``: not installed)."""
    now = installed.get(item.name)
    return now if now is not None and now != item.version else None


def _index_file(wheel: LockedWheel, url: str) -> IndexFile:
    _, _, _, tags = parse_wheel_filename(wheel.filename)
    return IndexFile(
        project=wheel.project,
        version=wheel.version,
        filename=wheel.filename,
        url=url,
        kind=FileKind.WHEEL,
        tags=tags,
        sha256=wheel.sha256,
        size=wheel.size,
    )


def lock_mapping(lock: Lock, ecosystem: str) -> MappingTable:
    """The mapping facts the marker step needs, from the lock alone: the mapping files of
    this machine may have changed since, and the lock must reproduce the same markers."""
    entries = [
        MappingEntry(
            project=s.project,
            packages=(s.package,) if s.package else (),
            dist_names=s.dist_names,
            version_rule=None,
            alias_of=None,
            note=None,
            origin="lock",
            registers_version=s.registers_version,
            layer="lock",
        )
        for s in lock.system
    ]
    return MappingTable(ecosystem, entries, origins=("lock",))
