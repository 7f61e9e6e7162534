"""The cache's housekeeping: unused entries age out, and `sysnative cache` shows and empties it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from sysnative.cache import KINDS, STALE_AFTER, mark_used, prune, purge, usage
from sysnative.cli import main


def _write(path: Path, size: int, *, age: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    if age:
        then = time.time() - age
        os.utime(path, (then, then))
    return path


def test_prune_removes_only_old_entries_of_the_pattern(tmp_path: Path) -> None:
    old = _write(tmp_path / "simulate-old.txt", 1, age=STALE_AFTER + 3600)
    recent = _write(tmp_path / "simulate-new.txt", 1, age=STALE_AFTER - 3600)
    other = _write(tmp_path / "pkgcache.bin", 1, age=STALE_AFTER + 3600)

    assert prune(tmp_path, "simulate-*.txt") == 1

    assert not old.exists()
    assert recent.exists()
    assert other.exists()  # not an entry of that kind


def test_an_entry_in_use_is_kept(tmp_path: Path) -> None:
    entry = _write(tmp_path / "probe.json", 1, age=STALE_AFTER + 3600)
    mark_used(entry)
    assert prune(tmp_path, "*.json") == 0
    assert entry.exists()


def test_usage_and_purge_touch_only_known_kinds(tmp_path: Path) -> None:
    _write(tmp_path / "pages" / "ab" / "page", 100)
    _write(tmp_path / "wheels" / "cd" / "wheel", 1000)
    _write(tmp_path / "wheels" / "ef" / "wheel", 24)
    stranger = _write(tmp_path / "not-ours" / "file", 5)

    found = {u.kind: (u.files, u.size) for u in usage(tmp_path)}
    assert list(found) == list(KINDS)
    assert found["pages"] == (1, 100)
    assert found["wheels"] == (2, 1024)
    assert found["apt"] == (0, 0)

    purge(tmp_path, ["wheels"])
    assert not (tmp_path / "wheels").exists()
    assert (tmp_path / "pages").exists()
    purge(tmp_path, list(KINDS))
    assert stranger.exists()
    with pytest.raises(ValueError, match="not a cache kind"):
        purge(tmp_path, ["not-ours"])


def test_cache_command(sysnative_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(sysnative_cache / "metadata" / "ab" / "entry", 2048)
    _write(sysnative_cache / "apt" / "key" / "pkgcache.bin", 3 * 1024 * 1024)

    assert main(["cache", "dir"]) == 0
    assert capsys.readouterr().out == f"{sysnative_cache}\n"

    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert "metadata             1     2.0 KB" in out
    assert "apt                  1     3.0 MB" in out
    assert "total                2     3.0 MB" in out

    assert main(["cache", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["path"] == str(sysnative_cache)
    assert {k["kind"]: k["bytes"] for k in info["kinds"]}["apt"] == 3 * 1024 * 1024

    assert main(["cache", "purge", "apt"]) == 0
    assert capsys.readouterr().out == f"Removed 1 file (3.0 MB) from {sysnative_cache}: apt.\n"
    assert (sysnative_cache / "metadata").exists()

    assert main(["cache", "purge", "apt", "nonsense"]) == 2
    err = capsys.readouterr().err
    assert "Not a kind of cache entry: nonsense." in err
    assert "Kinds: pages, parsed-pages, metadata" in err

    assert main(["cache", "purge"]) == 0
    assert "Removed 1 file (2.0 KB)" in capsys.readouterr().out
    assert not (sysnative_cache / "metadata").exists()
