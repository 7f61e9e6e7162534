"""A throwaway Debian root for the e2e tests that install for real.

The host's dpkg state must never change in a test, so ``apt-get install`` for real happens
only inside a Debian root built at test time with ``mmdebstrap``: Debian 12 (bookworm) with
``python3``, ``python3-venv``, ``python3-pip`` and ``ca-certificates``, from the host's own
apt sources for that suite (mmdebstrap's default mirror when it has none), the package lists
kept. The host's CA bundle replaces the root's (an egress proxy's CA must be trusted inside
too). sysnative is installed from this source tree into a venv of the root's
``/usr/bin/python3`` made with ``--system-site-packages``; its dependencies come from the
index pip uses by default inside the root, which has no pip configuration.

Building happens once per session (:func:`debroot_image`); every test module that asks for
:func:`debroot` gets its own copy of that prepared root, so each module starts from a fresh
dpkg state and may rely on a package not being installed yet. With
``SYSNATIVE_TEST_ROOT_CACHE`` set to a directory, the mmdebstrap tarball is kept there, named
by a digest of what went into it, and reused by later sessions (delete it for a newer one).

Commands run in the root through :meth:`DebRoot.run`: ``unshare`` gives each one its own
mount and PID namespaces with a private ``/proc`` mounted at the root's ``/proc``. The kernel
drops that mount, and every process left inside, when the command ends or is killed on its
timeout, so nothing stays mounted on the host, even after a failure. ``/dev`` is the device
nodes mmdebstrap created in the root (no bind mount of the host's ``/dev``), and ``/sys`` is
not needed. Commands get an empty environment plus ``PATH``, ``HOME`` (:data:`HOME`, also
their working directory) and ``LANG``: the host's ``PIP_*`` and ``SYSNATIVE_*`` variables
never reach them.

Everything skips with its reason when this cannot work: not root, no ``mmdebstrap``, the
Debian archive or the package index not reachable.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["DebRoot", "debroot", "debroot_image"]

SUITE = "bookworm"
#: What the root has besides mmdebstrap's ``apt`` variant (Essential packages and apt).
PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates")
#: dpkg skips documentation in the root, at build time and for every later install.
PATH_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*")
#: Bumped when the build changes in a way the cache key would not notice.
BUILD_FORMAT = 1
CACHE_VARIABLE = "SYSNATIVE_TEST_ROOT_CACHE"
#: Read at import, before tests/conftest.py removes ``SYSNATIVE_*`` variables for each test.
_CACHE_DIR = os.environ.get(CACHE_VARIABLE)

#: Seconds: mmdebstrap (about a minute), and each other step of preparing the root.
BUILD_TIMEOUT = 1200
STEP_TIMEOUT = 600

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PROJECT = Path(__file__).resolve().parents[1]
#: What of this source tree is copied into the root to install sysnative from.
PROJECT_FILES = ("pyproject.toml", "README.md", "src")

#: Inside the root: the home and working directory of its commands, sysnative's source and
#: the venv it is installed in.
HOME = "/srv/e2e"
SOURCE_DIR = "/opt/sysnative-src"
TOOL_VENV = "/opt/sysnative"
SYSNATIVE = f"{TOOL_VENV}/bin/sysnative"

#: mmdebstrap's and apt's words for a network that does not answer.
_UNREACHABLE = re.compile(
    r"Failed to fetch|Temporary failure resolving|Could not resolve|Unable to connect"
    r"|Could not connect|Connection failed|Network is unreachable|Connection timed out"
)


class RootUnavailable(Exception):
    """The root cannot be had here (a reason to skip, not a failure)."""


class RootBroken(Exception):
    """A step of building or preparing the root failed for another reason."""


@dataclass(frozen=True)
class DebRoot:
    """A prepared Debian root on the host's disk, and commands run inside it."""

    path: Path
    #: The home and working directory of commands in the root.
    home: str = HOME

    def host_path(self, inside: str) -> Path:
        """Where the root's ``inside`` (an absolute path in the root) is on the host."""
        return self.path / inside.lstrip("/")

    def command(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> list[str]:
        """The host command that runs ``argv`` in the root, from :attr:`home`."""
        environment = {"PATH": PATH, "HOME": self.home, "LANG": "C.UTF-8", **(env or {})}
        return [
            "unshare", "--mount", "--pid", "--fork", "--kill-child",
            f"--mount-proc={self.path / 'proc'}",
            "chroot", str(self.path),
            "/usr/bin/env", "-i", f"--chdir={self.home}",
            *(f"{name}={value}" for name, value in environment.items()),
            *argv,
        ]  # fmt: skip

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = STEP_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the root (text output captured, never raises on exit status)."""
        return subprocess.run(
            self.command(argv, env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def sysnative(self, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        """The ``sysnative`` command installed in the root, as a user would run it."""
        return self.run([SYSNATIVE, *args], timeout=timeout)

    def dpkg_status(self) -> bytes:
        """The root's dpkg status file."""
        return self.host_path("/var/lib/dpkg/status").read_bytes()

    def installed_version(self, package: str) -> str | None:
        """The version of ``package`` dpkg has installed in the root, else ``None``."""
        done = self.run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}|${Version}", package])
        status, _, version = done.stdout.partition("|")
        return version if done.returncode == 0 and status.startswith("ii") else None

    def candidate_version(self, package: str) -> str | None:
        """apt's candidate version of ``package`` in the root, else ``None``."""
        done = self.run(["apt-cache", "policy", package])
        found = re.search(r"^\s*Candidate:\s*(\S+)", done.stdout, re.MULTILINE)
        return found.group(1) if found and found.group(1) != "(none)" else None


def _run(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """A host command, output captured, no exception on exit status."""
    return subprocess.run(
        list(argv),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _tail(done: subprocess.CompletedProcess[str], lines: int = 15) -> str:
    """The last lines of a command's output, for a message."""
    return "\n".join((done.stdout + done.stderr).strip().splitlines()[-lines:])


def missing_prerequisite() -> str | None:
    """Why a root cannot be built on this host, or ``None``."""
    if os.geteuid() != 0:
        return "building a Debian root with mmdebstrap and chroot needs root"
    for tool in ("mmdebstrap", "unshare", "chroot", "tar", "apt-config", "dpkg"):
        if shutil.which(tool) is None:
            hint = " (apt-get install mmdebstrap)" if tool == "mmdebstrap" else ""
            return f"needs {tool}{hint}"
    if not HOST_CA_BUNDLE.is_file():
        return f"needs the host's CA bundle {HOST_CA_BUNDLE}"
    return None


def host_source_files(suite: str = SUITE) -> list[Path]:
    """The host's apt source files (as apt's configuration names them) with ``suite`` in
    them; empty when there are none, and mmdebstrap then takes its default mirror."""
    done = _run(
        [
            "apt-config",
            "shell",
            "LIST",
            "Dir::Etc::sourcelist/f",
            "PARTS",
            "Dir::Etc::sourceparts/d",
        ],
        timeout=60,
    )
    values = dict(re.findall(r"^(LIST|PARTS)='([^']*)'$", done.stdout, re.MULTILINE))
    candidates = [Path(values["LIST"])] if values.get("LIST") else []
    if values.get("PARTS") and Path(values["PARTS"]).is_dir():
        parts = Path(values["PARTS"])
        candidates += sorted(p for p in parts.iterdir() if p.suffix in (".list", ".sources"))
    mentions = re.compile(rf"(?<![\w.-]){re.escape(suite)}(-[a-z]+)?(?![\w.-])")
    return [p for p in candidates if p.is_file() and mentions.search(p.read_text("utf-8"))]


def cache_key(sources: Sequence[Path]) -> str:
    """A digest of everything that decides what mmdebstrap builds."""
    arch = _run(["dpkg", "--print-architecture"], timeout=60).stdout.strip()
    parts = [str(BUILD_FORMAT), SUITE, arch, *PACKAGES, *PATH_EXCLUDES]
    parts += [p.read_text("utf-8") for p in sources]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def build_tarball(tarball: Path, sources: Sequence[Path]) -> None:
    """mmdebstrap the root into ``tarball`` (written under a temporary name, then renamed,
    so an interrupted build never leaves a tarball that looks complete)."""
    partial = tarball.with_name(tarball.name + ".partial")
    partial.unlink(missing_ok=True)
    argv = [
        "mmdebstrap", "--quiet", "--mode=root", "--variant=apt", "--format=tar",
        f"--include={','.join(PACKAGES)}",
        "--skip=cleanup/apt/lists",
        *(f"--dpkgopt=path-exclude={pattern}" for pattern in PATH_EXCLUDES),
        SUITE, str(partial), *(str(p) for p in sources),
    ]  # fmt: skip
    done = _run(argv, timeout=BUILD_TIMEOUT)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        if _UNREACHABLE.search(done.stdout + done.stderr):
            raise RootUnavailable(f"the Debian archive is not reachable:\n{_tail(done, 5)}")
        raise RootBroken(f"mmdebstrap failed (exit {done.returncode}):\n{_tail(done)}")
    partial.rename(tarball)


def base_tarball(workdir: Path) -> Path:
    """The mmdebstrap tarball: from the cache dir when it has one, else built."""
    sources = host_source_files()
    where = Path(_CACHE_DIR) if _CACHE_DIR else workdir
    where.mkdir(parents=True, exist_ok=True)
    tarball = where / f"debroot-{SUITE}-{cache_key(sources)}.tar"
    if not tarball.exists():
        build_tarball(tarball, sources)
    return tarball


def _step(root: DebRoot, what: str, argv: Sequence[str]) -> None:
    """One preparation step in the root; :class:`RootBroken` when it fails."""
    done = root.run(argv)
    if done.returncode != 0:
        raise RootBroken(
            f"{what} failed in the Debian root (exit {done.returncode}):\n{_tail(done)}"
        )


def check_index(root: DebRoot) -> None:
    """:class:`RootUnavailable` unless pip's default index answers inside the root."""
    done = root.run(
        [
            "/usr/bin/python3", "-m", "pip", "download", "--quiet", "--no-deps",
            "--retries", "1", "--timeout", "30", "--dest", f"{HOME}/index-probe", "idna",
        ]
    )  # fmt: skip
    if done.returncode != 0:
        raise RootUnavailable(
            f"the package index is not reachable from the root:\n{_tail(done, 5)}"
        )


def install_sysnative(root: DebRoot) -> None:
    """Copy this source tree into the root and pip-install it into the tool venv."""
    source = root.host_path(SOURCE_DIR)
    source.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in PROJECT_FILES:
        if (PROJECT / name).is_dir():
            shutil.copytree(PROJECT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(PROJECT / name, source / name)
    _step(
        root,
        "making the tool venv",
        ["/usr/bin/python3", "-m", "venv", "--system-site-packages", TOOL_VENV],
    )
    _step(
        root,
        "installing sysnative",
        [f"{TOOL_VENV}/bin/python", "-m", "pip", "install", "--quiet", SOURCE_DIR],
    )


def prepare_root(tarball: Path, directory: Path) -> DebRoot:
    """Unpack the tarball into ``directory`` and make it ready for the tests."""
    directory.mkdir(parents=True)
    done = _run(
        ["tar", "--extract", "--numeric-owner", "-C", str(directory), "-f", str(tarball)],
        timeout=STEP_TIMEOUT,
    )
    if done.returncode != 0:
        raise RootBroken(f"unpacking {tarball.name} failed:\n{_tail(done)}")
    root = DebRoot(directory)
    root.host_path(HOME).mkdir(parents=True)
    shutil.copyfile(HOST_CA_BUNDLE, root.host_path(str(HOST_CA_BUNDLE)))
    check_index(root)
    install_sysnative(root)
    return root


def _prepare(tmp_path_factory: pytest.TempPathFactory) -> DebRoot:
    """Build and prepare the session's root; skip or fail with the reason."""
    missing = missing_prerequisite()
    if missing:
        pytest.skip(missing)
    workdir = tmp_path_factory.mktemp("debroot-image")
    try:
        return prepare_root(base_tarball(workdir), workdir / "root")
    except RootUnavailable as exc:
        pytest.skip(str(exc))
    except (RootBroken, subprocess.TimeoutExpired) as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def debroot_image(tmp_path_factory: pytest.TempPathFactory) -> DebRoot:
    """The session's prepared root, never changed by a test: :func:`debroot` copies it.

    Built once per session (pytest keeps a skip or failure too, and repeats it without
    building again). Test modules get it by naming this module in ``pytest_plugins``.
    """
    return _prepare(tmp_path_factory)


def _mounts_below(directory: Path) -> list[str]:
    """Mount points of this process's namespace at or below ``directory``."""
    prefix = str(directory.resolve())
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


@pytest.fixture(scope="module")
def debroot(debroot_image: DebRoot, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DebRoot]:
    """A fresh copy of the prepared root for one test module, removed afterwards."""
    copy = tmp_path_factory.mktemp("debroot") / "root"
    done = _run(
        ["cp", "--archive", "--reflink=auto", str(debroot_image.path), str(copy)],
        timeout=STEP_TIMEOUT,
    )
    if done.returncode != 0:
        pytest.fail(f"copying the Debian root failed:\n{_tail(done)}", pytrace=False)
    yield DebRoot(copy)
    if not _mounts_below(copy):  # never delete through a mount into the host
        shutil.rmtree(copy, ignore_errors=True)
