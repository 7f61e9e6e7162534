"""The dnf provider's execution side: REAL installs with the real dnf and rpm.

Every install lands in an isolated install root under the test's temporary directory
(:class:`rpmrepo.RpmWorld`: its own rpm database, dnf cache, history and logs, reached only
through the dnf options given to the provider). The packages come from a repository built once
per module; a test that must change what the repositories offer after planning publishes into
its own second repository.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import sysnative.providers.base as base_module
import sysnative.providers.dnf.provider as dnf_module
from rpmrepo import (
    FAILING_POST,
    FAILING_PRE,
    PYTHON_VERSION,
    LocalRpmRepo,
    RpmWorld,
    require_rpm_tools,
)
from sysnative.errors import (
    PackageManagerLocked,
    PrivilegeError,
    ProviderError,
    ProviderUnavailable,
    SystemStepError,
)
from sysnative.models import ClosureItem
from sysnative.protocols import Privileges, Provider
from sysnative.providers.dnf.command import find_dnf
from sysnative.runner import Completed
from sysnative.runner import run as real_run

pytestmark = pytest.mark.rpm

ROOT = Privileges(ok=True)
SITE = f"usr/lib/python{PYTHON_VERSION}/site-packages"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> LocalRpmRepo:
    """foo -> bar -> libs, two versions of bar, numpy with an epoch, a package whose %post
    fails and needs the newer bar, and one whose %pre fails."""
    require_rpm_tools()
    if os.geteuid() != 0:
        pytest.skip("real installs need root (rpm gives installed files their owners)")
    repo = LocalRpmRepo(tmp_path_factory.mktemp("dnf-install-repo"))
    repo.add("python3-libs", "3.12.4", "1.fc40", provides=["python(abi) = 3.12"])
    repo.add(
        "python3-foo", "1.2", "3.fc40", python_project="foo", requires=["python3dist(bar) >= 2"]
    )
    repo.add("python3-bar", "3.0.0~rc1", "1.fc41", python_project="bar", python_version="3~rc1")
    repo.add("python3-bar", "2.0", "1.fc40", python_project="bar")
    repo.add("python3-numpy", "1.26.4", "7.fc40", epoch=1, python_project="numpy")
    repo.add("python3-bad", "1.0", "1.fc40", python_project="bad", post=FAILING_POST,
             requires=["python3dist(bar) >= 3~rc1"])  # fmt: skip
    repo.add("python3-prebad", "1.0", "1.fc40", python_project="prebad", pre=FAILING_PRE)
    repo.publish()
    return repo


@pytest.fixture
def later(tmp_path: Path) -> LocalRpmRepo:
    """An empty second repository a test can publish into after planning."""
    extra = LocalRpmRepo(tmp_path / "later")
    extra.publish()
    return extra


@pytest.fixture
def world(tmp_path: Path, repo: LocalRpmRepo, later: LocalRpmRepo) -> RpmWorld:
    return RpmWorld(tmp_path / "world", [repo, later])


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """Every argv the provider runs, while still running it for real."""
    seen: list[tuple[str, ...]] = []

    def counting_run(argv: Sequence[str], **kwargs: Any) -> Completed:
        seen.append(tuple(argv))
        return real_run(argv, **kwargs)

    monkeypatch.setattr(base_module, "run", counting_run)
    return seen


def provider(world: RpmWorld) -> dnf_module.DnfProvider:
    return dnf_module.DnfProvider(options=world.options)


def dnf_command() -> str:
    found, _ = find_dnf(None)
    assert found is not None
    return found.name


# -- success -------------------------------------------------------------------------------------


def test_install_lands_at_exact_versions(
    world: RpmWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    p = provider(world)
    closure = p.simulate(["python3dist(foo)"])
    assert [(c.name, c.version) for c in closure] == [
        ("python3-bar", "3.0.0~rc1-1.fc41"),
        ("python3-foo", "1.2-3.fc40"),
        ("python3-libs", "3.12.4-1.fc40"),
    ]
    packages = [("python3-foo", "1.2-3.fc40")]
    privileges = p.check_privileges()
    assert privileges == Privileges(ok=True, prefix=(), why="")
    p.check_install(packages, closure)
    p.install(packages, closure, privileges, echo=sys.stderr)

    assert p.verify(closure) == ()
    assert world.installed() == {
        "python3-bar": "3.0.0~rc1-1.fc41.noarch",
        "python3-foo": "1.2-3.fc40.noarch",
        "python3-libs": "3.12.4-1.fc40.noarch",
    }
    metadata = world.installroot / SITE / "foo-1.2.dist-info" / "METADATA"
    assert "Version: 1.2" in metadata.read_text(encoding="utf-8")
    assert "Complete!" in capsys.readouterr().err  # verbose: dnf's output went to stderr


def test_install_command_is_exact_nevras(world: RpmWorld) -> None:
    p = provider(world)
    closure = p.simulate(["python3dist(numpy)", "python3-foo"])
    packages = [("python3-numpy", "1:1.26.4-7.fc40"), ("python3-foo", "1.2-3.fc40")]
    argv = p.install_command(packages, ROOT, closure=closure)
    assert argv == [
        dnf_command(), *world.options, "install", "-y", "--setopt=install_weak_deps=False",
        "--setopt=strict=True", "--setopt=exit_on_lock=True", "--",
        "python3-numpy-1:1.26.4-7.fc40.noarch", "python3-foo-1.2-3.fc40.noarch",
    ]  # fmt: skip
    # The architecture is remembered from the simulation when no closure is given ...
    assert p.install_command(packages, ROOT) == argv
    # ... and left out (the version is still exact) when nothing knows it.
    fresh = provider(world).install_command([("python3-foo", "1.2-3.fc40")], ROOT)
    assert fresh[-2:] == ["--", "python3-foo-1.2-3.fc40"]
    sudo = Privileges(ok=True, prefix=("sudo", "-n"))
    assert p.install_command(packages, sudo)[:3] == ["sudo", "-n", dnf_command()]

    p.check_install(packages, closure)
    p.install(packages, closure, ROOT)
    assert world.installed()["python3-numpy"] == "1:1.26.4-7.fc40.noarch"
    assert p.verify(closure) == ()


def test_install_takes_the_planned_version_not_the_candidate(
    world: RpmWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    """python3-bar 3.0.0~rc1 is dnf's candidate; the plan says 2.0 and gets exactly that."""
    p = provider(world)
    assert p.query(["python3-bar"])["python3-bar"].candidate == "3.0.0~rc1-1.fc41"
    closure = (ClosureItem("python3-bar", "2.0-1.fc40", "noarch", None, ("bar",)),
               ClosureItem("python3-libs", "3.12.4-1.fc40", "noarch"))  # fmt: skip
    p.check_install([("python3-bar", "2.0-1.fc40")], closure)
    p.install([("python3-bar", "2.0-1.fc40")], closure, ROOT)
    assert world.installed()["python3-bar"] == "2.0-1.fc40.noarch"
    assert p.verify(closure) == ()
    assert p.verify((ClosureItem("python3-bar", "3.0.0~rc1-1.fc41", "noarch"),)) == (
        "python3-bar: installed at 2.0-1.fc40.noarch, but the plan has 3.0.0~rc1-1.fc41",
    )
    assert capsys.readouterr().err == ""  # quiet by default


# -- failures after a change -----------------------------------------------------------------


def test_failing_post_with_an_upgrade_reports_state_and_undo(
    world: RpmWorld, repo: LocalRpmRepo
) -> None:
    """dnf exits 0 when a %post fails; install() must not call that a success."""
    world.mark_installed(repo.rpm_file("python3-bar", "2.0-1.fc40"),
                         repo.rpm_file("python3-libs", "3.12.4-1.fc40"))  # fmt: skip
    p = provider(world)
    closure = p.simulate(["python3-bad"])
    assert closure == (
        ClosureItem("python3-bad", "1.0-1.fc40", "noarch", None, ("bad",)),
        ClosureItem("python3-bar", "3.0.0~rc1-1.fc41", "noarch", "2.0-1.fc40", ("bar",)),
    )
    packages = [("python3-bad", "1.0-1.fc40")]
    p.check_install(packages, closure)
    with pytest.raises(SystemStepError) as info:
        p.install(packages, closure, ROOT)
    err = info.value

    assert err.message.startswith("dnf reported success, but the transaction did not end")
    assert "Error in POSTIN scriptlet in rpm package python3-bad" in err.message
    assert "post of python3-bad fails on purpose" in err.message  # the script's own words
    assert err.state == (
        "python3-bad 1.0-1.fc40: installed, but its %post scriptlet failed",
        "python3-bar 3.0.0~rc1-1.fc41: installed",
    )
    prefix = shlex.join([dnf_command(), *world.options])
    assert err.undo == (
        f"{prefix} remove -- python3-bad-1.0-1.fc40.noarch",
        f"{prefix} downgrade -- python3-bar-2.0-1.fc40.noarch",
    )
    assert err.retry == (f"{prefix} reinstall -- python3-bad-1.0-1.fc40.noarch",)
    assert err.hint
    assert err.undo[0] in err.hint
    assert err.retry[0] in err.hint
    # rpm records no scriptlet outcome: verify alone sees the packages as installed
    assert p.verify(closure) == ()

    # The undo commands do what they say, in this world.
    for command in err.undo:
        undone = world.run(shlex.split(command), stdin="y\n")
        assert undone.returncode == 0, undone.stdout + undone.stderr
    assert world.installed() == {
        "python3-bar": "2.0-1.fc40.noarch",
        "python3-libs": "3.12.4-1.fc40.noarch",
    }
    assert p.verify(closure) == (
        "python3-bad 1.0-1.fc40: not installed",
        "python3-bar: installed at 2.0-1.fc40.noarch, but the plan has 3.0.0~rc1-1.fc41",
    )


def test_failing_pre_leaves_the_package_out(world: RpmWorld) -> None:
    p = provider(world)
    closure = p.simulate(["python3-prebad"])
    assert [c.name for c in closure] == ["python3-libs", "python3-prebad"]
    with pytest.raises(SystemStepError) as info:
        p.install([("python3-prebad", "1.0-1.fc40")], closure, ROOT)
    err = info.value
    assert "The dnf transaction failed (dnf exited with status 1)." in err.message
    assert "Error in PREIN scriptlet in rpm package python3-prebad" in err.message
    assert err.state == (
        "python3-libs 3.12.4-1.fc40: installed",
        "python3-prebad 1.0-1.fc40: not installed",
    )
    assert err.undo == (
        shlex.join([dnf_command(), *world.options, "remove", "--",
                    "python3-libs-3.12.4-1.fc40.noarch"]),
    )  # fmt: skip
    assert err.retry == ()
    assert world.installed() == {"python3-libs": "3.12.4-1.fc40.noarch"}


def test_verify_catches_a_dependency_that_changed_after_the_check(
    world: RpmWorld, later: LocalRpmRepo
) -> None:
    """Only the requested packages are pinned: if the repositories change between check and
    install, dnf exits 0 with another dependency version, and rpm shows it."""
    p = provider(world)
    closure = p.simulate(["python3-foo"])
    p.check_install([("python3-foo", "1.2-3.fc40")], closure)
    later.add("python3-bar", "3.0.0", "1.fc41", python_project="bar")
    later.publish()
    with pytest.raises(SystemStepError) as info:
        p.install([("python3-foo", "1.2-3.fc40")], closure, ROOT)
    assert info.value.message.startswith("dnf reported success")
    line = "python3-bar: installed at 3.0.0-1.fc41.noarch, but the plan has 3.0.0~rc1-1.fc41"
    assert line in info.value.state
    assert p.verify(closure) == (line,)


# -- refused before any change ----------------------------------------------------------------


def test_held_dnf_lock(world: RpmWorld) -> None:
    p = provider(world)
    closure = p.simulate(["python3-libs"])
    with world.hold_dnf_lock() as (path, pid), pytest.raises(PackageManagerLocked) as info:
        p.install([("python3-libs", "3.12.4-1.fc40")], closure, ROOT, lock_timeout=1)
    err = info.value
    assert (err.lock, err.pid, err.process) == (str(path), pid, "sleep")
    assert f"dnf's RPMDB lock {path} is held by process {pid} (sleep)" in err.message
    assert "within 1 seconds. Nothing was changed." in err.message
    assert err.hint
    assert "PackageKit" in err.hint
    assert world.installed() == {}


def test_held_rpm_lock(world: RpmWorld) -> None:
    p = provider(world)
    closure = p.simulate(["python3-libs"])
    with world.hold_rpm_lock() as path, pytest.raises(PackageManagerLocked) as info:
        p.install([("python3-libs", "3.12.4-1.fc40")], closure, ROOT, lock_timeout=1)
    err = info.value
    assert err.lock == str(path)
    assert err.pid == os.getpid()  # found in /proc/locks
    assert f"rpm's transaction lock {path} is held by process {os.getpid()}" in err.message
    assert world.installed() == {}
    assert p.verify(closure) == ("python3-libs 3.12.4-1.fc40: not installed",)


def test_check_install_refuses_a_changed_closure(world: RpmWorld, later: LocalRpmRepo) -> None:
    p = provider(world)
    closure = p.simulate(["python3-foo"])
    later.add("python3-bar", "3.0.0", "1.fc41", python_project="bar")
    later.publish()
    with pytest.raises(ProviderError) as info:
        p.check_install([("python3-foo", "1.2-3.fc40")], closure)
    assert info.value.message == (
        "dnf would now install something other than the plan:\n"
        "    python3-bar: the plan has 3.0.0~rc1-1.fc41, dnf would install 3.0.0-1.fc41"
    )
    assert info.value.hint
    assert "make the plan again" in info.value.hint
    extra = (*closure, ClosureItem("python3-numpy", "1:1.26.4-7.fc40", "noarch"))
    with pytest.raises(ProviderError, match=r"python3-numpy 1:1\.26\.4-7\.fc40: in the plan, but"):
        p.check_install([("python3-foo", "1.2-3.fc40")], extra)
    assert world.installed() == {}


def test_check_install_refuses_a_missing_version(world: RpmWorld) -> None:
    p = provider(world)
    with pytest.raises(ProviderError) as info:
        p.check_install(
            [("python3-foo", "9.9-1.fc40")], (ClosureItem("python3-foo", "9.9-1.fc40", "noarch"),)
        )
    assert "No match for argument: python3-foo-9.9-1.fc40.noarch" in info.value.message


BAD_PACKAGES = [
    [("python3-foo", "1.2-3.fc40;id")],
    [("python3-foo", "1.2-3.fc40 python3-bar")],
    [("python3-foo", "$(id)")],
    [("python3-foo", "1.2")],  # no release: not an exact version
    [("-rf", "1.2-3.fc40")],
    [("--installroot=/", "1.2-3.fc40")],
    [("python3-*", "1.2-3.fc40")],
    [("python3dist(foo)", "1.2-3.fc40")],  # a provide, not a package
]
BAD_CLOSURES = [
    (ClosureItem("python3-foo b", "1.2-3.fc40"),),
    (ClosureItem("python3-foo", "1.2 -3.fc40"),),
    (ClosureItem("python3-foo", "1.2-3.fc40", replaces="1.0-1|x"),),
    (ClosureItem("python3-foo", "1.2-3.fc40", "noarch;id"),),
]
GOOD_PACKAGES = [("python3-foo", "1.2-3.fc40")]
GOOD_CLOSURE = (ClosureItem("python3-foo", "1.2-3.fc40", "noarch"),)


@pytest.mark.parametrize(
    ("operation", "arguments"),
    [
        *(("check_install", (bad, GOOD_CLOSURE)) for bad in BAD_PACKAGES),
        *(("install", (bad, GOOD_CLOSURE, ROOT)) for bad in BAD_PACKAGES),
        *(("install_command", (bad, ROOT)) for bad in BAD_PACKAGES),
        *(("check_install", (GOOD_PACKAGES, bad)) for bad in BAD_CLOSURES),
        *(("install", (GOOD_PACKAGES, bad, ROOT)) for bad in BAD_CLOSURES),
        *(("verify", (bad,)) for bad in BAD_CLOSURES),
    ],
)
def test_invalid_names_and_versions_run_nothing(
    world: RpmWorld,
    calls: list[tuple[str, ...]],
    operation: str,
    arguments: tuple[Any, ...],
) -> None:
    with pytest.raises(ProviderError) as info:
        getattr(provider(world), operation)(*arguments)
    assert "not a valid rpm" in info.value.message
    assert calls == []


def test_missing_dnf_is_unavailable(world: RpmWorld, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    p = dnf_module.DnfProvider(env={"PATH": str(empty)}, options=world.options)
    for call in (
        lambda: p.check_install(GOOD_PACKAGES, GOOD_CLOSURE),
        lambda: p.install(GOOD_PACKAGES, GOOD_CLOSURE, ROOT),
        lambda: p.verify(GOOD_CLOSURE),
    ):
        with pytest.raises(ProviderUnavailable, match="dnf was not found"):
            call()


def test_no_privileges_runs_nothing_and_hands_over_the_command(
    world: RpmWorld, calls: list[tuple[str, ...]]
) -> None:
    p = provider(world)
    privileges = Privileges(ok=False, why="sysnative runs as user nobody (uid 65534), not root")
    with pytest.raises(PrivilegeError) as info:
        p.install(GOOD_PACKAGES, GOOD_CLOSURE, privileges)
    command = shlex.join(p.install_command(GOOD_PACKAGES, privileges, closure=GOOD_CLOSURE))
    assert info.value.command == command
    assert command.startswith(f"{dnf_command()} --installroot=")
    assert command.endswith("-- python3-foo-1.2-3.fc40.noarch")
    assert info.value.hint
    assert command in info.value.hint
    assert "needs root: sysnative runs as user nobody" in info.value.message
    assert calls == []
    assert world.installed() == {}


def test_protocol_match(world: RpmWorld) -> None:
    p: Provider = provider(world)  # mypy checks the structural match
    assert dataclasses.is_dataclass(p.check_privileges())
