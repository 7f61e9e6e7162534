"""One plan to lock, the mapping and target it was made with: shared by the lock tests.

numpy asked for by name (with a library in the transaction), beniget coming as its
dependency, pyyaml already installed, opencv registering no metadata, and two wheels from an
index whose URL carries credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from sysnative.lock.document import dumps, to_document
from sysnative.lock.from_plan import lock_from_plan
from sysnative.lock.model import Lock, LockMachine, target_facts
from sysnative.mapping.table import MappingEntry, MappingTable
from sysnative.models import ClosureItem, FileKind, IndexFile, Plan, PlannedPackage, Route
from sysnative.target import TargetEnvironment
from sysnative.tomlcompat import loads_toml

SECRET = "hunter2"
USER = "alice"
#: A made-up index on 127.0.0.1 (nothing listens there: locks are only written and read).
HOST = "127.0.0.1:8443"
INDEX = f"https://{USER}:{SECRET}@{HOST}/simple"
FILES = f"https://{USER}:{SECRET}@{HOST}/files"
MARKERS = {
    "implementation_name": "cpython",
    "implementation_version": "3.11.2",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "6.1.0-18-amd64",
    "platform_system": "Linux",
    "platform_version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)",
    "python_full_version": "3.11.2",
    "python_version": "3.11",
    "sys_platform": "linux",
}
MACHINE = LockMachine("apt", "debian", "12", "amd64")


def target(
    *, markers: Mapping[str, str] | None = None, installed: Mapping[str, str] | None = None
) -> TargetEnvironment:
    env = {**MARKERS, **(markers or {})}
    return TargetEnvironment.from_json(
        {
            "executable": "venv/bin/python",
            "version": env["python_version"],
            "full_version": env["python_full_version"],
            "markers": env,
            "tags": ["py3-none-any"],
            "sys_path": ["venv/lib/python3.11/site-packages", "/usr/lib/python3/dist-packages"],
            "prefix": "venv",
            "base_prefix": "/usr",
            "purelib": "venv/lib/python3.11/site-packages",
            "distributions": [
                {"name": name, "version": version, "location": "venv/lib/python3.11/site-packages"}
                for name, version in (installed or {}).items()
            ],
        }
    )


def n(name: str) -> NormalizedName:
    return canonicalize_name(name)


def wheel(name: str, version: str, *, sha256: str | None = "a", size: int | None = 10) -> IndexFile:
    filename = f"{name}-{version}-py3-none-any.whl"
    return IndexFile(
        project=n(name),
        version=Version(version),
        filename=filename,
        url=f"{FILES}/{filename}",
        kind=FileKind.WHEEL,
        sha256=None if sha256 is None else sha256 * 64,
        size=size,
    )


def plan() -> Plan:
    """numpy asked for by name (with a library in the transaction), beniget coming as its
    dependency, pyyaml already installed, opencv registering no metadata, and two wheels."""
    rows = (
        PlannedPackage(
            n("requests"),
            Version("2.31.0"),
            Route.PYPI,
            "pure wheel",
            ("<user>",),
            file=wheel("requests", "2.31.0"),
        ),
        PlannedPackage(
            n("numpy"),
            Version("1.24.2"),
            Route.SYSTEM,
            "native: only platform wheels",
            ("<user>",),
            provider="apt",
            package="python3-numpy",
            distro_version="1:1.24.2-1+deb12u1",
            requested=True,
        ),
        PlannedPackage(
            n("idna"),
            Version("3.6"),
            Route.PYPI,
            "pure wheel",
            ("requests",),
            file=wheel("idna", "3.6", sha256="b"),
        ),
        PlannedPackage(
            n("beniget"),
            Version("0.4.1"),
            Route.SYSTEM,
            "comes with the system packages (dependency)",
            provider="apt",
            package="python3-beniget",
            distro_version="0.4.1-3",
        ),
        PlannedPackage(
            n("pyyaml"),
            Version("6.0"),
            Route.SYSTEM,
            "already installed by the system",
            ("<user>",),
            provider="apt",
            package="python3-yaml",
            distro_version="6.0-3+b2",
            already_installed=True,
        ),
        PlannedPackage(
            n("opencv-python"),
            Version("4.6.0"),
            Route.SYSTEM,
            "native",
            ("<user>",),
            provider="apt",
            package="python3-opencv",
            distro_version="4.6.0+dfsg-12",
            requested=True,
        ),
    )
    closure = (
        ClosureItem("python3-numpy", "1:1.24.2-1+deb12u1", "amd64"),
        ClosureItem("libblas3", "3.11.0-2", "amd64", replaces="3.10.0-1"),
        ClosureItem("python3-beniget", "0.4.1-3", "all"),
        ClosureItem("python3-opencv", "4.6.0+dfsg-12", "amd64"),
    )
    return Plan(rows, "apt", "venv/bin/python", closure, notes=("a note",))


def mapping() -> MappingTable:
    def entry(project: str, package: str, **kwargs: Any) -> MappingEntry:
        return MappingEntry(n(project), (package,), None, None, None, None, "test", **kwargs)

    return MappingTable(
        "debian",
        [
            entry("numpy", "python3-numpy"),
            replace(entry("opencv-python", "python3-opencv"), dist_names=()),
            entry("pyyaml", "python3-yaml", registers_version="0.0.0"),
        ],
    )


def make_lock(p: Plan | None = None) -> Lock:
    p = p or plan()
    return lock_from_plan(
        p,
        machine=MACHINE,
        target=target_facts(target()),
        mapping=mapping(),
        indexes={r.file.url: INDEX for r in p.pypi if r.file is not None},
        requirements=["numpy", "requests", "pyyaml", "opencv-python"],
        constraints=["idna<4"],
    )


def text_of(lock: Lock) -> str:
    return dumps(to_document(lock))


def document() -> dict[str, Any]:
    return loads_toml(text_of(make_lock()))


def dumped(doc: Mapping[str, Any]) -> str:
    return dumps(doc)
