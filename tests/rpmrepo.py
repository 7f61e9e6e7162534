"""A real, tiny rpm repository and an isolated dnf world, built at test time.

Tests of the dnf provider talk to the real ``dnf`` (DNF 4), ``rpm`` and ``rpmbuild`` (their
output and behaviour are the contract) but must never depend on or change the machine's own
package state. :class:`LocalRpmRepo` builds small ``noarch`` packages with ``rpmbuild`` from
generated spec files (Fedora-like Python packages: ``python3dist(foo) = 1.2`` provides and a
``foo-1.2.dist-info`` under ``/usr/lib/python3.X/site-packages``) and indexes them with
``createrepo_c``. :class:`RpmWorld` is an empty ``--installroot`` plus the dnf options that
make dnf see only the given repositories and only that root:

* ``--installroot``: dnf's rpm database, cache (``cachedir``), logs and history
  (``persistdir``) all live under it, so every dnf call of a test, including real installs,
  stays inside the test's temporary directory;
* ``--config`` with a private ``dnf.conf`` and ``--setopt=reposdir`` pointing at an empty
  directory: the machine's dnf configuration and repositories stay out;
* ``--disablerepo=*`` then ``--repofrompath``/``--enablerepo`` for each local repository, with
  ``gpgcheck=0`` (the test packages are unsigned);
* ``--refresh``: every call checks the repositories' ``repomd.xml`` again, so a repository a
  test republishes is read at once (``metadata_expire=0`` is not enough: dnf counts whole
  seconds, and a repository republished within the second looks fresh);
* ``--releasever`` (an empty root has no ``system-release`` package to read it from) and
  ``--noplugins``.

Scriptlets are Lua (``%post -p <lua>``): rpm runs shell scriptlets chrooted into the install
root, which has no shell, while Lua runs inside rpm itself. A failing ``%post`` is a Lua
``error()``, which rpm reports exactly like a shell scriptlet exiting 1.

Build a repository once per test module (``rpmbuild`` and ``createrepo_c`` are the slow part)
and give each test its own :class:`RpmWorld`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

__all__ = [
    "FAILING_POST",
    "FAILING_PRE",
    "PYTHON_VERSION",
    "LocalRpmRepo",
    "RpmSpec",
    "RpmWorld",
    "build_rpms",
    "dnf4_command",
    "missing_tools",
    "python_files",
    "require_rpm_tools",
    "run_tool",
]

#: A Lua ``%post`` that fails the way a broken shell scriptlet does.
FAILING_POST = (
    'io.stderr:write("post of {name} fails on purpose\\n")\n'
    'error("post of {name} fails on purpose")\n'
)
#: The same for ``%pre``.
FAILING_PRE = FAILING_POST.replace("post of", "pre of")

#: The Python version the test world's packages are built for (Fedora 40's).
PYTHON_VERSION = "3.12"


def dnf4_command() -> str | None:
    """The name of a DNF 4 command on ``PATH`` (a Python script, not DNF 5), or ``None``."""
    for name in ("dnf", "dnf-3", "dnf4"):
        exe = shutil.which(name)
        if exe is None:
            continue
        try:
            with open(exe, "rb") as f:
                first = f.readline(256)
        except OSError:
            continue
        if first.startswith(b"#!") and b"python" in first:
            return name
    return None


def missing_tools() -> tuple[str, ...]:
    """The tools this helper needs that are not on ``PATH``."""
    missing = [t for t in ("rpm", "rpmbuild", "createrepo_c") if shutil.which(t) is None]
    if dnf4_command() is None:
        missing.append("dnf (DNF 4)")
    return tuple(missing)


def require_rpm_tools() -> None:
    """Skip the calling test (or fixture) when the tools are missing."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} to build a local rpm repository")


def run_tool(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str = "",
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a tool in the C locale; with ``check``, a failure raises with its output."""
    full_env = dict(os.environ)
    full_env.update({"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"})
    if env:
        full_env.update(env)
    proc = subprocess.run(
        list(argv),
        cwd=cwd,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited with {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@dataclass(frozen=True)
class RpmSpec:
    """One package to build."""

    name: str
    version: str
    release: str = "1"
    epoch: int | None = None
    arch: str = "noarch"
    requires: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    obsoletes: tuple[str, ...] = ()
    #: Paths inside the package mapped to their text.
    files: Mapping[str, str] = field(default_factory=dict)
    #: A Lua ``%post`` scriptlet (``{name}`` is replaced by the package name).
    post: str | None = None
    #: A Lua ``%pre`` scriptlet, likewise; a failing ``%pre`` keeps the package out.
    pre: str | None = None

    @property
    def evr(self) -> str:
        epoch = f"{self.epoch}:" if self.epoch else ""
        return f"{epoch}{self.version}-{self.release}"

    def spec_text(self, stage: Path) -> str:
        lines = [
            f"Name: {self.name}",
            f"Version: {self.version}",
            f"Release: {self.release}",
            "Summary: built by the sysnative test suite",
            "License: MIT",
            f"BuildArch: {self.arch}",
        ]
        if self.epoch is not None:
            lines.append(f"Epoch: {self.epoch}")
        lines += [f"Requires: {r}" for r in self.requires]
        lines += [f"Provides: {p}" for p in self.provides]
        lines += [f"Conflicts: {c}" for c in self.conflicts]
        lines += [f"Obsoletes: {o}" for o in self.obsoletes]
        lines += ["", "%description", f"{self.name} built by the sysnative test suite", ""]
        lines += ["%install", "mkdir -p %{buildroot}"]
        if self.files:
            lines.append(f"cp -a {stage}/. %{{buildroot}}/")
        lines.append("")
        if self.pre is not None:
            lines += ["%pre -p <lua>", self.pre.replace("{name}", self.name), ""]
        if self.post is not None:
            lines += ["%post -p <lua>", self.post.replace("{name}", self.name), ""]
        lines.append("%files")
        lines += ["/" + rel.lstrip("/") for rel in sorted(self.files)]
        return "\n".join(lines) + "\n"


def python_files(project: str, version: str, python: str = PYTHON_VERSION) -> dict[str, str]:
    """The files a Fedora ``python3-PROJECT`` package has: a module and its dist-info."""
    site = f"usr/lib/python{python}/site-packages"
    module = project.replace("-", "_")
    return {
        f"{site}/{module}/__init__.py": f"__version__ = {version!r}\n",
        f"{site}/{module}-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n"
        ),
    }


def build_rpms(dest: Path, specs: Sequence[RpmSpec], work: Path) -> list[Path]:
    """Build every spec with ONE ``rpmbuild`` call; the ``.rpm`` files land flat in ``dest``.

    rpmbuild's scratch space (``_topdir``, ``_tmppath``) is ``work``; payloads are left
    uncompressed and the post-install "brp" scripts off, because the packages are tiny and
    many.
    """
    if not specs:
        return []
    dest.mkdir(parents=True, exist_ok=True)
    if work.exists():
        shutil.rmtree(work)
    (work / "tmp").mkdir(parents=True)
    spec_paths = []
    for i, spec in enumerate(specs):
        stage = work / f"stage-{i}"
        stage.mkdir()
        for rel, content in spec.files.items():
            target = stage / rel.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        path = work / f"{i}-{spec.name}.spec"
        path.write_text(spec.spec_text(stage), encoding="utf-8")
        spec_paths.append(str(path))
    defines = {
        "_topdir": str(work / "top"),
        "_tmppath": str(work / "tmp"),
        "_rpmdir": str(dest),
        "_build_name_fmt": "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm",
        "_binary_payload": "w.ufdio",
        "__os_install_post": "%{nil}",
        "debug_package": "%{nil}",
        "_build_id_links": "none",
    }
    argv = ["rpmbuild", "-bb", "--quiet", "--nodeps"]
    for key, value in defines.items():
        argv += ["--define", f"{key} {value}"]
    run_tool([*argv, *spec_paths])
    shutil.rmtree(work)
    return [dest / f"{s.name}-{s.version}-{s.release}.{s.arch}.rpm" for s in specs]


class LocalRpmRepo:
    """A directory of ``.rpm`` files with ``createrepo_c`` metadata."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo_dir = root / "repo"
        self.repo_dir.mkdir(parents=True, exist_ok=True)
        self._pending: list[RpmSpec] = []
        self.built: dict[tuple[str, str], Path] = {}

    def add(
        self,
        name: str,
        version: str,
        release: str = "1",
        *,
        epoch: int | None = None,
        requires: Sequence[str] = (),
        provides: Sequence[str] = (),
        conflicts: Sequence[str] = (),
        obsoletes: Sequence[str] = (),
        files: Mapping[str, str] | None = None,
        post: str | None = None,
        pre: str | None = None,
        python_project: str | None = None,
        python_version: str | None = None,
    ) -> RpmSpec:
        """Queue a package for :meth:`publish`.

        ``python_project="foo"`` makes it look like Fedora's ``python3-foo``: the
        ``python3dist(foo) = VERSION`` and ``python3.Xdist(foo)`` provides (with the name
        normalised, as Fedora's generator writes it), a ``python(abi)``
        requirement, and a module plus ``foo-VERSION.dist-info`` in site-packages.
        ``python_version`` is the project's own version when it differs from the rpm
        ``version`` (``3~rc1`` for ``3.0.0~rc1``).
        """
        all_files = dict(files or {})
        all_provides = list(provides)
        all_requires = list(requires)
        if python_project is not None:
            pyver = python_version or version
            # Fedora's dependency generator writes the PEP 503 normalised name.
            canonical = canonicalize_name(python_project)
            all_provides += [
                f"python3dist({canonical}) = {pyver}",
                f"python{PYTHON_VERSION}dist({canonical}) = {pyver}",
            ]
            all_requires.append(f"python(abi) = {PYTHON_VERSION}")
            all_files.update(python_files(python_project, pyver))
        spec = RpmSpec(
            name=name,
            version=version,
            release=release,
            epoch=epoch,
            requires=tuple(all_requires),
            provides=tuple(all_provides),
            conflicts=tuple(conflicts),
            obsoletes=tuple(obsoletes),
            files=all_files,
            post=post,
            pre=pre,
        )
        self._pending.append(spec)
        return spec

    def publish(self) -> None:
        """Build the queued packages and (re)write the repository metadata."""
        specs, self._pending = self._pending, []
        paths = build_rpms(self.repo_dir, specs, self.root / "build")
        for spec, path in zip(specs, paths):
            self.built[(spec.name, spec.evr)] = path
        run_tool(["createrepo_c", "--quiet", "--no-database", str(self.repo_dir)])

    def rpm_file(self, name: str, evr: str) -> Path:
        return self.built[(name, evr)]


class RpmWorld:
    """An empty install root and the dnf options that confine dnf to it and to ``repos``."""

    def __init__(self, root: Path, repos: Sequence[LocalRpmRepo], releasever: str = "40") -> None:
        self.root = root
        self.installroot = root / "installroot"
        self.etc = root / "etc"
        self.repos = list(repos)
        self.releasever = releasever
        for d in (self.installroot, self.etc / "repos.d"):
            d.mkdir(parents=True, exist_ok=True)
        self.config_path = self.etc / "dnf.conf"
        self.config_path.write_text(
            textwrap.dedent(
                """\
                [main]
                gpgcheck=0
                installonly_limit=3
                best=True
                skip_if_unavailable=False
                """
            ),
            encoding="utf-8",
        )

    @property
    def options(self) -> list[str]:
        """The dnf options (``SYSNATIVE_DNF_OPTIONS``) that make dnf see only this world."""
        options = [
            f"--installroot={self.installroot}",
            f"--config={self.config_path}",
            f"--setopt=reposdir={self.etc / 'repos.d'}",
            f"--releasever={self.releasever}",
            "--noplugins",
            "--refresh",
            "--disablerepo=*",
        ]
        for i, repo in enumerate(self.repos):
            repo_id = f"sysnative-test-{i}"
            options += [
                f"--repofrompath={repo_id},{repo.repo_dir}",
                f"--enablerepo={repo_id}",
                f"--setopt={repo_id}.gpgcheck=0",
            ]
        return options

    def rpm(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        """``rpm --root INSTALLROOT ARGS``: the world's rpm database, not the machine's."""
        return run_tool(["rpm", "--root", str(self.installroot), *args], check=check)

    def installed(self) -> dict[str, str]:
        """``name -> [epoch:]version-release.arch`` of every package rpm records here."""
        out = self.rpm("-qa", "--qf", "%{NAME}\t%{EPOCH}:%{VERSION}-%{RELEASE}.%{ARCH}\n")
        found = {}
        for line in out.stdout.splitlines():
            name, _, evra = line.partition("\t")
            found[name] = evra.removeprefix("(none):")
        return found

    def mark_installed(self, *rpm_files: Path) -> None:
        """Record packages as installed in this world's rpm database, files and all, without
        dnf and without running their scriptlets (needs root, like any rpm install)."""
        self.rpm("-i", "--nodeps", "--noscripts", "--notriggers", *map(str, rpm_files), check=True)

    def dbpath(self) -> Path:
        """Where rpm keeps this world's database (rpm's ``%_dbpath`` under the install root)."""
        out = run_tool(["rpm", "--eval", "%{_dbpath}"]).stdout.strip()
        return self.installroot / out.lstrip("/")

    def run(self, argv: Sequence[str], *, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Run a command a user would copy from a message (an undo command, say)."""
        return run_tool(argv, stdin=stdin, check=False)

    def dnf(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Run dnf in this world as a user would (for undo commands a test replays)."""
        command = dnf4_command()
        assert command is not None
        return run_tool([command, *self.options, *args], stdin=stdin, check=False)

    @contextlib.contextmanager
    def hold_rpm_lock(self) -> Iterator[Path]:
        """Hold rpm's transaction lock the way a running rpm does (an ``fcntl`` write lock on
        ``%_rpmlock_path``)."""
        path = self.dbpath() / ".rpm.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            yield path
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def hold_dnf_lock(self) -> Iterator[tuple[Path, int]]:
        """Make dnf's RPMDB lock look held by a live process, as a running dnf does: dnf 4's
        lock is a pid file (``rpmdb_lock.pid`` in its persistdir) naming a live process."""
        path = self.installroot / "var" / "lib" / "dnf" / "rpmdb_lock.pid"
        path.parent.mkdir(parents=True, exist_ok=True)
        holder = subprocess.Popen(["sleep", "300"])
        try:
            path.write_text(str(holder.pid), encoding="utf-8")
            yield path, holder.pid
        finally:
            holder.kill()
            holder.wait()
            path.unlink(missing_ok=True)
