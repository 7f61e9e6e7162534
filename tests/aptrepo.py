"""A real, tiny apt repository and an isolated apt configuration, built at test time.

Tests of the apt provider should talk to the real ``apt-cache``/``apt-get``/``dpkg-query``
(their output formats are the contract), but must never depend on or change the machine's apt
state. :class:`LocalAptRepo` therefore builds ``.deb`` files with ``dpkg-deb``, indexes them
with ``dpkg-scanpackages`` into a flat repository, and writes an ``apt.conf`` whose every
``Dir::`` setting points under the test's temporary directory, including a fake dpkg status
file the test controls with :meth:`LocalAptRepo.mark_installed`. Passing :attr:`LocalAptRepo.env`
to a command (``APT_CONFIG`` for apt, ``DPKG_ADMINDIR`` for dpkg) makes it see only this world.

The same configuration makes real installs land in it: ``DPkg::Options`` gives the dpkg that
apt runs a private admin directory (the status file above, dpkg's locks), a private install
root (:attr:`LocalAptRepo.inst_dir`, where package files are unpacked), a private log, and
``--force-script-chrootless`` (maintainer scripts run unchrooted with ``DPKG_ROOT`` set, so
test packages keep their scripts harmless). :class:`HostWatch` lets a test prove that none of
the world's packages reached the machine's own dpkg (its status file and logs, and its root
directory), whatever else the machine's apt and dpkg do meanwhile.

Use the fixture by re-exporting it from a test module::

    from aptrepo import local_apt_repo  # noqa: F401
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = [
    "HostDpkg",
    "HostWatch",
    "LocalAptRepo",
    "assert_unchanged",
    "build_deb",
    "describe_changes",
    "local_apt_repo",
    "missing_tools",
    "status_entries",
]

REQUIRED_TOOLS = ("dpkg-deb", "dpkg-scanpackages", "apt-get", "apt-cache", "dpkg-query")


def missing_tools() -> tuple[str, ...]:
    """The tools this helper needs that are not on ``PATH``."""
    return tuple(t for t in REQUIRED_TOOLS if shutil.which(t) is None)


def _run(
    argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> str:
    full_env = dict(os.environ)
    full_env.update({"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"})
    if env:
        full_env.update(env)
    proc = subprocess.run(
        list(argv), cwd=cwd, env=full_env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited with {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc.stdout


def _upstream_filename_version(version: str) -> str:
    """Debian file names drop the epoch (``1:2.0-1`` → ``2.0-1``)."""
    return version.split(":", 1)[1] if ":" in version else version


def build_deb(
    dest: Path,
    name: str,
    version: str,
    *,
    depends: Sequence[str] = (),
    architecture: str = "all",
    files: Mapping[str, str] | None = None,
    postinst: str | None = None,
    conflicts: Sequence[str] = (),
    provides: Sequence[str] = (),
) -> Path:
    """Build ``name_version_arch.deb`` in ``dest`` and return its path.

    ``files`` maps paths inside the package (``usr/lib/python3/dist-packages/foo/__init__.py``)
    to their text. Packages are built uncompressed (``-Znone``) because they are tiny and the
    test suite builds many of them.
    """
    dest.mkdir(parents=True, exist_ok=True)
    fname_version = _upstream_filename_version(version)
    staging = dest / f".build-{name}-{fname_version}"
    if staging.exists():
        shutil.rmtree(staging)
    debian = staging / "DEBIAN"
    debian.mkdir(parents=True)
    control = [
        f"Package: {name}",
        f"Version: {version}",
        f"Architecture: {architecture}",
        "Maintainer: sysnative tests <tests@example.invalid>",
        "Section: python",
        "Priority: optional",
    ]
    if depends:
        control.append("Depends: " + ", ".join(depends))
    if conflicts:
        control.append("Conflicts: " + ", ".join(conflicts))
    if provides:
        control.append("Provides: " + ", ".join(provides))
    control.append(f"Description: {name} built by the sysnative test suite")
    (debian / "control").write_text("\n".join(control) + "\n", encoding="utf-8")
    if postinst is not None:
        script = debian / "postinst"
        script.write_text(postinst, encoding="utf-8")
        script.chmod(0o755)
    for rel, content in (files or {}).items():
        target = staging / rel.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    deb = dest / f"{name}_{fname_version}_{architecture}.deb"
    _run(["dpkg-deb", "--build", "--root-owner-group", "-Znone", str(staging), str(deb)])
    shutil.rmtree(staging)
    return deb


@dataclass(frozen=True)
class _Installed:
    name: str
    version: str
    architecture: str
    depends: tuple[str, ...]
    held: bool = False


class LocalAptRepo:
    """A flat apt repository plus an apt/dpkg world that exists only under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo_dir = root / "repo"
        self.etc_dir = root / "etc"
        self.state_dir = root / "state"
        self.cache_dir = root / "cache"
        #: dpkg's admin directory: the fake ``status`` file and dpkg's locks live here.
        self.dpkg_dir = root / "dpkg"
        #: dpkg's install root: real installs unpack package files under it.
        self.inst_dir = root / "inst"
        #: dpkg's log of real installs (dpkg's default log is the machine's).
        self.dpkg_log = root / "log" / "dpkg.log"
        self.config_path = self.etc_dir / "apt.conf"
        self._installed: dict[str, _Installed] = {}
        #: Every package built into the repository: name -> the files its versions install.
        self._packages: dict[str, set[str]] = {}
        for d in (
            self.repo_dir,
            self.etc_dir / "apt.conf.d",
            self.etc_dir / "sources.list.d",
            self.etc_dir / "preferences.d",
            self.etc_dir / "trusted.gpg.d",
            self.state_dir / "lists" / "partial",
            self.cache_dir / "archives" / "partial",
            self.dpkg_dir / "updates",
            self.dpkg_dir / "info",
            self.inst_dir,
            root / "log",
        ):
            d.mkdir(parents=True, exist_ok=True)
        (self.etc_dir / "main.conf").write_text("", encoding="utf-8")
        (self.dpkg_dir / "status").write_text("", encoding="utf-8")
        (self.dpkg_dir / "available").write_text("", encoding="utf-8")
        (self.etc_dir / "sources.list").write_text(
            f"deb [trusted=yes] file:{self.repo_dir} ./\n", encoding="utf-8"
        )
        self.config_path.write_text(self._apt_conf(), encoding="utf-8")

    def _apt_conf(self) -> str:
        settings = {
            "Dir::State": self.state_dir,
            "Dir::State::lists": self.state_dir / "lists",
            "Dir::State::status": self.dpkg_dir / "status",
            "Dir::State::extended_states": self.state_dir / "extended_states",
            "Dir::Cache": self.cache_dir,
            "Dir::Cache::archives": self.cache_dir / "archives",
            # No binary caches: the status file changes between commands and the repository
            # is tiny, so parsing from scratch is both correct and fast.
            "Dir::Cache::pkgcache": "",
            "Dir::Cache::srcpkgcache": "",
            "Dir::Etc": self.etc_dir,
            "Dir::Etc::main": self.etc_dir / "main.conf",
            "Dir::Etc::Parts": self.etc_dir / "apt.conf.d",
            "Dir::Etc::SourceList": self.etc_dir / "sources.list",
            "Dir::Etc::SourceParts": self.etc_dir / "sources.list.d",
            "Dir::Etc::Preferences": self.etc_dir / "preferences",
            "Dir::Etc::PreferencesParts": self.etc_dir / "preferences.d",
            "Dir::Etc::Trusted": self.etc_dir / "trusted.gpg",
            "Dir::Etc::TrustedParts": self.etc_dir / "trusted.gpg.d",
            "Dir::Log": self.root / "log",
            "APT::Get::List-Cleanup": "false",
            "Acquire::Languages": "none",
            # As root, apt fetches as the ``_apt`` user, which cannot read a private tmp dir.
            "APT::Sandbox::User": getpass.getuser(),
            "Debug::pkgProblemResolver": "false",
            "Debug::NoLocking": "false",
        }
        # The dpkg that apt runs for real installs: its database, files, log and lock all
        # under ``root``. apt takes its own locks (``lock-frontend``, ``lock``) in the
        # directory of Dir::State::status, which is the same admin directory.
        dpkg_options = (
            f"--admindir={self.dpkg_dir}",
            f"--instdir={self.inst_dir}",
            f"--log={self.dpkg_log}",
            "--force-script-chrootless",
        )
        return "".join(f'{key} "{value}";\n' for key, value in settings.items()) + (
            "DPkg::Options {" + "".join(f' "{o}";' for o in dpkg_options) + " };\n"
        )

    @property
    def env(self) -> dict[str, str]:
        """Environment for commands that must see only this world."""
        return {"APT_CONFIG": str(self.config_path), "DPKG_ADMINDIR": str(self.dpkg_dir)}

    def add(
        self,
        name: str,
        version: str,
        *,
        depends: Sequence[str] = (),
        architecture: str = "all",
        files: Mapping[str, str] | None = None,
        postinst: str | None = None,
        conflicts: Sequence[str] = (),
        provides: Sequence[str] = (),
    ) -> Path:
        """Build a package into the repository (visible after :meth:`publish`)."""
        self._packages.setdefault(name, set()).update(rel.lstrip("/") for rel in (files or {}))
        return build_deb(
            self.repo_dir,
            name,
            version,
            depends=depends,
            architecture=architecture,
            files=files,
            postinst=postinst,
            conflicts=conflicts,
            provides=provides,
        )

    def publish(self) -> None:
        """Index the repository and run ``apt-get update`` in the isolated configuration."""
        packages = _run(["dpkg-scanpackages", "--multiversion", "."], cwd=self.repo_dir)
        (self.repo_dir / "Packages").write_text(packages, encoding="utf-8")
        _run(["apt-get", "update", "-q"], env=self.env)

    def mark_installed(
        self,
        name: str,
        version: str,
        architecture: str = "all",
        *,
        depends: Sequence[str] = (),
        held: bool = False,
    ) -> None:
        """Record ``name`` as installed in the fake dpkg status file (replacing any entry);
        ``held``: on hold (``apt-mark hold``), which apt must not change.

        The file is rewritten from what this method recorded, so a test mixing it with real
        installs must call it before installing.
        """
        self._installed[name] = _Installed(name, version, architecture, tuple(depends), held)
        stanzas = []
        for pkg in self._installed.values():
            lines = [
                f"Package: {pkg.name}",
                f"Status: {'hold' if pkg.held else 'install'} ok installed",
                "Priority: optional",
                "Maintainer: sysnative tests <tests@example.invalid>",
                f"Architecture: {pkg.architecture}",
                f"Version: {pkg.version}",
            ]
            if pkg.depends:
                lines.append("Depends: " + ", ".join(pkg.depends))
            lines.append(f"Description: {pkg.name} (installed)")
            stanzas.append("\n".join(lines) + "\n")
        (self.dpkg_dir / "status").write_text("\n".join(stanzas), encoding="utf-8")

    def configure(self, name: str, text: str) -> None:
        """Add an apt configuration fragment (``apt.conf.d/NAME``) to this world only."""
        (self.etc_dir / "apt.conf.d" / name).write_text(text, encoding="utf-8")

    def status_text(self) -> str:
        """The isolated dpkg status file, as dpkg left it."""
        return (self.dpkg_dir / "status").read_text(encoding="utf-8")

    def status(self) -> dict[str, tuple[str, ...]]:
        """The isolated dpkg status file as :func:`status_entries` (compare these, not the
        text: a difference is then shown as the few entries that differ)."""
        return status_entries(self.status_text())

    def package_names(self) -> frozenset[str]:
        """Every package this world knows: built into its repository or marked installed."""
        return frozenset(self._packages) | frozenset(self._installed)

    def package_files(self) -> frozenset[str]:
        """The files (relative to a root) the repository's packages install."""
        return frozenset(f for files in self._packages.values() for f in files)

    def run_apt(self, argv: Sequence[str], *, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Run a command as a user would, in this world (for undo commands a test replays)."""
        full_env = dict(os.environ)
        full_env.update({"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", **self.env})
        return subprocess.run(
            list(argv), env=full_env, input=stdin, capture_output=True, text=True, check=False
        )

    @contextlib.contextmanager
    def hold_dpkg_lock(self, name: str = "lock-frontend") -> Iterator[Path]:
        """Hold one of this world's dpkg locks the way apt and dpkg do (``fcntl`` write lock),
        as a running package manager would."""
        path = self.dpkg_dir / name
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            yield path
        finally:
            os.close(fd)


@pytest.fixture
def local_apt_repo(tmp_path: Path) -> LocalAptRepo:
    """An empty :class:`LocalAptRepo` under ``tmp_path``; skips without apt/dpkg tools."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} to build a local apt repository")
    return LocalAptRepo(tmp_path / "aptroot")


# -- the machine's own dpkg, watched during a test -------------------------------------------


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("APT_CONFIG", "DPKG_ADMINDIR")}
    env.update({"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"})
    return env


def _dpkg_log_setting(cfg: Path) -> Path | None:
    """The ``log`` option of dpkg's configuration: ``cfg`` and then ``cfg.d/*`` (last wins)."""
    log: Path | None = None
    parts = cfg.parent / f"{cfg.name}.d"
    files = [cfg, *(sorted(parts.iterdir()) if parts.is_dir() else [])]
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for line in text.splitlines():
            key, _, value = line.strip().partition(" ")
            if key == "log" and value.strip():
                log = Path(value.strip())
    return log


@dataclass(frozen=True)
class HostDpkg:
    """Where the machine's own dpkg and apt keep their state: what a leak would change."""

    #: dpkg's status file (the database of installed packages).
    status: Path
    #: dpkg's log and apt's history log (those the configuration keeps).
    logs: tuple[Path, ...]
    #: The root files are unpacked under.
    root: Path = Path("/")

    @classmethod
    def of_this_machine(cls) -> HostDpkg:
        """The status file and apt's history log where the machine's apt (no ``APT_CONFIG``)
        says they are; dpkg's log as dpkg's own configuration names it."""
        out = subprocess.run(
            ["apt-config", "shell", "STATUS", "Dir::State::status/f",
             "HISTORY", "Dir::Log::History/f"],
            env=_clean_env(), capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        values = {}
        for line in out.splitlines():
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip().strip("'")
        logs = [Path(values["HISTORY"])] if values.get("HISTORY") else []
        dpkg_log = _dpkg_log_setting(Path("/etc/dpkg/dpkg.cfg"))
        if dpkg_log is not None:
            logs.insert(0, dpkg_log)
        return cls(Path(values["STATUS"]), tuple(logs))


def status_entries(text: str) -> dict[str, tuple[str, ...]]:
    """A dpkg status file as ``name:arch -> the stanza's other lines``.

    Comparing these instead of the text keeps a failure short: only the entries that differ
    are shown (:func:`describe_changes`).
    """
    entries: dict[str, tuple[str, ...]] = {}
    for stanza in re.split(r"\n\s*\n", text):
        lines = stanza.strip("\n").splitlines()
        fields = {
            k: v.strip() for k, _, v in (line.partition(":") for line in lines if line[:1] != " ")
        }
        if "Package" in fields:
            key = f"{fields['Package']}:{fields.get('Architecture', '')}"
            entries[key] = tuple(line for line in lines if not line.startswith("Package:"))
    return entries


def _short(value: object, width: int = 100) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _line_changes(before: Sequence[str], after: Sequence[str]) -> list[str]:
    was, now = set(before), set(after)
    gone = [f"-{line}" for line in before if line not in now]
    came = [f"+{line}" for line in after if line not in was]
    return gone + came or ["(the same lines, in another order or repeated)"]


def describe_changes(
    before: Mapping[str, object], after: Mapping[str, object], *, limit: int = 12
) -> list[str]:
    """At most ``limit`` lines (and a count of the rest) saying what differs: keys gone
    (``-``), new (``+``) or changed (``~``, with the changed lines of a text or of a status
    entry, or the changed entries of a nested mapping). Never a whole file."""
    out: list[str] = []
    for key in sorted(set(before) | set(after), key=str):
        if key not in after:
            out.append(f"- {key}: {_short(before[key])}")
        elif key not in before:
            out.append(f"+ {key}: {_short(after[key])}")
        elif before[key] != after[key]:
            old, new = before[key], after[key]
            if isinstance(old, Mapping) and isinstance(new, Mapping):
                out += [f"{key}: {line}" for line in describe_changes(old, new, limit=limit)]
            elif isinstance(old, str) and isinstance(new, str):
                changes = _line_changes(old.splitlines(), new.splitlines())
                out += [f"~ {key}: {_short(line)}" for line in changes]
            elif isinstance(old, tuple) and isinstance(new, tuple):
                changes = _line_changes([str(x) for x in old], [str(x) for x in new])
                out += [f"~ {key}: {_short(line)}" for line in changes]
            else:
                out.append(f"~ {key}: {_short(old, 45)} -> {_short(new, 45)}")
        if len(out) > limit:
            break
    if len(out) > limit:
        return [*out[:limit], "... (more differences not shown)"]
    return out


def assert_unchanged(before: Mapping[str, object], after: Mapping[str, object], what: str) -> None:
    """Fail with a short description of what changed in ``what`` (see :func:`describe_changes`),
    not with pytest's rendering of two whole states."""
    __tracebackhide__ = True
    if before != after:
        lines = describe_changes(before, after)
        pytest.fail(f"{what} changed:\n" + "\n".join("    " + line for line in lines), False)


def _names_in(line: str) -> set[str]:
    """The package names a log line could mean: each word, without ``:arch``, ``=version``
    or punctuation (``pkg-a:all``, ``pkg-a=1.0-1``, ``pkg-a:all (1.0-1),``)."""
    names = set()
    for word in line.split():
        name = re.split(r"[:=]", word.strip("(),"), maxsplit=1)[0]
        if name:
            names.add(name)
    return names


class HostWatch:
    """The machine's own dpkg, watched for any trace of a :class:`LocalAptRepo` world's
    packages while a test runs; immune to what else the machine's apt and dpkg do.

    The world's packages have names of their own (``pkg-a``...; the CLI tests use real names
    of packages the machine does not have). A leak, dpkg or apt working on the machine
    instead of the world, would show as: an entry for one of them added to or changed in
    the machine's status file, a line naming one in dpkg's log or apt's history log (only
    the lines appended since the watch began are read), or one of their files appearing
    under the machine's root instead of the world's install root. Whatever else the status
    file and the logs gain meanwhile (another apt running on the machine) is not looked at.
    """

    def __init__(self, world: LocalAptRepo, host: HostDpkg | None = None) -> None:
        self.world = world
        self.host = host if host is not None else HostDpkg.of_this_machine()
        self._status = self._host_status()
        self._log_sizes = {log: _size(log) for log in self.host.logs}
        self._files = self._host_files()

    def _host_status(self) -> dict[str, tuple[str, ...]]:
        try:
            return status_entries(self.host.status.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}

    def _host_files(self) -> set[str]:
        return {f for f in self.world.package_files() if (self.host.root / f).exists()}

    def leaks(self) -> list[str]:
        """One short line per trace of the world's packages on the machine (``[]``: none)."""
        names = self.world.package_names()
        found: list[str] = []
        now = self._host_status()
        for key in sorted(set(self._status) | set(now)):
            if key.rsplit(":", 1)[0] in names and self._status.get(key) != now.get(key):
                was, became = self._status.get(key), now.get(key)
                found.append(
                    f"{self.host.status}: {key}: {_status_line(was)} -> {_status_line(became)}"
                )
        for log, start in self._log_sizes.items():
            lines = [line for line in _appended(log, start) if _names_in(line) & names]
            found += [f"{log}: {_short(line.strip())}" for line in lines[:3]]
            if len(lines) > 3:
                found.append(f"{log}: and {len(lines) - 3} more lines naming them")
        for rel in sorted(self._host_files() - self._files):
            found.append(f"{self.host.root / rel}: a file of the world's packages")
        return found

    def check(self) -> None:
        """Fail the test, with at most a few lines, if :meth:`leaks` found anything."""
        __tracebackhide__ = True
        found = self.leaks()
        if found:
            shown = found[:10] + ([f"... and {len(found) - 10} more"] if len(found) > 10 else [])
            pytest.fail(
                "the machine's own dpkg got traces of the test world's packages:\n"
                + "\n".join("    " + line for line in shown),
                False,
            )


def _status_line(entry: tuple[str, ...] | None) -> str:
    """``Status`` and ``Version`` of a status entry, or ``absent``."""
    if entry is None:
        return "absent"
    kept = [line for line in entry if line.startswith(("Status:", "Version:"))]
    return "; ".join(kept) or "present"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _appended(log: Path, start: int) -> list[str]:
    """The lines ``log`` gained past byte ``start`` (all of it if it was rotated meanwhile)."""
    try:
        with log.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(start if size >= start else 0)
            return f.read().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return []
