"""AptProvider against the real apt tools and a local repository built by the test."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from packaging.version import Version

import sysnative.providers.apt.provider as apt_module
import sysnative.providers.base as base_module
from aptrepo import LocalAptRepo, local_apt_repo  # noqa: F401
from sysnative.errors import ProviderError, ProviderUnavailable
from sysnative.models import ClosureItem
from sysnative.protocols import Provider
from sysnative.runner import Completed
from sysnative.runner import run as real_run

pytestmark = pytest.mark.apt


@pytest.fixture
def repo(local_apt_repo: LocalAptRepo) -> LocalAptRepo:  # noqa: F811
    """a -> b -> c, an upgradable c, a broken d, and a package shipping a Python module."""
    local_apt_repo.add("pkg-a", "1.0-1", depends=["pkg-b (>= 1.0)"])
    local_apt_repo.add("pkg-b", "1:2.0+dfsg-1", depends=["pkg-c"])
    local_apt_repo.add("pkg-c", "3.0~rc1-1")
    local_apt_repo.add("pkg-d", "1.0-1", depends=["not-in-the-repo"])
    local_apt_repo.add("pkg-virt-user", "1.0-1", provides=["pkg-virtual"])
    local_apt_repo.add(
        "python3-foo",
        "1.0-2",
        files={
            "usr/lib/python3/dist-packages/foo/__init__.py": "VERSION = '1.0'\n",
            "usr/lib/python3/dist-packages/foo-1.0.dist-info/METADATA": (
                "Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n"
            ),
        },
    )
    local_apt_repo.publish()
    return local_apt_repo


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """Every argv the provider runs, while still running it for real."""
    seen: list[tuple[str, ...]] = []

    def counting_run(argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> Completed:
        seen.append(tuple(argv))
        return real_run(argv, env=env)

    monkeypatch.setattr(base_module, "run", counting_run)
    return seen


def provider(repo: LocalAptRepo) -> apt_module.AptProvider:
    return apt_module.AptProvider(env=repo.env)


# -- query -----------------------------------------------------------------------------------


def test_query_candidates_and_installed(repo: LocalAptRepo) -> None:
    repo.mark_installed("pkg-c", "2.0-1")
    found = provider(repo).query(["pkg-a", "pkg-b", "pkg-c", "nothing-here"])
    assert set(found) == {"pkg-a", "pkg-b", "pkg-c"}
    assert found["pkg-a"].candidate == "1.0-1"
    assert found["pkg-a"].installed is None
    assert found["pkg-b"].candidate == "1:2.0+dfsg-1"
    assert found["pkg-c"].installed == "2.0-1"
    assert found["pkg-c"].candidate == "3.0~rc1-1"
    assert found["pkg-a"].architecture  # dpkg's native architecture
    p = provider(repo)
    assert p.to_pep440(found["pkg-b"].candidate or "") == Version("2.0")
    assert p.to_pep440(found["pkg-c"].candidate or "") == Version("3.0rc1")


def test_query_virtual_package_has_no_candidate(repo: LocalAptRepo) -> None:
    found = provider(repo).query(["pkg-virtual"])
    assert found["pkg-virtual"].candidate is None
    assert found["pkg-virtual"].installed is None


def test_query_ignores_regex_answers(repo: LocalAptRepo) -> None:
    """``pkg-.`` is a valid package name but not a package: no answer for ``pkg-a`` & co."""
    assert provider(repo).query(["pkg-."]) == {}


def test_query_is_one_apt_cache_call(repo: LocalAptRepo, calls: list[tuple[str, ...]]) -> None:
    names = ["pkg-a", "pkg-b", "pkg-c"] + [f"missing-{i}" for i in range(27)]
    found = provider(repo).query(names)
    assert set(found) == {"pkg-a", "pkg-b", "pkg-c"}
    apt_cache = [argv for argv in calls if argv[0] == "apt-cache"]
    assert len(apt_cache) == 1
    argv = apt_cache[0]
    assert argv[argv.index("--") + 1 :] == tuple(names)


def test_query_empty_runs_nothing(repo: LocalAptRepo, calls: list[tuple[str, ...]]) -> None:
    assert provider(repo).query([]) == {}
    assert calls == []


# -- simulate --------------------------------------------------------------------------------


def test_simulate_closure_with_dependencies(repo: LocalAptRepo) -> None:
    closure = provider(repo).simulate(["pkg-a"])
    assert {item.name for item in closure} == {"pkg-a", "pkg-b", "pkg-c"}
    # apt installs dependencies first
    assert [item.name for item in closure][-1] == "pkg-a"
    assert ClosureItem("pkg-b", "1:2.0+dfsg-1", "all", None) in closure


def test_simulate_excludes_installed_and_shows_upgrades(repo: LocalAptRepo) -> None:
    repo.mark_installed("pkg-b", "1:2.0+dfsg-1")
    repo.mark_installed("pkg-c", "2.0-1")
    closure = provider(repo).simulate(["pkg-a", "pkg-c"])
    by_name = {item.name: item for item in closure}
    assert "pkg-b" not in by_name
    assert by_name["pkg-a"].replaces is None
    assert by_name["pkg-c"] == ClosureItem("pkg-c", "3.0~rc1-1", "all", replaces="2.0-1")


def test_simulate_already_installed_is_empty(repo: LocalAptRepo) -> None:
    repo.mark_installed("python3-foo", "1.0-2")
    assert provider(repo).simulate(["python3-foo"]) == ()


def test_simulate_unsatisfiable_quotes_apt(repo: LocalAptRepo) -> None:
    with pytest.raises(ProviderError) as info:
        provider(repo).simulate(["pkg-d"])
    message = info.value.message
    assert "E: Unable to correct problems, you have held broken packages." in message
    assert "pkg-d : Depends: not-in-the-repo but it is not installable" in message
    assert info.value.hint
    assert "apt-get install -s" in info.value.hint


def test_simulate_unknown_package(repo: LocalAptRepo) -> None:
    with pytest.raises(ProviderError) as info:
        provider(repo).simulate(["pkg-a", "nothing-here"])
    assert "E: Unable to locate package nothing-here" in info.value.message
    assert info.value.hint
    assert "apt-get update" in info.value.hint


def test_simulate_regex_lookalike_is_not_expanded(repo: LocalAptRepo) -> None:
    """Without Pattern-Only, apt-get would install every ``pkg-?`` for ``pkg-.``."""
    with pytest.raises(ProviderError, match="Unable to locate package pkg-"):
        provider(repo).simulate(["pkg-."])


def test_simulate_refuses_removals(repo: LocalAptRepo) -> None:
    repo.add("pkg-e", "1.0-1", conflicts=["pkg-c"])
    repo.publish()
    repo.mark_installed("pkg-c", "3.0~rc1-1")
    with pytest.raises(ProviderError, match="would remove pkg-c"):
        provider(repo).simulate(["pkg-e"])


def test_simulate_ignores_a_held_dpkg_lock(repo: LocalAptRepo) -> None:
    """A running apt/dpkg (which holds these locks) must not block planning."""
    fds = []
    try:
        for name in ("lock-frontend", "lock"):
            fd = os.open(repo.dpkg_dir / name, os.O_RDWR | os.O_CREAT, 0o640)
            fds.append(fd)
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        closure = provider(repo).simulate(["pkg-c"])
        assert [item.name for item in closure] == ["pkg-c"]
        assert provider(repo).query(["pkg-c"])["pkg-c"].candidate == "3.0~rc1-1"
    finally:
        for fd in fds:
            os.close(fd)


# -- installed_versions -----------------------------------------------------------------------


def test_installed_versions_one_dpkg_query(
    repo: LocalAptRepo, calls: list[tuple[str, ...]]
) -> None:
    repo.mark_installed("pkg-c", "2.0-1")
    repo.mark_installed("python3-foo", "1.0-2")
    found = provider(repo).installed_versions(["pkg-c", "python3-foo", "pkg-a", "nothing-here"])
    assert found == {"pkg-c": "2.0-1", "python3-foo": "1.0-2"}
    assert [argv[0] for argv in calls] == ["dpkg-query"]


# -- names and availability ---------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["python3-lx*", "-oFoo", "a b", "x;rm"])
@pytest.mark.parametrize("operation", ["query", "simulate", "installed_versions"])
def test_invalid_names_rejected_before_running(
    repo: LocalAptRepo, calls: list[tuple[str, ...]], bad: str, operation: str
) -> None:
    with pytest.raises(ProviderError) as info:
        getattr(provider(repo), operation)(["pkg-a", bad])
    assert repr(bad) in info.value.message
    assert not isinstance(info.value, ProviderUnavailable)
    assert calls == []


@pytest.mark.parametrize("operation", ["query", "simulate", "installed_versions"])
def test_missing_apt_is_unavailable(
    repo: LocalAptRepo,
    calls: list[tuple[str, ...]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert not apt_module.AptProvider.available()
    with pytest.raises(ProviderUnavailable) as info:
        getattr(provider(repo), operation)(["pkg-a"])
    assert "apt was not found on this machine" in info.value.message
    assert "Debian" in info.value.message
    assert info.value.hint
    assert calls == []


def test_available_on_this_machine(repo: LocalAptRepo) -> None:
    assert apt_module.AptProvider.available()
    assert apt_module.AptProvider.available(repo.env)


def test_protocol_basics(repo: LocalAptRepo) -> None:
    p: Provider = provider(repo)  # mypy checks the structural match
    assert (p.name, p.ecosystem) == ("apt", "debian")
    assert p.site_dirs() == ("/usr/lib/python3/dist-packages",)


def test_prepare_is_cold_until_a_simulation_for_this_state_is_cached(
    repo: LocalAptRepo, tmp_path: Path, calls: list[tuple[str, ...]]
) -> None:
    provider = apt_module.AptProvider(env=repo.env, cache_dir=tmp_path / "cache")
    assert provider.prepare() is True  # nothing cached: guessing ahead is worth it
    provider.simulate(["pkg-a"])
    calls.clear()

    again = apt_module.AptProvider(env=repo.env, cache_dir=tmp_path / "cache")
    assert again.prepare() is False  # the answers for this system state are cached
    assert not [argv for argv in calls if argv[0] in ("apt-cache", "apt-get")]

    repo.mark_installed("pkg-c", "3.0~rc1-1")  # the system state changes
    assert apt_module.AptProvider(env=repo.env, cache_dir=tmp_path / "cache").prepare() is True


def test_simulations_of_states_long_gone_are_removed(repo: LocalAptRepo, tmp_path: Path) -> None:
    from sysnative.cache import STALE_AFTER

    provider = apt_module.AptProvider(env=repo.env, cache_dir=tmp_path / "cache")
    provider.simulate(["pkg-a"])
    (private,) = (tmp_path / "cache" / "apt").iterdir()
    (current,) = private.glob("state-*")
    (kept,) = private.glob("simulate-*.txt")
    gone = [private / "simulate-old.txt", private / "state-old"]
    month_ago = time.time() - STALE_AFTER - 3600
    for path in gone:
        path.write_bytes(b"")
    for path in (*gone, current, kept):
        os.utime(path, (month_ago, month_ago))

    provider.simulate(["pkg-a"])  # answered from the cache: both entries are marked as used
    provider.simulate(["pkg-c"])  # a new simulation is written: old entries are pruned

    assert not any(path.exists() for path in gone)
    assert current.exists()
    assert kept.exists()
    assert len(list(private.glob("simulate-*.txt"))) == 2
