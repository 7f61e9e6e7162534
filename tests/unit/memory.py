"""In-memory implementations of the two seams (IndexClient, Provider) for unit tests.

They hold plain data from a fixture case; the code under test is the real resolver,
classifier, router and planner. Integration tests use the real HTTP client and real apt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import parse_tag
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from sysnative.errors import ProjectNotFound, ProviderError
from sysnative.models import ClosureItem, CoreMetadata, FileKind, IndexFile, SystemPackage
from sysnative.plan.route import Fallback, RoutePolicy
from sysnative.protocols import Privileges
from sysnative.providers.apt.version import debian_to_pep440
from sysnative.target import TargetEnvironment

TARGET_TAGS = [
    "cp311-cp311-manylinux_2_17_x86_64",
    "cp311-abi3-manylinux_2_17_x86_64",
    "py3-none-manylinux_2_17_x86_64",
    "cp311-none-any",
    "py3-none-any",
]


def case_policy(options: Mapping[str, Any]) -> RoutePolicy:
    """A case's ``options`` as the command line would give them: ``native_fallback`` sets
    both fallbacks, ``unpackaged_native``/``system_conflict`` one each, defaults as shipped."""
    both = options.get("native_fallback")
    return RoutePolicy(
        unpackaged=Fallback(options.get("unpackaged_native", both or "wheel")),
        conflict=Fallback(options.get("system_conflict", both or "error")),
        force_system=frozenset(canonicalize_name(n) for n in options.get("system", [])),
        force_pypi=frozenset(canonicalize_name(n) for n in options.get("pypi", [])),
        allow_build=bool(options.get("allow_build", False)),
    )


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
    "requires_python": ">=3.9", "page_requires_python": ">=3.10"}}}``.

    ``requires_python`` is in the metadata only; ``page_requires_python`` is what the index
    page says (``data-requires-python``), so the release is left out before any metadata.

    ``allow_build`` is what the planning session's index says with ``--allow-build``: the
    resolver then lists releases without a wheel through their sdists, and an sdist's
    metadata is served as prepared (``metadata_calls`` records it like a wheel's).
    """

    def __init__(
        self, data: Mapping[str, Mapping[str, Mapping[str, Any]]], *, allow_build: bool = False
    ) -> None:
        self.allow_build = allow_build
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
        page_python = spec.get("page_requires_python")
        requires_python = SpecifierSet(page_python) if page_python is not None else None
        if tag == "sdist":
            filename = f"{name}-{version}.tar.gz"
            return IndexFile(
                name,
                Version(version),
                filename,
                f"mem://{filename}",
                FileKind.SDIST,
                sha256="0" * 64,
                requires_python=requires_python,
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
            requires_python=requires_python,
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
    """``{"python3-numpy": {"candidate": "1:1.24.2-1", "installed": null, "depends": []}}``.

    A dependency may carry a minimum, as in Debian's control files:
    ``"python3-numpy (>= 1:1.24)"``. ``simulate`` then behaves like ``apt-get install -s``:
    it installs what is not installed, upgrades a requested package that has a newer
    candidate, and upgrades a dependency whose installed version is below the minimum (the
    upgrades with ``replaces``, the version installed now).
    """

    name = "apt"
    ecosystem = "debian"

    def __init__(self, data: Mapping[str, Mapping[str, Any]]) -> None:
        self._data = data
        self.queries: list[tuple[str, ...]] = []
        self.simulations: list[tuple[str, ...]] = []
        #: What ``install`` installed: name -> version.
        self.installed_now: dict[str, str] = {}

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
            name, minimum = _dependency(todo.pop(0))
            if name in seen:
                continue
            seen.add(name)
            info = self._data[name]
            todo.extend(info.get("depends", []))
            installed, candidate = info.get("installed"), info["candidate"]
            if installed is None:
                out.append(ClosureItem(name, candidate, "amd64"))
            elif candidate != installed and (
                name in packages or (minimum is not None and _older(installed, minimum))
            ):
                out.append(ClosureItem(name, candidate, "amd64", replaces=installed))
        return tuple(out)

    def to_pep440(self, distro_version: str) -> Version | None:
        return debian_to_pep440(distro_version)

    def site_dirs(self) -> tuple[str, ...]:
        return ("/usr/lib/python3/dist-packages",)

    def interpreter(self) -> str:
        return "/usr/bin/python3"

    def prepare(self) -> bool:
        return True  # always cold: the speculation tests need the guessing to happen

    # -- execution side (minimal: root, the simulation as the truth, installs in memory) --

    def check_privileges(self) -> Privileges:
        return Privileges(ok=True)

    def install_command(
        self,
        packages: Sequence[tuple[str, str]],
        privileges: Privileges,
        *,
        lock_timeout: float = 120.0,
    ) -> list[str]:
        prefix = list(privileges.prefix) if privileges.ok else []
        return [*prefix, "apt-get", "install", "-y", "--", *(f"{n}={v}" for n, v in packages)]

    def check_install(
        self, packages: Sequence[tuple[str, str]], closure: Sequence[ClosureItem]
    ) -> None:
        now = self.simulate([name for name, _ in packages])
        if {(c.name, c.version) for c in now} != {(c.name, c.version) for c in closure}:
            raise ProviderError("apt would now install something other than the plan.")

    def install(
        self,
        packages: Sequence[tuple[str, str]],
        closure: Sequence[ClosureItem],
        privileges: Privileges,
        *,
        lock_timeout: float = 120.0,
        echo: TextIO | None = None,
    ) -> None:
        for item in closure:
            self.installed_now[item.name] = item.version
        for name, version in packages:
            self.installed_now[name] = version

    def recovery(self) -> tuple[str, tuple[str, ...]]:
        return ("`dpkg --audit` lists unfinished packages.", ("dpkg --configure -a",))

    def verify(self, closure: Sequence[ClosureItem]) -> tuple[str, ...]:
        return tuple(
            f"{c.name} {c.version}: not installed"
            for c in closure
            if self.installed_now.get(c.name) != c.version
        )


def _dependency(text: str) -> tuple[str, str | None]:
    """``"python3-numpy (>= 1:1.24)"`` -> ``("python3-numpy", "1:1.24")``."""
    name, _, rest = text.partition("(")
    minimum = rest.strip().rstrip(")").strip()
    if minimum.startswith(">="):
        return name.strip(), minimum[2:].strip()
    return name.strip(), None


def _older(installed: str, minimum: str) -> bool:
    """Debian versions compared through their PEP 440 readings (enough for fixtures)."""
    old, least = debian_to_pep440(installed), debian_to_pep440(minimum)
    return old is not None and least is not None and old < least
