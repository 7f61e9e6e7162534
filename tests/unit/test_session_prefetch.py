"""The dependency-graph prefetcher asks what the resolver will ask, and nothing it will not."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from memory import MemoryIndex, target
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

from sysnative.models import CoreMetadata, IndexFile
from sysnative.session.prefetch import GraphPrefetcher

INDEX: dict[str, dict[str, dict[str, Any]]] = {
    "app": {
        "1.0": {"requires": ["old-dep"]},
        "2.0": {"requires": ["lib>=1", "winonly; sys_platform == 'win32'", "opt; extra == 'x'"]},
        "3.0a1": {"requires": ["pre-dep"]},
    },
    "lib": {"1.0": {"requires": ["leaf"]}, "1.5": {"requires": ["leaf", "new-leaf"]}},
    "leaf": {"1.0": {}},
    "new-leaf": {"1.0": {}},
    "old-dep": {"1.0": {}},
    "pre-dep": {"1.0": {}},
    "winonly": {"1.0": {}},
    "opt": {"1.0": {"requires": ["opt-leaf"]}},
    "opt-leaf": {"1.0": {}},
    "native": {"1.0": {"tag": "sdist"}},
    "system-thing": {"1.0": {"requires": ["behind-system"]}},
    "behind-system": {"1.0": {}},
}


class RecordingIndex(MemoryIndex):
    """A MemoryIndex that records the listings asked for, and can fail one project."""

    def __init__(self, fail: str | None = None) -> None:
        super().__init__(INDEX)
        self.listed: list[str] = []
        self._fail = fail
        self._lock = threading.Lock()

    def get_files(self, project: NormalizedName) -> tuple[IndexFile, ...]:
        with self._lock:
            self.listed.append(project)
        if project == self._fail:
            raise OSError("the index is down")
        return super().get_files(project)

    def get_metadata(self, file: IndexFile) -> CoreMetadata:
        with self._lock:
            return super().get_metadata(file)


def _walk(
    index: RecordingIndex,
    *requirements: str,
    skip: tuple[str, ...] = (),
    constraints: dict[str, str] | None = None,
) -> None:
    prefetcher = GraphPrefetcher(
        index,
        target(),
        skip={canonicalize_name(s) for s in skip},
        constraints={canonicalize_name(k): SpecifierSet(v) for k, v in (constraints or {}).items()},
    )
    prefetcher.start(Requirement(r) for r in requirements)
    ended = prefetcher.wait(timeout=60)  # a deadline against a hang, not a timing assertion
    prefetcher.stop()
    assert ended, "the walk did not end"


def test_walks_the_newest_allowed_versions_dependencies() -> None:
    index = RecordingIndex()
    _walk(index, "app")
    assert sorted(index.listed) == ["app", "leaf", "lib", "new-leaf"]
    assert sorted(index.metadata_calls) == [
        "app-2.0-py3-none-any.whl",
        "leaf-1.0-py3-none-any.whl",
        "lib-1.5-py3-none-any.whl",
        "new_leaf-1.0-py3-none-any.whl",
    ]


def test_pins_and_constraints_choose_the_version() -> None:
    index = RecordingIndex()
    _walk(index, "app==1.0")
    assert sorted(index.listed) == ["app", "old-dep"]
    index = RecordingIndex()
    _walk(index, "app", constraints={"lib": "<1.5"})
    assert "new-leaf" not in index.listed
    assert "lib-1.0-py3-none-any.whl" in index.metadata_calls


def test_prereleases_only_when_asked_for() -> None:
    index = RecordingIndex()
    _walk(index, "app>=3.0a1")
    assert sorted(index.listed) == ["app", "pre-dep"]


def test_extras_follow_their_requirements() -> None:
    index = RecordingIndex()
    _walk(index, "app[x]")
    assert {"opt", "opt-leaf"} <= set(index.listed)
    assert "winonly" not in index.listed  # the target is Linux


def test_markers_of_top_level_requirements_apply() -> None:
    index = RecordingIndex()
    _walk(index, "winonly; sys_platform == 'win32'", "leaf")
    assert index.listed == ["leaf"]


def test_system_projects_and_native_ones_end_the_walk() -> None:
    index = RecordingIndex()
    _walk(index, "system-thing", "native", skip=("system-thing",))
    assert index.listed == ["native"]  # listed, but no wheel: no metadata to read
    assert index.metadata_calls == []


def test_a_failing_project_stops_only_its_branch() -> None:
    index = RecordingIndex(fail="lib")
    _walk(index, "app", "leaf")
    assert sorted(index.listed) == ["app", "leaf", "lib"]


def test_nothing_is_asked_after_stop() -> None:
    index = RecordingIndex()
    prefetcher = GraphPrefetcher(index, target())
    prefetcher.stop()
    prefetcher.start([Requirement("app")])
    assert index.listed == []


@pytest.mark.parametrize("limit", [1, 2])
def test_the_walk_is_bounded(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    monkeypatch.setattr("sysnative.session.prefetch.MAX_PROJECTS", limit)
    index = RecordingIndex()
    _walk(index, "app")
    assert len(index.listed) == limit
