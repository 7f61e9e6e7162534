"""The apt provider: Debian and derivatives, through ``apt-cache``, ``apt-get`` and ``dpkg-query``.

Every command goes through :func:`sysnative.runner.run` with an argv list, and every package
name is checked against Debian's package-name grammar first. The grammar check matters for more
than shell safety: apt treats an argument that is not an exact package name as a regular
expression or glob (``python3-nump.`` would "install" every ``python3-numpy*`` package), and an
argument starting with ``-`` as an option. So, on top of validation:

* ``--`` ends option parsing before the names. apt's command-line parser (``apt-cache``,
  ``apt-get``) and dpkg-query all honour it: ``apt-cache policy -- -h`` prints nothing instead
  of the help text.
* ``-o APT::Cmd::Pattern-Only=true`` turns off apt's regex/glob fallback for names (apt 2.0
  and later; older apt ignores unknown options, so the checks below still apply there).
* ``query`` only reads policy blocks whose header is exactly a requested name.

The text parsers are pure module-level functions so they can be tested on recorded output.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import re
import shlex
import shutil
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from sysnative.cache import atomic_write, mark_used, prune
from sysnative.errors import (
    DpkgLocked,
    ProviderError,
    ProviderUnavailable,
    SystemStepError,
)
from sysnative.models import ClosureItem, SystemPackage
from sysnative.protocols import Privileges
from sysnative.providers.apt.session import AptSession
from sysnative.providers.apt.version import debian_to_pep440
from sysnative.providers.common import (
    checked_transaction,
    posix_lock_holder,
    privilege_error,
    process_name,
    root_or_sudo,
    transaction_differences,
)
from sysnative.runner import CommandNotFound, Completed, run

logger = logging.getLogger(__name__)

__all__ = [
    "INTERPRETER",
    "SITE_DIRS",
    "AptProvider",
    "LockHolder",
    "PackageState",
    "closure_differences",
    "find_lock_holder",
    "package_states",
    "parse_apt_errors",
    "parse_dpkg_query",
    "parse_lock_error",
    "parse_policy",
    "parse_removals",
    "parse_simulation",
    "parse_unmet_dependencies",
    "relevant_apt_lines",
    "validate_install_packages",
    "validate_package_names",
    "validate_version",
]

#: Debian Policy 5.6.1: lower case letters, digits, ``+ - .``; at least two characters;
#: starts with a letter or digit.
PACKAGE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")

#: Where Debian's ``python3-*`` packages install modules, for every Python 3 version.
INTERPRETER = "/usr/bin/python3"
SITE_DIRS = ("/usr/lib/python3/dist-packages",)

#: The tools every operation needs; checked up front so a missing one is explained once.
TOOLS = ("apt-cache", "apt-get", "dpkg-query")

#: Disable apt's regex/glob interpretation of package arguments (see module docstring).
_PATTERN_ONLY_SETTING = ("APT::Cmd::Pattern-Only", "true")
_PATTERN_ONLY = ("-o", "=".join(_PATTERN_ONLY_SETTING))

_UNAVAILABLE_MESSAGE = (
    "apt was not found on this machine (missing: {missing}). sysnative --provider apt needs "
    "Debian or a derivative such as Ubuntu, where apt-cache, apt-get and dpkg-query are part "
    "of the base system."
)
_UNAVAILABLE_HINT = (
    "Run sysnative on a Debian-based system, choose the provider that matches this "
    "distribution, or install without --system-native to take everything from the index."
)


# --------------------------------------------------------------------------------------------
# Pure parsers
# --------------------------------------------------------------------------------------------

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


def validate_package_names(packages: Iterable[str]) -> tuple[str, ...]:
    """The names, de-duplicated in order; :class:`ProviderError` for any invalid one.

    Runs before any command, so a hostile or mistyped name never reaches apt.
    """
    names: list[str] = []
    for name in packages:
        if not isinstance(name, str) or not PACKAGE_NAME_RE.fullmatch(name):
            raise ProviderError(
                f"{name!r} is not a valid Debian package name, so it was not passed to apt.",
                "Debian package names use only lower-case letters, digits and '+', '-', '.', "
                "start with a letter or digit and are at least two characters long. Check the "
                "mapping entry that produced this name.",
            )
        if name not in names:
            names.append(name)
    return tuple(names)


#: Debian Policy 5.6.12: ``[epoch:]upstream_version[-debian_revision]``. The upstream part
#: starts with a digit; ``:`` may appear in it only with an epoch and ``-`` only with a
#: revision (the revision is what follows the LAST hyphen, hence the lazy upstream group).
_VERSION_RE = re.compile(
    r"^(?:(?P<epoch>[0-9]+):)?(?P<upstream>[0-9][A-Za-z0-9.+~:-]*?)"
    r"(?:-(?P<revision>[A-Za-z0-9.+~]+))?$"
)


def validate_version(version: str) -> str:
    """``version`` unchanged when it follows Debian's version grammar; :class:`ProviderError`
    otherwise.

    The version is glued to the name (``pkg=version``) in apt's argv, so a version with ``=``,
    whitespace, ``/`` or shell metacharacters must never get there; the grammar excludes all.
    """
    m = _VERSION_RE.fullmatch(version) if isinstance(version, str) else None
    if (
        m is None
        or (":" in m.group("upstream") and m.group("epoch") is None)
        or ("-" in m.group("upstream") and m.group("revision") is None)
    ):
        raise ProviderError(
            f"{version!r} is not a valid Debian version, so it was not passed to apt.",
            "Debian versions look like [epoch:]upstream[-revision] (`1:1.24.2-1+deb12u1`): "
            "digits, letters and '.', '+', '~', '-', ':' only, starting with a digit. Check "
            "the plan or lock file that produced this version.",
        )
    return version


def validate_install_packages(
    packages: Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    """The ``(name, version)`` pairs, checked and de-duplicated in order.

    :class:`ProviderError` for an invalid name or version, or for one name asked at two
    versions (apt would silently keep the last one).
    """
    pairs: dict[str, str] = {}
    for name, version in packages:
        validate_package_names([name])
        validate_version(version)
        if pairs.get(name, version) != version:
            raise ProviderError(
                f"{name} is asked for at two versions ({pairs[name]} and {version}).",
                "A transaction installs one version of each package; check the plan.",
            )
        pairs[name] = version
    return tuple(pairs.items())


def closure_differences(
    planned: Sequence[ClosureItem], simulated: Sequence[ClosureItem]
) -> tuple[str, ...]:
    """How apt's simulated transaction differs from the plan's, one line per package.

    Compared by name and version (architecture and the replaced version follow from those);
    ``()`` when they are the same set.
    """
    return transaction_differences(planned, simulated, "apt")


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
_CONFIGURABLE = ("unpacked", "half-configured", "triggers-awaited", "triggers-pending")

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


def find_lock_holder(held: LockHolder) -> LockHolder:
    """``held`` with the holding process filled in from the kernel when apt did not name it.

    apt 2.x reports the holder of a lock it waited for (``DPkg::Lock::Timeout``) only in a
    "Waiting for cache lock" progress line, which it prints or not depending on an
    uninitialised flag of its progress meter (``OpProgress::MajorChange``): the final error
    names no process. The kernel's lock table does, as long as the holder still holds it.
    """
    if held.pid is not None:
        return held
    pid = posix_lock_holder(held.lock)
    if pid is None:
        return held
    return LockHolder(held.lock, pid, process_name(pid))


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
    out: list[str] = []
    following = False
    script: list[str] = []
    for raw in stdout.splitlines():
        line = raw.rstrip()
        if line.startswith(("E:", "W:", "dpkg:", "Errors were encountered")):
            if line.startswith("dpkg: error processing"):
                out += script[-10:]
            script = []
            out.append(line)
            following = True
        elif following and line.startswith(" ") and line.strip():
            out.append(line)
        else:
            following = False
            if _DPKG_PROGRESS_RE.match(line):
                script = []
            elif line.strip():
                script.append(line)
    out += [line.rstrip() for line in stderr.splitlines() if line.strip()]
    unique = list(dict.fromkeys(out))
    return tuple(unique[-limit:])


# --------------------------------------------------------------------------------------------
# The provider
# --------------------------------------------------------------------------------------------


class AptProvider:
    """:class:`sysnative.protocols.Provider` for apt-based systems."""

    name = "apt"
    ecosystem = "debian"

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        cache_dir: Path | None = None,
        python_apt: bool = True,
    ) -> None:
        #: Extra environment for every command (``APT_CONFIG`` for an isolated apt in tests).
        self._env: dict[str, str] = dict(env) if env else {}
        #: Where to keep apt's binary package cache when the system's apt config disables it.
        self._cache_dir = cache_dir
        self._options: tuple[str, ...] | None = None
        #: dpkg's status file, apt's lists dir and config dir (for the simulation cache key).
        self._state_paths: tuple[str, ...] = ()
        self._architecture: str | None = None
        self._architecture_known = False
        #: Whether to try the python3-apt helper (:mod:`sysnative.providers.apt.session`)
        #: before apt's commands, and the session once started.
        self._python_apt = python_apt
        self._session: AptSession | None = None
        #: Guards the lazily probed settings above: planning may query from two threads.
        self._lock = threading.Lock()
        #: Ubuntu and its derivatives have a mapping of their own; everything else apt-based
        #: reads Debian's.
        self.ecosystem = _ecosystem()

    # -- availability -------------------------------------------------------------------

    @staticmethod
    def available(env: Mapping[str, str] | None = None) -> bool:
        """Whether apt-cache, apt-get and dpkg-query are on ``PATH`` (``env``'s, if given)."""
        return not _missing_tools(env)

    def _require_tools(self) -> None:
        missing = _missing_tools(self._env)
        if missing:
            raise ProviderUnavailable(
                _UNAVAILABLE_MESSAGE.format(missing=", ".join(missing)), _UNAVAILABLE_HINT
            )

    def _apt_options(self) -> tuple[str, ...]:
        """``-o`` options for every apt-cache / apt-get call.

        Pattern-only matching always. And when the system's apt configuration switches off the
        binary package cache (container images do, with ``Dir::Cache::pkgcache ""``), every apt
        call re-parses all package lists (0.4 s for ``apt-cache policy`` on Debian 12 instead
        of 0.02 s): then keep that cache in sysnative's cache dir. apt checks it against the
        lists itself and rebuilds it when they change; it is keyed by ``APT_CONFIG`` so two
        configurations never share one.
        """
        with self._lock:
            if self._options is None:
                self._options = self._probe_options()
            return self._options

    def _probe_options(self) -> tuple[str, ...]:
        options = list(_PATTERN_ONLY)
        if self._cache_dir is not None:
            probe = self._run(
                [
                    "apt-config", "shell",
                    "PKGCACHE", "Dir::Cache::pkgcache",
                    "STATUS", "Dir::State::status/f",
                    "LISTS", "Dir::State::lists/d",
                    "ETC", "Dir::Etc/d",
                ]
            )  # fmt: skip
            values = _parse_apt_config_shell(probe.stdout) if probe.ok else {}
            self._state_paths = tuple(
                values[k] for k in ("STATUS", "LISTS", "ETC") if values.get(k)
            )
            if probe.ok and not values.get("PKGCACHE"):
                where = self._private_dir()
                options += [
                    "-o",
                    f"Dir::Cache::pkgcache={where / 'pkgcache.bin'}",
                    "-o",
                    f"Dir::Cache::srcpkgcache={where / 'srcpkgcache.bin'}",
                ]
        return tuple(options)

    def _private_dir(self) -> Path:
        assert self._cache_dir is not None
        apt_config = self._env.get("APT_CONFIG", os.environ.get("APT_CONFIG", ""))
        key = hashlib.sha256(apt_config.encode()).hexdigest()
        where = self._cache_dir / "apt" / key[:16]
        where.mkdir(parents=True, exist_ok=True)
        return where

    def _state_digest(self) -> str | None:
        """A digest that changes whenever apt's answers could: dpkg's status file, the
        package lists and apt's configuration files (their names, sizes and mtimes)."""
        if self._cache_dir is None or not self._state_paths:
            return None
        digest = hashlib.sha256()
        for root in self._state_paths:
            try:
                if os.path.isfile(root):
                    st = os.stat(root)
                    digest.update(f"{root}:{st.st_size}:{st.st_mtime_ns}".encode())
                    continue
                for dirpath, _dirs, files in sorted(os.walk(root)):
                    for name in sorted(files):
                        st = os.stat(os.path.join(dirpath, name))
                        digest.update(f"{dirpath}/{name}:{st.st_size}:{st.st_mtime_ns}".encode())
            except OSError:
                return None
        return digest.hexdigest()

    def _session_for(self, *, start: bool) -> AptSession | None:
        """The python3-apt helper session: started now if ``start``, else only if running."""
        with self._lock:
            if self._session is None and start and self._python_apt:
                self._session = AptSession(INTERPRETER, self._helper_settings(), self._env or None)
            return self._session

    def _helper_settings(self) -> list[tuple[str, str]]:
        """What the helper sets in apt's configuration: what every apt command here gets
        (see :meth:`_apt_options`), and ``--no-install-recommends``.

        The binary caches in sysnative's cache dir are ``KEY?=VALUE`` settings, which the
        helper applies only where apt's own configuration leaves the key empty: the same
        test :meth:`_apt_options` makes with ``apt-config``, made by the helper itself, so
        it can start without waiting for ``apt-config``. One difference: the helper does
        not create the source package cache. Writing it costs a cold run 0.1-0.15 s on the
        critical path, and it only pays off when dpkg's status changes while the lists do
        not, that is after an install, whose own apt-get check writes it; an existing one
        is used (and kept up to date) as apt-get would.
        """
        settings = [_PATTERN_ONLY_SETTING]
        if self._cache_dir is not None:
            where = self._private_dir()
            source = where / "srcpkgcache.bin"
            settings += [
                ("Dir::Cache::pkgcache?", str(where / "pkgcache.bin")),
                ("Dir::Cache::srcpkgcache?", str(source) if source.exists() else ""),
            ]
        settings.append(("APT::Install-Recommends", "false"))
        return settings

    def _answered_before(self) -> bool:
        """Whether apt answered from sysnative's cache dir on this machine before (against
        any system state). When it never did, the helper is needed for certain."""
        if self._cache_dir is None:
            return True
        try:
            return any(p.name.startswith("state-") for p in self._private_dir().iterdir())
        except OSError:
            return True

    def _helper_simulation(self, names: Sequence[str]) -> str | None:
        """``apt-get install -s`` output lines from the helper, or ``None``.

        Only with apt 2.x, the apt whose install command the helper's marking is tested
        against; another apt may choose differently, so its own command answers there.
        """
        session = self._session_for(start=True)
        if session is None:
            return None
        version = session.apt_version()
        if not version.startswith("2."):
            if version:
                logger.debug("apt %s: simulating with apt-get itself", version)
            return None
        return session.ask("simulate", names)

    def _close_session(self) -> None:
        with self._lock:
            session, self._session = self._session, None
            self._python_apt = False  # the system is changing: only apt's commands from now
        if session is not None:
            session.close()

    def _state_marker(self, state: str) -> Path:
        """A file that exists once apt answered against system state ``state``: its binary
        package cache is built, and every simulation asked since is cached."""
        return self._private_dir() / f"state-{state}"

    def _remember_state(self, state: str | None) -> None:
        if state is None:
            return
        marker = self._state_marker(state)
        if marker.exists():
            mark_used(marker)
        else:
            atomic_write(marker, b"")

    def _run(self, argv: Sequence[str]) -> Completed:
        try:
            return run(argv, env=self._env or None)
        except CommandNotFound as exc:
            raise ProviderUnavailable(
                _UNAVAILABLE_MESSAGE.format(missing=exc.program), _UNAVAILABLE_HINT
            ) from exc

    # -- Provider protocol ------------------------------------------------------------------

    def query(self, packages: Sequence[str]) -> dict[str, SystemPackage]:
        """Installed and candidate versions from ONE ``apt-cache policy`` call.

        Unknown names are absent. A purely virtual package is present with ``candidate``
        ``None``. Blocks apt prints for any name other than the requested ones (regex or
        virtual-package answers on old apt) are ignored.
        """
        names = validate_package_names(packages)
        if not names:
            return {}
        self._require_tools()
        # A running helper has apt's cache open already (or is building it, which
        # apt-cache would have to do too); apt-cache answers otherwise, in 20 ms.
        session = self._session_for(start=False)
        text = session.ask("policy", names) if session is not None else None
        if text is None:
            result = self._run(["apt-cache", *self._apt_options(), "policy", "--", *names])
            if not result.ok:
                raise ProviderError(
                    "apt-cache could not report package versions: " + result.describe(),
                    "Run `apt-get update` (as root) and try again; apt's own message is above.",
                )
            text = result.stdout
        self._remember_state(self._state_digest())
        blocks = parse_policy(text)
        architecture = self.native_architecture()
        return {
            name: dataclasses.replace(blocks[name], architecture=architecture)
            for name in names
            if name in blocks
        }

    def simulate(self, packages: Sequence[str]) -> tuple[ClosureItem, ...]:
        """What ``apt-get install`` would install or upgrade, from a simulation (``-s``).

        ``--no-install-recommends``: the closure must be exactly what the install step
        installs, and recommended packages are optional extras the user did not ask for; the
        install step passes the same flag. Simulation takes no dpkg lock (not even as root),
        so a running apt or unattended-upgrades does not block planning. Packages already
        installed at the candidate version are not listed. A simulation that would remove
        packages is refused: sysnative must not take away what the system already has.
        """
        names = validate_package_names(packages)
        if not names:
            return ()
        self._require_tools()
        argv = [
            "apt-get",
            *self._apt_options(),
            "install",
            "-s",
            "--no-install-recommends",
            "-y",
            "--",
            *names,
        ]
        # The simulation is the slowest part of planning (0.3-0.8 s for apt-get: apt opens
        # its caches and solves the whole dependency problem). Its answer only depends on the
        # inputs in the key, so an unchanged system answers from the cache; otherwise the
        # python3-apt helper answers from its open cache (tens of ms), apt-get if it cannot.
        state = self._state_digest()
        cached = None
        if state is not None:
            key = hashlib.sha256("\0".join([state, *argv]).encode()).hexdigest()
            cached = self._private_dir() / f"simulate-{key}.txt"
        if cached is not None and cached.is_file():
            stdout = cached.read_text(encoding="utf-8")
            mark_used(cached)
        else:
            answer = self._helper_simulation(names)
            if answer is None:
                result = self._run(argv)
                if not result.ok:
                    raise _simulation_error(names, result)
                answer = result.stdout
            stdout = answer
            if cached is not None:
                atomic_write(cached, stdout.encode("utf-8"))
                # Simulations (and state markers) of system states long gone.
                for pattern in ("simulate-*.txt", "state-*"):
                    prune(cached.parent, pattern)
        self._remember_state(state)
        removals = parse_removals(stdout)
        if removals:
            raise ProviderError(
                f"Installing {', '.join(names)} with apt would remove {', '.join(removals)}.",
                "sysnative does not remove system packages. Resolve the conflict with apt "
                "yourself, or take these projects from the index instead.",
            )
        return parse_simulation(stdout)

    def to_pep440(self, distro_version: str) -> Version | None:
        return debian_to_pep440(distro_version)

    def site_dirs(self) -> tuple[str, ...]:
        return SITE_DIRS

    def interpreter(self) -> str:
        """Debian's ``python3``: the one its ``python3-*`` packages are built for."""
        return INTERPRETER

    def prepare(self) -> bool:
        """Open apt's cache, building its binary package cache if it is missing or stale
        (0.5 s on Debian 12), so that the questions after this one are quick.

        The python3-apt helper opens the cache and keeps it open; without it, ``apt-cache
        policy`` without names reads every package list, writes the binary cache, and prints
        only the sources' priorities. Returns False, doing nothing, when apt already answered
        against exactly this system state (its cache is built and the simulations asked so
        far are cached, so guessing ahead would mostly burn CPU), True otherwise.
        """
        if _missing_tools(self._env):
            return False
        if not self._answered_before():
            self._session_for(start=True)  # cold for certain: no need to wait for apt-config
        try:
            options = self._apt_options()
            state = self._state_digest()
            if state is not None and self._state_marker(state).exists():
                return False
            session = self._session_for(start=True)
            # Asked by every simulation: ask now, while apt's cache is being opened.
            self.native_architecture()
            if session is None or not session.apt_version():
                self._run(["apt-cache", *options, "policy"])
            return True
        except BaseException:
            # Nobody may ask the helper anything for a while: share its CPU again now.
            started = self._session_for(start=False)
            if started is not None:
                started.release_cpu()
            raise

    # -- execution side ------------------------------------------------------------------------

    def check_privileges(self) -> Privileges:
        """Root, or ``sudo -n true`` succeeds (see :func:`.common.root_or_sudo`)."""
        return root_or_sudo(self._env)

    def install_command(
        self,
        packages: Sequence[tuple[str, str]],
        privileges: Privileges,
        *,
        lock_timeout: float = 120.0,
    ) -> list[str]:
        """``[sudo -n] env DEBIAN_FRONTEND=noninteractive apt-get ... install -- pkg=ver ...``.

        One transaction, exact versions, nothing that can stop for a question: ``-y``,
        debconf's noninteractive frontend, and ``--force-confdef --force-confold`` so dpkg
        keeps a locally changed configuration file instead of asking. ``--no-install-
        recommends`` matches the simulation the plan came from; ``--no-remove`` makes apt abort
        rather than remove anything. ``DPkg::Lock::Timeout`` bounds the wait for another
        package manager. ``env`` carries the variables through sudo (which resets the
        environment) and makes the printed command complete; an ``APT_CONFIG`` given to the
        provider is part of it. The binary-cache options of the query side are left out: as
        root, apt would write them into the user's cache directory.
        """
        pairs = validate_install_packages(packages)
        seconds = max(0, math.ceil(lock_timeout))
        variables = ["DEBIAN_FRONTEND=noninteractive"]
        if "APT_CONFIG" in self._env:
            variables.append(f"APT_CONFIG={self._env['APT_CONFIG']}")
        return [
            *(privileges.prefix if privileges.ok else ()),
            "env",
            *variables,
            "apt-get",
            *_PATTERN_ONLY,
            "-o", f"DPkg::Lock::Timeout={seconds}",
            "-o", "Dpkg::Options::=--force-confdef",
            "-o", "Dpkg::Options::=--force-confold",
            "install",
            "-y",
            "--no-install-recommends",
            "--no-remove",
            "--",
            *(f"{name}={version}" for name, version in pairs),
        ]  # fmt: skip

    def check_install(
        self, packages: Sequence[tuple[str, str]], closure: Sequence[ClosureItem]
    ) -> None:
        """Simulate the exact transaction (``pkg=version``) and compare it with the plan.

        Runs before any change. :class:`ProviderError` when apt cannot install these exact
        versions (quoting apt), would remove something, or would install a different set of
        packages or versions than ``closure`` (the lists or the system changed since the plan
        was made). Never answered from the simulation cache: this is the last look before
        the system changes.
        """
        pairs = _checked_transaction(packages, closure)
        if not pairs:
            return
        self._require_tools()
        specs = [f"{name}={version}" for name, version in pairs]
        result = self._run(
            [
                "apt-get", *self._apt_options(), "install", "-s", "--no-install-recommends",
                "-y", "--", *specs,
            ]
        )  # fmt: skip
        if not result.ok:
            raise _simulation_error(specs, result)
        removals = parse_removals(result.stdout)
        if removals:
            raise ProviderError(
                f"Installing {', '.join(specs)} with apt would now remove {', '.join(removals)}.",
                "sysnative does not remove system packages. Resolve the conflict with apt "
                "yourself, or take these projects from the index instead.",
            )
        differences = closure_differences(closure, parse_simulation(result.stdout))
        if differences:
            raise ProviderError(
                "apt would now install something other than the plan:\n"
                + "\n".join("    " + line for line in differences),
                "The package lists or the installed packages changed since the plan was made "
                "(an `apt-get update`, or another install). Nothing was changed; make the plan "
                "again.",
            )

    def install(
        self,
        packages: Sequence[tuple[str, str]],
        closure: Sequence[ClosureItem],
        privileges: Privileges,
        *,
        lock_timeout: float = 120.0,
        quiet: bool = True,
    ) -> None:
        """Run :meth:`install_command`, then confirm with dpkg that the plan is installed.

        apt's exit status alone is not trusted: dpkg is asked about every package of the
        transaction (and every requested one) whatever apt said, because a configuration
        can make apt exit 0 with packages left unpacked, and a failing postinst leaves its
        package half-configured next to others that did install. Call :meth:`check_install`
        first; ``packages`` are the requested packages not installed yet.

        apt's output is captured and quoted in errors; with ``quiet=False`` it is also
        copied to stderr as it comes. The command gets an empty stdin, so nothing it
        runs can wait for an answer from the terminal.
        """
        pairs = _checked_transaction(packages, closure)
        if not pairs:
            return
        self._close_session()
        argv = self.install_command(pairs, privileges, lock_timeout=lock_timeout)
        self._require_tools()
        if not privileges.ok:
            raise privilege_error(privileges.why, argv)
        try:
            # No timeout: the wait for the lock is bounded by apt, and a large transaction
            # may run for many minutes.
            result = run(
                argv,
                env=self._env or None,
                input="",
                timeout=None,
                echo=None if quiet else sys.stderr,
            )
        except CommandNotFound as exc:
            raise ProviderUnavailable(
                _UNAVAILABLE_MESSAGE.format(missing=exc.program), _UNAVAILABLE_HINT
            ) from exc
        said = result.stdout + "\n" + result.stderr
        if not result.ok:
            held = parse_lock_error(said)
            if held is not None:
                raise _lock_error(find_lock_holder(held), lock_timeout)
            if "are you root?" in said:
                raise privilege_error("apt could not open dpkg's lock files", argv)
        planned = {item.name for item in closure}
        targets = (*closure, *(ClosureItem(n, v) for n, v in pairs if n not in planned))
        states = self._package_states(targets)
        if result.ok and all(state.ok for state in states):
            return
        raise self._step_error(result, states, privileges)

    def recovery(self) -> tuple[str, tuple[str, ...]]:
        """See :meth:`sysnative.protocols.Provider.recovery`."""
        return (
            "`dpkg --audit` lists packages dpkg left unfinished, and `dpkg --configure -a` "
            "(as root) finishes configuring them.",
            ("dpkg --configure -a",),
        )

    def verify(self, closure: Sequence[ClosureItem]) -> tuple[str, ...]:
        """One line per package dpkg does not record as ``install ok installed`` at the
        planned version; ``()`` when every one is."""
        _validate_closure(closure)
        return tuple(state.describe() for state in self._package_states(closure) if not state.ok)

    def _package_states(self, closure: Sequence[ClosureItem]) -> tuple[PackageState, ...]:
        """dpkg's record of every package in ``closure``, from ONE ``dpkg-query`` call."""
        names = validate_package_names(item.name for item in closure)
        if not names:
            return ()
        self._require_tools()
        result = self._run(["dpkg-query", "-W", "-f", DPKG_STATE_FORMAT, "--", *names])
        if result.returncode not in (0, 1):
            raise ProviderError(
                "dpkg-query could not report installed packages: " + result.describe(),
                "Check that the dpkg database is not damaged (`dpkg --audit`).",
            )
        return package_states(closure, result.stdout)

    def _audit(self) -> tuple[str, ...]:
        """``dpkg --audit``: every package of the system in an unfinished state, in dpkg's
        words. Empty when all is well or when dpkg cannot be asked."""
        try:
            result = self._run(["dpkg", "--audit"])
        except ProviderUnavailable:
            return ()
        return tuple(line.rstrip() for line in result.stdout.splitlines() if line.strip())

    def _step_error(
        self, result: Completed, states: Sequence[PackageState], privileges: Privileges
    ) -> SystemStepError:
        """Describe a transaction that did not end as planned: what apt said, what dpkg
        records now, and how to finish or undo it."""
        state = tuple(s.describe() for s in states)
        audit = self._audit()
        if audit:
            state += ("dpkg --audit reports:", *("  " + line for line in audit))
        user_prefix = ("sudo",) if privileges.ok and privileges.prefix else ()
        apt_env = (
            ("env", f"APT_CONFIG={self._env['APT_CONFIG']}") if "APT_CONFIG" in self._env else ()
        )
        dpkg_env = (
            ("env", f"DPKG_ADMINDIR={self._env['DPKG_ADMINDIR']}")
            if "DPKG_ADMINDIR" in self._env
            else ()
        )
        new = [s.item.name for s in states if s.item.replaces is None and s.present]
        upgraded = [
            f"{s.item.name}={s.item.replaces}"
            for s in states
            if s.item.replaces and s.present and s.version != s.item.replaces
        ]
        undo: list[str] = []
        if new:
            undo.append(shlex.join([*user_prefix, *apt_env, "apt-get", "purge", "--", *new]))
        if upgraded:
            undo.append(
                shlex.join(
                    [*user_prefix, *apt_env, "apt-get", "install", "--allow-downgrades", "--",
                     *upgraded]
                )
            )  # fmt: skip
        retry: tuple[str, ...] = ()
        if any(s.status in _CONFIGURABLE for s in states) or any(
            "dpkg --configure" in line for line in audit
        ):
            retry = (shlex.join([*user_prefix, *dpkg_env, "dpkg", "--configure", "-a"]),)

        if result.ok:
            head = (
                "apt reported success, but dpkg does not record every package of the "
                "transaction as installed at the planned version."
            )
        else:
            head = f"The apt transaction failed (apt-get exited with status {result.returncode})."
        parts = [head]
        quoted = relevant_apt_lines(result.stdout, result.stderr)
        if quoted:
            parts.append("apt said:\n" + "\n".join("    " + line for line in quoted))
        parts.append("dpkg now records:\n" + "\n".join("    " + line for line in state))
        hints = []
        if retry:
            hints.append("To finish configuring the unfinished packages, run: " + retry[0])
        if undo:
            hints.append("To undo what this run installed, run: " + " && ".join(undo))
        if not (new or upgraded):
            hints.append("Nothing was installed. Fix what apt reports above and try again.")
        return SystemStepError(
            "\n".join(parts),
            "\n".join(hints),
            state=state,
            undo=tuple(undo),
            retry=retry,
        )

    # -- extras ----------------------------------------------------------------------------------

    def installed_versions(self, packages: Sequence[str]) -> dict[str, str]:
        """Installed versions from ONE ``dpkg-query`` call; names not installed are absent.

        dpkg-query exits 1 when some names are unknown but still prints the known ones, so
        status 1 is not a failure here; only 2 and above (dpkg's "fatal") are.
        """
        names = validate_package_names(packages)
        if not names:
            return {}
        self._require_tools()
        result = self._run(
            ["dpkg-query", "-W", "-f", "${Package}\t${Status}\t${Version}\n", "--", *names]
        )
        if result.returncode not in (0, 1):
            raise ProviderError(
                "dpkg-query could not report installed packages: " + result.describe(),
                "Check that the dpkg database is not damaged (`dpkg --audit`).",
            )
        found = parse_dpkg_query(result.stdout)
        return {name: found[name] for name in names if name in found}

    def native_architecture(self) -> str | None:
        """``dpkg --print-architecture``, asked once per provider; ``None`` if it fails."""
        with self._lock:
            if not self._architecture_known:
                self._architecture_known = True
                try:
                    result = self._run(["dpkg", "--print-architecture"])
                except ProviderUnavailable:
                    return None
                arch = result.stdout.strip()
                self._architecture = arch if result.ok and arch else None
            return self._architecture


def _ecosystem() -> str:
    from sysnative.machine import linux_distribution

    distro = linux_distribution()
    return "ubuntu" if "ubuntu" in (distro.id(), *distro.like().split()) else "debian"


def _missing_tools(env: Mapping[str, str] | None) -> tuple[str, ...]:
    path = env.get("PATH") if env else None
    return tuple(tool for tool in TOOLS if shutil.which(tool, path=path) is None)


def _simulation_error(names: Sequence[str], result: Completed) -> ProviderError:
    """Turn a failed ``apt-get install -s`` into a message that quotes apt."""
    output = result.stderr + "\n" + result.stdout
    errors = parse_apt_errors(result.stderr) + parse_apt_errors(result.stdout)
    unmet = parse_unmet_dependencies(result.stdout)
    detail = list(unmet) + list(errors)
    if not detail:
        tail = output.strip().splitlines()[-5:]
        detail = [line.strip() for line in tail if line.strip()]
    quoted = "\n".join("    " + line for line in detail)
    message = (
        f"apt cannot install {', '.join(names)} "
        f"(`apt-get install -s` exited with status {result.returncode}):\n{quoted}"
    )
    if "Unable to locate package" in output:
        hint = (
            "The package is not in apt's lists. Check the name in the mapping, or refresh "
            "the lists with `apt-get update` (as root) and try again."
        )
    elif "could not get lock" in output.lower():
        hint = "Another package manager holds apt's lock; wait for it to finish and try again."
    elif unmet or "held broken packages" in output:
        hint = (
            "apt cannot satisfy the dependencies of these packages on this system. Run "
            "`apt-get install -s --no-install-recommends " + " ".join(names) + "` to see "
            "apt's full explanation, or take these projects from the index instead."
        )
    else:
        hint = (
            "Run `apt-get install -s --no-install-recommends "
            + " ".join(names)
            + "` to see apt's full explanation."
        )
    return ProviderError(message, hint)


def _parse_apt_config_shell(text: str) -> dict[str, str]:
    """``NAME='value'`` lines from ``apt-config shell`` (values are shell-quoted)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            parts = shlex.split(value) if value else []
            out[name.strip()] = parts[0] if parts else ""
    return out


def _validate_closure(closure: Sequence[ClosureItem]) -> None:
    """The closure's names and versions go into dpkg-query and undo commands: check them."""
    validate_package_names(item.name for item in closure)
    for item in closure:
        validate_version(item.version)
        if item.replaces is not None:
            validate_version(item.replaces)


def _lock_error(held: LockHolder, lock_timeout: float) -> DpkgLocked:
    """A held dpkg lock: which lock, who holds it (when apt could tell), what to do."""
    who = (
        f"process {held.pid}" + (f" ({held.process})" if held.process else "")
        if held.pid is not None
        else "another process"
    )
    waited = max(0, math.ceil(lock_timeout))
    find = (
        f"`ps -fp {held.pid}` shows what it is"
        if held.pid is not None
        else f"`fuser -v {held.lock}` shows who holds it"
    )
    return DpkgLocked(
        f"dpkg's lock {held.lock} is held by {who}, and it was not released within "
        f"{waited} seconds. Nothing was changed.",
        "Another package manager is running: on a freshly booted machine this is usually "
        "unattended-upgrades or apt's daily job, otherwise another apt, dpkg or software "
        f"updater. {find[0].upper() + find[1:]}. Wait for it to finish and run sysnative "
        "again; do not delete the lock file.",
        lock=held.lock,
        pid=held.pid,
        process=held.process,
    )


def _checked_transaction(
    packages: Sequence[tuple[str, str]], closure: Sequence[ClosureItem]
) -> tuple[tuple[str, str], ...]:
    return checked_transaction(
        packages,
        closure,
        validate_packages=validate_install_packages,
        validate_closure=_validate_closure,
    )
