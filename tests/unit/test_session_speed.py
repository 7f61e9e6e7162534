"""The accelerators' switch: one setting turns every accelerator off, and nothing else."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable

import pytest
from packaging.utils import NormalizedName, canonicalize_name

from sysnative.models import CoreMetadata, IndexFile
from sysnative.session import speed
from sysnative.session.cpushare import reserve_cpu


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, True),
        ("", True),
        ("on", True),
        ("1", True),
        ("off", False),
        ("OFF", False),
        (" 0 ", False),
        ("false", False),
        ("no", False),
    ],
)
def test_the_setting_switches_the_accelerators(value: str | None, expected: bool) -> None:
    environ = {} if value is None else {speed.SETTING: value}
    assert speed.enabled(environ) is expected


class RecordingIndex:
    """An index client that records what it is asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def get_files(self, project: NormalizedName) -> tuple[IndexFile, ...]:
        self.asked.append(f"files {project}")
        return ()

    def get_metadata(self, file: IndexFile) -> CoreMetadata:
        self.asked.append(f"metadata {file.filename}")
        return CoreMetadata(name=canonicalize_name("demo"), version=file.version)

    def prefetch_files(self, projects: Iterable[NormalizedName]) -> None:
        self.asked.append(f"prefetch {sorted(projects)}")

    def prefetch_metadata(self, files: Iterable[IndexFile]) -> None:
        self.asked.append("prefetch metadata")

    def close(self) -> None:
        self.asked.append("close")


def test_the_plain_index_asks_only_when_asked() -> None:
    inner = RecordingIndex()
    plain = speed.PlainIndex(inner)

    plain.prefetch_files([canonicalize_name("numpy")])
    plain.prefetch_metadata([])
    assert plain.get_files(canonicalize_name("numpy")) == ()
    plain.close()

    assert inner.asked == ["files numpy", "close"]


def test_the_collector_is_paused_for_the_run_only_when_accelerated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert gc.isenabled()
    try:
        with speed.collector_paused():
            assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
    monkeypatch.setenv(speed.SETTING, "off")
    with speed.collector_paused():
        assert gc.isenabled()


def test_no_cpu_is_reserved_with_the_accelerators_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(speed.SETTING, "off")
    share = reserve_cpu(os.getpid())
    if share is not None:  # give the CPUs back before failing
        share.release()
    assert share is None
