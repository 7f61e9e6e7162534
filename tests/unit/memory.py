"""In-memory implementations of the two seams (IndexClient, Provider) for unit tests.

They hold plain data from a fixture case; the code under test is the real resolver,
classifier, router and planner. Integration tests use the real HTTP client and real apt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import parse_tag
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from sysnative.environment import TargetEnvironment
from sysnative.errors import ProjectNotFound
from sysnative.models import ClosureItem, CoreMetadata, FileKind, IndexFile, SystemPackage
from sysnative.providers.debversion import debian_to_pep440

TARGET_TAGS = [
    "cp311-cp311-manylinux_2_17_x86_64",
    "cp311-abi3-manylinux_2_17_x86_64",
    "py3-none-manylinux_2_17_x86_64",
    "cp311-none-any",
    "py3-none-any",
]


def target(
    python: str = "3.11.2", installed: Sequence[Mapping[str, Any]] = ()
) -> TargetEnvironment:
    major_minor = ".".join(python.split(".")[:2])
    return TargetEnvironment.from_json(
        {
            "executable": "python3",
            "version": major_minor,
            "full_version": python,
            "markers": {
                "python_version": major_minor,
                "python_full_version": python,
                "sys_platform": "linux",
                "platform_system": "Linux",
                "platform_machine": "x86_64",
                "os_name": "posix",
                "implementation_name": "cpython",
                "platform_python_implementation": "CPython",
                "platform_release": "",
                "platform_version": "",
                "implementation_version": python,
            },
            "tags": TARGET_TAGS,
            "sys_path": ["/usr/lib/python3/dist-packages"],
            "prefix": "/venv",
            "base_prefix": "/usr",
            "distributions": list(installed),
        }
    )


class MemoryIndex:
    """``{"project": {"1.0": {"tag": "py3-none-any" | "sdist", "requires": [...],
    "requires_python": ">=3.9"}}}``."""

    def __init__(self, data: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> None:
        self._files: dict[NormalizedName, tuple[IndexFile, ...]] = {}
        self._metadata: dict[str, CoreMetadata] = {}
        self.metadata_calls: list[str] = []
        for project, versions in data.items():
            name = canonicalize_name(project)
            files = []
            for version, spec in versions.items():
                tags = spec.get("tag", "py3-none-any")
                for tag in tags if isinstance(tags, list) else [tags]:
                    f = self._file(name, version, tag, spec)
                    files.append(f)
                    self._metadata[f.filename] = CoreMetadata(
                        name,
                        Version(version),
                        tuple(Requirement(r) for r in spec.get("requires", [])),
                        SpecifierSet(spec["requires_python"])
                        if "requires_python" in spec
                        else None,
                    )
            self._files[name] = tuple(files)

    @staticmethod
    def _file(name: NormalizedName, version: str, tag: str, spec: Mapping[str, Any]) -> IndexFile:
        if tag == "sdist":
            filename = f"{name}-{version}.tar.gz"
            return IndexFile(
                name,
                Version(version),
                filename,
                f"mem://{filename}",
                FileKind.SDIST,
                sha256="0" * 64,
            )
        filename = f"{name.replace('-', '_')}-{version}-{tag}.whl"
        return IndexFile(
            name,
            Version(version),
            filename,
            f"mem://{filename}",
            FileKind.WHEEL,
            tags=frozenset(parse_tag(tag)),
            sha256="1" * 64,
            yanked=spec.get("yanked"),
        )

    def get_files(self, project: NormalizedName) -> tuple[IndexFile, ...]:
        if project not in self._files:
            raise ProjectNotFound(project, ("mem://index",))
        return self._files[project]

    def get_metadata(self, file: IndexFile) -> CoreMetadata:
        self.metadata_calls.append(file.filename)
        return self._metadata[file.filename]

    def prefetch_files(self, projects: Iterable[NormalizedName]) -> None:
        list(projects)

    def prefetch_metadata(self, files: Iterable[IndexFile]) -> None:
        list(files)

    def close(self) -> None:
        pass


class MemoryApt:
    """``{"python3-numpy": {"candidate": "1:1.24.2-1", "installed": null, "depends": []}}``."""

    name = "apt"
    ecosystem = "debian"

    def __init__(self, data: Mapping[str, Mapping[str, Any]]) -> None:
        self._data = data
        self.queries: list[tuple[str, ...]] = []
        self.simulations: list[tuple[str, ...]] = []

    def query(self, packages: Sequence[str]) -> dict[str, SystemPackage]:
        self.queries.append(tuple(packages))
        return {
            p: SystemPackage(p, self._data[p].get("candidate"), self._data[p].get("installed"))
            for p in packages
            if p in self._data
        }

    def simulate(self, packages: Sequence[str]) -> tuple[ClosureItem, ...]:
        self.simulations.append(tuple(packages))
        out: list[ClosureItem] = []
        todo = list(packages)
        seen: set[str] = set()
        while todo:
            name = todo.pop(0)
            if name in seen:
                continue
            seen.add(name)
            info = self._data[name]
            todo.extend(info.get("depends", []))
            if info.get("installed") is None:
                out.append(ClosureItem(name, info["candidate"], "amd64"))
        return tuple(out)

    def to_pep440(self, distro_version: str) -> Version | None:
        return debian_to_pep440(distro_version)

    def site_dirs(self) -> tuple[str, ...]:
        return ("/usr/lib/python3/dist-packages",)

    def interpreter(self) -> str:
        return "/usr/bin/python3"

    def prepare(self) -> None:
        pass
