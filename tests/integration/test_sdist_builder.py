"""``--allow-build``'s builder with real pip, against a FakeIndex on 127.0.0.1.

The sdists are built by a PEP 517 backend they carry themselves (``backend-path``, standard
library only: no network, no setuptools), which needs a build requirement the fake index
serves, so each test also shows that pip's build environment gets its requirements from
the indexes sysnative uses. The backend appends each hook it runs to a log
(:data:`fakeindex.BACKEND_LOG`): the tests count preparations and builds with it.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.utils import NormalizedName
from packaging.version import Version

from fakeindex import BACKEND_LOG, FakeIndex
from sysnative.cache import Cache
from sysnative.errors import BuildError
from sysnative.index.http import HttpClient
from sysnative.index.pipconfig import IndexConfig
from sysnative.install.sdists import SdistBuilder
from sysnative.install.staging import stage
from sysnative.models import FileKind, IndexFile
from sysnative.probe import probe
from sysnative.target import TargetEnvironment

HELPER = "zz-build-helper"


@pytest.fixture(scope="module")
def bare_target(tmp_path_factory: pytest.TempPathFactory) -> TargetEnvironment:
    """A venv without pip: the running interpreter's pip serves it with ``--python``."""
    venv = tmp_path_factory.mktemp("target") / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True
    )
    return probe(str(venv / "bin" / "python"))


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "backend.log"
    monkeypatch.setenv(BACKEND_LOG, str(path))
    return path


@pytest.fixture
def http() -> Iterator[HttpClient]:
    client = HttpClient(timeout=5.0, backoff=0.01)
    yield client
    client.close()


def _hooks(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def _sdist_file(index: FakeIndex, name: str, version: str, **options: object) -> IndexFile:
    path = index.add_buildable_sdist(name, version, build_requires=[HELPER], **options)
    entry = index.entries[path.name]
    return IndexFile(
        NormalizedName(name),
        Version(version),
        path.name,
        index.file_url(path.name),
        FileKind.SDIST,
        sha256=entry.sha256,
    )


def _builder(
    index: FakeIndex, http: HttpClient, cache: Cache, target: TargetEnvironment
) -> SdistBuilder:
    return SdistBuilder(IndexConfig(index_url=index.url), http, cache, target)


def test_metadata_is_prepared_once_and_cached_by_hash(
    fake_index: FakeIndex,
    http: HttpClient,
    tmp_path: Path,
    bare_target: TargetEnvironment,
    log: Path,
) -> None:
    fake_index.add_wheel(HELPER, "1.0")
    file = _sdist_file(fake_index, "zz-tiny", "1.0", requires_dist=["idna>=3"])
    cache = Cache(tmp_path / "cache")

    builder = _builder(fake_index, http, cache, bare_target)
    try:
        meta = builder.metadata(file)
        assert builder.metadata(file) is meta
    finally:
        builder.close()

    assert (meta.name, meta.version) == ("zz-tiny", Version("1.0"))
    assert [str(r) for r in meta.requires_dist] == ["idna>=3"]
    assert _hooks(log) == ["zz-tiny 1.0 prepare_metadata_for_build_wheel"]
    # A later run: from the cache, no pip, no download.
    fake_index.reset_counters()
    again = _builder(fake_index, http, cache, bare_target)
    try:
        assert again.metadata(file) == meta
    finally:
        again.close()
    assert len(_hooks(log)) == 1
    assert sum(fake_index.downloads.values()) == 0


def test_build_gives_a_staged_wheel_of_the_release(
    fake_index: FakeIndex,
    http: HttpClient,
    tmp_path: Path,
    bare_target: TargetEnvironment,
    log: Path,
) -> None:
    fake_index.add_wheel(HELPER, "1.0")
    file = _sdist_file(fake_index, "zz-tiny", "1.0")
    cache = Cache(tmp_path / "cache")
    (sdist,) = stage([file], tmp_path / "staged", http, cache=cache)
    builder = _builder(fake_index, http, cache, bare_target)

    wheel = builder.build(sdist, tmp_path / "built")

    assert (wheel.project, wheel.version, wheel.verified) == ("zz-tiny", Version("1.0"), True)
    assert wheel.path.name == "zz_tiny-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel.path) as archive:
        assert "zz_tiny/__init__.py" in archive.namelist()
    assert "zz-tiny 1.0 build_wheel" in _hooks(log)


def test_a_failing_backend_is_a_build_error_naming_the_release(
    fake_index: FakeIndex,
    http: HttpClient,
    tmp_path: Path,
    bare_target: TargetEnvironment,
    log: Path,
) -> None:
    fake_index.add_wheel(HELPER, "1.0")
    file = _sdist_file(fake_index, "zz-broken", "2.0", fail=True)
    builder = _builder(fake_index, http, Cache(tmp_path / "cache"), bare_target)

    with pytest.raises(BuildError) as info:
        builder.metadata(file)

    error = info.value
    assert (error.project, error.version) == ("zz-broken", "2.0")
    assert "zz-broken 2.0: preparing its metadata from its sdist zz_broken-2.0.tar.gz" in (
        error.message
    )
    assert "fails on purpose" in error.output
    assert error.hint is not None
    assert "a release of zz-broken that has a wheel" in error.hint
    builder.close()


def test_a_build_requirement_missing_from_the_index_fails_clearly(
    fake_index: FakeIndex,
    http: HttpClient,
    tmp_path: Path,
    bare_target: TargetEnvironment,
    log: Path,
) -> None:
    """The helper is not served: pip cannot set up the build environment."""
    file = _sdist_file(fake_index, "zz-tiny", "1.0")
    builder = _builder(fake_index, http, Cache(tmp_path / "cache"), bare_target)

    with pytest.raises(BuildError, match=r"zz-tiny 1\.0: preparing its metadata") as info:
        builder.metadata(file)

    assert HELPER in info.value.output
    assert _hooks(log) == []
    builder.close()


def test_a_preparation_that_takes_too_long_is_stopped(
    fake_index: FakeIndex, http: HttpClient, tmp_path: Path, bare_target: TargetEnvironment
) -> None:
    file = _sdist_file(fake_index, "zz-slow", "1.0")
    builder = SdistBuilder(
        IndexConfig(index_url=fake_index.url),
        http,
        Cache(tmp_path / "cache"),
        bare_target,
        pip=[sys.executable, "-c", "import time; time.sleep(30)"],
        metadata_timeout=0.5,
    )

    with pytest.raises(BuildError) as info:
        builder.metadata(file)

    assert "zz-slow 1.0" in info.value.message
    assert "did not finish within" in info.value.message
    assert info.value.hint is not None
    assert "stopped after" in info.value.hint
    builder.close()
