"""The on-disk cache of the target probe (``probe(..., cache_dir=...)``).

Each test probes a real venv made in ``tmp_path`` (symlinks, no pip: quick). The working
directory and the user base are moved into ``tmp_path`` too, because both are part of what
the probe's answer depends on. Whether the interpreter ran is seen through a spy on
``sysnative.probe.run``; whether an entry was stored, in the cache directory itself.

The probe clock is moved an hour ahead by default, so that the venv just made counts as old
and entries are stored; the tests of racy entries use the real clock or set times by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import venv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from sysnative import probe as probe_module
from sysnative import runner
from sysnative.probe import probe
from sysnative.runner import Completed
from sysnative.target import TargetEnvironment

HOUR_NS = 3600 * 10**9


@dataclass
class Target:
    """A venv to probe, and where its probes are cached."""

    python: str
    site_packages: Path
    cache_dir: Path
    user_base: Path
    #: How many times the interpreter was run (the spy on ``run``).
    runs: int = 0

    def probe(self) -> TargetEnvironment:
        return probe(self.python, cache_dir=self.cache_dir)

    def entries(self) -> list[Path]:
        return sorted((self.cache_dir / "probe").glob("*.json"))


def make_venv(path: Path, *, system_site_packages: bool = False) -> Path:
    """A venv at ``path``; its site-packages directory."""
    venv.EnvBuilder(
        symlinks=True, with_pip=False, system_site_packages=system_site_packages
    ).create(path)
    (site_packages,) = path.glob("lib/python3*/site-packages")
    return site_packages


def add_dist(site_dir: Path, name: str, version: str) -> Path:
    """A minimal installed distribution: a ``.dist-info`` with just ``METADATA``."""
    dist_info = site_dir / f"{name}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    write_metadata(dist_info, name, version)
    return dist_info


def write_metadata(dist_info: Path, name: str, version: str) -> None:
    text = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    (dist_info / "METADATA").write_text(text, encoding="utf-8")


def version_of(env: TargetEnvironment, name: str) -> str | None:
    dist = env.installed.get(canonicalize_name(name))
    return None if dist is None else str(dist.version)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Sets the probe clock to a fixed time (nanoseconds); starts an hour ahead."""

    def set_clock(now_ns: int) -> None:
        monkeypatch.setattr(probe_module, "_now_ns", lambda: now_ns)

    set_clock(time.time_ns() + HOUR_NS)
    return set_clock


def isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Working directory and user base inside ``tmp_path``, no path variables; the user base."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    user_base = tmp_path / "userbase"
    monkeypatch.setenv("PYTHONUSERBASE", str(user_base))
    for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONNOUSERSITE", "PYTHONSAFEPATH"):
        monkeypatch.delenv(name, raising=False)
    return user_base


def spy_on_runs(monkeypatch: pytest.MonkeyPatch, target: Target) -> None:
    real_run = runner.run

    def counting_run(*args: Any, **kwargs: Any) -> Completed:
        target.runs += 1
        return real_run(*args, **kwargs)

    monkeypatch.setattr(probe_module, "run", counting_run)


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Callable[[int], None]) -> Target:
    user_base = isolate(monkeypatch, tmp_path)
    site_packages = make_venv(tmp_path / "venv")
    made = Target(
        str(tmp_path / "venv" / "bin" / "python"), site_packages, tmp_path / "cache", user_base
    )
    spy_on_runs(monkeypatch, made)
    return made


def test_hit_does_not_run_the_interpreter(target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    first = target.probe()
    assert target.runs == 1
    assert len(target.entries()) == 1

    def no_run(*args: object, **kwargs: object) -> Completed:
        raise AssertionError("the interpreter was run despite a valid cache entry")

    monkeypatch.setattr(probe_module, "run", no_run)
    assert target.probe() == first


def test_cached_answer_equals_a_fresh_probe(target: Target) -> None:
    target.probe()
    assert target.probe() == probe(target.python)
    assert target.runs == 2  # the cached probe once, the uncached one once


def test_new_dist_info_is_seen(target: Target) -> None:
    assert version_of(target.probe(), "demo") is None
    add_dist(target.site_packages, "demo", "1.0")
    assert version_of(target.probe(), "demo") == "1.0"
    assert target.runs == 2
    # ... and the new answer is what is cached now.
    assert version_of(target.probe(), "demo") == "1.0"
    assert target.runs == 2


def test_removed_dist_info_is_seen(target: Target) -> None:
    dist_info = add_dist(target.site_packages, "demo", "1.0")
    assert version_of(target.probe(), "demo") == "1.0"
    for child in dist_info.iterdir():
        child.unlink()
    dist_info.rmdir()
    assert version_of(target.probe(), "demo") is None


def test_metadata_rewritten_in_place_is_seen(target: Target) -> None:
    """As ``setup.py develop`` rewrites ``PKG-INFO``: the directory's times do not change."""
    dist_info = add_dist(target.site_packages, "demo", "1.0")
    assert version_of(target.probe(), "demo") == "1.0"
    write_metadata(dist_info, "demo", "10.0")
    assert version_of(target.probe(), "demo") == "10.0"


def test_pyvenv_cfg_change_is_seen(target: Target) -> None:
    assert target.probe().include_system_site_packages is False
    cfg = Path(target.python).parent.parent / "pyvenv.cfg"
    text = cfg.read_text(encoding="utf-8")
    cfg.write_text(
        text.replace("include-system-site-packages = false", "include-system-site-packages = true"),
        encoding="utf-8",
    )
    assert target.probe().include_system_site_packages is True


def test_creating_the_user_site_is_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Callable[[int], None]
) -> None:
    """A venv with system site packages also sees the user site, once it exists."""
    user_base = isolate(monkeypatch, tmp_path)
    site_packages = make_venv(tmp_path / "venv", system_site_packages=True)
    made = Target(
        str(tmp_path / "venv" / "bin" / "python"), site_packages, tmp_path / "c", user_base
    )
    spy_on_runs(monkeypatch, made)
    before = made.probe()
    assert before.user_site is not None
    assert Path(before.user_site).is_relative_to(user_base)
    assert not Path(before.user_site).exists()
    assert version_of(before, "userdemo") is None

    add_dist(Path(before.user_site), "userdemo", "2.0")
    after = made.probe()
    assert made.runs == 2
    assert version_of(after, "userdemo") == "2.0"
    assert after.sees(before.user_site)


def test_user_site_is_watched_even_where_it_is_not_used(target: Target) -> None:
    """In a plain venv the user site is off; creating it still counts as a change (cheap and
    safe), and the probe reports where it would be."""
    user_site = target.probe().user_site
    assert user_site is not None
    assert Path(user_site).is_relative_to(target.user_base)
    Path(user_site).mkdir(parents=True)
    target.probe()
    assert target.runs == 2


def test_pythonpath_is_part_of_the_key(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert version_of(target.probe(), "extra") is None
    extra = tmp_path / "extra"
    add_dist(extra, "extra", "3.0")
    monkeypatch.setenv("PYTHONPATH", str(extra))
    with_path = target.probe()
    assert version_of(with_path, "extra") == "3.0"
    assert with_path.sees(str(extra))
    assert len(target.entries()) == 2
    monkeypatch.delenv("PYTHONPATH")
    assert version_of(target.probe(), "extra") is None
    assert target.runs == 2  # the first entry is still good


def test_working_directory_is_part_of_the_key(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -c`` searches the working directory for distributions too."""
    assert version_of(target.probe(), "here") is None
    elsewhere = tmp_path / "elsewhere"
    add_dist(elsewhere, "here", "4.0")
    monkeypatch.chdir(elsewhere)
    assert version_of(target.probe(), "here") == "4.0"
    add_dist(elsewhere, "there", "5.0")
    assert version_of(target.probe(), "there") == "5.0"


def test_replaced_interpreter_is_run_again(target: Target) -> None:
    """The venv's ``python`` symlink becomes a copy of the binary: another file, same path."""
    first = target.probe()
    link = Path(target.python)
    real = link.resolve()
    link.unlink()
    shutil.copy2(real, link)
    assert target.probe() == first
    assert target.runs == 2


def test_a_bare_name_is_looked_up_on_path(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--python python``: which ``python`` runs depends on ``PATH`` (here: which venv is
    "activated"), and so does the answer."""
    other_site = make_venv(tmp_path / "other")
    add_dist(other_site, "other-only", "1.0")
    monkeypatch.setenv("PATH", str(tmp_path / "venv" / "bin"))
    assert version_of(probe("python", cache_dir=target.cache_dir), "other-only") is None
    monkeypatch.setenv("PATH", str(tmp_path / "other" / "bin"))
    assert version_of(probe("python", cache_dir=target.cache_dir), "other-only") == "1.0"


def test_a_racy_entry_is_not_stored(target: Target, clock: Callable[[int], None]) -> None:
    """A directory changed at (or after) the moment the probe started: no entry."""
    now_ns = time.time_ns() + HOUR_NS
    clock(now_ns)
    os.utime(target.site_packages, ns=(now_ns, now_ns))
    target.probe()
    assert target.entries() == []
    # Comfortably before the probe started: stored.
    earlier = now_ns - 3 * 10**9
    os.utime(target.site_packages, ns=(earlier, earlier))
    target.probe()
    assert len(target.entries()) == 1


def test_a_venv_made_just_now_is_not_cached_with_the_real_clock(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(probe_module, "_now_ns", time.time_ns)
    target.probe()
    assert target.entries() == []


def test_an_install_during_the_probe_is_not_cached(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Something lands in site-packages while the interpreter runs: the answer may or may
    not include it, so it must not be stored (and the next probe must see the install)."""
    monkeypatch.setattr(probe_module, "_now_ns", time.time_ns)
    monkeypatch.setattr(probe_module, "_RACY_SLACK_NS", 0)
    # Before the probe starts, the venv is old enough... unless its times are too coarse.
    past_ns = time.time_ns() - HOUR_NS
    os.utime(target.site_packages, ns=(past_ns, past_ns))
    real_run = runner.run

    def run_then_install(*args: Any, **kwargs: Any) -> Completed:
        done = real_run(*args, **kwargs)
        add_dist(target.site_packages, "late", "1.0")
        return done

    monkeypatch.setattr(probe_module, "run", run_then_install)
    assert version_of(target.probe(), "late") is None
    assert target.entries() == []
    monkeypatch.setattr(probe_module, "run", real_run)
    assert version_of(target.probe(), "late") == "1.0"


def _truncate(raw: bytes) -> bytes:
    return raw[: len(raw) // 2]


def _edit(change: Callable[[dict[str, Any]], None]) -> Callable[[bytes], bytes]:
    def edit(raw: bytes) -> bytes:
        entry = json.loads(raw)
        change(entry)
        return json.dumps(entry).encode()

    return edit


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: b"",
        lambda raw: b"\x00\xff not json",
        lambda raw: b"[1, 2, 3]",
        _truncate,
        _edit(lambda e: e.update(watched="nope")),
        _edit(lambda e: e.update(watched=[])),
        _edit(lambda e: e["watched"][0].__setitem__(1, ["x", 1, 2, 3])),
        _edit(lambda e: e["watched"][0].__setitem__(1, [1, 2, 3])),
        _edit(lambda e: e["watched"].append(42)),
        _edit(lambda e: e["probe"].pop("executable")),
        _edit(lambda e: e["probe"].update(distributions="not a list")),
        _edit(lambda e: e["probe"].update(tags=["no-dashes"])),
        _edit(lambda e: e["probe"].update(distributions=[{"version": "1"}])),
        _edit(lambda e: e.update(key="another key")),
        _edit(lambda e: e.update(probe=None)),
    ],
    ids=[
        "empty",
        "garbage",
        "not-an-object",
        "truncated",
        "watched-not-a-list",
        "watched-empty",
        "signature-not-ints",
        "signature-short",
        "watched-row-not-a-list",
        "probe-without-executable",
        "distributions-not-a-list",
        "bad-tag",
        "distribution-without-name",
        "other-key",
        "no-probe",
    ],
)
def test_a_damaged_entry_means_a_fresh_probe(
    target: Target, damage: Callable[[bytes], bytes]
) -> None:
    fresh = target.probe()
    (entry,) = target.entries()
    entry.write_bytes(damage(entry.read_bytes()))
    assert target.probe() == fresh
    assert target.runs == 2
    # The entry was replaced by a good one.
    assert target.probe() == fresh
    assert target.runs == 2


def test_an_unreadable_cache_directory_costs_only_the_probe(target: Target) -> None:
    target.cache_dir.mkdir()
    (target.cache_dir / "probe").write_text("a file where the directory should be")
    first = target.probe()
    assert target.probe() == first
    assert target.runs == 2


def test_no_cache_dir_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sysnative_cache: Path, clock: object
) -> None:
    isolate(monkeypatch, tmp_path)
    make_venv(tmp_path / "venv")
    probe(str(tmp_path / "venv" / "bin" / "python"))
    assert list(sysnative_cache.iterdir()) == []
    assert {p.name for p in tmp_path.iterdir()} == {"work", "venv"}
    assert list((tmp_path / "work").iterdir()) == []


def test_from_json_without_user_site() -> None:
    """Answers recorded before the probe reported the user site still load."""
    env = TargetEnvironment.from_json(
        {"executable": "python3", "version": "3.11", "full_version": "3.11.2"}
    )
    assert env.user_site is None


def test_entries_unused_for_a_month_go_when_a_new_one_is_written(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sysnative.cache import STALE_AFTER

    target.probe()
    (used,) = target.entries()
    forgotten = used.with_name("0" * 64 + ".json")
    forgotten.write_bytes(b"{}")  # the probe of a place or a sysnative long gone
    month_ago = time.time() - STALE_AFTER - 3600
    for entry in (used, forgotten):
        os.utime(entry, (month_ago, month_ago))

    target.probe()  # a hit: the entry is marked as used
    assert used.stat().st_mtime > month_ago
    monkeypatch.chdir(tmp_path)  # another working directory: another entry is written
    target.probe()

    assert not forgotten.exists()
    assert used.exists()
    assert len(target.entries()) == 2
