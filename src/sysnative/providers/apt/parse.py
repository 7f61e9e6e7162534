"""Pure parsers of what apt, apt-cache, apt-config and dpkg-query print, and the values they
read it into.

Nothing here runs a command or touches a file: the apt provider
(:mod:`sysnative.providers.apt.provider`) runs the tools and hands their output here, and the
unit tests hand recorded output (``fixtures/apt``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from sysnative.models import ClosureItem, SystemPackage
from sysnative.providers.reading import relevant_lines

__all__ = [
    "CONFIGURABLE",
    "DPKG_STATE_FORMAT",
    "LockHolder",
    "PackageState",
    "package_states",
    "parse_apt_config_shell",
    "parse_apt_errors",
    "parse_dpkg_query",
    "parse_lock_error",
    "parse_policy",
    "parse_removals",
    "parse_simulation",
    "parse_unmet_dependencies",
    "relevant_apt_lines",
]

_POLICY_HEADER_RE = re.compile(r"^(\S+):$")
_POLICY_FIELD_RE = re.compile(r"^\s+(Installed|Candidate):\s*(\S+)\s*$")


def _none_if_absent(value: str) -> str | None:
    return None if value == "(none)" else value


def parse_policy(text: str) -> dict[str, SystemPackage]:
    """Read ``apt-cache policy`` output: one :class:`SystemPackage` per block.

    A block starts with an unindented ``name:`` header (``name:arch:`` for foreign
    architectures, kept verbatim) followed by indented ``Installed:``/``Candidate:`` lines;
    ``(none)`` reads as ``None``. The version table is not needed. When a name appears twice
    the first block wins. ``architecture`` is left ``None``: the policy output does not say it.
    """
    found: dict[str, SystemPackage] = {}
    current: str | None = None
    fields: dict[str, str | None] = {}

    def flush() -> None:
        if current is not None and current not in found:
            found[current] = SystemPackage(
                name=current,
                candidate=fields.get("Candidate"),
                installed=fields.get("Installed"),
            )

    for line in text.splitlines():
        header = _POLICY_HEADER_RE.match(line)
        if header:
            flush()
            current = header.group(1)
            fields = {}
            continue
        field = _POLICY_FIELD_RE.match(line)
        if field and current is not None and field.group(1) not in fields:
            fields[field.group(1)] = _none_if_absent(field.group(2))
    flush()
    return found


#: ``Inst NAME[:ARCH] [OLDVER] (NEWVER RELEASE... [ARCH])`` with an optional trailing ``[]``.
_INST_RE = re.compile(
    r"^Inst (?P<name>[^\s\[]+)"
    r"(?: \[(?P<old>[^\]]*)\])?"
    r" \((?P<version>\S+)(?P<release>[^\[\)]*)(?:\[(?P<arch>[^\]]+)\])?\)"
)
_REMV_RE = re.compile(r"^Remv (?P<name>\S+)")


def parse_simulation(text: str) -> tuple[ClosureItem, ...]:
    """The ``Inst`` lines of ``apt-get install -s`` output, in apt's order.

    ``Conf`` lines repeat the same packages and are skipped. A foreign-architecture name
    (``libfoo:i386``) is split into name and architecture. ``replaces`` is the bracketed
    version installed now, present only for upgrades (and downgrades).
    """
    items: list[ClosureItem] = []
    for line in text.splitlines():
        m = _INST_RE.match(line)
        if not m:
            continue
        name, _, qualifier = m.group("name").partition(":")
        items.append(
            ClosureItem(
                name=name,
                version=m.group("version"),
                architecture=m.group("arch") or qualifier or None,
                replaces=m.group("old") or None,
            )
        )
    return tuple(items)


def parse_removals(text: str) -> tuple[str, ...]:
    """Names on ``Remv`` lines: packages the simulated install would remove."""
    return tuple(m.group("name") for m in map(_REMV_RE.match, text.splitlines()) if m)


def parse_apt_errors(text: str) -> tuple[str, ...]:
    """apt's ``E:`` lines, verbatim, in order."""
    return tuple(line.strip() for line in text.splitlines() if line.startswith("E:"))


def parse_unmet_dependencies(text: str) -> tuple[str, ...]:
    """The explanation lines under "The following packages have unmet dependencies:".

    They are the part of a failed simulation that names the culprit
    (`` d : Depends: nothere but it is not installable``).
    """
    lines = text.splitlines()
    out: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("The following packages have unmet dependencies"):
            for follow in lines[i + 1 :]:
                if not follow.startswith(" ") or not follow.strip():
                    break
                out.append(follow.strip())
            break
    return tuple(out)


def parse_dpkg_query(text: str) -> dict[str, str]:
    """Read ``${Package}\\t${Status}\\t${Version}`` lines; keep only installed packages.

    dpkg also knows packages that are removed but keep their configuration files
    (``deinstall ok config-files``) or are half-installed; only a status whose last word is
    ``installed`` means the files are on disk.
    """
    versions: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 3:
            continue
        name, status, version = (p.strip() for p in parts)
        if status.split()[-1:] == ["installed"] and version:
            versions.setdefault(name, version)
    return versions


#: dpkg's package states (dpkg-query(1), "Package status"), as the user should read them.
_STATE_WORDS = {
    "not-installed": "not installed",
    "config-files": "not installed, only its configuration files remain",
    "half-installed": "half-installed: unpacking started but did not finish",
    "unpacked": "unpacked but not configured",
    "half-configured": "half-configured: unpacked, but configuring it (its postinst) failed",
    "triggers-awaited": "configured, but waiting for another package's trigger processing",
    "triggers-pending": "configured, but its triggers have not been processed",
    "installed": "installed",
}

#: States in which ``dpkg --configure -a`` can finish the job.
CONFIGURABLE = ("unpacked", "half-configured", "triggers-awaited", "triggers-pending")

#: The ``dpkg-query -f`` format :func:`package_states` reads.
DPKG_STATE_FORMAT = "${Package}\t${Architecture}\t${Status}\t${Version}\n"


@dataclass(frozen=True)
class PackageState:
    """What dpkg records for one package of a planned transaction."""

    item: ClosureItem
    #: The last word of dpkg's ``Status`` (``installed``, ``half-configured``, ...);
    #: ``not-installed`` when dpkg does not know the package at all.
    status: str
    #: The version dpkg records (``None`` when it records none).
    version: str | None = None
    #: dpkg's whole ``Status`` field (``install ok half-configured``), for messages.
    raw: str = ""

    @property
    def ok(self) -> bool:
        """Installed, configured, at the planned version."""
        return self.status == "installed" and self.version == self.item.version

    @property
    def present(self) -> bool:
        """dpkg has the package's files (in any state)."""
        return self.status not in ("not-installed", "config-files")

    def describe(self) -> str:
        """One line for the user: name, version and what dpkg says about it."""
        item = self.item
        if self.status == "installed" and self.version != item.version:
            return f"{item.name}: installed at {self.version}, but the plan has {item.version}"
        words = _STATE_WORDS.get(self.status, self.status)
        line = f"{item.name} {item.version}: {words}"
        if self.present and self.version and self.version != item.version:
            line += f" (at {self.version})"
        if self.raw and self.status != "installed":
            line += f" [dpkg status: {self.raw}]"
        return line


def package_states(closure: Sequence[ClosureItem], text: str) -> tuple[PackageState, ...]:
    """Match ``dpkg-query -W -f DPKG_STATE_FORMAT`` output to the planned packages.

    When the plan names an architecture, only a row of that architecture counts (an
    ``amd64`` copy does not satisfy a planned ``i386`` one).
    """
    rows: dict[str, list[tuple[str, str, str]]] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 4:
            continue
        name, arch, status, version = (p.strip() for p in parts)
        rows.setdefault(name, []).append((arch, status, version))
    states = []
    for item in closure:
        candidates = [
            r
            for r in rows.get(item.name, [])
            if item.architecture is None or r[0] == item.architecture
        ]
        if not candidates:
            states.append(PackageState(item, "not-installed"))
            continue
        arch, status, version = candidates[0]
        words = status.split()
        states.append(
            PackageState(item, words[-1] if words else "not-installed", version or None, status)
        )
    return tuple(states)


@dataclass(frozen=True)
class LockHolder:
    """A lock apt could not take, and who holds it when apt said so."""

    lock: str
    pid: int | None = None
    process: str | None = None


_LOCK_HELD_RE = re.compile(
    r"Could not get lock (?P<lock>\S+?)\.?(?: It is held by process (?P<pid>\d+)"
    r"(?: \((?P<process>[^)]*)\))?)?(?:\.\.\.)?$"
)
_LOCK_BUSY_RE = re.compile(
    r"(?P<admin>administration directory )?\((?P<lock>[^)\s]+)\), is another process using it\?"
)


def parse_lock_error(text: str) -> LockHolder | None:
    """The lock in apt's "Could not get lock" / "is another process using it?" messages.

    apt names the holder (``It is held by process 1234 (unattended-upgr)``) when it can
    find it, but with ``DPkg::Lock::Timeout`` only in a progress line on stdout that apt 2.x
    does not always print; its final "Unable to lock the administration directory (DIR)"
    names the directory, whose lock file is ``DIR/lock``. "Could not open lock file ... are
    you root?" is a permission problem, not a held lock, and is not matched.
    """
    busy: LockHolder | None = None
    for raw in text.splitlines():
        line = raw.strip()
        held = _LOCK_HELD_RE.search(line)
        if held:
            pid = held.group("pid")
            return LockHolder(held.group("lock"), int(pid) if pid else None, held.group("process"))
        other = _LOCK_BUSY_RE.search(line)
        if other and busy is None:
            lock = other.group("lock")
            if other.group("admin"):
                lock = lock.rstrip("/") + "/lock"
            busy = LockHolder(lock)
    return busy


#: dpkg's progress lines: what a maintainer script prints comes after one of them.
_DPKG_PROGRESS_RE = re.compile(
    r"^(?:Setting up|Unpacking|Preparing to unpack|Selecting previously|Processing triggers"
    r"|Removing|Purging) "
)


def relevant_apt_lines(stdout: str, stderr: str, *, limit: int = 25) -> tuple[str, ...]:
    """The lines of a failed ``apt-get install`` worth quoting, in order, at most ``limit``.

    apt runs dpkg on a pseudo-terminal and copies it to its stdout, so dpkg's errors and the
    output of a failing maintainer script are there, in order, among progress lines. Kept:
    apt's ``E:``/``W:`` lines, dpkg's messages with the indented lines under them
    (``Errors were encountered while processing:`` and the package names), and before
    ``dpkg: error processing package`` what the script printed since dpkg's last progress
    line (``Setting up pkg (1.0-1) ...``). Then all of stderr, where apt writes its errors.
    """
    return relevant_lines(
        stdout,
        stderr,
        starts=("E:", "W:", "dpkg:", "Errors were encountered"),
        script_error="dpkg: error processing",
        progress=_DPKG_PROGRESS_RE,
        limit=limit,
    )


def parse_apt_config_shell(text: str) -> dict[str, str]:
    """``NAME='value'`` lines from ``apt-config shell`` (values are shell-quoted)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            parts = shlex.split(value) if value else []
            out[name.strip()] = parts[0] if parts else ""
    return out
