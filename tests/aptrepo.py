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
test packages keep their scripts harmless). :func:`real_dpkg_snapshot` lets a test prove that
the machine's own dpkg state did not change.

Use the fixture by re-exporting it from a test module::

    from aptrepo import local_apt_repo  # noqa: F401
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = [
    "LocalAptRepo",
    "build_deb",
    "local_apt_repo",
    "missing_tools",
    "real_dpkg_snapshot",
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


def _file_fingerprint(path: Path) -> tuple[int, int, str] | None:
    try:
        st = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None
    return (st.st_size, st.st_mtime_ns, digest)


def real_dpkg_snapshot() -> dict[str, object]:
    """Fingerprints of the machine's own dpkg state: status file, pending updates, log.

    The status file is where the machine's apt (no ``APT_CONFIG``) says it is; the log is
    the one dpkg's own configuration file names. Compare two snapshots to prove that tests
    installing into a :class:`LocalAptRepo` left the machine alone.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("APT_CONFIG", "DPKG_ADMINDIR")}
    env.update({"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"})
    out = subprocess.run(
        ["apt-config", "shell", "STATUS", "Dir::State::status/f"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    status = Path(out.strip().partition("=")[2].strip("'"))
    files: dict[str, object] = {str(status): _file_fingerprint(status)}
    updates = status.parent / "updates"
    files[str(updates)] = sorted(p.name for p in updates.iterdir()) if updates.is_dir() else None
    dpkg_cfg = Path("/etc/dpkg/dpkg.cfg")
    if dpkg_cfg.is_file():
        for line in dpkg_cfg.read_text(encoding="utf-8").splitlines():
            key, _, value = line.strip().partition(" ")
            if key == "log" and value.strip():
                log = Path(value.strip())
                files[str(log)] = _file_fingerprint(log)
    return files
