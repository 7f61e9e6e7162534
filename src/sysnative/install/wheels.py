"""The wheel step: pip installs the staged, verified wheels into the target, or nothing stays.

pip is run as a subprocess (its internals are not an API) on files that are already on
disk and hash-checked, with everything that could make it fetch or build something else
switched off::

    <target python> -m pip install --isolated --no-deps --no-index --require-hashes
        --only-binary :all: --disable-pip-version-check --no-warn-script-location
        --find-links <dir with exactly the staged wheels> -r <name==version --hash=...>

Two choices differ from the obvious command line, for reasons a user would notice:

- The requirements are ``name==version --hash=sha256:...`` found through ``--find-links``
  on a directory holding exactly the staged wheels, rather than the wheels' paths: pip
  records a path as a direct URL reference (``direct_url.json``), and ``pip freeze`` would
  then print ``name @ file:///<staging dir>/...``, a file deleted right after the run.
- pip's configuration is ignored (``--isolated`` and ``PIP_CONFIG_FILE`` set to the null
  device): the plan decided where wheels go and which files they are; a ``find-links``,
  ``user``, ``target`` or ``prefix`` setting would otherwise change that behind its back.

A target without pip is served by the running interpreter's pip with ``--python`` (pip
22.3 or newer); pip is never installed into the target silently. That pip starts a second
interpreter, and ``runner.run`` ends only its direct child when interrupted: Ctrl-C reaches
both (one process group), a SIGTERM sent to sysnative alone leaves the inner pip running
while the rollback runs. The target's own pip has no such gap.

When pip fails or the step is interrupted (Ctrl-C, or SIGTERM, which is turned into
``KeyboardInterrupt`` for the duration), the target is probed again, every distribution
this run put into the target's site dir that was not there before is uninstalled, and
files pip left of a wheel it did not finish are deleted. A distribution that was
*upgraded* in place cannot be brought back exactly (its old files are gone); the error says
which, and the command that reinstalls the old version.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import shlex
import signal
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from sysnative import probe
from sysnative.errors import SysnativeError, WheelStepError
from sysnative.install.staging import StagedWheel
from sysnative.runner import Completed, run
from sysnative.target import InstalledDistribution, TargetEnvironment

logger = logging.getLogger(__name__)

#: The oldest pip with ``--python`` (installing into another interpreter's environment).
PIP_WITH_PYTHON_OPTION = Version("22.3")

#: pip's configuration files and ``PIP_*`` variables must not change the plan.
_PIP_ENV = {"PIP_CONFIG_FILE": os.devnull}

Probe = Callable[[str], TargetEnvironment]

#: Files pip adds to a wheel's ``.dist-info`` when it installs it.
_PIP_WRITES = ("INSTALLER", "REQUESTED", "RECORD", "direct_url.json")


@dataclass(frozen=True)
class PipCommand:
    """The argv prefix that runs a pip able to install into the target."""

    prefix: tuple[str, ...]
    #: True when it is the running interpreter's pip pointed at the target (``--python``).
    foreign: bool = False

    def argv(self, *args: str) -> tuple[str, ...]:
        return (*self.prefix, *args)

    def shell(self, *args: str) -> str:
        """The command as a user would type it (for hints)."""
        return shlex.join(self.argv(*args))


@dataclass(frozen=True)
class WheelStepOutcome:
    """What the wheel step did."""

    #: Wheels pip installed, in the order given.
    installed: tuple[StagedWheel, ...]
    #: Wheels whose project was already installed at that version (pip was not asked).
    skipped: tuple[StagedWheel, ...]
    #: ``(name, version)`` of distributions in the target's site dir that pip replaced.
    replaced: tuple[tuple[NormalizedName, Version | None], ...] = ()
    #: The pip command that ran (empty when nothing needed installing).
    command: tuple[str, ...] = ()


def find_pip(target: TargetEnvironment, running_pip: Version | None = None) -> PipCommand:
    """The target's own pip, else the running interpreter's with ``--python``.

    The target is asked to run ``pip --version`` rather than looked up in its metadata: a
    pip that cannot start (a distro's pip for another Python, a half-removed one) is no
    pip. ``running_pip`` defaults to the version of the pip installed for the running
    interpreter (read from its metadata; pip is not imported).
    """
    if run([target.executable, "-m", "pip", "--version"], env=_PIP_ENV, timeout=120).ok:
        return PipCommand((target.executable, "-m", "pip"))
    if running_pip is None:
        running_pip = _running_pip_version()
    if running_pip is not None and running_pip >= PIP_WITH_PYTHON_OPTION:
        return PipCommand((sys.executable, "-m", "pip", "--python", target.executable), True)
    found = f"pip {running_pip}" if running_pip is not None else "no pip"
    raise WheelStepError(
        f"The target {target.executable} has no pip, and the Python running sysnative has "
        f"{found}, too old to install into another environment (pip --python needs "
        f"{PIP_WITH_PYTHON_OPTION} or newer). Nothing was installed.",
        f"Install pip into the target ({shlex.join([target.executable, '-m', 'ensurepip'])}), "
        f"or upgrade the pip that runs sysnative; `sysnative venv` makes venvs with pip.",
    )


def _running_pip_version() -> Version | None:
    try:
        return Version(importlib.metadata.version("pip"))
    except (importlib.metadata.PackageNotFoundError, InvalidVersion):
        return None


def install_wheels(
    wheels: Sequence[StagedWheel],
    target: TargetEnvironment,
    *,
    work_dir: Path,
    pip: PipCommand | None = None,
    break_system_packages: bool = False,
    probe: Probe = probe.probe,
) -> WheelStepOutcome:
    """Install ``wheels`` into ``target`` with one pip run; on failure, undo it and raise.

    ``target`` is the probe taken before the step: it tells which wheels are already
    installed (skipped) and what was in the target's site dir before (kept by the
    rollback). ``work_dir`` (empty, private to this run) receives the requirements file.
    ``break_system_packages`` passes pip's flag for a PEP 668 target (the caller decided).
    Raises :class:`WheelStepError` after the rollback.
    """
    skipped = tuple(w for w in wheels if _version_of(_visible(target, w.project)) == w.version)
    todo = tuple(w for w in wheels if w not in skipped)
    if not todo:
        return WheelStepOutcome(installed=(), skipped=skipped)
    pip = pip if pip is not None else find_pip(target)
    purelib = target.purelib
    before = {w.project: _in_site_dir(target, w.project, purelib) for w in todo}
    footprints = {w.project: _footprint(w.path, purelib) for w in todo if before[w.project] is None}
    argv = pip.argv(*_install_args(todo, work_dir, break_system_packages))
    try:
        with _sigterm_as_interrupt():
            done = run(argv, env=_PIP_ENV, timeout=None)
    except KeyboardInterrupt:
        raise _roll_back(
            pip, target, todo, before, footprints, probe, cause=None, interrupted=True
        ) from None
    if not done.ok:
        raise _roll_back(pip, target, todo, before, footprints, probe, cause=done)
    logger.debug("pip installed %s", ", ".join(f"{w.project} {w.version}" for w in todo))
    replaced = tuple(
        (w.project, _version_of(before[w.project])) for w in todo if before[w.project] is not None
    )
    return WheelStepOutcome(installed=todo, skipped=skipped, replaced=replaced, command=argv)


def _install_args(
    wheels: Sequence[StagedWheel], work_dir: Path, break_system_packages: bool
) -> list[str]:
    """pip's arguments, after writing the requirements file and the find-links directory.

    The find-links directory holds links to exactly these wheels, so pip cannot pick any
    other file for ``name==version``.
    """
    links = work_dir / "wheels"
    links.mkdir(parents=True, exist_ok=True)
    lines = []
    for wheel in wheels:
        link = links / wheel.path.name
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(wheel.path.resolve())
        lines.append(f"{wheel.project}=={wheel.version} --hash=sha256:{wheel.sha256}\n")
    requirements = work_dir / "sysnative-wheels.txt"
    requirements.write_text("".join(lines), encoding="utf-8")
    args = [
        "install",
        "--isolated",
        "--no-deps",
        "--no-index",
        "--require-hashes",
        "--only-binary",
        ":all:",
        "--disable-pip-version-check",
        "--no-warn-script-location",
        "--find-links",
        str(links),
        "-r",
        str(requirements),
    ]
    if break_system_packages:
        args.append("--break-system-packages")
    return args


# -- rollback ------------------------------------------------------------------------------


def _roll_back(
    pip: PipCommand,
    before_env: TargetEnvironment,
    wheels: Sequence[StagedWheel],
    before: dict[NormalizedName, InstalledDistribution | None],
    footprints: dict[NormalizedName, _Footprint],
    probe: Probe,
    *,
    cause: Completed | None,
    interrupted: bool = False,
) -> WheelStepError:
    """Undo what pip did, as far as possible, and describe it as the error to raise."""
    headline = (
        "The wheel step was interrupted."
        if interrupted
        else f"Installing the wheels failed: {cause.describe() if cause else 'pip failed'}"
    )
    purelib = before_env.purelib
    with _signals_ignored():
        try:
            after = probe(before_env.executable)
        except SysnativeError as exc:
            names = [str(w.project) for w in wheels if before[w.project] is None]
            return WheelStepError(
                f"{headline}\nThe target could not be inspected afterwards ({exc}), so "
                "nothing was rolled back.",
                f"Remove what may have been installed: {pip.shell('uninstall', '-y', *names)}",
                interrupted=interrupted,
            )
        installed = [
            w for w in wheels if _version_of(_in_site_dir(after, w.project, purelib)) == w.version
        ]
        new = [w for w in installed if before[w.project] is None]
        uninstall_failure = ""
        if new:
            done = run(
                pip.argv("uninstall", "-y", *(str(w.project) for w in new)),
                env=_PIP_ENV,
                timeout=None,
            )
            uninstall_failure = "" if done.ok else done.describe()
        # Whatever pip did not remove (a wheel it stopped writing has no RECORD to go by).
        for footprint in footprints.values():
            footprint.remove_new_files()

    removed = [w for w in new if footprints[w.project].clean]
    not_restored: list[str] = []
    commands: list[str] = []
    for w in new:
        if w not in removed:
            not_restored.append(f"{w.project} {w.version} could not be uninstalled")
            commands.append(pip.shell("uninstall", "-y", str(w.project)))
    for w in wheels:
        old = before[w.project]
        if old is None:
            continue
        now = _version_of(_in_site_dir(after, w.project, purelib))
        if now == old.version:
            continue
        state = f"upgraded in place to {now}" if now is not None else "removed"
        not_restored.append(f"{w.project} {old.version} was {state}")
        commands.append(pip.shell("install", f"{w.project}=={old.version}"))
    for project, footprint in footprints.items():
        if footprint.left and all(w.project != project for w in new):
            not_restored.append(f"files of {project} were left: {', '.join(footprint.left)}")

    lines = [headline]
    lines.append("Installed by this run before it stopped: " + (_names(installed) or "nothing."))
    if new:
        lines.append("Removed again: " + (_names(removed) or "nothing."))
    if uninstall_failure and len(removed) < len(new):
        lines.append(f"Uninstalling failed: {uninstall_failure}")
    if not_restored:
        lines.append("Not restored: " + "; ".join(not_restored) + ".")
    if commands:
        hint = "Restore by hand with:\n" + "\n".join(f"  {c}" for c in commands)
    else:
        hint = f"Nothing this run installed is left in {purelib}. " + (
            "Run sysnative again to finish." if interrupted else "Fix the cause above and retry."
        )
    return WheelStepError(
        "\n".join(lines),
        hint,
        installed=tuple(f"{w.project} {w.version}" for w in installed),
        removed=tuple(f"{w.project} {w.version}" for w in removed),
        not_restored=tuple(not_restored),
        commands=tuple(commands),
        interrupted=interrupted,
    )


def _names(wheels: Sequence[StagedWheel]) -> str:
    return ", ".join(f"{w.project} {w.version}" for w in wheels) + ("." if wheels else "")


def _version_of(dist: InstalledDistribution | None) -> Version | None:
    return dist.version if dist is not None else None


def _visible(env: TargetEnvironment, project: NormalizedName) -> InstalledDistribution | None:
    """The distribution ``project`` the target imports (one on its ``sys.path``), if any."""
    dist = env.installed.get(project)
    return dist if dist is not None and env.sees(dist.location) else None


def _in_site_dir(
    env: TargetEnvironment, project: NormalizedName, site_dir: str
) -> InstalledDistribution | None:
    """The distribution ``project`` if the one the target sees lives in ``site_dir``.

    A copy elsewhere on ``sys.path`` (the system's site dir, seen by a venv) is not touched
    by pip and needs no rollback; the one pip installed shadows it until removed.
    """
    dist = env.installed.get(project)
    if dist is None or not _same_dir(dist.location, site_dir):
        return None
    return dist


def _same_dir(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


class _Footprint:
    """The files a wheel would write into the site dir, and which of them existed before.

    pip writes a wheel file by file; stopped in the middle, it leaves files without the
    RECORD that would let ``pip uninstall`` find them. The files (and directories) of a
    wheel that were absent before the run can only have come from this run.
    """

    def __init__(self, site_dir: Path, files: Sequence[str]) -> None:
        self.paths = [site_dir / f for f in files]
        self.existed = {p for p in self.paths if p.exists()}
        dirs = {parent for p in self.paths for parent in p.parents if site_dir in parent.parents}
        self.dirs_existed = {d for d in dirs if d.exists()}
        self.dirs = sorted(dirs, key=lambda d: len(d.parts), reverse=True)
        #: Files that could not be deleted.
        self.left: list[str] = []

    @property
    def clean(self) -> bool:
        """No file of the wheel that was absent before exists now."""
        return not any(p.exists() for p in self.paths if p not in self.existed)

    def remove_new_files(self) -> None:
        for path in self.paths:
            if path in self.existed or not path.exists():
                continue
            try:
                path.unlink()
            except OSError:
                self.left.append(str(path))
                continue
            if path.suffix == ".py":  # and its bytecode, compiled by pip
                for pyc in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):
                    with contextlib.suppress(OSError):
                        pyc.unlink()
        for directory in self.dirs:
            if directory not in self.dirs_existed:
                with contextlib.suppress(OSError):
                    (directory / "__pycache__").rmdir()
                with contextlib.suppress(OSError):
                    directory.rmdir()  # only when empty


def _footprint(wheel: Path, site_dir: str) -> _Footprint:
    """What ``wheel`` writes below ``site_dir`` (its purelib/platlib part only)."""
    files: list[str] = []
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        names = []
    for name in names:
        if name.endswith("/") or name.startswith("/") or ".." in name.split("/"):
            continue
        parts = name.split("/")
        if parts[0].endswith(".data"):
            if len(parts) > 2 and parts[1] in ("purelib", "platlib"):
                files.append("/".join(parts[2:]))
            continue
        files.append(name)
        if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
            # Written by pip itself, not found in the archive.
            files.extend(f"{parts[0]}/{extra}" for extra in _PIP_WRITES)
    return _Footprint(Path(site_dir), files)


# -- signals -------------------------------------------------------------------------------


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises ``KeyboardInterrupt`` inside the block, so it gets the rollback too.

    The default action of SIGTERM ends the process on the spot and leaves whatever pip
    had installed. Signal handlers can only be set from the main thread; elsewhere the
    block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """Ctrl-C and SIGTERM are ignored while the rollback runs, so it is not cut short.

    The rollback is a probe and one ``pip uninstall``; the children inherit the ignoring.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
