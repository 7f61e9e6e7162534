"""The apt provider's execution side: REAL installs with the real apt-get and dpkg.

Every install lands in an isolated dpkg world under the test's temporary directory
(:class:`aptrepo.LocalAptRepo`: private admin directory, install root, log and locks, reached
only through ``APT_CONFIG``/``DPKG_ADMINDIR`` in the provider's ``env``). The ``world``
fixture watches the machine's own dpkg while each test runs (:class:`aptrepo.HostWatch`) and
fails the test if the machine's status file, dpkg's or apt's log, or its root directory got
any trace of the world's packages; what else the machine's apt and dpkg do meanwhile does not
matter.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

import sysnative.providers.apt.provider as apt_module
import sysnative.providers.base as base_module
from aptrepo import (  # noqa: F401
    HostDpkg,
    HostWatch,
    LocalAptRepo,
    assert_unchanged,
    local_apt_repo,
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
from sysnative.runner import Completed
from sysnative.runner import run as real_run

pytestmark = pytest.mark.apt

FAILING_POSTINST = "#!/bin/sh\necho 'postinst of pkg-bad fails on purpose' >&2\nexit 1\n"


@pytest.fixture
def world(local_apt_repo: LocalAptRepo) -> Iterator[LocalAptRepo]:  # noqa: F811
    """a -> b -> c, two versions of x, a package whose postinst fails; none of them may
    reach the machine's own dpkg."""
    if os.geteuid() != 0:
        pytest.skip("real installs need root (dpkg gives installed files their owners)")
    repo = local_apt_repo
    repo.add("pkg-a", "1.0-1", depends=["pkg-b (>= 1:2.0)"], files={"usr/share/pkg-a/a": "A\n"})
    repo.add("pkg-b", "1:2.0+dfsg-1", depends=["pkg-c"])
    repo.add("pkg-c", "3.0~rc1-1", files={"usr/share/pkg-c/c": "C\n"})
    repo.add("pkg-x", "1.0-1", files={"usr/share/pkg-x/version": "1.0\n"})
    repo.add("pkg-x", "2.0-1", files={"usr/share/pkg-x/version": "2.0\n"})
    repo.add("pkg-bad", "1.0-1", depends=["pkg-c"], postinst=FAILING_POSTINST)
    repo.publish()
    host = HostWatch(repo)
    yield repo
    host.check()


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """Every argv the provider runs, while still running it for real."""
    seen: list[tuple[str, ...]] = []

    def counting_run(argv: Sequence[str], **kwargs: Any) -> Completed:
        seen.append(tuple(argv))
        return real_run(argv, **kwargs)

    monkeypatch.setattr(base_module, "run", counting_run)
    return seen


ROOT = Privileges(ok=True)


def provider(repo: LocalAptRepo) -> apt_module.AptProvider:
    return apt_module.AptProvider(env=repo.env)


def dpkg_status(repo: LocalAptRepo, *names: str) -> dict[str, str]:
    """``name -> "Status Version"`` straight from dpkg-query, not through the provider."""
    out = repo.run_apt(["dpkg-query", "-W", "-f", "${Package} ${Status} ${Version}\n", *names])
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in out.stdout.splitlines()}


# -- success -------------------------------------------------------------------------------------


def test_install_lands_at_exact_versions(
    world: LocalAptRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    p = provider(world)
    closure = p.simulate(["pkg-a"])
    assert [item.name for item in closure] == ["pkg-c", "pkg-b", "pkg-a"]
    packages = [("pkg-a", "1.0-1")]
    privileges = p.check_privileges()
    assert privileges == Privileges(ok=True, prefix=(), why="")
    p.check_install(packages, closure)
    p.install(packages, closure, privileges, echo=sys.stderr)

    assert p.verify(closure) == ()
    assert dpkg_status(world, "pkg-a", "pkg-b", "pkg-c") == {
        "pkg-a": "install ok installed 1.0-1",
        "pkg-b": "install ok installed 1:2.0+dfsg-1",
        "pkg-c": "install ok installed 3.0~rc1-1",
    }
    assert (world.inst_dir / "usr/share/pkg-a/a").read_text(encoding="utf-8") == "A\n"
    assert "status installed pkg-a:all 1.0-1" in world.dpkg_log.read_text(encoding="utf-8")
    # verbose: apt's output went to stderr
    assert "Setting up pkg-a (1.0-1)" in capsys.readouterr().err


def test_install_takes_the_planned_version_not_the_candidate(
    world: LocalAptRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """pkg-x 2.0-1 is apt's candidate; the plan says 1.0-1 and gets exactly that."""
    p = provider(world)
    assert p.query(["pkg-x"])["pkg-x"].candidate == "2.0-1"
    closure = (ClosureItem("pkg-x", "1.0-1", "all"),)
    p.check_install([("pkg-x", "1.0-1")], closure)
    p.install([("pkg-x", "1.0-1")], closure, ROOT)
    assert dpkg_status(world, "pkg-x") == {"pkg-x": "install ok installed 1.0-1"}
    assert (world.inst_dir / "usr/share/pkg-x/version").read_text(encoding="utf-8") == "1.0\n"
    assert p.verify(closure) == ()
    assert p.verify((ClosureItem("pkg-x", "2.0-1", "all"),)) == (
        "pkg-x: installed at 1.0-1, but the plan has 2.0-1",
    )
    assert capsys.readouterr().err == ""  # quiet by default


# -- failures after a change -----------------------------------------------------------------


def test_failing_postinst_reports_state_and_undo(world: LocalAptRepo) -> None:
    p = provider(world)
    closure = p.simulate(["pkg-bad"])
    packages = [("pkg-bad", "1.0-1")]
    p.check_install(packages, closure)
    with pytest.raises(SystemStepError) as info:
        p.install(packages, closure, ROOT)
    err = info.value

    assert "apt-get exited with status 100" in err.message
    assert "postinst of pkg-bad fails on purpose" in err.message  # the script's own words
    assert "post-installation script subprocess returned error exit status 1" in err.message
    assert err.state[:2] == (
        "pkg-c 3.0~rc1-1: installed",
        "pkg-bad 1.0-1: half-configured: unpacked, but configuring it (its postinst) failed"
        " [dpkg status: install ok half-configured]",
    )
    assert "dpkg --audit reports:" in err.state
    assert any("half configured" in line for line in err.state)
    assert err.retry == (f"env DPKG_ADMINDIR={world.dpkg_dir} dpkg --configure -a",)
    assert err.undo == (f"env APT_CONFIG={world.config_path} apt-get purge -- pkg-c pkg-bad",)
    assert err.hint
    assert err.undo[0] in err.hint
    assert err.retry[0] in err.hint
    assert p.verify(closure) == (err.state[1],)

    # The undo command does what it says, in this world.
    undone = world.run_apt(shlex.split(err.undo[0]), stdin="y\n")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert p.installed_versions(["pkg-c", "pkg-bad"]) == {}
    assert p.verify(closure) == ("pkg-c 3.0~rc1-1: not installed", "pkg-bad 1.0-1: not installed")


def test_apt_exit_zero_with_unconfigured_packages_is_caught(world: LocalAptRepo) -> None:
    """With ``DPkg::NoTriggers`` and no ``ConfigurePending``, apt only unpacks (dpkg runs with
    --no-triggers and apt never asks it to configure) and still exits 0."""
    world.configure("50unpack-only", 'DPkg::NoTriggers "true";\nDPkg::ConfigurePending "false";\n')
    p = provider(world)
    closure = p.simulate(["pkg-a"])
    with pytest.raises(SystemStepError) as info:
        p.install([("pkg-a", "1.0-1")], closure, ROOT)
    err = info.value
    assert err.message.startswith("apt reported success, but dpkg does not record")
    assert err.state[:3] == tuple(
        f"{name}: unpacked but not configured [dpkg status: install ok unpacked]"
        for name in ("pkg-c 3.0~rc1-1", "pkg-b 1:2.0+dfsg-1", "pkg-a 1.0-1")
    )
    assert err.retry == (f"env DPKG_ADMINDIR={world.dpkg_dir} dpkg --configure -a",)
    assert err.undo == (f"env APT_CONFIG={world.config_path} apt-get purge -- pkg-c pkg-b pkg-a",)
    assert dpkg_status(world, "pkg-a")["pkg-a"] == "install ok unpacked 1.0-1"


def test_verify_catches_a_dependency_that_changed_after_the_check(world: LocalAptRepo) -> None:
    """Only the requested packages are pinned; if the lists change between check and install,
    apt exits 0 with a different dependency version, and dpkg-query shows it."""
    p = provider(world)
    closure = p.simulate(["pkg-a"])
    p.check_install([("pkg-a", "1.0-1")], closure)
    world.add("pkg-c", "3.0-1")
    world.publish()
    with pytest.raises(SystemStepError) as info:
        p.install([("pkg-a", "1.0-1")], closure, ROOT)
    assert info.value.message.startswith("apt reported success")
    assert "pkg-c: installed at 3.0-1, but the plan has 3.0~rc1-1" in info.value.state
    assert p.verify(closure) == ("pkg-c: installed at 3.0-1, but the plan has 3.0~rc1-1",)


# -- refused before any change ----------------------------------------------------------------


@pytest.mark.parametrize("lock", ["lock-frontend", "lock"])
def test_held_dpkg_lock(world: LocalAptRepo, lock: str) -> None:
    """apt may name the holder itself (in a progress line, see the next test); the error
    names it either way."""
    held_lock_is_reported(world, lock)


@pytest.mark.parametrize("lock", ["lock-frontend", "lock"])
def test_held_dpkg_lock_when_apt_names_no_holder(world: LocalAptRepo, lock: str) -> None:
    """While apt waits for the lock (``DPkg::Lock::Timeout``), apt 2.6 names the holder only
    in its "Waiting for cache lock" progress line, which it prints or not depending on a flag
    it never initialises (``OpProgress::MajorChange``), so now and then it did not; its final
    error names no process, and the admin directory rather than its ``lock`` file. With
    ``quiet=2`` apt never prints the line: the holder comes from the kernel's lock table."""
    world.configure("50no-progress", 'quiet "2";\n')
    held_lock_is_reported(world, lock)


def held_lock_is_reported(world: LocalAptRepo, lock: str) -> None:
    p = provider(world)
    closure = p.simulate(["pkg-c"])
    status = world.status()
    with world.hold_dpkg_lock(lock) as path, pytest.raises(PackageManagerLocked) as info:
        p.install([("pkg-c", "3.0~rc1-1")], closure, ROOT, lock_timeout=1)
    err = info.value
    assert err.lock == str(path)
    assert err.pid == os.getpid()
    assert f"dpkg's lock {path} is held by process {os.getpid()}" in err.message
    assert "within 1 seconds. Nothing was changed." in err.message
    assert err.hint
    assert "unattended-upgrades" in err.hint
    assert_unchanged(status, world.status(), "the world's dpkg status")
    assert p.verify(closure) == ("pkg-c 3.0~rc1-1: not installed",)


def test_check_install_refuses_a_changed_closure(world: LocalAptRepo) -> None:
    p = provider(world)
    closure = p.simulate(["pkg-a"])
    world.add("pkg-c", "3.0-1")
    world.publish()
    status = world.status()
    with pytest.raises(ProviderError) as info:
        p.check_install([("pkg-a", "1.0-1")], closure)
    assert info.value.message == (
        "apt would now install something other than the plan:\n"
        "    pkg-c: the plan has 3.0~rc1-1, apt would install 3.0-1"
    )
    assert info.value.hint
    assert "make the plan again" in info.value.hint
    # a closure with a package apt no longer needs
    extra = (*closure, ClosureItem("pkg-x", "1.0-1", "all"))
    with pytest.raises(ProviderError, match=r"pkg-x 1\.0-1: in the plan, but apt would not"):
        p.check_install([("pkg-a", "1.0-1")], extra)
    assert_unchanged(status, world.status(), "the world's dpkg status")
    assert not any(world.inst_dir.iterdir())


def test_check_install_refuses_a_missing_version(world: LocalAptRepo) -> None:
    p = provider(world)
    with pytest.raises(ProviderError) as info:
        p.check_install([("pkg-a", "9.9-1")], (ClosureItem("pkg-a", "9.9-1", "all"),))
    assert "E: Version '9.9-1' for 'pkg-a' was not found" in info.value.message


BAD_PACKAGES = [
    [("pkg-a", "1.0-1;id")],
    [("pkg-a", "1.0-1 pkg-x")],
    [("pkg-a", "$(id)")],
    [("-oAPT::Foo=1", "1.0-1")],
    [("pkg-*", "1.0-1")],
]
BAD_CLOSURES = [
    (ClosureItem("pkg-a b", "1.0-1"),),
    (ClosureItem("pkg-a", "1.0 -1"),),
    (ClosureItem("pkg-a", "1.0-1", replaces="1.0-1|x"),),
]
GOOD_PACKAGES = [("pkg-a", "1.0-1")]
GOOD_CLOSURE = (ClosureItem("pkg-a", "1.0-1", "all"),)


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
    world: LocalAptRepo,
    calls: list[tuple[str, ...]],
    operation: str,
    arguments: tuple[Any, ...],
) -> None:
    status = world.status()
    with pytest.raises(ProviderError) as info:
        getattr(provider(world), operation)(*arguments)
    assert "not a valid Debian" in info.value.message
    assert calls == []
    assert_unchanged(status, world.status(), "the world's dpkg status")


def test_missing_apt_is_unavailable(world: LocalAptRepo, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    p = apt_module.AptProvider(env={**world.env, "PATH": str(empty)})
    closure = (ClosureItem("pkg-c", "3.0~rc1-1", "all"),)
    for call in (
        lambda: p.check_install([("pkg-c", "3.0~rc1-1")], closure),
        lambda: p.install([("pkg-c", "3.0~rc1-1")], closure, ROOT),
        lambda: p.verify(closure),
    ):
        with pytest.raises(ProviderUnavailable, match="apt was not found"):
            call()


# -- privileges ------------------------------------------------------------------------------


_CHECK_AS_CHILD = """
import dataclasses, json, sys
from sysnative.providers.apt.provider import AptProvider
env = json.loads(sys.argv[1])
print(json.dumps(dataclasses.asdict(AptProvider(env=env).check_privileges())))
"""


def check_privileges_as_nobody(env: Mapping[str, str]) -> Privileges:
    """Run the real check in a child process whose real and effective uid are ``nobody``."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("needs setpriv (util-linux) to run the check as nobody")
    out = subprocess.run(
        [
            setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups",
            sys.executable, "-c", _CHECK_AS_CHILD, json.dumps(dict(env)),
        ],
        capture_output=True, text=True, check=True, cwd="/",
    ).stdout  # fmt: skip
    fields = json.loads(out)
    return Privileges(fields["ok"], tuple(fields["prefix"]), fields["why"])


def test_privileges_as_root(world: LocalAptRepo) -> None:
    assert provider(world).check_privileges() == Privileges(ok=True, prefix=(), why="")


def test_privileges_as_nobody_without_sudo(world: LocalAptRepo, tmp_path: Path) -> None:
    no_sudo = tmp_path / "bin"
    no_sudo.mkdir()
    no_sudo.chmod(0o755)
    privileges = check_privileges_as_nobody({**world.env, "PATH": str(no_sudo)})
    assert privileges == Privileges(
        ok=False,
        prefix=(),
        why="sysnative runs as user nobody (uid 65534), not root, and sudo is not installed",
    )

    # install() refuses, runs nothing, and prints the exact command to run as root
    p = provider(world)
    closure = p.simulate(["pkg-c"])
    status = world.status()
    with pytest.raises(PrivilegeError) as info:
        p.install([("pkg-c", "3.0~rc1-1")], closure, privileges)
    command = shlex.join(p.install_command([("pkg-c", "3.0~rc1-1")], privileges))
    assert info.value.command == command
    assert command.startswith("env DEBIAN_FRONTEND=noninteractive APT_CONFIG=")
    assert command.endswith("install -y --no-install-recommends --no-remove -- 'pkg-c=3.0~rc1-1'")
    assert info.value.hint
    assert command in info.value.hint
    assert "needs root: sysnative runs as user nobody" in info.value.message
    assert_unchanged(status, world.status(), "the world's dpkg status")


def test_privileges_as_nobody_with_the_system_path(world: LocalAptRepo) -> None:
    """nobody never has password-less sudo: whether sudo is installed or not, not ok."""
    path = os.environ.get("PATH", "")
    privileges = check_privileges_as_nobody({**world.env, "PATH": path})
    assert not privileges.ok
    assert privileges.prefix == ()
    if shutil.which("sudo", path=path) is None:
        assert privileges.why.endswith("not root, and sudo is not installed")
    else:
        assert "`sudo -n true` failed" in privileges.why


def test_protocol_match(world: LocalAptRepo) -> None:
    p: Provider = provider(world)  # mypy checks the structural match
    assert dataclasses.is_dataclass(p.check_privileges())


# -- the watch on the machine's own dpkg -------------------------------------------------------


def test_the_host_watch_catches_a_leak_and_nothing_else(
    world: LocalAptRepo, tmp_path: Path
) -> None:
    """HostWatch pointed at a stand-in for the machine (a second dpkg world: status file,
    dpkg's and apt's logs, root): the machine's own apt activity and the world's installs
    are no leak; the world's package installed by the machine's dpkg is, in all three places,
    and the failure says so in a few lines."""
    machine = LocalAptRepo(tmp_path / "machine")
    machine.add("hostname", "3.23+nmu1", files={"usr/bin/hostname": "#!/bin/sh\n"})
    for deb in world.repo_dir.glob("*.deb"):  # what a leak would install
        shutil.copy(deb, machine.repo_dir)
    machine.publish()
    history = machine.root / "log" / "history.log"
    host = HostDpkg(machine.dpkg_dir / "status", (machine.dpkg_log, history), machine.inst_dir)
    machine.dpkg_log.write_text("2024-01-01 00:00:00 status installed pkg-a:all 0.9-1\n")
    watch = HostWatch(world, host)  # the line above was there before: not this test's

    def on_the_machine(*args: str) -> None:
        done = machine.run_apt(["apt-get", "-q", "-y", *args])
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    on_the_machine("install", "hostname")
    on_the_machine("install", "--reinstall", "hostname")
    p = provider(world)
    closure = p.simulate(["pkg-a"])
    p.install([("pkg-a", "1.0-1")], closure, ROOT)
    assert dpkg_status(world, "pkg-a") == {"pkg-a": "install ok installed 1.0-1"}
    assert watch.leaks() == []
    watch.check()

    on_the_machine("install", "--no-install-recommends", "pkg-a=1.0-1")
    leaks = watch.leaks()
    assert (
        f"{host.status}: pkg-a:all: absent -> Status: install ok installed; Version: 1.0-1" in leaks
    )
    # pkg-c, pkg-b and pkg-a: dpkg's log says so in more lines than the failure shows.
    logged = [line for line in leaks if line.startswith(f"{machine.dpkg_log}: ")]
    assert len(logged) == 4
    assert all(" pkg-c:all " in line for line in logged[:3])
    assert logged[-1].endswith(" more lines naming them")
    assert (
        f"{history}: Commandline: apt-get -q -y install --no-install-recommends pkg-a=1.0-1"
        in leaks
    )
    assert f"{machine.inst_dir / 'usr/share/pkg-a/a'}: a file of the world's packages" in leaks
    with pytest.raises(pytest.fail.Exception) as failed:
        watch.check()
    message = str(failed.value)
    assert message.startswith("the machine's own dpkg got traces of the test world's packages")
    assert len(message.splitlines()) <= 12
    assert "hostname" not in message
