"""The dnf provider: Fedora and relatives, through DNF 4 (``dnf``/``dnf-3``) and ``rpm``.

Every command goes through :func:`sysnative.runner.run` with an argv list, and every name,
version and option is checked before it gets there: dnf reads an argument with ``*``, ``?`` or
``[`` as a glob, one starting with ``-`` as an option, and one with ``,`` in ``--whatprovides``
as two. So names follow rpm's name grammar (plus ``python3dist(foo)``-style provides), versions
rpm's ``[epoch:]version-release`` grammar, and ``--`` ends option parsing before the names in
every dnf and rpm call.

How each question is asked, and why:

* ``query``: ONE ``dnf repoquery --latest-limit=1 --whatprovides=SPEC ...`` for what is
  available and ONE ``rpm -q --whatprovides -- SPEC ...`` for what is installed (``rpm``
  answers in 15 ms; ``dnf repoquery --installed`` would load the repositories again, 150 ms
  or more). Neither tool says which argument matched which package, so both print every
  package's provides and :func:`select_package` matches them to the specs here.
* ``simulate``/``check_install``: dnf's real solver through dnf's own command line, ``dnf
  install --assumeno``. DNF 4 refuses ``install`` to anyone but root even with ``--assumeno``
  (an EUID check, before it resolves anything), and sysnative must plan without root. So the
  command runs in dnf's own interpreter through :data:`RESOLVE_SHIM`, which lifts exactly that
  check and prints the resolved transaction (every package with its action, EVR, arch and
  provides) as tab-separated lines before dnf prints its own table and aborts on
  ``--assumeno``. That is the real transaction from the real option and configuration parsing
  (so ``--installroot``, ``--setopt``, ``--config`` all apply), where parsing dnf's table
  would break on wrapped long names and ``dnf repoquery --requires --resolve --recursive``
  does not solve at all: it lists every possible provider of every requirement, installed or
  not, and cannot see upgrades. The provides in the same output fill
  :attr:`ClosureItem.projects`, so no second call is needed. ``install_weak_deps=False``: the
  closure must be exactly what the install step installs, and weak dependencies are extras
  the user did not ask for; the install step passes the same setting.
* ``verify``: ONE ``rpm -q`` of every closure package: rpm's database is what the system has.
  A failing ``%post`` still leaves the package installed and dnf exits 0 ("Error in POSTIN
  scriptlet in rpm package ..."; rpm records no scriptlet outcome), so :meth:`install` also
  reads dnf's output for scriptlet errors.

DNF 5 (Fedora 41's ``dnf``) is a different, compiled program with another output and another
API; it is not supported yet. Where ``dnf`` is DNF 5, the provider uses DNF 4's ``dnf-3``/``dnf4``
command when it is installed and says so when it is not.

The text parsers are pure module-level functions so they can be tested on recorded output.
"""

from __future__ import annotations

import math
import os
import platform
import re
import shlex
import shutil
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

from sysnative.errors import (
    DpkgLocked,
    ProviderError,
    ProviderUnavailable,
    SystemStepError,
)
from sysnative.models import ClosureItem, SystemPackage
from sysnative.protocols import Privileges
from sysnative.providers.common import (
    checked_transaction,
    posix_lock_holder,
    privilege_error,
    process_name,
    root_or_sudo,
    transaction_differences,
)
from sysnative.providers.dnf.version import RpmVersion, compare_evr, rpm_to_pep440
from sysnative.runner import CommandNotFound, Completed, run

__all__ = [
    "INTERPRETER",
    "RESOLVE_SHIM",
    "DnfLocked",
    "DnfProvider",
    "LockHolder",
    "PackageState",
    "RpmPackage",
    "ScriptletFailure",
    "TransactionItem",
    "closure_differences",
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
    "validate_install_packages",
    "validate_options",
    "validate_package_names",
    "validate_specs",
    "validate_version",
]

#: Fedora's interpreter: the one its ``python3-*`` packages are built for.
INTERPRETER = "/usr/bin/python3"

#: An rpm package name: letters, digits and ``_ . + -``, not starting with ``-`` or ``.``.
PACKAGE_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")

#: A package name or a virtual provide such as ``python3dist(numpy)`` or ``python(abi)``.
#: No glob characters, brackets (``python3dist(foo[extra])``), commas, ``/`` (file provides)
#: or whitespace.
SPEC_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*(?:\([A-Za-z0-9_][A-Za-z0-9_.+-]*\))?$")

#: ``[epoch:]version-release``: rpm allows letters, digits and ``. _ + ~ ^`` in both parts.
_EVR_RE = re.compile(r"^(?:[0-9]+:)?[A-Za-z0-9_][A-Za-z0-9._+~^]*-[A-Za-z0-9_][A-Za-z0-9._+~^]*$")

_ARCH_RE = re.compile(r"^[A-Za-z0-9_]+$")

#: The settings every dnf call that resolves or installs gets: no weak dependencies (see the
#: module docstring), and ``strict`` so that dnf fails instead of silently leaving out a
#: package it cannot find or install (``strict=False`` in a dnf.conf would do that).
_TRANSACTION_SETTINGS = ("--setopt=install_weak_deps=False", "--setopt=strict=True")

#: Marker lines of the resolver shim and of the query formats below.
_PKG_MARK = "sysnative-pkg"
_TRANSACTION_MARK = "sysnative-dnf-transaction"
_ITEM_MARK = "sysnative-dnf-item"

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

#: Runs DNF 4's own command line (``dnf.cli.main.user_main``, what the ``dnf`` script runs)
#: with two changes, and only together with ``--assumeno``: the "has to be run with superuser
#: privileges" check is lifted (resolving changes nothing; dnf still aborts before the
#: transaction), and the resolved transaction is printed as tab-separated lines, one per
#: package: action, name, epoch, version, release, arch, repository, then every provide.
RESOLVE_SHIM = r"""
import sys
if "--assumeno" not in sys.argv[1:]:
    sys.stderr.write("sysnative: the resolver shim only runs with --assumeno\n")
    sys.exit(2)
try:
    import dnf.cli.cli as cli
    import dnf.cli.main as main
    import dnf.transaction as t
    ACTIONS = {
        t.PKG_INSTALL: "install", t.PKG_UPGRADE: "upgrade", t.PKG_DOWNGRADE: "downgrade",
        t.PKG_REINSTALL: "reinstall", t.PKG_REINSTALLED: "reinstalled",
        t.PKG_UPGRADED: "upgraded", t.PKG_DOWNGRADED: "downgraded",
        t.PKG_OBSOLETE: "obsolete", t.PKG_OBSOLETED: "obsoleted", t.PKG_REMOVE: "remove",
    }
    process_demands = cli.Cli._process_demands
    do_transaction = cli.BaseCli.do_transaction
except (ImportError, AttributeError) as exc:
    sys.stderr.write("sysnative: this dnf is not the DNF 4 sysnative knows: %s\n" % exc)
    sys.exit(3)

def resolve_only(self):
    sheet = self.demands
    sheet.__class__ = type("ResolveOnly", (type(sheet),), {"root_user": False})
    return process_demands(self)

def print_transaction(self, display=()):
    items = list(self.transaction or ())
    out = ["%s\t%d" % (MARK_T, len(items))]
    for tsi in items:
        p = tsi.pkg
        fields = [MARK_I, ACTIONS.get(tsi.action, "other-%s" % tsi.action), p.name,
                  str(p.epoch or 0), p.version, p.release, p.arch, p.reponame or ""]
        out.append("\t".join(fields + [str(r) for r in p.provides]))
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()
    return do_transaction(self, display)

cli.Cli._process_demands = resolve_only
cli.BaseCli.do_transaction = print_transaction
main.user_main(sys.argv[1:], exit_code=True)
""".replace("MARK_T", repr(_TRANSACTION_MARK)).replace("MARK_I", repr(_ITEM_MARK))

_UNAVAILABLE_MESSAGE = (
    "dnf was not found on this machine (missing: {missing}). sysnative --provider dnf needs "
    "Fedora or a relative (RHEL, CentOS Stream, AlmaLinux, Rocky Linux) with DNF 4 and rpm."
)
_UNAVAILABLE_HINT = (
    "Run sysnative on a Fedora-based system, choose the provider that matches this "
    "distribution, or install without --system-native to take everything from the index."
)
_DNF5_MESSAGE = (
    "This machine's dnf is DNF 5, which sysnative does not support yet, and DNF 4 (the "
    "`dnf-3` or `dnf4` command) is not installed."
)
_DNF5_HINT = (
    "Install DNF 4 next to DNF 5 (`dnf provides /usr/bin/dnf-3` names the package), or "
    "install without --system-native to take everything from the index."
)


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Pure parsers
# --------------------------------------------------------------------------------------------


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
        if line.startswith(_TRANSACTION_MARK + "\t"):
            count = _epoch(line.split("\t", 1)[1])
            items = []
            continue
        if not line.startswith(_ITEM_MARK + "\t"):
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
    out: list[str] = []
    following = False
    script: list[str] = []
    for raw in stdout.splitlines():
        line = raw.rstrip()
        if line.startswith(("error:", "warning:", "Error", "Failed", "No match for argument")):
            if line.startswith("error:"):
                out += script[-10:]
            script = []
            out.append(line)
            following = True
        elif (
            following and line.startswith(" ") and line.strip() and not _DNF_PROGRESS_RE.match(line)
        ):
            out.append(line)
        else:
            following = False
            if _DNF_PROGRESS_RE.match(line):
                script = []
            elif line.strip():
                script.append(line)
    out += [line.rstrip() for line in stderr.splitlines() if line.strip()]
    unique = list(dict.fromkeys(out))
    return tuple(unique[-limit:])


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def validate_specs(specs: Iterable[str]) -> tuple[str, ...]:
    """Package names or provides, de-duplicated in order; :class:`ProviderError` for any
    invalid one. Runs before any command, so a hostile or mistyped spec never reaches dnf."""
    out: list[str] = []
    for spec in specs:
        if not isinstance(spec, str) or not SPEC_RE.fullmatch(spec):
            raise ProviderError(
                f"{spec!r} is not a valid rpm package name or provide, so it was not passed "
                "to dnf.",
                "rpm names use letters, digits and '_', '.', '+', '-', and do not start with "
                "'-' or '.'; a provide is a name followed by one (parenthesised) name, as in "
                "python3dist(numpy). Check the mapping entry that produced this name.",
            )
        if spec not in out:
            out.append(spec)
    return tuple(out)


def validate_package_names(packages: Iterable[str]) -> tuple[str, ...]:
    """Real package names (no provides), de-duplicated in order; :class:`ProviderError` for any
    invalid one."""
    names: list[str] = []
    for name in packages:
        if not isinstance(name, str) or not PACKAGE_NAME_RE.fullmatch(name):
            raise ProviderError(
                f"{name!r} is not a valid rpm package name, so it was not passed to dnf.",
                "rpm package names use letters, digits and '_', '.', '+', '-', and do not start "
                "with '-' or '.'. The install step needs the real package name (python3-numpy), "
                "not a provide (python3dist(numpy)); check the plan that produced it.",
            )
        if name not in names:
            names.append(name)
    return tuple(names)


def validate_version(version: str) -> str:
    """``version`` unchanged when it is an rpm ``[epoch:]version-release``;
    :class:`ProviderError` otherwise.

    The version is glued to the name in dnf's argv (``name-1.2-3.fc40.noarch``), so one with
    whitespace, ``/``, glob or shell characters must never get there; the grammar excludes all.
    """
    if not isinstance(version, str) or not _EVR_RE.fullmatch(version):
        raise ProviderError(
            f"{version!r} is not a valid rpm version, so it was not passed to dnf.",
            "rpm versions look like [epoch:]version-release (`1:1.26.4-7.fc40`): letters, "
            "digits and '.', '_', '+', '~', '^' in each part, one '-' between them. Check the "
            "plan or lock file that produced this version.",
        )
    return version


def validate_install_packages(
    packages: Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    """The ``(name, version)`` pairs, checked and de-duplicated in order.

    :class:`ProviderError` for an invalid name or version, or for one name asked at two
    versions (dnf would try to install both).
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


def validate_options(options: Iterable[str]) -> tuple[str, ...]:
    """The extra dnf options, each an option (``--installroot=DIR``), never a word dnf would
    read as its command; :class:`ProviderError` otherwise."""
    out = []
    for option in options:
        if (
            not isinstance(option, str)
            or not option.startswith("-")
            or option == "--"
            or any(ch in option for ch in "\0\n\r")
        ):
            raise ProviderError(
                f"{option!r} is not a dnf option, so dnf was not run.",
                "Give dnf options (SYSNATIVE_DNF_OPTIONS) with their values attached, as in "
                "--installroot=/srv/fedora or --setopt=reposdir=/etc/yum.repos.d.",
            )
        out.append(option)
    return tuple(out)


def nevra(name: str, version: str, arch: str | None) -> str:
    """``name-[epoch:]version-release[.arch]``: the exact package for dnf's argv."""
    return f"{name}-{version}.{arch}" if arch else f"{name}-{version}"


def _same_version(a: str, b: str) -> bool:
    """``0:1.0-1`` and ``1.0-1`` are the same version."""
    try:
        return str(RpmVersion.parse(a)) == str(RpmVersion.parse(b))
    except ValueError:
        return a == b


def closure_differences(
    planned: Sequence[ClosureItem], simulated: Sequence[ClosureItem]
) -> tuple[str, ...]:
    """How dnf's simulated transaction differs from the plan's, one line per package.

    Compared by name and version, each version read as rpm reads it; ``()`` when they are
    the same set.
    """
    return transaction_differences(planned, simulated, "dnf", _rpm_spelling)


def _rpm_spelling(version: str) -> str:
    try:
        return str(RpmVersion.parse(version))
    except ValueError:
        return version


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# The provider
# --------------------------------------------------------------------------------------------


class DnfLocked(DpkgLocked):
    """Another package manager held dnf's or rpm's lock for longer than sysnative waits.

    A :class:`~sysnative.errors.DpkgLocked` so that callers handling "the system's package
    manager is busy" handle it too; ``lock``, ``pid`` and ``process`` mean the same.
    """


@dataclass(frozen=True)
class _DnfCommand:
    """DNF 4 found on ``PATH``: the command name and the interpreter its script runs on."""

    name: str
    interpreter: str


def _python_shebang(path: str, search: str | None) -> str | None:
    """The Python interpreter a script's ``#!`` line names (through ``env`` too), or
    ``None`` for anything else (DNF 5 is a compiled program)."""
    try:
        with open(path, "rb") as f:
            first = f.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    try:
        words = shlex.split(first[2:].decode("utf-8", "replace"))
    except ValueError:
        return None
    if words and os.path.basename(words[0]) == "env":
        words = [w for w in words[1:] if not w.startswith("-")]
        found = shutil.which(words[0], path=search) if words else None
        words = [found] if found else []
    if not words or "python" not in os.path.basename(words[0]):
        return None
    return words[0] if os.path.isfile(words[0]) else None


def _find_dnf(env: Mapping[str, str] | None) -> tuple[_DnfCommand | None, bool]:
    """DNF 4 on ``PATH``, and whether a ``dnf`` that is not DNF 4 (DNF 5) is there."""
    search = env.get("PATH") if env else None
    other = False
    for name in ("dnf", "dnf-3", "dnf4"):
        exe = shutil.which(name, path=search)
        if exe is None:
            continue
        interpreter = _python_shebang(exe, search)
        if interpreter is not None:
            return _DnfCommand(name, interpreter), other
        other = True
    return None, other


def _missing_tools(env: Mapping[str, str] | None) -> tuple[str, ...]:
    search = env.get("PATH") if env else None
    missing = []
    dnf, _ = _find_dnf(env)
    if dnf is None:
        missing.append("dnf")
    if shutil.which("rpm", path=search) is None:
        missing.append("rpm")
    return tuple(missing)


class DnfProvider:
    """:class:`sysnative.protocols.Provider` for dnf-based systems."""

    name = "dnf"
    ecosystem = "fedora"

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        cache_dir: Path | None = None,
        options: Sequence[str] = (),
    ) -> None:
        #: Extra environment for every command.
        self._env: dict[str, str] = dict(env) if env else {}
        #: Unused for now: dnf keeps its own metadata cache, and no answer is cached here.
        self._cache_dir = cache_dir
        #: Extra dnf arguments placed before the subcommand of every dnf call.
        self._options = validate_options(options)
        self._installroot = _option_value(self._options, "--installroot")
        #: Architectures learnt from simulate/query, for exact NEVRAs in install_command.
        self._archs: dict[tuple[str, str], str] = {}
        self._python_version: str | None = None
        #: Guards the lazily probed values above: planning may query from two threads.
        self._lock = threading.Lock()

    # -- availability -------------------------------------------------------------------

    @staticmethod
    def available(env: Mapping[str, str] | None = None) -> bool:
        """Whether DNF 4 and rpm are on ``PATH`` (``env``'s, if given)."""
        return not _missing_tools(env)

    def _dnf(self) -> _DnfCommand:
        """DNF 4, or :class:`ProviderUnavailable` saying what is missing."""
        dnf, other = _find_dnf(self._env)
        missing = _missing_tools(self._env)
        if dnf is None and other:
            raise ProviderUnavailable(_DNF5_MESSAGE, _DNF5_HINT)
        if dnf is None or missing:
            raise ProviderUnavailable(
                _UNAVAILABLE_MESSAGE.format(missing=", ".join(missing)), _UNAVAILABLE_HINT
            )
        return dnf

    def _run(self, argv: Sequence[str]) -> Completed:
        try:
            return run(argv, env=self._env or None)
        except CommandNotFound as exc:
            raise ProviderUnavailable(
                _UNAVAILABLE_MESSAGE.format(missing=exc.program), _UNAVAILABLE_HINT
            ) from exc

    def _rpm_root(self) -> tuple[str, ...]:
        return ("--root", self._installroot) if self._installroot else ()

    def _resolve_argv(self, dnf: _DnfCommand, specs: Sequence[str]) -> list[str]:
        """``dnf install --assumeno`` through :data:`RESOLVE_SHIM` (module docstring)."""
        return [
            dnf.interpreter, "-I", "-c", RESOLVE_SHIM,
            *self._options, "install", "--assumeno", *_TRANSACTION_SETTINGS, "--", *specs,
        ]  # fmt: skip

    # -- Provider protocol ------------------------------------------------------------------

    def query(self, packages: Sequence[str]) -> dict[str, SystemPackage]:
        """Installed and candidate versions for package names and provides, from ONE
        ``dnf repoquery`` and ONE ``rpm -q`` call, keyed by the spec asked.

        :func:`select_package` explains which package answers a provide. Specs nothing
        provides are absent.
        """
        specs = validate_specs(packages)
        if not specs:
            return {}
        dnf = self._dnf()
        result = self._run(
            [
                dnf.name, *self._options, "repoquery", "--quiet", "--latest-limit=1",
                f"--queryformat={REPOQUERY_FORMAT}",
                *(f"--whatprovides={spec}" for spec in specs), "--",
            ]
        )  # fmt: skip
        if not result.ok:
            raise ProviderError(
                "dnf could not report available packages: " + result.describe(),
                "Check the repository configuration (`dnf repolist`); dnf's own message is above.",
            )
        available = parse_package_list(result.stdout)
        installed = self._installed_providing(specs)
        native = self._native_arch()
        found = {}
        for spec in specs:
            answer = select_package(spec, available, installed, native_arch=native)
            if answer is not None:
                found[spec] = answer
                if answer.candidate and answer.architecture:
                    self._remember_arch(answer.name, answer.candidate, answer.architecture)
        return found

    def _installed_providing(self, specs: Sequence[str]) -> tuple[RpmPackage, ...]:
        """ONE ``rpm -q --whatprovides`` call. rpm exits with the number of specs nothing
        provides, so only its ``error:`` lines mean failure."""
        result = self._run(
            ["rpm", *self._rpm_root(), "-q", "--qf", RPM_FORMAT, "--whatprovides", "--", *specs]
        )
        _check_rpm(result)
        return parse_package_list(result.stdout)

    def _native_arch(self) -> str | None:
        forced = _option_value(self._options, "--forcearch")
        return forced or platform.machine() or None

    def _remember_arch(self, name: str, version: str, arch: str) -> None:
        with self._lock:
            self._archs[(name, str(RpmVersion.parse(version)))] = arch

    def simulate(self, packages: Sequence[str]) -> tuple[ClosureItem, ...]:
        """What ``dnf install`` would install or upgrade, from dnf's solver, changing nothing
        and without root (see the module docstring for how).

        Packages already installed at the version dnf would pick are not listed. A transaction
        that would remove packages (an ``Obsoletes``) is refused: sysnative must not take away
        what the system already has.
        """
        specs = validate_specs(packages)
        if not specs:
            return ()
        closure, removals = self._resolve(specs)
        if removals:
            raise ProviderError(
                f"Installing {', '.join(specs)} with dnf would remove {', '.join(removals)}.",
                "sysnative does not remove system packages. Resolve the conflict with dnf "
                "yourself, or take these projects from the index instead.",
            )
        return closure

    def _resolve(self, specs: Sequence[str]) -> tuple[tuple[ClosureItem, ...], tuple[str, ...]]:
        dnf = self._dnf()
        result = self._run(self._resolve_argv(dnf, specs))
        items = parse_transaction(result.stdout)
        if items is None or result.returncode not in (0, 1):
            raise _simulation_error(dnf.name, specs, result)
        closure, removals = closure_from_transaction(items)
        for item in closure:
            if item.architecture:
                self._remember_arch(item.name, item.version, item.architecture)
        return closure, removals

    def to_pep440(self, distro_version: str) -> Version | None:
        return rpm_to_pep440(distro_version)

    def site_dirs(self) -> tuple[str, ...]:
        """Fedora's two site directories for the system Python 3.X (pure-Python packages in
        ``/usr/lib``, compiled ones in ``/usr/lib64``), under the install root if one is set.

        X comes from :meth:`python_version`.
        """
        version = self.python_version()
        return tuple(
            self._rooted(f"/usr/{lib}/python{version}/site-packages") for lib in ("lib", "lib64")
        )

    def interpreter(self) -> str:
        """Fedora's ``python3`` (under the install root if one is set): the one its
        ``python3-*`` packages are built for."""
        return self._rooted(INTERPRETER)

    def _rooted(self, path: str) -> str:
        return os.path.join(self._installroot, path.lstrip("/")) if self._installroot else path

    def python_version(self) -> str:
        """The system Python's ``3.X``, asked once per provider.

        From the interpreter itself when there is no install root (the interpreter is the
        truth); otherwise, or when it cannot be run, from the ``python(abi) = 3.X`` provide of
        the installed ``python3-libs``, then of the one dnf would install. :class:`ProviderError`
        when none of them answers.
        """
        with self._lock:
            if self._python_version is None:
                self._python_version = self._probe_python_version()
            return self._python_version

    def _probe_python_version(self) -> str:
        if not self._installroot and os.path.isfile(INTERPRETER):
            try:
                result = run(
                    [INTERPRETER, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                    env=self._env or None,
                    timeout=60,
                )
            except CommandNotFound:
                result = None
            if result is not None and result.ok and re.fullmatch(r"3\.\d+", result.stdout.strip()):
                return result.stdout.strip()
        spec = "python(abi)"
        installed = self._run(
            ["rpm", *self._rpm_root(), "-q", "--qf", RPM_PROVIDES_FORMAT, "--whatprovides",
             "--", spec]
        )  # fmt: skip
        version = python_abi(parse_package_list(installed.stdout))
        if version is None:
            dnf = self._dnf()
            available = self._run(
                [dnf.name, *self._options, "repoquery", "--quiet", "--latest-limit=1",
                 f"--queryformat={REPOQUERY_FORMAT}", f"--whatprovides={spec}", "--"]
            )  # fmt: skip
            version = python_abi(parse_package_list(available.stdout)) if available.ok else None
        if version is None:
            where = f" in {self._installroot}" if self._installroot else ""
            raise ProviderError(
                f"Cannot tell which Python 3 version the system's packages are for{where}: "
                "no python3 to ask, and neither rpm nor dnf knows a package providing "
                "python(abi).",
                "Install python3 (dnf install python3), or check the dnf options and "
                "repositories sysnative uses.",
            )
        return version

    def prepare(self) -> bool:
        """Load dnf's repository metadata now (``dnf makecache``), so the first query does not
        wait for it. Always True: no answer is cached, so guessing ahead is never wasted."""
        dnf, _ = _find_dnf(self._env)
        if dnf is None:
            return False
        try:
            self._run([dnf.name, *self._options, "makecache", "--quiet"])
        except ProviderUnavailable:
            return False
        return True

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
        closure: Sequence[ClosureItem] = (),
    ) -> list[str]:
        """``[sudo -n] dnf [options] install -y ... -- NEVRA ...``.

        One transaction of exact packages (``name-[epoch:]version-release.arch``; the arch
        comes from ``closure`` or from what this provider simulated or queried, and is left
        out when neither knows it, which still pins the version). ``-y`` so nothing stops for
        a question; ``install_weak_deps=False`` and ``strict=True`` match the simulation the
        plan came from;
        ``exit_on_lock=True`` makes dnf stop at once instead of waiting without end when
        another dnf holds its lock (:meth:`install` waits ``lock_timeout`` itself). No
        ``--allowerasing``: dnf refuses a transaction that would remove packages.
        """
        pairs = validate_install_packages(packages)
        dnf = self._dnf_name()
        archs = {(c.name, _canonical(c.version)): c.architecture for c in closure}
        with self._lock:
            learnt = dict(self._archs)
        specs = []
        for name, version in pairs:
            key = (name, _canonical(version))
            arch = archs.get(key) or learnt.get(key)
            specs.append(nevra(name, version, arch if arch and _ARCH_RE.fullmatch(arch) else None))
        return [
            *(privileges.prefix if privileges.ok else ()),
            dnf,
            *self._options,
            "install",
            "-y",
            *_TRANSACTION_SETTINGS,
            "--setopt=exit_on_lock=True",
            "--",
            *specs,
        ]

    def _dnf_name(self) -> str:
        """The DNF 4 command name for printed commands (``dnf`` when it is not installed,
        so a message can still show the command)."""
        dnf, _ = _find_dnf(self._env)
        return dnf.name if dnf is not None else "dnf"

    def check_install(
        self, packages: Sequence[tuple[str, str]], closure: Sequence[ClosureItem]
    ) -> None:
        """Simulate the exact transaction (the NEVRAs) and compare it with the plan.

        Runs before any change. :class:`ProviderError` when dnf cannot install these exact
        versions (quoting dnf), would remove something, or would install a different set of
        packages or versions than ``closure`` (the repositories or the system changed since
        the plan was made).
        """
        pairs = _checked_transaction(packages, closure)
        if not pairs:
            return
        archs = {(c.name, _canonical(c.version)): c.architecture for c in closure}
        specs = [nevra(n, v, archs.get((n, _canonical(v)))) for n, v in pairs]
        simulated, removals = self._resolve(specs)
        if removals:
            raise ProviderError(
                f"Installing {', '.join(specs)} with dnf would now remove {', '.join(removals)}.",
                "sysnative does not remove system packages. Resolve the conflict with dnf "
                "yourself, or take these projects from the index instead.",
            )
        differences = closure_differences(closure, simulated)
        if differences:
            raise ProviderError(
                "dnf would now install something other than the plan:\n"
                + "\n".join("    " + line for line in differences),
                "The repositories or the installed packages changed since the plan was made "
                "(a repository update, or another install). Nothing was changed; make the plan "
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
        """Run :meth:`install_command`, then confirm with rpm that the plan is installed.

        dnf's exit status alone is not trusted: rpm is asked about every package of the
        transaction (and every requested one) whatever dnf said, and dnf's output is read for
        failed scriptlets, because a failing ``%post`` leaves its package installed and dnf
        exits 0. Call :meth:`check_install` first; ``packages`` are the requested packages
        not installed yet.

        When another dnf or rpm holds the lock, nothing was changed: the command is tried
        again every second for ``lock_timeout`` seconds, then :class:`DnfLocked`. dnf's output
        is captured and quoted in errors; with ``quiet=False`` it is also copied to stderr as it
        comes. The command gets an empty stdin.
        """
        pairs = _checked_transaction(packages, closure)
        if not pairs:
            return
        argv = self.install_command(pairs, privileges, lock_timeout=lock_timeout, closure=closure)
        self._dnf()
        if not privileges.ok:
            raise privilege_error(privileges.why, argv)
        deadline = time.monotonic() + max(0.0, lock_timeout)
        while True:
            try:
                # No timeout: a large transaction may run for many minutes.
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
            held = parse_lock_error(said) if not result.ok else None
            if held is None:
                break
            if time.monotonic() >= deadline:
                raise self._lock_error(held, lock_timeout)
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        if not result.ok and "has to be run with superuser privileges" in said:
            raise privilege_error("dnf refused to run without root", argv)
        planned = {item.name for item in closure}
        targets = (*closure, *(ClosureItem(n, v) for n, v in pairs if n not in planned))
        failures = parse_scriptlet_failures(said)
        states = self._package_states(targets, failures)
        if result.ok and all(state.ok for state in states):
            return
        raise self._step_error(result, states, privileges)

    def recovery(self) -> tuple[str, tuple[str, ...]]:
        """See :meth:`sysnative.protocols.Provider.recovery`."""
        return (
            "`dnf check` lists the broken dependencies and duplicate packages an interrupted "
            "rpm transaction can leave.",
            (),
        )

    def verify(self, closure: Sequence[ClosureItem]) -> tuple[str, ...]:
        """One line per package rpm does not record at the planned version (or that still has
        the version an upgrade replaced); ``()`` when every one is as planned.

        rpm records no scriptlet outcome, so a package whose ``%post`` failed reads as
        installed here; :meth:`install` reports those from dnf's output.
        """
        _validate_closure(closure)
        return tuple(state.describe() for state in self._package_states(closure) if not state.ok)

    def _package_states(
        self, closure: Sequence[ClosureItem], failures: Sequence[ScriptletFailure] = ()
    ) -> tuple[PackageState, ...]:
        """rpm's record of every package in ``closure``, from ONE ``rpm -q`` call."""
        names = validate_package_names(item.name for item in closure)
        if not names:
            return ()
        self._dnf()
        result = self._run(["rpm", *self._rpm_root(), "-q", "--qf", RPM_STATE_FORMAT, "--", *names])
        _check_rpm(result)
        return package_states(closure, result.stdout, failures)

    def _dnf_prefix(self, privileges: Privileges) -> list[str]:
        """``[sudo] dnf [options]`` for the commands an error hands to the user."""
        user_prefix = ["sudo"] if privileges.ok and privileges.prefix else []
        return [*user_prefix, self._dnf_name(), *self._options]

    def _step_error(
        self, result: Completed, states: Sequence[PackageState], privileges: Privileges
    ) -> SystemStepError:
        """Describe a transaction that did not end as planned: what dnf said, what rpm records
        now, and how to finish or undo it."""
        state = tuple(s.describe() for s in states)
        prefix = self._dnf_prefix(privileges)
        # What this run put there: the planned packages rpm now records (new ones, and
        # upgrades whose old version is gone).
        new = [
            nevra(s.item.name, s.item.version, s.item.architecture)
            for s in states
            if s.item.replaces is None and s.present
        ]
        downgrade = [
            nevra(s.item.name, s.item.replaces, s.item.architecture)
            for s in states
            if s.item.replaces and s.present and not s.stale
        ]
        undo: list[str] = []
        if new:
            undo.append(shlex.join([*prefix, "remove", "--", *new]))
        if downgrade:
            undo.append(shlex.join([*prefix, "downgrade", "--", *downgrade]))
        rerun = [
            nevra(s.item.name, s.item.version, s.item.architecture)
            for s in states
            if s.present and s.failed_scriptlets
        ]
        retry = (shlex.join([*prefix, "reinstall", "--", *rerun]),) if rerun else ()

        if result.ok:
            head = (
                "dnf reported success, but the transaction did not end as planned: rpm does "
                "not record every package at the planned version, or a scriptlet failed."
            )
        else:
            head = f"The dnf transaction failed (dnf exited with status {result.returncode})."
        parts = [head]
        quoted = relevant_dnf_lines(result.stdout, result.stderr)
        if quoted:
            parts.append("dnf said:\n" + "\n".join("    " + line for line in quoted))
        parts.append("rpm now records:\n" + "\n".join("    " + line for line in state))
        hints = []
        if retry:
            hints.append(
                "To run the failed scriptlets again once their cause is fixed, run: " + retry[0]
            )
        if undo:
            hints.append("To undo what this run installed, run: " + " && ".join(undo))
        if not (new or downgrade):
            hints.append("Nothing was installed. Fix what dnf reports above and try again.")
        return SystemStepError(
            "\n".join(parts),
            "\n".join(hints),
            state=state,
            undo=tuple(undo),
            retry=retry,
        )

    def _lock_path(self, held: LockHolder) -> str:
        """The file behind dnf's named locks (dnf prints only ``RPMDB``, ``metadata``...)."""
        if held.kind == "rpm":
            return held.lock
        persistdir = _setopt_value(self._options, "persistdir") or "/var/lib/dnf"
        cachedir = _setopt_value(self._options, "cachedir") or "/var/cache/dnf"
        logdir = _setopt_value(self._options, "logdir") or "/var/log"
        where = {
            "RPMDB": os.path.join(persistdir, "rpmdb_lock.pid"),
            "metadata": os.path.join(cachedir, "metadata_lock.pid"),
            "cachedir": os.path.join(cachedir, "download_lock.pid"),
            "log": os.path.join(logdir, "log_lock.pid"),
        }.get(held.lock)
        return self._rooted(where) if where else held.lock

    def _lock_error(self, held: LockHolder, lock_timeout: float) -> DnfLocked:
        """A held lock: which lock, who holds it (when known), what to do."""
        lock = self._lock_path(held)
        pid = held.pid if held.pid is not None else posix_lock_holder(lock)
        process = held.process or (process_name(pid) if pid is not None else None)
        who = (
            f"process {pid}" + (f" ({process})" if process else "")
            if pid is not None
            else "another process"
        )
        what = "rpm's transaction lock" if held.kind == "rpm" else f"dnf's {held.lock} lock"
        waited = max(0, math.ceil(lock_timeout))
        find = (
            f"`ps -fp {pid}` shows what it is"
            if pid is not None
            else f"`fuser -v {lock}` shows who holds it"
        )
        return DnfLocked(
            f"{what} {lock} is held by {who}, and it was not released within {waited} "
            "seconds. Nothing was changed.",
            "Another package manager is running: dnf, rpm, PackageKit (GNOME Software) or "
            f"dnf-automatic. {find[0].upper() + find[1:]}. Wait for it to finish and run "
            "sysnative again; do not delete the lock file.",
            lock=lock,
            pid=pid,
            process=process,
        )


def _canonical(version: str) -> str:
    try:
        return str(RpmVersion.parse(version))
    except ValueError:
        return version


def _option_value(options: Sequence[str], name: str) -> str:
    """The value of ``--name=VALUE`` among ``options`` (the last one wins, as in dnf)."""
    value = ""
    for option in options:
        if option.startswith(name + "="):
            value = option[len(name) + 1 :]
    return value


def _setopt_value(options: Sequence[str], key: str) -> str:
    value = ""
    for option in options:
        if option.startswith(f"--setopt={key}="):
            value = option[len(f"--setopt={key}=") :]
    return value


def _check_rpm(result: Completed) -> None:
    """rpm's exit status counts the names it found nothing for; its ``error:`` lines are
    the real failures (an unreadable database)."""
    if not result.ok and "error:" in result.stderr:
        raise ProviderError(
            "rpm could not report installed packages: " + result.describe(),
            "Check that the rpm database is readable (`rpm -qa`; `rpm --rebuilddb` as root "
            "repairs a damaged one).",
        )


def _simulation_error(command: str, specs: Sequence[str], result: Completed) -> ProviderError:
    """Turn a failed resolution into a message that quotes dnf."""
    detail = list(parse_dnf_problems(result.stdout, result.stderr))
    if not detail:
        tail = (result.stderr + "\n" + result.stdout).strip().splitlines()[-5:]
        detail = [line.strip() for line in tail if line.strip()]
    quoted = "\n".join("    " + line for line in detail)
    message = (
        f"dnf cannot install {', '.join(specs)} "
        f"(`{command} install --assumeno` exited with status {result.returncode}):\n{quoted}"
    )
    said = result.stdout + "\n" + result.stderr
    shown = f"`{command} install --assumeno {' '.join(shlex.quote(s) for s in specs)}`"
    if "No match for argument" in said or "Unable to find a match" in said:
        hint = (
            "The package is not in the enabled repositories. Check the name in the mapping, "
            "or refresh the metadata with `dnf makecache --refresh` and try again."
        )
    elif "Problem" in said:
        hint = (
            "dnf cannot satisfy the dependencies of these packages on this system. Run "
            f"{shown} to see dnf's full explanation, or take these projects from the index "
            "instead."
        )
    else:
        hint = f"Run {shown} to see dnf's full explanation."
    return ProviderError(message, hint)


def _validate_closure(closure: Sequence[ClosureItem]) -> None:
    """The closure's names, versions and archs go into rpm and dnf argvs: check them."""
    validate_package_names(item.name for item in closure)
    for item in closure:
        validate_version(item.version)
        if item.replaces is not None:
            validate_version(item.replaces)
        if item.architecture is not None and not _ARCH_RE.fullmatch(item.architecture):
            raise ProviderError(
                f"{item.architecture!r} is not a valid rpm architecture, so it was not passed "
                "to dnf.",
                "The plan is inconsistent; make it again.",
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
