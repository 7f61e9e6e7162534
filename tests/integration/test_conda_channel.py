"""The conda provider against real conda metadata: a channel and environments made by rattler.

No conda tool runs on the development machines, so py-rattler (the conda ecosystem's Rust
implementation, which micromamba-compatible tools such as pixi use) produces what conda
writes: a local channel of tiny ``.tar.bz2`` packages built here, indexed by rattler into
``repodata.json``, solved and installed by rattler into prefixes with ``conda-meta`` records.
The provider's side that reads that metadata (installed versions, verify, site dirs, the
PyPI projects a package installs, version translation, the exact specs it installs with) is
checked against it. The provider's dry runs need a real conda tool and are not run here.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from sysnative.models import ClosureItem
from sysnative.providers.conda.names import install_specs
from sysnative.providers.conda.parse import parse_conda_meta_filename, parse_repodata_json
from sysnative.providers.conda.provider import CondaProvider
from sysnative.providers.conda.version import conda_to_pep440

rattler = pytest.importorskip("rattler")

#: Newer py-rattler renamed ``Platform`` to ``Subdir`` and wraps build strings in
#: ``BuildString``; 0.25 (the last release for Python 3.9) has neither.
Subdir = getattr(rattler, "Subdir", None) or rattler.Platform
BuildString = getattr(rattler, "BuildString", str)

PY_SITE = "lib/python3.11/site-packages"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    build: str
    depends: tuple[str, ...] = ()
    files: tuple[tuple[str, bytes], ...] = ()


#: The channel: a python (two, one free-threaded), a native library, and Python packages with
#: the version shapes the provider must read (post, rc, ``_dev``), pybar at two versions.
PACKAGES = (
    Package("python", "3.11.2", "h1234567_0_cpython", files=(("bin/python3.11", b"#!/bin/sh\n"),)),
    Package("python", "3.13.0", "h2345678_0_cp313t", files=(("bin/python3.13t", b"#!/bin/sh\n"),)),
    Package("libfoo", "1.0.0", "h0abc123_0", files=(("lib/libfoo.so.1", b"\x7fELF"),)),
    Package(
        "pyfoo",
        "2.1.0.post1",
        "py311h0abc123_0",
        ("python >=3.11,<3.12.0a0", "libfoo >=1.0"),
        (
            (f"{PY_SITE}/pyfoo/__init__.py", b"VERSION = '2.1.0.post1'\n"),
            (
                f"{PY_SITE}/pyfoo-2.1.0.post1.dist-info/METADATA",
                b"Metadata-Version: 2.1\nName: pyfoo\nVersion: 2.1.0.post1\n",
            ),
        ),
    ),
    Package("pybar", "0.9", "py311_0", ("python >=3.11,<3.12.0a0",), ((f"{PY_SITE}/bar.py", b""),)),
    Package(
        "pybar", "1.0.0rc1", "py311_0", ("python >=3.11,<3.12.0a0",), ((f"{PY_SITE}/bar.py", b"1"),)
    ),
    Package(
        "pybaz", "3.0.0_dev", "py311_1", ("python >=3.11,<3.12.0a0",), ((f"{PY_SITE}/baz.py", b""),)
    ),
)


def _build(channel: Path, subdir: str, package: Package) -> None:
    """One conda package: ``info/index.json``, ``info/paths.json``, ``info/files``, payload."""
    index = {
        "name": package.name,
        "version": package.version,
        "build": package.build,
        "build_number": int(package.build.rsplit("_", 1)[-1])
        if package.build.rsplit("_", 1)[-1].isdigit()
        else 0,
        "depends": list(package.depends),
        "subdir": subdir,
        "license": "MIT",
        "timestamp": 1700000000000,
    }
    paths = {
        "paths": [
            {
                "_path": path,
                "path_type": "hardlink",
                "sha256": hashlib.sha256(data).hexdigest(),
                "size_in_bytes": len(data),
            }
            for path, data in package.files
        ],
        "paths_version": 1,
    }
    target = channel / subdir / f"{package.name}-{package.version}-{package.build}.tar.bz2"
    with tarfile.open(target, "w:bz2") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))

        add("info/index.json", json.dumps(index).encode())
        add("info/paths.json", json.dumps(paths).encode())
        add("info/files", "".join(f"{path}\n" for path, _ in package.files).encode())
        for path, data in package.files:
            add(path, data)


@dataclass(frozen=True)
class Channel:
    root: Path
    subdir: str


@dataclass(frozen=True)
class Environment:
    prefix: Path
    #: ``(name, version, build)`` of every record rattler's solver chose.
    solved: tuple[tuple[str, str, str], ...]


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Channel:
    root = tmp_path_factory.mktemp("channel")
    subdir = str(Subdir.current())
    (root / subdir).mkdir()
    (root / "noarch").mkdir()
    for package in PACKAGES:
        _build(root, subdir, package)

    async def index() -> None:
        for name in (subdir, "noarch"):
            await rattler.index.index_fs(
                root, target_platform=Subdir(name), write_zst=False, write_shards=False
            )

    asyncio.run(index())
    return Channel(root, subdir)


def _environment(channel: Channel, specs: Sequence[str], base: Path, name: str) -> Environment:
    prefix = base / name

    async def solve_and_install() -> list[Any]:
        records = await rattler.solve(
            [rattler.Channel(channel.root.as_uri())],
            list(specs),
            gateway=rattler.Gateway(cache_dir=base / "gateway"),
            platforms=[Subdir(channel.subdir), Subdir("noarch")],
            virtual_packages=[],
        )
        await rattler.install(
            records, target_prefix=prefix, cache_dir=base / "pkgs", show_progress=False
        )
        return list(records)

    records = asyncio.run(solve_and_install())
    solved = tuple(sorted((r.name.normalized, str(r.version), str(r.build)) for r in records))
    return Environment(prefix, solved)


@pytest.fixture(scope="module")
def environment(channel: Channel, tmp_path_factory: pytest.TempPathFactory) -> Environment:
    return _environment(channel, ["pyfoo", "pybar", "pybaz"], tmp_path_factory.mktemp("env"), "env")


def _provider(prefix: Path, tmp_path: Path) -> CondaProvider:
    # An empty PATH: no conda tool is needed for anything tested here.
    return CondaProvider(env={"CONDA_PREFIX": str(prefix), "PATH": str(tmp_path)})


def _closure(env: Environment) -> list[ClosureItem]:
    return [ClosureItem(name, f"{version}={build}") for name, version, build in env.solved]


def test_rattler_chose_what_the_channel_offers(
    environment: Environment,
) -> None:
    env = environment
    assert env.solved == (
        ("libfoo", "1.0.0", "h0abc123_0"),
        ("pybar", "1.0.0rc1", "py311_0"),  # 1.0.0rc1 > 0.9 in conda's order
        ("pybaz", "3.0.0_dev", "py311_1"),
        ("pyfoo", "2.1.0.post1", "py311h0abc123_0"),
        ("python", "3.11.2", "h1234567_0_cpython"),  # pyfoo needs python <3.12
    )


def test_installed_versions_come_from_conda_meta(environment: Environment, tmp_path: Path) -> None:
    env = environment
    provider = _provider(env.prefix, tmp_path)
    names = [name for name, _, _ in env.solved]
    assert provider.installed_versions([*names, "absent"]) == {
        name: f"{version}={build}" for name, version, build in env.solved
    }
    # the file names agree with the records rattler wrote into them
    for path in sorted((env.prefix / "conda-meta").glob("*.json")):
        record = rattler.PrefixRecord.from_path(path)
        assert parse_conda_meta_filename(path.name) == (
            record.name.normalized,
            str(record.version),
            str(record.build),
        )


def test_verify_reads_the_records_rattler_wrote(
    channel: Channel,
    environment: Environment,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    env = environment
    assert _provider(env.prefix, tmp_path).verify(_closure(env)) == ()

    # The same plan against an environment where rattler installed pybar 0.9 instead.
    older = _environment(
        channel, ["pyfoo", "pybar ==0.9", "pybaz"], tmp_path_factory.mktemp("older"), "env"
    )
    assert ("pybar", "0.9", "py311_0") in older.solved
    assert _provider(older.prefix, tmp_path).verify(_closure(env)) == (
        "pybar: installed at 0.9=py311_0, but the plan has 1.0.0rc1=py311_0",
    )
    # and with a record gone (an interrupted install)
    (older.prefix / "conda-meta" / "pybaz-3.0.0_dev-py311_1.json").unlink()
    assert _provider(older.prefix, tmp_path).verify(
        [ClosureItem("pybaz", "3.0.0_dev=py311_1")]
    ) == ("pybaz 3.0.0_dev=py311_1: not installed",)


def test_repodata_rattler_wrote_parses_into_the_built_packages(channel: Channel) -> None:
    text = (channel.root / channel.subdir / "repodata.json").read_text(encoding="utf-8")
    found = parse_repodata_json(text)
    expected: dict[str, set[str]] = {}
    for package in PACKAGES:
        expected.setdefault(package.name, set()).add(f"{package.version}={package.build}")
    assert {name: {r.distro_version for r in records} for name, records in found.items()} == (
        expected
    )
    assert all(r.subdir == channel.subdir for records in found.values() for r in records)


def test_install_specs_select_exactly_the_installed_records(
    channel: Channel, environment: Environment, tmp_path: Path
) -> None:
    """The specs the provider installs with, parsed by rattler's MatchSpec, match the record
    installed and no other build in the channel; solving them gives the same environment."""
    env = environment
    pairs = [(name, f"{version}={build}") for name, version, build in env.solved]
    specs = install_specs(pairs)
    channel_records = json.loads(
        (channel.root / channel.subdir / "repodata.json").read_text(encoding="utf-8")
    )["packages"]
    installed = {
        path.name: rattler.PrefixRecord.from_path(path)
        for path in (env.prefix / "conda-meta").glob("*.json")
    }
    for spec, (name, version, build) in zip(specs, env.solved):
        match = rattler.MatchSpec(spec)
        assert match.matches(installed[f"{name}-{version}-{build}.json"]), spec
        others = [
            rattler.PackageRecord(
                r["name"], r["version"], BuildString(r["build"]), r["build_number"], r["subdir"]
            )
            for r in channel_records.values()
            if r["name"] == name and (r["version"], r["build"]) != (version, build)
        ]
        assert not any(match.matches(other) for other in others), spec

    again = _environment(channel, specs, tmp_path, "again")
    assert again.solved == env.solved


def test_site_dirs_from_the_python_record(
    channel: Channel,
    environment: Environment,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    env = environment
    provider = _provider(env.prefix, tmp_path)
    (site,) = provider.site_dirs()
    assert Path(site) == env.prefix / PY_SITE
    assert (Path(site) / "pyfoo-2.1.0.post1.dist-info" / "METADATA").is_file()
    assert provider.interpreter() == str(env.prefix / "bin" / "python")

    threaded = _environment(
        channel, ["python ==3.13.0"], tmp_path_factory.mktemp("threaded"), "env"
    )
    assert _provider(threaded.prefix, tmp_path).site_dirs() == (
        str(threaded.prefix / "lib" / "python3.13t" / "site-packages"),
    )


def test_projects_from_dist_info(environment: Environment, tmp_path: Path) -> None:
    env = environment
    records = _provider(env.prefix, tmp_path).installed_records()
    assert records["pyfoo"].projects == ("pyfoo",)
    assert records["pyfoo"].distro_version == "2.1.0.post1=py311h0abc123_0"
    assert records["libfoo"].projects == ()
    assert records["pybar"].projects == ()  # a module without .dist-info declares nothing


def test_to_pep440_follows_conda_order(tmp_path: Path) -> None:
    """The PEP 440 readings sort like rattler's conda ``Version`` does, except the one
    documented difference: a separate ``dev`` segment against another pre-release of the same
    release (conda puts it above them, PEP 440 below)."""
    provider = _provider(tmp_path, tmp_path)
    extra = {"3.0.0", "3.0.0rc1", "3.0.0.post1", "3.0.0dev1", "2.9", "1!0.1"}
    versions = sorted({p.version for p in PACKAGES} | extra)
    translated = {v: provider.to_pep440(v) for v in versions}
    assert str(translated["2.1.0.post1"]) == "2.1.0.post1"
    assert str(translated["1.0.0rc1"]) == "1.0.0rc1"
    assert str(translated["3.0.0_dev"]) == "3.0.0.dev0"
    disagree = set()
    for a, b in combinations(versions, 2):
        pa, pb = translated[a], translated[b]
        assert pa is not None
        assert pb is not None
        assert conda_to_pep440(f"{a}=py311_0") == pa
        if (pa < pb) != (rattler.Version(a) < rattler.Version(b)):
            disagree.add((a, b))
    assert disagree == {("3.0.0_dev", "3.0.0rc1"), ("3.0.0_dev", "3.0.0dev1")}


def test_privileges_on_a_writable_environment(environment: Environment, tmp_path: Path) -> None:
    env = environment
    assert _provider(env.prefix, tmp_path).check_privileges().ok
