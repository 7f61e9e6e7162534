"""stage(): wheels fetched from a real HTTP server (FakeIndex) or file://, hash-checked, cached."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from packaging.utils import NormalizedName, canonicalize_name

from fakeindex import FakeIndex, build_wheel
from sysnative.cache import Cache
from sysnative.commands.progress import TerminalProgress
from sysnative.errors import HashMismatch, IndexFailure
from sysnative.index.client import SimpleIndexClient
from sysnative.index.http import HttpClient
from sysnative.index.pages import make_index_file
from sysnative.index.pipconfig import IndexConfig
from sysnative.install.staging import StagedWheel, cache_path, stage
from sysnative.models import IndexFile


def _name(text: str) -> NormalizedName:
    return canonicalize_name(text)


def _http(retries: int = 2) -> HttpClient:
    # Short backoff: the retry tests should not sleep for long.
    return HttpClient(timeout=5.0, retries=retries, backoff=0.01)


def _listed(index: FakeIndex, project: str) -> IndexFile:
    """The project's one file, as the index client lists it (URL, sha256 from the page)."""
    config = IndexConfig(index_url=index.url, timeout=5.0)
    with SimpleIndexClient(config, None, http=_http()) as client:
        (file,) = client.get_files(_name(project))
    return file


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _file_requests(index: FakeIndex, filename: str) -> int:
    """Requests for the file in the server's own log (whatever handler answered)."""
    return sum(1 for request, _ in index.server.log if request.path == f"/files/{filename}")


def _noise(kilobytes: int) -> str:
    """Text that does not compress much, so the wheel is about that large."""
    return "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(kilobytes * 32))


def _wheels_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_wheels_are_downloaded_and_verified(
    fake_index_any: FakeIndex, tmp_path: Path, sysnative_cache: Path
) -> None:
    demo = fake_index_any.add_wheel("demo", "1.0", files={"demo/data.txt": _noise(300)})
    dep = fake_index_any.add_wheel("dep", "2.0")
    files = [_listed(fake_index_any, "demo"), _listed(fake_index_any, "dep")]

    staged = stage(files, tmp_path / "stage", _http(), cache=Cache(sysnative_cache))

    assert [(w.project, str(w.version)) for w in staged] == [("demo", "1.0"), ("dep", "2.0")]
    for wheel, source in zip(staged, (demo, dep)):
        assert wheel.path == tmp_path / "stage" / source.name
        assert wheel.path.read_bytes() == source.read_bytes()
        assert wheel.sha256 == _sha256(source)
        assert wheel.verified
    # Nothing else (no partial downloads) is left in the staging directory.
    assert _wheels_in(tmp_path / "stage") == sorted([demo.name, dep.name])


def test_cached_wheels_are_not_downloaded_again(
    fake_index: FakeIndex, tmp_path: Path, sysnative_cache: Path
) -> None:
    demo = fake_index.add_wheel("demo", "1.0")
    file = _listed(fake_index, "demo")
    cache = Cache(sysnative_cache)

    stage([file], tmp_path / "first", _http(), cache=cache)
    (again,) = stage([file], tmp_path / "second", _http(), cache=cache)

    assert _file_requests(fake_index, demo.name) == 1
    assert fake_index.downloads[demo.name] == 1
    assert again.path.read_bytes() == demo.read_bytes()
    assert again.verified
    assert cache_path(cache, _sha256(demo)).read_bytes() == demo.read_bytes()


def test_a_damaged_cache_entry_is_downloaded_again(
    fake_index: FakeIndex, tmp_path: Path, sysnative_cache: Path
) -> None:
    demo = fake_index.add_wheel("demo", "1.0")
    file = _listed(fake_index, "demo")
    cache = Cache(sysnative_cache)
    stage([file], tmp_path / "first", _http(), cache=cache)
    cached = cache_path(cache, _sha256(demo))
    cached.unlink()  # it may be a hard link to the first staged copy
    cached.write_bytes(b"not the wheel")

    (wheel,) = stage([file], tmp_path / "second", _http(), cache=cache)

    assert fake_index.downloads[demo.name] == 2
    assert wheel.path.read_bytes() == demo.read_bytes()
    assert cached.read_bytes() == demo.read_bytes()


def test_hash_mismatch_names_the_file_and_both_hashes_and_stages_nothing(
    fake_index_any: FakeIndex, tmp_path: Path, sysnative_cache: Path
) -> None:
    fake_index_any.add_wheel("good", "1.0")
    bad = fake_index_any.add_wheel("bad", "1.0")
    fake_index_any.corrupt(bad.name)  # the page keeps announcing the original's hash
    files = [_listed(fake_index_any, "good"), _listed(fake_index_any, "bad")]
    expected = _sha256(bad)
    served = fake_index_any.entries[bad.name].body
    actual = hashlib.sha256(served).hexdigest()
    cache = Cache(sysnative_cache)

    with pytest.raises(HashMismatch) as caught:
        stage(files, tmp_path / "stage", _http(), cache=cache)

    message = str(caught.value)
    assert bad.name in message
    assert expected in message
    assert actual in message
    assert _wheels_in(tmp_path / "stage") == []
    assert not cache_path(cache, actual).exists()
    assert not cache_path(cache, expected).exists()
    assert fake_index_any.downloads[bad.name] == 1  # a mismatch is not retried


def test_server_error_is_retried(
    fake_index: FakeIndex, tmp_path: Path, sysnative_cache: Path
) -> None:
    demo = fake_index.add_wheel("demo", "1.0")
    file = _listed(fake_index, "demo")
    # Oneshot handlers answer before the index's own: the first download gets a 500.
    fake_index.server.expect_oneshot_request(f"/files/{demo.name}").respond_with_data(
        "boom", status=500
    )

    (wheel,) = stage([file], tmp_path / "stage", _http(retries=2), cache=None)

    assert _file_requests(fake_index, demo.name) == 2
    assert wheel.path.read_bytes() == demo.read_bytes()


def test_persistent_server_error_fails_and_stages_nothing(
    fake_index: FakeIndex, tmp_path: Path, sysnative_cache: Path
) -> None:
    demo = fake_index.add_wheel("demo", "1.0")
    other = fake_index.add_wheel("other", "1.0")
    files = [_listed(fake_index, "other"), _listed(fake_index, "demo")]
    for _ in range(2):
        fake_index.server.expect_oneshot_request(f"/files/{demo.name}").respond_with_data(
            "boom", status=500
        )

    with pytest.raises(IndexFailure, match=r"HTTP 500.*tried 2 times"):
        stage(files, tmp_path / "stage", _http(retries=1), cache=Cache(sysnative_cache))

    assert _file_requests(fake_index, demo.name) == 2
    assert _wheels_in(tmp_path / "stage") == []
    assert fake_index.downloads[other.name] == 1


def test_missing_file_is_reported(
    fake_index: FakeIndex, tmp_path: Path, sysnative_cache: Path
) -> None:
    file = make_index_file(
        "gone-1.0-py3-none-any.whl", fake_index.file_url("gone-1.0-py3-none-any.whl")
    )
    assert file is not None

    with pytest.raises(IndexFailure, match=r"gone-1\.0-py3-none-any\.whl.*HTTP 404"):
        stage([file], tmp_path / "stage", _http(), cache=None)


def test_file_urls_are_copied_and_a_missing_hash_is_computed_not_claimed(
    tmp_path: Path, sysnative_cache: Path
) -> None:
    local = build_wheel(tmp_path / "find links", "local-pkg", "1.0")
    other = build_wheel(tmp_path / "find links", "unhashed", "2.0")
    announced = make_index_file(local.name, local.as_uri(), sha256=_sha256(local))
    unannounced = make_index_file(other.name, other.as_uri())
    assert announced is not None
    assert unannounced is not None
    cache = Cache(sysnative_cache)

    first, second = stage([announced, unannounced], tmp_path / "stage", _http(), cache=cache)

    assert first == StagedWheel(
        _name("local-pkg"), announced.version, tmp_path / "stage" / local.name, _sha256(local), True
    )
    assert second.sha256 == _sha256(other)
    assert not second.verified
    assert second.path.read_bytes() == other.read_bytes()
    assert local.exists()  # copied, not moved
    assert not (sysnative_cache / "wheels").exists()  # local files are not cached


def test_file_url_with_a_wrong_hash_is_refused(tmp_path: Path, sysnative_cache: Path) -> None:
    local = build_wheel(tmp_path / "links", "local-pkg", "1.0")
    file = make_index_file(local.name, local.as_uri(), sha256="0" * 64)
    assert file is not None

    with pytest.raises(HashMismatch, match="expected sha256 0{64}, got " + _sha256(local)):
        stage([file], tmp_path / "stage", _http(), cache=Cache(sysnative_cache))
    assert _wheels_in(tmp_path / "stage") == []


def test_download_streams_in_chunks(fake_index: FakeIndex, tmp_path: Path) -> None:
    big = fake_index.add_wheel("big", "1.0", files={"big/blob.txt": _noise(200)})
    sink = io.BytesIO()
    chunks: list[int] = []

    response = _http().download(
        fake_index.file_url(big.name), sink, on_progress=chunks.append, chunk_size=4096
    )

    assert response.status == 200
    assert response.body == b""
    assert sink.getvalue() == big.read_bytes()
    assert len(chunks) > 1
    assert max(chunks) <= 4096
    assert sum(chunks) == big.stat().st_size


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_staging_reports_its_progress_as_the_bytes_arrive(
    fake_index: FakeIndex, tmp_path: Path
) -> None:
    """The terminal's line itself is tested in tests/unit/test_commands_progress.py."""
    fake_index.flavour = "json"  # its pages give sizes, so the line shows a total
    fake_index.add_wheel("demo", "1.0", files={"demo/blob.txt": _noise(300)})
    fake_index.add_wheel("dep", "1.0", files={"dep/blob.txt": _noise(200)})
    files = [_listed(fake_index, "demo"), _listed(fake_index, "dep")]
    assert all(f.size for f in files)
    terminal = _Terminal()
    progress = TerminalProgress.for_verbosity(terminal, 0)

    stage(files, tmp_path / "stage", _http(), progress=progress)

    output = terminal.getvalue()
    assert output.count("\n") == 1
    assert output.endswith("\n")
    last = output.rstrip("\n").split("\r")[-1]
    total = sum(f.size or 0 for f in files) / 1_000_000
    assert last.startswith(f"Downloading wheels: 2/2 files, {total:.1f}/{total:.1f} MB")
    assert output.count("\r") > 2, "the line is rewritten as bytes arrive"
