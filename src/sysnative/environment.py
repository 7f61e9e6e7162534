"""The target environment: the interpreter sysnative installs into, asked once.

Markers, tags and requires-python are evaluated for the *target* interpreter, which is not
necessarily the one sysnative runs on (``--python``, an active venv, a Debian system
Python). The target is asked a single time, with a small stdlib-only script that borrows the
``packaging`` sysnative already has (so tags and markers are computed by the same code pip
uses, inside the target) and prints JSON.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import packaging
from packaging.tags import Tag, parse_tag
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from sysnative.errors import EnvironmentProbeError
from sysnative.runner import CommandNotFound, run

_PROBE = r"""
import json, os, site, sys, sysconfig
sys.path.insert(0, sys.argv[1])
from packaging.markers import default_environment
from packaging.tags import sys_tags
import importlib.metadata as md
# Borrowed for the imports above only: the target's own distributions are the ones to list.
del sys.path[0]

stdlib = sysconfig.get_paths()["stdlib"]
venv_cfg = os.path.join(sys.prefix, "pyvenv.cfg")
include_system = None
if os.path.isfile(venv_cfg):
    with open(venv_cfg, encoding="utf-8") as fh:
        for line in fh:
            key, _, value = line.partition("=")
            if key.strip().lower() == "include-system-site-packages":
                include_system = value.strip().lower() == "true"
dists = []
for dist in md.distributions():
    try:
        name = dist.metadata["Name"]
        if not name:
            continue
        location = str(dist.locate_file(""))
        dists.append({
            "name": name,
            "version": dist.version,
            "location": location,
            "requires": list(dist.requires or []),
            "installer": (dist.read_text("INSTALLER") or "").strip(),
        })
    except Exception:
        continue
print(json.dumps({
    "executable": sys.executable,
    "version": "%d.%d" % sys.version_info[:2],
    "full_version": "%d.%d.%d" % sys.version_info[:3],
    "markers": default_environment(),
    "tags": [str(t) for t in sys_tags()],
    "sys_path": [p for p in sys.path if p],
    "prefix": sys.prefix,
    "base_prefix": getattr(sys, "base_prefix", sys.prefix),
    "site_packages": site.getsitepackages() if hasattr(site, "getsitepackages") else [],
    "purelib": sysconfig.get_paths()["purelib"],
    "include_system_site_packages": include_system,
    # PEP 668: the marker never applies inside a virtual environment.
    "externally_managed": sys.prefix == getattr(sys, "base_prefix", sys.prefix)
    and os.path.isfile(os.path.join(stdlib, "EXTERNALLY-MANAGED")),
    "distributions": dists,
}))
"""


@dataclass(frozen=True)
class InstalledDistribution:
    name: NormalizedName
    version: Version | None
    #: The directory the distribution lives in (its site dir).
    location: str
    requires: tuple[str, ...] = ()
    installer: str = ""


@dataclass(frozen=True)
class TargetEnvironment:
    executable: str
    python_version: str
    python_full_version: str
    markers: Mapping[str, str]
    #: Supported wheel tags, most preferred first.
    tags: tuple[Tag, ...]
    sys_path: tuple[str, ...]
    prefix: str
    base_prefix: str
    purelib: str
    site_packages: tuple[str, ...] = ()
    #: ``None`` when the target is not a venv.
    include_system_site_packages: bool | None = None
    externally_managed: bool = False
    installed: Mapping[NormalizedName, InstalledDistribution] = field(default_factory=dict)

    @property
    def is_venv(self) -> bool:
        return self.prefix != self.base_prefix

    def tag_priority(self) -> dict[Tag, int]:
        """Lower is better, as in pip: the order of ``sys_tags()`` in the target."""
        return {tag: i for i, tag in enumerate(self.tags)}

    def sees(self, directory: str) -> bool:
        """Whether ``directory`` is on the target's ``sys.path``."""
        wanted = os.path.normpath(directory)
        return any(os.path.normpath(p) == wanted for p in self.sys_path)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> TargetEnvironment:
        """Build from the probe's JSON (also used by tests with recorded probes)."""
        tags: list[Tag] = []
        for text in _str_list(data.get("tags")):
            tags.extend(parse_tag(text))
        installed: dict[NormalizedName, InstalledDistribution] = {}
        raw_dists = data.get("distributions") or []
        assert isinstance(raw_dists, list)
        for raw in raw_dists:
            dist = _installed(raw)
            # The first one on sys.path wins, as for the import system; the probe lists them
            # in sys.path order.
            installed.setdefault(dist.name, dist)
        markers = data.get("markers") or {}
        assert isinstance(markers, dict)
        include = data.get("include_system_site_packages")
        return cls(
            executable=str(data["executable"]),
            python_version=str(data["version"]),
            python_full_version=str(data["full_version"]),
            markers={str(k): str(v) for k, v in markers.items()},
            tags=tuple(tags),
            sys_path=tuple(_str_list(data.get("sys_path"))),
            prefix=str(data.get("prefix", "")),
            base_prefix=str(data.get("base_prefix", "")),
            purelib=str(data.get("purelib", "")),
            site_packages=tuple(_str_list(data.get("site_packages"))),
            include_system_site_packages=include if isinstance(include, bool) else None,
            externally_managed=bool(data.get("externally_managed", False)),
            installed=installed,
        )


def _str_list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _installed(raw: object) -> InstalledDistribution:
    assert isinstance(raw, dict)
    try:
        version: Version | None = Version(str(raw.get("version")))
    except InvalidVersion:
        version = None
    return InstalledDistribution(
        name=canonicalize_name(str(raw["name"])),
        version=version,
        location=str(raw.get("location", "")),
        requires=tuple(_str_list(raw.get("requires"))),
        installer=str(raw.get("installer", "")),
    )


def choose_interpreter(python: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """``--python``, else the active venv's interpreter, else the running one."""
    if python:
        candidate = Path(python)
        if candidate.is_dir():  # pip accepts an environment directory too
            candidate = candidate / "bin" / "python"
        return str(candidate)
    venv = environ.get("VIRTUAL_ENV")
    if venv and (Path(venv) / "bin" / "python").exists():
        return str(Path(venv) / "bin" / "python")
    return sys.executable


def probe(interpreter: str) -> TargetEnvironment:
    """Ask ``interpreter`` about itself (one subprocess)."""
    packaging_root = str(Path(packaging.__file__).resolve().parent.parent)
    try:
        done = run([interpreter, "-c", _PROBE, packaging_root], timeout=60)
    except CommandNotFound as exc:
        raise EnvironmentProbeError(
            f"The target interpreter {interpreter!r} does not exist.",
            "Pass --python with the path of a Python interpreter or a venv directory.",
        ) from exc
    except PermissionError as exc:
        raise EnvironmentProbeError(
            f"The target interpreter {interpreter!r} cannot be run: {exc.strerror}."
        ) from exc
    if not done.ok:
        raise EnvironmentProbeError(
            f"Could not inspect the target interpreter {interpreter!r}: {done.describe()}",
            "sysnative needs a CPython 3.9 or newer target.",
        )
    try:
        data = json.loads(done.stdout)
    except ValueError as exc:
        raise EnvironmentProbeError(
            f"The target interpreter {interpreter!r} answered something that is not JSON."
        ) from exc
    return TargetEnvironment.from_json(data)
