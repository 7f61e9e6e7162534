"""Pure parsers of what dnf, ``dnf repoquery``, rpm and the resolver shim print, and the values
they read it into: packages, transactions, scriptlet failures, locks and rpm's record of a
planned transaction.

Nothing here runs a command or touches a file: the dnf provider
(:mod:`sysnative.providers.dnf.provider`) runs the tools with the query formats below and hands
their output here, and the unit tests hand recorded output (``fixtures/dnf``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from sysnative.models import ClosureItem, SystemPackage
from sysnative.providers.dnf.version import RpmVersion, compare_evr
from sysnative.providers.reading import relevant_lines

__all__ = [
    "ITEM_MARK",
    "REPOQUERY_FORMAT",
    "RPM_FORMAT",
    "RPM_PROVIDES_FORMAT",
    "RPM_STATE_FORMAT",
    "TRANSACTION_MARK",
    "LockHolder",
    "PackageState",
    "RpmPackage",
    "ScriptletFailure",
    "TransactionItem",
    "closure_from_transaction",
    "nevra",
    "package_states",
    "parse_dnf_problems",
    "parse_lock_error",
    "parse_package_list",
    "parse_scriptlet_failures",
    "parse_transaction",
    "python_abi",
    "python_projects",
    "relevant_dnf_lines",
    "select_package",
]

#: Marker lines of the resolver shim and of the query formats below.
_PKG_MARK = "sysnative-pkg"
TRANSACTION_MARK = "sysnative-dnf-transaction"
ITEM_MARK = "sysnative-dnf-item"

#: ``dnf repoquery --qf``: one marker line per package, then its provides (``name op evr``),
#: one per line.
REPOQUERY_FORMAT = (
    f"{_PKG_MARK}\t%{{name}}\t%{{epoch}}\t%{{version}}\t%{{release}}\t%{{arch}}\t%{{reponame}}\n"
    "%{provides}"
)

#: ``rpm -q --qf``: the same shape (rpm prints ``(none)`` for a missing epoch).
RPM_FORMAT = (
    f"{_PKG_MARK}\t%{{NAME}}\t%{{EPOCH}}\t%{{VERSION}}\t%{{RELEASE}}\t%{{ARCH}}\t@System\n"
    "[%{PROVIDENAME}\n]"
)

#: ``rpm -q --qf`` with versioned provides (``python(abi) = 3.12``).
RPM_PROVIDES_FORMAT = (
    f"{_PKG_MARK}\t%{{NAME}}\t%{{EPOCH}}\t%{{VERSION}}\t%{{RELEASE}}\t%{{ARCH}}\t@System\n"
    "[%{PROVIDES} %{PROVIDEFLAGS:depflags} %{PROVIDEVERSION}\n]"
)

#: ``rpm -q --qf`` for verification: no provides needed.
RPM_STATE_FORMAT = f"{_PKG_MARK}\t%{{NAME}}\t%{{EPOCH}}\t%{{VERSION}}\t%{{RELEASE}}\t%{{ARCH}}\t\n"


@dataclass(frozen=True)
class RpmPackage:
    """One package as dnf or rpm printed it."""

    name: str
    epoch: int
    version: str
    release: str
    arch: str
    #: The repository id; ``@System`` for an installed package.
    repo: str = ""
    #: Every provide, as printed (``python3dist(foo) = 1.2``; rpm prints names only).
    provides: tuple[str, ...] = ()

    @property
    def evr(self) -> str:
        """``[epoch:]version-release``, the epoch only when it is not 0 (as dnf prints it)."""
        return str(RpmVersion(self.epoch, self.version, self.release))

    @property
    def nevra(self) -> str:
        return nevra(self.name, self.evr, self.arch)

    def provides_names(self) -> frozenset[str]:
        """The names of the provides, without their versions, and the package's own name."""
        return frozenset({self.name, *(p.split(" ", 1)[0] for p in self.provides)})


@dataclass(frozen=True)
class TransactionItem:
    """One line of the resolver shim: what dnf would do to one package."""

    #: ``install``, ``upgrade``, ``downgrade``, ``obsolete`` (installed, replacing another),
    #: ``upgraded``/``downgraded`` (the version replaced), ``obsoleted``, ``remove``,
    #: ``reinstall``/``reinstalled``.
    action: str
    package: RpmPackage


@dataclass(frozen=True)
class ScriptletFailure:
    """A scriptlet dnf reported as failed ("Error in POSTIN scriptlet in rpm package x")."""

    package: str
    #: rpm's tag for it: ``PREIN``, ``POSTIN``, ``PREUN``, ``POSTUN``, ``PRETRANS``, ...
    scriptlet: str

    @property
    def label(self) -> str:
        """The spec-file name of the scriptlet: ``%post`` for ``POSTIN``."""
        return _SCRIPTLET_LABELS.get(self.scriptlet, f"%{self.scriptlet.lower()}")


_SCRIPTLET_LABELS = {
    "PREIN": "%pre",
    "POSTIN": "%post",
    "PREUN": "%preun",
    "POSTUN": "%postun",
    "PRETRANS": "%pretrans",
    "POSTTRANS": "%posttrans",
    "PREUNTRANS": "%preuntrans",
    "POSTUNTRANS": "%postuntrans",
    "TRIGGERPREIN": "%triggerprein",
    "TRIGGERIN": "%triggerin",
    "TRIGGERUN": "%triggerun",
    "TRIGGERPOSTUN": "%triggerpostun",
}


@dataclass(frozen=True)
class LockHolder:
    """A lock dnf or rpm could not take, and who holds it when that is known."""

    #: The lock file, or dnf's name for its lock (``RPMDB``) when dnf did not print a path.
    lock: str
    pid: int | None = None
    process: str | None = None
    #: ``dnf`` (dnf's own pid-file locks) or ``rpm`` (rpm's transaction lock).
    kind: str = "dnf"


def _epoch(text: str) -> int:
    text = text.strip()
    return int(text) if text.isdigit() else 0


#: What rpm prints for a name or provide it has nothing for.
_RPM_NOT_FOUND_RE = re.compile(r"no package provides \S+|package \S+ is not installed")


def parse_package_list(text: str) -> tuple[RpmPackage, ...]:
    """Packages printed with :data:`REPOQUERY_FORMAT` or :data:`RPM_FORMAT`, in order.

    A marker line starts a package; the lines up to the next marker are its provides. Lines
    before the first marker (dnf's "Added local repo" and the like) and rpm's "no package
    provides X" / "package X is not installed" lines are skipped. The same package printed
    twice (it matched two specs) is kept once.
    """
    found: dict[tuple[str, int, str, str, str, str], list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(_PKG_MARK + "\t"):
            parts = line.split("\t")
            if len(parts) < 7:
                current = None
                continue
            _, name, epoch, version, release, arch, repo = parts[:7]
            key = (name, _epoch(epoch), version, release, arch, repo)
            current = found.setdefault(key, [])
            continue
        provide = line.strip()
        if (
            current is not None
            and provide
            and not _RPM_NOT_FOUND_RE.fullmatch(provide)
            and provide not in current
        ):
            current.append(provide)
    return tuple(
        RpmPackage(name, epoch, version, release, arch, repo, tuple(provides))
        for (name, epoch, version, release, arch, repo), provides in found.items()
    )


def _arch_rank(arch: str, native: str | None) -> int:
    """Lower is preferred: the machine's architecture, then ``noarch``, then the rest
    (``i686`` packages in an ``x86_64`` repository are multilib extras)."""
    if native and arch == native:
        return 0
    return 1 if arch == "noarch" else 2


def _best(packages: Sequence[RpmPackage], native: str | None) -> RpmPackage:
    """The highest EVR; between equal EVRs the preferred architecture."""
    best = packages[0]
    for pkg in packages[1:]:
        rc = compare_evr(pkg.evr, best.evr)
        if rc > 0 or (rc == 0 and _arch_rank(pkg.arch, native) < _arch_rank(best.arch, native)):
            best = pkg
    return best


def _provided_version(pkg: RpmPackage, spec: str) -> str:
    """The version ``pkg`` provides ``spec`` at (``python3dist(foo) = 1.2`` gives ``1.2``)."""
    if spec == pkg.name:
        return pkg.evr
    for provide in pkg.provides:
        name, _, rest = provide.partition(" ")
        if name == spec:
            return rest.partition(" ")[2] or "0"
    return "0"


def select_package(
    spec: str,
    available: Sequence[RpmPackage],
    installed: Sequence[RpmPackage],
    *,
    native_arch: str | None = None,
) -> SystemPackage | None:
    """What ``spec`` (a package name or a provide) means on this system, or ``None``.

    The package is the installed one that provides ``spec`` when there is one (that is what
    Python sees now); otherwise the available package named ``spec``, otherwise the available
    package providing ``spec`` at the highest version (then the shorter name, then the name in
    alphabetical order, so the answer is stable; Fedora's ``python3dist()`` provides almost
    always have one provider). ``candidate`` is the highest version of that package among the
    repositories and the installed copies (what ``dnf install NAME`` leaves installed);
    ``installed`` the highest installed version. Source packages never count.
    """
    avail = [p for p in available if spec in p.provides_names() and p.arch not in ("src", "nosrc")]
    inst = [p for p in installed if spec in p.provides_names()]
    if inst:
        name = _best(inst, native_arch).name
    elif avail:
        exact = [p for p in avail if p.name == spec]
        if exact:
            name = spec
        else:
            ranked = sorted(
                avail,
                key=lambda p: (len(p.name), p.name),
            )
            name = ranked[0].name
            best_version = _provided_version(ranked[0], spec)
            for pkg in ranked[1:]:
                version = _provided_version(pkg, spec)
                if _safe_compare(version, best_version) > 0:
                    name, best_version = pkg.name, version
    else:
        return None
    same_inst = [p for p in installed if p.name == name]
    same = [p for p in available if p.name == name and p.arch not in ("src", "nosrc")]
    top = _best([*same, *same_inst], native_arch)
    return SystemPackage(
        name=name,
        candidate=top.evr,
        installed=_best(same_inst, native_arch).evr if same_inst else None,
        architecture=top.arch,
    )


def _safe_compare(a: str, b: str) -> int:
    try:
        return compare_evr(a, b)
    except ValueError:
        return 0


def parse_transaction(text: str) -> tuple[TransactionItem, ...] | None:
    """The resolver shim's lines; ``None`` when dnf never reached the transaction (it failed
    before: an unknown package, a dependency problem)."""
    count: int | None = None
    items: list[TransactionItem] = []
    for line in text.splitlines():
        if line.startswith(TRANSACTION_MARK + "\t"):
            count = _epoch(line.split("\t", 1)[1])
            items = []
            continue
        if not line.startswith(ITEM_MARK + "\t"):
            continue
        parts = line.split("\t")
        if len(parts) < 9:
            continue
        _, action, name, epoch, version, release, arch, repo, *provides = parts
        items.append(
            TransactionItem(
                action,
                RpmPackage(name, _epoch(epoch), version, release, arch, repo, tuple(provides)),
            )
        )
    if count is None:
        return None
    return tuple(items)


_INSTALLING = ("install", "upgrade", "downgrade", "obsolete")
_REPLACED = ("upgraded", "downgraded")
_REMOVING = ("remove", "obsoleted")


def python_projects(provides: Iterable[str]) -> tuple[str, ...]:
    """The canonical PyPI project names in ``python3dist(NAME)`` provides, sorted.

    Fedora generates one ``python3dist()`` provide per distribution a package ships (from its
    dist-info). Extras (``python3dist(foo[bar])``) and the versioned duplicates
    (``python3.12dist(foo)``) add nothing and are skipped.
    """
    found = set()
    for provide in provides:
        name = provide.split(" ", 1)[0]
        if name.startswith("python3dist(") and name.endswith(")"):
            project = name[len("python3dist(") : -1]
            if project and "[" not in project:
                found.add(canonicalize_name(project))
    return tuple(sorted(found))


def closure_from_transaction(
    items: Sequence[TransactionItem],
) -> tuple[tuple[ClosureItem, ...], tuple[str, ...]]:
    """The packages a transaction installs or upgrades (sorted by name) and the NEVRAs it
    removes.

    ``replaces`` is the version an upgrade or downgrade takes away (same name and arch, or same
    name when the arch changes, e.g. to ``noarch``). Reinstalls change nothing and are left
    out; packages an ``obsolete`` replaces are removals.
    """
    replaced: dict[tuple[str, str], str] = {}
    replaced_by_name: dict[str, str] = {}
    for item in items:
        if item.action in _REPLACED:
            replaced[(item.package.name, item.package.arch)] = item.package.evr
            replaced_by_name.setdefault(item.package.name, item.package.evr)
    closure = []
    for item in items:
        if item.action not in _INSTALLING:
            continue
        pkg = item.package
        old = None
        if item.action in ("upgrade", "downgrade"):
            old = replaced.get((pkg.name, pkg.arch), replaced_by_name.get(pkg.name))
        closure.append(
            ClosureItem(
                name=pkg.name,
                version=pkg.evr,
                architecture=pkg.arch,
                replaces=old,
                projects=python_projects(pkg.provides),
            )
        )
    removals = tuple(sorted(item.package.nevra for item in items if item.action in _REMOVING))
    return tuple(sorted(closure, key=lambda c: (c.name, c.architecture or ""))), removals


def parse_dnf_problems(stdout: str, stderr: str) -> tuple[str, ...]:
    """What dnf said went wrong, in order: "No match for argument" lines, ``Error:`` lines and
    the indented problem description under them (`` - nothing provides x needed by y``)."""
    out: list[str] = []
    for text in (stdout, stderr):
        following = False
        for raw in text.splitlines():
            line = raw.rstrip()
            if line.startswith(("No match for argument:", "Error:", "Problem", " Problem")):
                if line.strip() != "Error:":
                    out.append(line.strip())
                following = True
            elif following and line.startswith(" ") and line.strip():
                out.append(line.strip())
            else:
                following = False
    return tuple(dict.fromkeys(out))


_SCRIPTLET_RE = re.compile(r"Error in (?P<scriptlet>[A-Z]+) scriptlet in rpm package (?P<pkg>\S+)")


def parse_scriptlet_failures(text: str) -> tuple[ScriptletFailure, ...]:
    """Scriptlets dnf reported as failed. dnf names the package only (no version)."""
    found = [
        ScriptletFailure(m.group("pkg"), m.group("scriptlet"))
        for m in map(_SCRIPTLET_RE.search, text.splitlines())
        if m
    ]
    return tuple(dict.fromkeys(found))


_DNF_LOCK_RE = re.compile(r"\b(?P<what>RPMDB|metadata|cachedir|log) already locked by (?P<pid>\d+)")
_DNF_LOCK_APP_RE = re.compile(r"The application with PID (?P<pid>\d+) is: (?P<process>.+?)\s*$")
_RPM_LOCK_RE = re.compile(r"can't create transaction lock on (?P<lock>\S+)")


def parse_lock_error(text: str) -> LockHolder | None:
    """The lock in dnf's "RPMDB already locked by PID" (with ``exit_on_lock``) and rpm's
    "can't create transaction lock on PATH" messages; ``None`` when neither is there.

    dnf also names the holding program ("The application with PID 1234 is: dnf").
    """
    held: LockHolder | None = None
    process: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        m = _DNF_LOCK_RE.search(line)
        if m and held is None:
            held = LockHolder(m.group("what"), int(m.group("pid")), None, "dnf")
            continue
        m = _RPM_LOCK_RE.search(line)
        if m and held is None:
            held = LockHolder(m.group("lock"), None, None, "rpm")
            continue
        m = _DNF_LOCK_APP_RE.search(line)
        if m and process is None:
            process = m.group("process")
    if held is not None and process is not None and held.pid is not None:
        held = LockHolder(held.lock, held.pid, process, held.kind)
    return held


def python_abi(packages: Sequence[RpmPackage]) -> str | None:
    """The system Python's ``3.X`` among packages providing ``python(abi) = 3.X``, or ``None``.

    Fedora's system interpreter is ``python3``, whose library package ``python3-libs``
    provides ``python(abi)``; the alternative interpreters (``python3.11-libs``...) provide it
    too, so ``python3-libs`` wins, and otherwise the highest version.
    """
    found: list[tuple[bool, tuple[int, int]]] = []
    for pkg in packages:
        for provide in pkg.provides:
            m = re.fullmatch(r"python\(abi\) = 3\.(\d+)", provide.strip())
            if m:
                found.append((pkg.name == "python3-libs", (3, int(m.group(1)))))
    if not found:
        return None
    _, (major, minor) = max(found)
    return f"{major}.{minor}"


#: dnf's progress lines around scriptlet output.
_DNF_PROGRESS_RE = re.compile(
    r"^\s+(?:Preparing|Installing|Upgrading|Downgrading|Cleanup|Erasing|Verifying|Reinstalling"
    r"|Obsoleting|Running scriptlet)\s*:"
)


def relevant_dnf_lines(stdout: str, stderr: str, *, limit: int = 25) -> tuple[str, ...]:
    """The lines of a dnf transaction worth quoting, in order, at most ``limit``.

    Kept: rpm's ``error:``/``warning:`` lines with what the scriptlet printed before them
    (since dnf's last progress line), dnf's ``Error``/``Failed`` lines with the indented lines
    under them, then all of stderr (where dnf writes its errors and the scriptlets' stderr).
    """
    return relevant_lines(
        stdout,
        stderr,
        starts=("error:", "warning:", "Error", "Failed", "No match for argument"),
        script_error="error:",
        progress=_DNF_PROGRESS_RE,
        limit=limit,
    )


def nevra(name: str, version: str, arch: str | None) -> str:
    """``name-[epoch:]version-release[.arch]``: the exact package for dnf's argv."""
    return f"{name}-{version}.{arch}" if arch else f"{name}-{version}"


def _same_version(a: str, b: str) -> bool:
    """``0:1.0-1`` and ``1.0-1`` are the same version."""
    try:
        return str(RpmVersion.parse(a)) == str(RpmVersion.parse(b))
    except ValueError:
        return a == b


@dataclass(frozen=True)
class PackageState:
    """What rpm records for one package of a planned transaction."""

    item: ClosureItem
    #: Every installed copy rpm records under the package's name (several for multilib or
    #: install-only packages); empty when it is not installed.
    installed: tuple[RpmPackage, ...] = ()
    #: Scriptlets dnf reported as failed for this package during the run.
    failed_scriptlets: tuple[str, ...] = ()

    def _matches(self, pkg: RpmPackage, version: str) -> bool:
        arch = self.item.architecture
        return _same_version(pkg.evr, version) and (arch is None or pkg.arch == arch)

    @property
    def present(self) -> bool:
        """rpm records the package at the planned version."""
        return any(self._matches(p, self.item.version) for p in self.installed)

    @property
    def stale(self) -> bool:
        """An upgrade or downgrade left the replaced version installed too."""
        old = self.item.replaces
        return old is not None and any(self._matches(p, old) for p in self.installed)

    @property
    def ok(self) -> bool:
        """Installed at the planned version, nothing replaced left behind, no failed
        scriptlet."""
        return self.present and not self.stale and not self.failed_scriptlets

    def describe(self) -> str:
        """One line for the user: name, version and what rpm (and dnf) say about it."""
        item = self.item
        if not self.installed:
            return f"{item.name} {item.version}: not installed"
        if not self.present:
            now = ", ".join(p.evr if item.architecture is None else p.evr + "." + p.arch
                            for p in self.installed)  # fmt: skip
            return f"{item.name}: installed at {now}, but the plan has {item.version}"
        if self.stale:
            return (
                f"{item.name} {item.version}: installed, but {item.replaces} is still "
                "installed too (removing the old version failed)"
            )
        if self.failed_scriptlets:
            return (
                f"{item.name} {item.version}: installed, but its "
                f"{' and '.join(self.failed_scriptlets)} scriptlet failed"
            )
        return f"{item.name} {item.version}: installed"


def package_states(
    closure: Sequence[ClosureItem],
    text: str,
    failures: Sequence[ScriptletFailure] = (),
) -> tuple[PackageState, ...]:
    """Match ``rpm -q --qf RPM_STATE_FORMAT`` output (and dnf's scriptlet failures) to the
    planned packages."""
    rows: dict[str, list[RpmPackage]] = {}
    for pkg in parse_package_list(text):
        rows.setdefault(pkg.name, []).append(pkg)
    failed: dict[str, list[str]] = {}
    for failure in failures:
        failed.setdefault(failure.package, []).append(failure.label)
    return tuple(
        PackageState(item, tuple(rows.get(item.name, ())), tuple(failed.get(item.name, ())))
        for item in closure
    )
