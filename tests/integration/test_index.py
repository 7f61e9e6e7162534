"""SimpleIndexClient against a real HTTP server (FakeIndex), file:// indexes and find-links."""

from __future__ import annotations

import hashlib
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from fakeindex import FakeIndex, build_sdist, build_wheel
from sysnative.cache import Cache
from sysnative.errors import HashMismatch, IndexFailure, ProjectNotFound
from sysnative.index.client import TAIL_BYTES, MetadataUnavailable, SimpleIndexClient
from sysnative.index.http import HttpClient
from sysnative.index.pipconfig import IndexConfig
from sysnative.models import FileKind


def _name(text: str) -> NormalizedName:
    return canonicalize_name(text)


def _client(
    index_url: str,
    cache_dir: Path | None,
    *,
    extra: tuple[str, ...] = (),
    find_links: tuple[str, ...] = (),
    refresh: bool = False,
    page_ttl: float = 600.0,
) -> SimpleIndexClient:
    config = IndexConfig(
        index_url=index_url, extra_index_urls=extra, find_links=find_links, timeout=5.0
    )
    cache = Cache(cache_dir, page_ttl=page_ttl) if cache_dir is not None else None
    # Short backoff: the retry tests should not sleep for long.
    http = HttpClient(timeout=5.0, backoff=0.01)
    return SimpleIndexClient(config, cache, refresh=refresh, http=http)


@pytest.fixture
def client(fake_index_any: FakeIndex, sysnative_cache: Path) -> Iterator[SimpleIndexClient]:
    with _client(fake_index_any.url, sysnative_cache) as c:
        yield c


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- file lists ----------------------------------------------------------------------------


def test_files_have_hashes_kinds_and_absolute_urls(
    fake_index_any: FakeIndex, client: SimpleIndexClient
) -> None:
    wheel = fake_index_any.add_wheel("Demo.Pkg", "1.0")
    fake_index_any.add_wheel("demo-pkg", "1.1", tag="py2.py3-none-any")
    sdist = fake_index_any.add_sdist("demo-pkg", "1.1")

    files = client.get_files(_name("demo-pkg"))

    by_name = {f.filename: f for f in files}
    assert set(by_name) == {wheel.name, "demo_pkg-1.1-py2.py3-none-any.whl", sdist.name}
    first = by_name[wheel.name]
    assert first.sha256 == _sha256(wheel)
    assert first.kind is FileKind.WHEEL
    assert first.version == Version("1.0")
    assert first.is_pure
    # The pages use relative hrefs (../../files/...): they must be resolved.
    assert first.url == fake_index_any.file_url(wheel.name)
    assert by_name[sdist.name].kind is FileKind.SDIST
    assert by_name[sdist.name].sha256 == _sha256(sdist)
    assert len(by_name["demo_pkg-1.1-py2.py3-none-any.whl"].tags) == 2


def test_yanked_files_are_kept_and_marked(
    fake_index_any: FakeIndex, client: SimpleIndexClient
) -> None:
    fake_index_any.add_wheel("demo", "1.0", yanked="broken <build>")
    fake_index_any.add_wheel("demo", "1.1", yanked="")
    fake_index_any.add_wheel("demo", "1.2")

    yanked = {str(f.version): f.yanked for f in client.get_files(_name("demo"))}

    assert yanked == {"1.0": "broken <build>", "1.1": "", "1.2": None}


def test_requires_python_is_parsed(fake_index_any: FakeIndex, client: SimpleIndexClient) -> None:
    fake_index_any.add_wheel("demo", "1.0", requires_python=">=3.8,<4")
    fake_index_any.add_wheel("demo", "0.9")

    rp = {str(f.version): f.requires_python for f in client.get_files(_name("demo"))}

    assert rp == {"1.0": SpecifierSet(">=3.8,<4"), "0.9": None}


def test_unknown_project(fake_index_any: FakeIndex, client: SimpleIndexClient) -> None:
    fake_index_any.add_wheel("demo", "1.0")

    with pytest.raises(ProjectNotFound) as info:
        client.get_files(_name("nope"))

    assert info.value.project == "nope"
    assert fake_index_any.url in str(info.value)


def test_server_error_is_retried_then_reported(
    fake_index: FakeIndex, sysnative_cache: Path
) -> None:
    fake_index.add_wheel("demo", "1.0")
    fake_index.fail_project("demo", status=500)

    with _client(fake_index.url, sysnative_cache) as client, pytest.raises(IndexFailure) as info:
        client.get_files(_name("demo"))

    message = str(info.value)
    assert f"{fake_index.url}/demo/" in message
    assert "HTTP 500" in message
    assert info.value.hint
    assert fake_index.requests[fake_index.page_path("demo")] == 3  # 1 try + 2 retries


def test_credentials_are_redacted_in_errors(fake_index: FakeIndex, sysnative_cache: Path) -> None:
    fake_index.fail_project("demo", status=503)
    url = fake_index.url.replace("http://", "http://alice:s3cret@")

    with _client(url, sysnative_cache) as client, pytest.raises(IndexFailure) as info:
        client.get_files(_name("demo"))

    assert "s3cret" not in str(info.value)
    assert "alice:****@" in str(info.value)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_unreachable_index(sysnative_cache: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/simple"

    with _client(url, sysnative_cache) as client, pytest.raises(IndexFailure) as info:
        client.get_files(_name("demo"))

    assert url in str(info.value)
    assert "connection refused" in str(info.value)


def test_client_error_status_is_reported(fake_index: FakeIndex, sysnative_cache: Path) -> None:
    fake_index.fail_project("demo", status=403)

    with _client(fake_index.url, sysnative_cache) as client, pytest.raises(IndexFailure) as info:
        client.get_files(_name("demo"))

    assert "HTTP 403" in str(info.value)
    assert fake_index.requests[fake_index.page_path("demo")] == 1


# -- metadata strategies ---------------------------------------------------------------------


def _add_demo(index: FakeIndex) -> Path:
    return index.add_wheel(
        "demo",
        "1.0",
        requires_dist=["dep>=2", "not a valid requirement !!"],
        requires_python=">=3.8",
        extras={"fast": ["speedup; python_version >= '3'"]},
    )


def _check_demo_metadata(client: SimpleIndexClient) -> None:
    (file,) = client.get_files(_name("demo"))
    meta = client.get_metadata(file)
    assert meta.name == "demo"
    assert meta.version == Version("1.0")
    assert [str(r) for r in meta.requires_dist] == [
        str(Requirement("dep>=2")),
        str(Requirement('speedup; (python_version >= "3") and extra == "fast"')),
    ]
    assert meta.requires_python == SpecifierSet(">=3.8")
    assert meta.provides_extra == frozenset({"fast"})


def test_metadata_from_advertised_metadata_file(
    fake_index_any: FakeIndex, client: SimpleIndexClient
) -> None:
    wheel = _add_demo(fake_index_any)
    fake_index_any.serve_metadata = False

    _check_demo_metadata(client)

    assert fake_index_any.requests[f"/files/{wheel.name}.metadata"] == 1
    assert fake_index_any.downloads[wheel.name] == 0
    assert fake_index_any.range_requests[wheel.name] == 0


def test_metadata_from_unadvertised_metadata_file(
    fake_index_any: FakeIndex, client: SimpleIndexClient
) -> None:
    wheel = _add_demo(fake_index_any)
    fake_index_any.advertise_metadata = False

    (file,) = client.get_files(_name("demo"))
    assert not file.metadata_advertised
    _check_demo_metadata(client)

    assert fake_index_any.requests[f"/files/{wheel.name}.metadata"] == 1
    assert fake_index_any.downloads[wheel.name] == 0
    assert fake_index_any.range_requests[wheel.name] == 0


def test_metadata_by_range_requests(fake_index_any: FakeIndex, client: SimpleIndexClient) -> None:
    wheel = _add_demo(fake_index_any)
    fake_index_any.advertise_metadata = False
    fake_index_any.serve_metadata = False

    _check_demo_metadata(client)

    assert fake_index_any.range_requests[wheel.name] >= 1
    assert fake_index_any.downloads[wheel.name] == 0


def _metadata_probes(index: FakeIndex, wheels: list[Path]) -> list[str]:
    """How each wheel's metadata was read: "guess", "range" or "guess+range"."""
    ways = []
    for wheel in wheels:
        guessed = index.requests[f"/files/{wheel.name}.metadata"] > 0
        ranged = index.range_requests[wheel.name] > 0
        ways.append("+".join(w for w, used in (("guess", guessed), ("range", ranged)) if used))
    return ways


def _read_metadata_oldest_first(client: SimpleIndexClient) -> None:
    for file in sorted(client.get_files(_name("demo")), key=lambda f: f.version):
        assert client.get_metadata(file).version == file.version


@pytest.mark.parametrize("serve", [True, False])
def test_unadvertised_metadata_is_guessed_while_the_host_serves_it(
    fake_index_any: FakeIndex, client: SimpleIndexClient, serve: bool
) -> None:
    wheels = [fake_index_any.add_wheel("demo", f"1.{minor}") for minor in range(5)]
    fake_index_any.advertise_metadata = False
    fake_index_any.serve_metadata = serve

    _read_metadata_oldest_first(client)

    if serve:
        assert _metadata_probes(fake_index_any, wheels) == ["guess"] * 5
    else:  # two misses, then straight to range requests
        assert _metadata_probes(fake_index_any, wheels) == ["guess+range"] * 2 + ["range"] * 3


def test_answered_guesses_keep_guessing_after_a_few_misses(
    fake_index: FakeIndex, sysnative_cache: Path
) -> None:
    wheels = [fake_index.add_wheel("demo", f"1.{minor}") for minor in range(7)]
    fake_index.advertise_metadata = False

    with _client(fake_index.url, sysnative_cache) as client:
        files = sorted(client.get_files(_name("demo")), key=lambda f: f.version)
        for position, file in enumerate(files):
            fake_index.serve_metadata = position < 2  # two answers, then misses only
            client.get_metadata(file)

    assert _metadata_probes(fake_index, wheels) == [
        *["guess"] * 2,
        *["guess+range"] * 3,  # the third miss outnumbers the answers
        *["range"] * 2,
    ]


def test_metadata_by_range_requests_in_a_large_wheel(
    fake_index: FakeIndex, sysnative_cache: Path
) -> None:
    """The central directory and the member lie beyond the first tail request."""
    filler = {
        f"demo/data/{i:05}.txt": hashlib.sha256(str(i).encode()).hexdigest() * 40
        for i in range(3000)
    }
    wheel = fake_index.add_wheel("demo", "1.0", requires_dist=["dep"], files=filler)
    fake_index.advertise_metadata = False
    fake_index.serve_metadata = False
    assert wheel.stat().st_size > 4 * TAIL_BYTES

    with _client(fake_index.url, sysnative_cache) as client:
        (file,) = client.get_files(_name("demo"))
        meta = client.get_metadata(file)

    assert [str(r) for r in meta.requires_dist] == ["dep"]
    assert fake_index.range_requests[wheel.name] >= 2
    assert fake_index.downloads[wheel.name] == 0


def test_metadata_by_full_download(fake_index_any: FakeIndex, client: SimpleIndexClient) -> None:
    wheel = _add_demo(fake_index_any)
    fake_index_any.advertise_metadata = False
    fake_index_any.serve_metadata = False
    fake_index_any.support_range = False

    _check_demo_metadata(client)

    assert fake_index_any.downloads[wheel.name] == 1


def test_full_download_hash_mismatch(fake_index_any: FakeIndex, client: SimpleIndexClient) -> None:
    wheel = _add_demo(fake_index_any)
    fake_index_any.advertise_metadata = False
    fake_index_any.serve_metadata = False
    fake_index_any.support_range = False
    fake_index_any.corrupt(wheel.name)

    (file,) = client.get_files(_name("demo"))
    with pytest.raises(HashMismatch) as info:
        client.get_metadata(file)

    message = str(info.value)
    assert wheel.name in message
    assert _sha256(wheel) in message
    assert hashlib.sha256(fake_index_any.entries[wheel.name].body).hexdigest() in message


def test_advertised_metadata_hash_mismatch(
    fake_index_any: FakeIndex, client: SimpleIndexClient
) -> None:
    wheel = _add_demo(fake_index_any)
    fake_index_any.corrupt_metadata(wheel.name)

    (file,) = client.get_files(_name("demo"))
    with pytest.raises(HashMismatch, match=wheel.name):
        client.get_metadata(file)


def test_sdist_metadata_is_refused(fake_index: FakeIndex, sysnative_cache: Path) -> None:
    fake_index.add_sdist("demo", "1.0")

    with _client(fake_index.url, sysnative_cache) as client:
        (file,) = client.get_files(_name("demo"))
        with pytest.raises(MetadataUnavailable, match=re.escape("demo-1.0.tar.gz")):
            client.get_metadata(file)


# -- caching ---------------------------------------------------------------------------------


def _warm(index: FakeIndex, cache_dir: Path) -> None:
    with _client(index.url, cache_dir) as client:
        for file in client.get_files(_name("demo")):
            client.get_metadata(file)
    index.reset_counters()


def test_warm_cache_makes_no_requests(fake_index_any: FakeIndex, sysnative_cache: Path) -> None:
    _add_demo(fake_index_any)
    _warm(fake_index_any, sysnative_cache)

    with _client(fake_index_any.url, sysnative_cache) as client:
        _check_demo_metadata(client)

    assert sum(fake_index_any.requests.values()) == 0


def test_refresh_revalidates_pages(fake_index_any: FakeIndex, sysnative_cache: Path) -> None:
    _add_demo(fake_index_any)
    _warm(fake_index_any, sysnative_cache)

    with _client(fake_index_any.url, sysnative_cache, refresh=True) as client:
        _check_demo_metadata(client)

    assert fake_index_any.requests[fake_index_any.page_path("demo")] == 1
    assert fake_index_any.not_modified == 1
    # Metadata is immutable (keyed by the wheel's hash): no request for it.
    assert fake_index_any.page_requests == sum(fake_index_any.requests.values())


def test_stale_page_sees_new_files(fake_index: FakeIndex, sysnative_cache: Path) -> None:
    _add_demo(fake_index)
    _warm(fake_index, sysnative_cache)
    fake_index.add_wheel("demo", "2.0")

    with _client(fake_index.url, sysnative_cache, page_ttl=0) as client:
        versions = {str(f.version) for f in client.get_files(_name("demo"))}

    assert versions == {"1.0", "2.0"}
    assert fake_index.not_modified == 0


def test_corrupt_cache_entries_are_refetched(fake_index: FakeIndex, sysnative_cache: Path) -> None:
    _add_demo(fake_index)
    _warm(fake_index, sysnative_cache)
    damaged = 0
    for path in sysnative_cache.rglob("*"):
        if path.is_file():
            path.write_bytes(path.read_bytes()[:-3] + b"\x00garbage")
            damaged += 1
    assert damaged >= 2

    with _client(fake_index.url, sysnative_cache) as client:
        _check_demo_metadata(client)

    assert fake_index.requests[fake_index.page_path("demo")] == 1


# -- concurrency -----------------------------------------------------------------------------


def test_prefetch_fetches_each_page_once(fake_index_any: FakeIndex, sysnative_cache: Path) -> None:
    names = [_name(f"proj-{i}") for i in range(20)]
    for name in names:
        fake_index_any.add_wheel(name, "1.0", requires_dist=["dep"])

    with _client(fake_index_any.url, sysnative_cache) as client:
        client.prefetch_files(names)
        client.prefetch_files(reversed(names))
        files = [client.get_files(name) for name in names]
        wheels = [f for found in files for f in found]
        client.prefetch_metadata(wheels)
        client.prefetch_metadata(wheels)
        metas = [client.get_metadata(f) for f in wheels]

    assert [m.name for m in metas] == names
    for name in names:
        assert fake_index_any.requests[fake_index_any.page_path(name)] == 1
    metadata_paths = [p for p in fake_index_any.requests if p.endswith(".metadata")]
    assert len(metadata_paths) == 20
    assert all(fake_index_any.requests[p] == 1 for p in metadata_paths)


def test_prefetch_failure_is_raised_by_get(fake_index: FakeIndex, sysnative_cache: Path) -> None:
    fake_index.fail_project("demo", status=500)

    with _client(fake_index.url, sysnative_cache) as client:
        client.prefetch_files([_name("demo")])
        with pytest.raises(IndexFailure):
            client.get_files(_name("demo"))
        with pytest.raises(IndexFailure):
            client.get_files(_name("demo"))

    assert fake_index.requests[fake_index.page_path("demo")] == 3


# -- several sources, local sources ----------------------------------------------------------


def _file_index(root: Path) -> Path:
    """A PEP 503 tree: simple/<project>/index.html linking to ../../files/<file>."""
    files = root / "files"
    wheel = build_wheel(files, "local-pkg", "2.0", requires_dist=["dep"])
    sdist = build_sdist(files, "local-pkg", "2.0")
    page = root / "simple" / "local-pkg"
    page.mkdir(parents=True)
    links = "\n".join(
        f'<a href="../../files/{p.name}#sha256={_sha256(p)}" '
        f'data-requires-python="&gt;=3.9">{p.name}</a>'
        for p in (wheel, sdist)
    )
    (page / "index.html").write_text(f"<!DOCTYPE html><html><body>{links}</body></html>")
    return root / "simple"


def test_file_index(tmp_path: Path, sysnative_cache: Path) -> None:
    simple = _file_index(tmp_path / "repo")

    with _client(simple.as_uri(), sysnative_cache) as client:
        files = client.get_files(_name("local-pkg"))
        wheel = next(f for f in files if f.kind is FileKind.WHEEL)
        meta = client.get_metadata(wheel)
        with pytest.raises(ProjectNotFound):
            client.get_files(_name("missing"))

    assert {f.filename for f in files} == {
        "local_pkg-2.0-py3-none-any.whl",
        "local_pkg-2.0.tar.gz",
    }
    assert wheel.url == (tmp_path / "repo" / "files" / wheel.filename).as_uri()
    assert wheel.requires_python == SpecifierSet(">=3.9")
    assert wheel.sha256 == _sha256(tmp_path / "repo" / "files" / wheel.filename)
    assert [str(r) for r in meta.requires_dist] == ["dep"]


def test_find_links_directory(tmp_path: Path, sysnative_cache: Path) -> None:
    links = tmp_path / "wheels"
    build_wheel(links, "linked", "1.0")
    build_wheel(links, "linked", "1.1", requires_dist=["other"])
    build_wheel(links, "other", "3.0")
    (links / "linked-0.1.egg").write_bytes(b"")
    (links / "README.txt").write_text("not a distribution")
    missing = f"http://127.0.0.1:{_closed_port()}/simple"

    config = IndexConfig(index_url=missing, find_links=(str(links),), no_index=True)
    with SimpleIndexClient(config, Cache(sysnative_cache)) as client:
        files = client.get_files(_name("linked"))
        meta = client.get_metadata(max(files, key=lambda f: f.version))

    assert sorted(f.filename for f in files) == [
        "linked-1.0-py3-none-any.whl",
        "linked-1.1-py3-none-any.whl",
    ]
    assert all(f.url.startswith("file:") for f in files)
    assert [str(r) for r in meta.requires_dist] == ["other"]


def test_sources_are_merged_in_order(
    fake_index: FakeIndex, tmp_path: Path, sysnative_cache: Path
) -> None:
    fake_index.add_wheel("shared", "1.0")
    fake_index.add_wheel("only-main", "1.0")
    simple = _file_index(tmp_path / "repo")
    links = tmp_path / "links"
    build_wheel(links, "shared", "0.5")

    with _client(
        fake_index.url,
        sysnative_cache,
        extra=(simple.as_uri(),),
        find_links=(links.as_uri(),),
    ) as client:
        shared = client.get_files(_name("shared"))
        local = client.get_files(_name("local-pkg"))
        main = client.get_files(_name("only-main"))

    assert [str(f.version) for f in shared] == ["1.0", "0.5"]
    assert len(local) == 2
    assert len(main) == 1
    assert fake_index.requests[fake_index.page_path("local-pkg")] == 1


def test_http_proxy_from_environment(
    fake_index: FakeIndex, sysnative_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index host is unreachable: only the proxy (the fake index) can answer."""
    for var in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("http_proxy", fake_index.root_url)
    _add_demo(fake_index)
    unreachable = f"http://127.0.0.1:{_closed_port()}/simple"

    with _client(unreachable, sysnative_cache) as client:
        (file,) = client.get_files(_name("demo"))
        meta = client.get_metadata(file)

    assert file.url.startswith(unreachable.replace("/simple", "/files/"))
    assert meta.version == Version("1.0")
    assert fake_index.requests[fake_index.page_path("demo")] == 1
