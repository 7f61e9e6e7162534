"""Building from sdists (``--allow-build``): metadata for the resolver, wheels for the install.

sysnative is binary-only by default. With ``--allow-build``, a release that has no wheel for
the target but has an sdist is a candidate (see ``resolve.provider.build_candidates``), and
pip does the two things that need its build backend, as a subprocess (pip's internals are no
API), run by the target's pip or by the running one with ``--python TARGET``:

- **metadata**, while planning (``--dry-run`` included), for the resolver::

      pip install --isolated --dry-run --no-deps --ignore-installed --quiet --report - \\
          <index options> <sdist>

  the ``install[0].metadata`` of the JSON report gives Requires-Dist and Requires-Python. No
  wheel is built, nothing is installed: pip runs the backend's
  ``prepare_metadata_for_build_wheel`` hook (or builds the wheel if the backend has no such
  hook) in a throwaway build environment.

- **the wheel**, during the install's checks, before the system step, so that a build that
  fails changes nothing::

      pip wheel --isolated --no-deps --wheel-dir DIR <index options> <sdist>

  The built wheel is then installed by the wheel step like any other, offline and by the
  hash computed here (``--only-binary :all:`` stays: pip itself builds nothing there).

The sdist is always a local file that sysnative downloaded and checked against the index's
sha256 first (:mod:`sysnative.install.staging`, which also keeps it in the cache). Its build
requirements (setuptools, ...) are installed by pip into its isolated build environment from
the same indexes sysnative uses, passed as options (pip's configuration is ignored, as in the
wheel step); they are not hash-checked: building means trusting them, which is why building
is opt-in and the plan marks every row it builds.

Prepared metadata is kept in the cache forever, keyed by the sdist's sha256 and what a
``setup.py`` may look at (the target's Python version, implementation and platform).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)

from sysnative.cache import Cache
from sysnative.errors import BuildError, SysnativeError
from sysnative.index.fetch import Fetcher
from sysnative.index.metadata import parse_core_metadata
from sysnative.index.pipconfig import IndexConfig
from sysnative.index.urls import redact_url
from sysnative.install.staging import StagedWheel, stage
from sysnative.models import CoreMetadata, FileKind, IndexFile
from sysnative.protocols import IndexClient
from sysnative.runner import Completed, run, shown
from sysnative.target import TargetEnvironment

if TYPE_CHECKING:
    from sysnative.mapping.table import MappingTable
    from sysnative.plan.route import RoutePolicy
    from sysnative.protocols import SystemQuery

logger = logging.getLogger(__name__)

__all__ = [
    "BuildingIndex",
    "SdistBuilder",
    "metadata_from_report",
    "pip_index_options",
    "system_first",
]

#: Seconds the metadata preparation of one sdist may take (a build environment to set up).
METADATA_TIMEOUT = 600.0
#: Seconds the build of one wheel may take (compiled projects take long).
BUILD_TIMEOUT = 3600.0

#: pip's configuration files must not change what is built, or from where.
_PIP_ENV = {"PIP_CONFIG_FILE": os.devnull}
#: Options of every pip run here: no configuration, no questions, no version check.
_PIP_COMMON = ("--isolated", "--no-input", "--disable-pip-version-check")
#: The cache namespace of prepared metadata (the one of wheels' metadata: same format).
_METADATA = "metadata"


def pip_index_options(config: IndexConfig) -> list[str]:
    """pip's options for the indexes and find-links locations sysnative uses.

    pip installs an sdist's build requirements from them. An ``http://`` location is
    trusted explicitly (sysnative talks to it already; pip refuses plain HTTP hosts other
    than localhost unless told).
    """
    args: list[str] = []
    if config.index_urls:
        args += ["--index-url", config.index_urls[0]]
        for url in config.index_urls[1:]:
            args += ["--extra-index-url", url]
    else:
        args.append("--no-index")
    for location in config.find_links:
        args += ["--find-links", location]
    hosts: list[str] = []
    for url in (*config.index_urls, *config.find_links):
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        if parts.scheme == "http" and host and host not in hosts:
            hosts.append(host)
    for host in hosts:
        args += ["--trusted-host", host]
    args += ["--timeout", f"{config.timeout:g}"]
    if config.cert:
        args += ["--cert", config.cert]
    return args


def metadata_from_report(text: str) -> bytes:
    """The core metadata of the one distribution in a ``pip install --report`` document,
    written as a METADATA file (what the cache holds and ``parse_core_metadata`` reads).

    Raises ``ValueError`` when the text is no such report.
    """
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON report in pip's output")
    report, _end = json.JSONDecoder().raw_decode(text[start:])
    install = report.get("install") if isinstance(report, dict) else None
    if not isinstance(install, list) or len(install) != 1:
        raise ValueError("the report does not list exactly one distribution")
    metadata = install[0].get("metadata") if isinstance(install[0], dict) else None
    if not isinstance(metadata, dict):
        raise ValueError("the report has no metadata")
    lines = ["Metadata-Version: 2.1"]
    lines.append(f"Name: {_text(metadata, 'name')}")
    lines.append(f"Version: {_text(metadata, 'version')}")
    requires_python = metadata.get("requires_python")
    if isinstance(requires_python, str) and requires_python.strip():
        lines.append(f"Requires-Python: {requires_python.strip()}")
    lines.extend(f"Requires-Dist: {r}" for r in _texts(metadata, "requires_dist"))
    lines.extend(f"Provides-Extra: {e}" for e in _texts(metadata, "provides_extra"))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def _text(metadata: dict[str, Any], key: str) -> str:
    value = metadata.get(key)
    if not isinstance(value, str) or not value.strip() or "\n" in value:
        raise ValueError(f"the report's metadata has no valid {key!r}")
    return value.strip()


def _texts(metadata: dict[str, Any], key: str) -> list[str]:
    values = metadata.get(key) or []
    if not isinstance(values, list):
        raise ValueError(f"the report's metadata has an invalid {key!r}")
    return [v.strip() for v in values if isinstance(v, str) and v.strip() and "\n" not in v]


class SdistBuilder:
    """Prepares sdists' metadata and builds their wheels for one target, with pip.

    ``config`` is the index configuration of the run (its indexes provide the build
    requirements), ``http`` and ``cache`` download the sdists (checked against the index's
    sha256, kept in the wheel cache by it) and keep prepared metadata. ``pip`` is the argv
    prefix of a pip able to run for the target (default: found on first use, as the wheel
    step finds it). :meth:`close` removes the downloaded copies.
    """

    def __init__(
        self,
        config: IndexConfig,
        http: Fetcher,
        cache: Cache | None,
        target: TargetEnvironment,
        *,
        pip: Sequence[str] | None = None,
        metadata_timeout: float = METADATA_TIMEOUT,
        build_timeout: float = BUILD_TIMEOUT,
    ) -> None:
        self.config = config
        self._http = http
        self._cache = cache
        self._target = target
        self._pip = tuple(pip) if pip is not None else None
        self._metadata_timeout = metadata_timeout
        self._build_timeout = build_timeout
        self._lock = threading.Lock()
        self._known: dict[str, CoreMetadata] = {}
        self._work: Path | None = None

    # -- metadata ---------------------------------------------------------------------------

    def metadata(self, file: IndexFile) -> CoreMetadata:
        """The core metadata of the sdist ``file``: from the cache, else prepared by pip.

        Raises :class:`BuildError` when pip cannot prepare it, naming the release.
        """
        with self._lock:  # one preparation at a time: each starts a build environment
            known = self._known.get(file.url)
            if known is None:
                known = self._known[file.url] = self._load_metadata(file)
            return known

    def _metadata_key(self, sha256: str) -> str:
        markers = self._target.markers
        facts = ":".join(
            markers.get(k, "")
            for k in ("implementation_name", "python_version", "sys_platform", "platform_machine")
        )
        return f"sdist:{sha256.lower()}:{facts}"

    def _cached_metadata(self, sha256: str | None, file: IndexFile) -> CoreMetadata | None:
        if self._cache is None or not sha256:
            return None
        key = self._metadata_key(sha256)
        data = self._cache.get_blob(_METADATA, key)
        if data is None:
            return None
        try:
            meta = parse_core_metadata(data)
        except ValueError:
            self._cache.drop_blob(_METADATA, key)
            return None
        if (meta.name, meta.version) != (file.project, file.version):
            self._cache.drop_blob(_METADATA, key)
            return None
        logger.debug("metadata of %s: from the cache", file.filename)
        return meta

    def _load_metadata(self, file: IndexFile) -> CoreMetadata:
        cached = self._cached_metadata(file.sha256, file)
        if cached is not None:
            return cached
        staged = self._download(file)
        cached = self._cached_metadata(staged.sha256, file)
        if cached is not None:
            return cached
        logger.info(
            "Preparing the metadata of %s %s from its sdist (pip runs its build backend) ...",
            file.project,
            file.version,
        )
        argv = self._pip_argv(
            "install",
            "--dry-run",
            "--no-deps",
            "--ignore-installed",
            "--quiet",
            "--report",
            "-",
            *pip_index_options(self.config),
            str(staged.path),
        )
        done = self._run(argv, file, "preparing its metadata", self._metadata_timeout)
        try:
            data = metadata_from_report(done.stdout)
            meta = parse_core_metadata(data)
        except ValueError as exc:
            raise BuildError(
                f"pip prepared the metadata of {file.project} {file.version} from its sdist "
                f"{file.filename}, but its report cannot be read ({exc}).",
                "Check that the target's pip is 22.2 or newer (pip install --report); "
                "run again with -v to see pip's output.",
                project=file.project,
                version=str(file.version),
                output=_tail(done),
            ) from exc
        if (meta.name, meta.version) != (file.project, file.version):
            raise BuildError(
                f"The sdist {file.filename} builds {meta.name} {meta.version}, not "
                f"{file.project} {file.version}.",
                "The file is broken or misnamed; report it to the project, and pin another "
                "release.",
                project=file.project,
                version=str(file.version),
            )
        if self._cache is not None:
            self._cache.put_blob(_METADATA, self._metadata_key(staged.sha256), data)
        return meta

    # -- wheels -----------------------------------------------------------------------------

    def build(self, sdist: StagedWheel, dest: Path) -> StagedWheel:
        """Build the wheel of the staged (hash-checked) ``sdist`` into ``dest``.

        The result is staged like a downloaded wheel: its sha256 computed here, ``verified``
        as the sdist was. Raises :class:`BuildError` when pip fails or the wheel is not the
        release's.
        """
        out = dest / f"{sdist.project}-{sdist.version}"
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        file = _as_file(sdist)
        logger.info("Building %s %s from its sdist with pip ...", sdist.project, sdist.version)
        argv = self._pip_argv(
            "wheel",
            "--no-deps",
            "--wheel-dir",
            str(out),
            *pip_index_options(self.config),
            str(sdist.path),
        )
        self._run(argv, file, "building its wheel", self._build_timeout)
        wheels = sorted(out.glob("*.whl"))
        names = [w.name for w in wheels]
        if len(wheels) != 1:
            raise BuildError(
                f"Building {sdist.project} {sdist.version} from its sdist gave "
                f"{len(wheels)} wheels ({', '.join(names) or 'none'}), not one. Nothing "
                "was changed.",
                "Run again with -v to see pip's output.",
                project=sdist.project,
                version=str(sdist.version),
            )
        (wheel,) = wheels
        try:
            name, version, _build, tags = parse_wheel_filename(wheel.name)
        except InvalidWheelFilename as exc:
            raise BuildError(
                f"Building {sdist.project} {sdist.version} gave {wheel.name}, which is no "
                f"valid wheel name ({exc}). Nothing was changed.",
                project=sdist.project,
                version=str(sdist.version),
            ) from exc
        if (canonicalize_name(name), version) != (sdist.project, sdist.version):
            raise BuildError(
                f"The sdist of {sdist.project} {sdist.version} built {wheel.name}, the wheel "
                f"of {name} {version}. Nothing was changed.",
                "The sdist is broken or misnamed; report it to the project, and pin another "
                "release.",
                project=sdist.project,
                version=str(sdist.version),
            )
        if not all(t.abi == "none" and t.platform == "any" for t in tags):
            logger.info(
                "%s %s built a platform wheel (%s): compiled here, against this system's libraries",
                sdist.project,
                sdist.version,
                wheel.name,
            )
        return StagedWheel(sdist.project, sdist.version, wheel, _sha256(wheel), sdist.verified)

    # -- helpers ----------------------------------------------------------------------------

    def _pip_argv(self, command: str, *args: str) -> tuple[str, ...]:
        if self._pip is None:
            from sysnative.install.wheels import find_pip

            self._pip = find_pip(self._target).prefix
        return (*self._pip, command, *_PIP_COMMON, *args)

    def _download(self, file: IndexFile) -> StagedWheel:
        """The sdist on local disk, checked against the index's sha256 (cached by it)."""
        if self._work is None:
            self._work = Path(tempfile.mkdtemp(prefix="sysnative-sdists-"))
        dest = self._work / hashlib.sha256(file.url.encode()).hexdigest()[:16]
        (staged,) = stage([file], dest, self._http, cache=self._cache)
        return staged

    def _run(self, argv: Sequence[str], file: IndexFile, doing: str, timeout: float) -> Completed:
        release = f"{file.project} {file.version}"
        try:
            done = run(argv, env=_PIP_ENV, timeout=timeout)
        except SysnativeError as exc:  # could not start, or timed out
            raise BuildError(
                f"{release}: {doing} from its sdist {file.filename} failed: {exc.message}",
                _hint(file, timeout_seconds=timeout),
                project=file.project,
                version=str(file.version),
            ) from exc
        if not done.ok:
            output = _tail(done)
            detail = (
                ("\n" + "\n".join("    " + line for line in output.splitlines())) if output else ""
            )
            raise BuildError(
                f"{release}: {doing} from its sdist {file.filename} failed (pip exited with "
                f"status {done.returncode}). Nothing was changed.{detail}\n"
                f"  command: {shown(argv)}",
                _hint(file),
                project=file.project,
                version=str(file.version),
                output=output,
            )
        return done

    def close(self) -> None:
        """Remove the sdists downloaded for metadata (the cache keeps its copies)."""
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None


def _hint(file: IndexFile, *, timeout_seconds: float | None = None) -> str:
    project = file.project
    text = (
        f"Building {project} from source needs what its build needs (a compiler, headers, "
        "the build requirements from the index); the lines above are pip's. Try: a release "
        f"of {project} that has a wheel for the target (pin it, or add it to a constraints "
        f"file with -c); or the system's package (--system {project}, with a mapping entry "
        "naming it); or build the wheel yourself and serve it from a find-links location."
    )
    if timeout_seconds is not None:
        text = (
            f"pip was stopped after {timeout_seconds:.0f} s, or could not start. Run the "
            f"command with -v to watch it. {text}"
        )
    return text


def _tail(done: Completed, lines: int = 15) -> str:
    text = (done.stderr.strip() or done.stdout.strip()).splitlines()
    return "\n".join(redact_url(line) if "://" in line else line for line in text[-lines:])


def _as_file(sdist: StagedWheel) -> IndexFile:
    return IndexFile(
        sdist.project, sdist.version, sdist.path.name, sdist.path.as_uri(), FileKind.SDIST
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(256 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


class BuildingIndex:
    """An :class:`~sysnative.protocols.IndexClient` that lets the resolver build
    (``--allow-build``).

    ``allow_build`` tells the resolver's provider to list releases without a wheel through
    their sdists, and the metadata of an sdist is prepared by ``builder``; everything else
    is the inner client's.

    ``from_system`` names the projects whose sdist-only releases the routing will send to
    the system (see :func:`system_first`): the resolver sees their sdists before anything is
    routed, and preparing a native project's metadata would set up its build (and may fail
    for want of headers) only to throw the answer away. Their metadata is answered without
    requirements: the system's package brings its own, as for a project that publishes no
    wheel when building is not allowed.
    """

    allow_build = True

    def __init__(
        self,
        inner: IndexClient,
        builder: SdistBuilder,
        *,
        from_system: Callable[[NormalizedName], bool] | None = None,
    ) -> None:
        self._inner = inner
        self.builder = builder
        self._from_system = from_system

    def get_files(self, project: NormalizedName) -> tuple[IndexFile, ...]:
        return self._inner.get_files(project)

    def get_metadata(self, file: IndexFile) -> CoreMetadata:
        if file.kind is not FileKind.SDIST:
            return self._inner.get_metadata(file)
        if self._from_system is not None and self._from_system(file.project):
            logger.debug(
                "%s %s: not preparing its sdist's metadata, the system provides the project",
                file.project,
                file.version,
            )
            return CoreMetadata(file.project, file.version)
        return self.builder.metadata(file)

    def prefetch_files(self, projects: Iterable[NormalizedName]) -> None:
        self._inner.prefetch_files(projects)

    def prefetch_metadata(self, files: Iterable[IndexFile]) -> None:
        # Only wheels: preparing an sdist's metadata runs its build, never ahead of need.
        self._inner.prefetch_metadata(f for f in files if f.kind is FileKind.WHEEL)

    def close(self) -> None:
        self._inner.close()


def system_first(
    mapping: MappingTable,
    provider: SystemQuery,
    policy: RoutePolicy,
    *,
    installed: Iterable[NormalizedName] = (),
) -> Callable[[NormalizedName], bool]:
    """Whether the routing will take a project from the system rather than build its sdist.

    True when the mapping names a package for it (not ``route: "pypi"``), ``--pypi`` does
    not force it to the index, the provider has the package, and the project is not
    already installed from the system (``installed``): an index release replaces such a one
    only when the system's version does not do, and is then built. The provider is asked
    once per project, when the resolver first meets one of its sdists.
    """
    known: dict[NormalizedName, bool] = {}
    lock = threading.Lock()
    already = frozenset(installed)

    def decide(project: NormalizedName) -> bool:
        with lock:
            if project not in known:
                known[project] = _from_system(project)
            return known[project]

    def _from_system(project: NormalizedName) -> bool:
        if project in policy.force_pypi or project in already:
            return False
        entry = mapping.lookup(project)
        if entry is None or entry.pypi_only or not entry.packages:
            return False
        package = entry.packages[0]
        try:
            info = provider.query([package]).get(package)
        except SysnativeError as exc:
            logger.debug("cannot ask %s about %s: %s", provider.name, package, exc)
            return False
        return info is not None and (info.installed or info.candidate) is not None

    return decide
