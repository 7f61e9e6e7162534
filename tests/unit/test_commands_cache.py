"""``sysnative cache dir|info|purge``: what each prints, through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sysnative.cli import main


def _fill(root: Path) -> None:
    (root / "wheels").mkdir(parents=True)
    (root / "wheels" / "a.whl").write_bytes(b"x" * 2048)
    (root / "pages").mkdir()
    (root / "pages" / "p").write_bytes(b"y" * 10)


def test_dir_prints_the_cache_directory(
    sysnative_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cache", "dir"]) == 0
    assert capsys.readouterr().out == f"{sysnative_cache}\n"


def test_info_lists_each_kind_with_files_and_size(
    sysnative_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(sysnative_cache)
    assert main(["cache", "info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"Cache: {sysnative_cache}"
    assert lines[1].split() == ["kind", "files", "size", "holds"]
    wheels = next(line for line in lines if line.startswith("wheels "))
    assert wheels.split()[:4] == ["wheels", "1", "2.0", "KB"]
    assert lines[-1].split() == ["total", "2", "2.0", "KB"]


def test_info_as_json(sysnative_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(sysnative_cache)
    assert main(["cache", "info", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["version"] == 1
    assert document["path"] == str(sysnative_cache)
    kinds = {row["kind"]: row for row in document["kinds"]}
    assert (kinds["wheels"]["files"], kinds["wheels"]["bytes"]) == (1, 2048)
    assert kinds["metadata"]["files"] == 0


def test_purge_says_what_it_removed(
    sysnative_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(sysnative_cache)
    assert main(["cache", "purge", "wheels"]) == 0
    assert capsys.readouterr().out == f"Removed 1 file (2.0 KB) from {sysnative_cache}: wheels.\n"
    assert (sysnative_cache / "pages" / "p").is_file()
    assert main(["cache", "purge"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Removed 1 file (10 B) from {sysnative_cache}: pages, parsed-pages,")


def test_purge_refuses_an_unknown_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "purge", "wheels", "everything"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Not a kind of cache entry: everything.\nhint: Kinds: pages,")
