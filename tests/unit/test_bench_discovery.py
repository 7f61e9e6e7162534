"""benchmarks/bench.py's set discovery: the own sets and the shared corpus, merged by stem.

The benchmark is not part of the package, so it is loaded from its path.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "bench.py"

#: ``discover_sets(sets_dir, corpus_dir)``; either may be None or absent.
Discover = Callable[..., list[Path]]


@pytest.fixture(scope="module")
def bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def discover(bench: Any) -> Discover:
    function: Discover = bench.discover_sets
    return function


def _write(directory: Path, *names: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_text("requests\n", encoding="utf-8")


def test_merges_both_directories_sorted_by_stem(tmp_path: Path, discover: Discover) -> None:
    sets, corpus = tmp_path / "sets", tmp_path / "corpus"
    _write(sets, "basic.txt", "web_pure.txt")
    _write(corpus, "arrow.txt", "zeta.txt")
    assert discover(sets, corpus) == [
        corpus / "arrow.txt",
        sets / "basic.txt",
        sets / "web_pure.txt",
        corpus / "zeta.txt",
    ]


def test_a_shared_stem_runs_once_from_the_corpus(tmp_path: Path, discover: Discover) -> None:
    sets, corpus = tmp_path / "sets", tmp_path / "corpus"
    _write(sets, "statsmodels.txt", "basic.txt")
    _write(corpus, "statsmodels.txt")
    assert discover(sets, corpus) == [sets / "basic.txt", corpus / "statsmodels.txt"]


def test_a_missing_corpus_is_skipped(tmp_path: Path, discover: Discover) -> None:
    sets = tmp_path / "sets"
    _write(sets, "basic.txt")
    assert discover(sets, tmp_path / "absent") == [sets / "basic.txt"]
    assert discover(sets, None) == [sets / "basic.txt"]


def test_only_txt_files_count(tmp_path: Path, discover: Discover) -> None:
    corpus = tmp_path / "corpus"
    _write(corpus, "one.txt", "notes.md", "two.txt.orig")
    (corpus / "dir.txt").mkdir()
    assert discover(tmp_path / "absent", corpus) == [corpus / "one.txt"]


def test_default_corpus_is_next_to_the_repository(bench: Any) -> None:
    corpus, sets = bench.DEFAULT_CORPUS, bench.SETS_DIR
    assert corpus == ROOT.parent / "shared" / "corpus"
    assert sets == ROOT / "benchmarks" / "sets"


def test_two_builds_compare_on_an_explained_conflict_too(bench: Any) -> None:
    """``--baseline``: the same ending (an explained conflict, exit 1) compares; pip's row
    compares only plans."""
    explained_now = bench.Outcome(1.0, 1, "error: the system's version of x ...")
    explained_before = bench.Outcome(2.0, 1, "error: the system's version of x ...")
    planned = bench.Outcome(4.0, 0)
    assert bench.comparable(explained_now, explained_before, same_ending=True)
    assert not bench.comparable(explained_now, planned, same_ending=True)
    assert not bench.comparable(explained_now, explained_before)
    row = bench.format_row(
        "geo", 24, explained_now, explained_before, other="baseline", same_ending=True
    )
    assert "0.50x" in row
    assert "baseline conflict explained in 2.00s (exit 1)" in row
