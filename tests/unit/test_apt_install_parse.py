"""The execution side's pure parts: version grammar, closure comparison, dpkg states, apt's
lock and error messages, and the exact install argv.

The apt and dpkg texts below were printed by apt 2.6.1 and dpkg 1.21.23 on Debian 12 (the
runs of tests/integration/test_apt_install.py); only the admin directory was replaced with
dpkg's default one.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from sysnative.errors import ProviderError
from sysnative.models import ClosureItem
from sysnative.protocols import Privileges
from sysnative.providers.apt.provider import (
    DPKG_STATE_FORMAT,
    AptProvider,
    LockHolder,
    PackageState,
    closure_differences,
    find_lock_holder,
    package_states,
    parse_lock_error,
    relevant_apt_lines,
    validate_install_packages,
    validate_version,
)

# -- versions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "good",
    [
        "1.0",
        "1.0-1",
        "1:1.24.2-1+deb12u1",
        "3.0~rc1-1",
        "2.28.1+dfsg-1",
        "0.0~git20230123.b2528b0-1",
        "1:2.0-3-4",  # the revision is what follows the LAST hyphen
        "2:1.0:5-1",  # a colon in the upstream part is allowed with an epoch
        "6.0-3+b2",
    ],
)
def test_valid_versions(good: str) -> None:
    assert validate_version(good) == good


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "1.0 ",
        " 1.0",
        "1.0\n",
        "1.0;rm -rf x",
        "$(id)",
        "1.0-1=2",  # would make `pkg=1.0-1=2`
        "1.0-",  # empty revision
        "a1.0",  # upstream must start with a digit
        "1:",  # epoch without upstream
        "x:1.0",  # non-numeric epoch
        "1.0:5",  # colon without epoch
        "1.0/../2",
        "1.0_1",
        "-1.0",
    ],
)
def test_invalid_versions(bad: str) -> None:
    with pytest.raises(ProviderError) as info:
        validate_version(bad)
    assert repr(bad) in info.value.message
    assert info.value.hint


def test_install_packages_validated_and_deduplicated() -> None:
    pairs = [("pkg-a", "1.0-1"), ("libstdc++6", "12.2.0-14"), ("pkg-a", "1.0-1")]
    assert validate_install_packages(pairs) == (("pkg-a", "1.0-1"), ("libstdc++6", "12.2.0-14"))
    with pytest.raises(ProviderError, match="two versions"):
        validate_install_packages([("pkg-a", "1.0-1"), ("pkg-a", "2.0-1")])
    with pytest.raises(ProviderError, match="'pkg-\\*'"):
        validate_install_packages([("pkg-*", "1.0-1")])


# -- closure comparison ---------------------------------------------------------------------------


def test_closure_differences() -> None:
    plan = (
        ClosureItem("pkg-c", "3.0~rc1-1", "all"),
        ClosureItem("pkg-b", "1:2.0+dfsg-1", "all"),
        ClosureItem("pkg-a", "1.0-1", "all"),
    )
    assert closure_differences(plan, tuple(reversed(plan))) == ()
    now = (
        ClosureItem("pkg-c", "3.0-1", "all"),
        ClosureItem("pkg-a", "1.0-1", "all"),
        ClosureItem("pkg-z", "0.1-1", "all"),
    )
    assert closure_differences(plan, now) == (
        "pkg-c: the plan has 3.0~rc1-1, apt would install 3.0-1",
        "pkg-b 1:2.0+dfsg-1: in the plan, but apt would not install it now",
        "pkg-z 0.1-1: apt would install it, the plan does not",
    )


# -- dpkg states -----------------------------------------------------------------------------------


def test_state_format_is_tab_separated() -> None:
    assert DPKG_STATE_FORMAT == "${Package}\t${Architecture}\t${Status}\t${Version}\n"


def test_package_states() -> None:
    closure = (
        ClosureItem("pkg-c", "3.0~rc1-1", "all"),
        ClosureItem("pkg-bad", "1.0-1", "all"),
        ClosureItem("pkg-u", "1.0-1", "all"),
        ClosureItem("pkg-gone", "1.0-1", "all"),
        ClosureItem("pkg-old", "2.0-1", "all", replaces="1.0-1"),
        ClosureItem("libfoo", "1.0-1", "i386"),
        ClosureItem("pkg-cfg", "1.0-1", None),
    )
    text = (
        "pkg-c\tall\tinstall ok installed\t3.0~rc1-1\n"
        "pkg-bad\tall\tinstall ok half-configured\t1.0-1\n"
        "pkg-u\tall\tinstall ok unpacked\t1.0-1\n"
        "pkg-old\tall\tinstall ok installed\t1.0-1\n"
        "libfoo\tamd64\tinstall ok installed\t1.0-1\n"
        "pkg-cfg\tamd64\tdeinstall ok config-files\t1.0-1\n"
    )
    states = package_states(closure, text)
    assert [s.status for s in states] == [
        "installed",
        "half-configured",
        "unpacked",
        "not-installed",
        "installed",
        "not-installed",  # only the amd64 copy is there
        "config-files",
    ]
    assert [s.ok for s in states] == [True, False, False, False, False, False, False]
    assert [s.present for s in states] == [True, True, True, False, True, False, False]
    lines = [s.describe() for s in states]
    assert lines[0] == "pkg-c 3.0~rc1-1: installed"
    assert lines[1] == (
        "pkg-bad 1.0-1: half-configured: unpacked, but configuring it (its postinst) failed"
        " [dpkg status: install ok half-configured]"
    )
    assert lines[2].startswith("pkg-u 1.0-1: unpacked but not configured")
    assert lines[3] == "pkg-gone 1.0-1: not installed"
    assert lines[4] == "pkg-old: installed at 1.0-1, but the plan has 2.0-1"
    assert lines[5] == "libfoo 1.0-1: not installed"
    assert lines[6].startswith("pkg-cfg 1.0-1: not installed, only its configuration files")


def test_package_state_ok_needs_installed_and_version() -> None:
    item = ClosureItem("pkg-a", "1.0-1", "all")
    assert PackageState(item, "installed", "1.0-1").ok
    assert not PackageState(item, "installed", "1.0-2").ok
    assert not PackageState(item, "triggers-pending", "1.0-1").ok


# -- apt messages ----------------------------------------------------------------------------------


def test_lock_error_with_holder() -> None:
    """``-o DPkg::Lock::Timeout=0``: the holder is on stderr."""
    stderr = (
        "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 3602 "
        "(python3)\n"
        "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is "
        "another process using it?\n"
    )
    assert parse_lock_error(stderr) == LockHolder("/var/lib/dpkg/lock-frontend", 3602, "python3")


def test_lock_error_after_waiting() -> None:
    """With a timeout apt reports the holder in its progress line on stdout."""
    stdout = (
        "Waiting for cache lock: Could not get lock /var/lib/dpkg/lock. It is held by "
        "process 32538 (unattended-upgr)...\r"
    )
    assert parse_lock_error(stdout) == LockHolder("/var/lib/dpkg/lock", 32538, "unattended-upgr")
    # The progress line is not always printed (apt leaves the flag that decides it
    # uninitialised); the final errors name the lock file, or the directory it is in.
    busy = (
        "E: Unable to lock the administration directory (/var/lib/dpkg/), is another "
        "process using it?\n"
    )
    assert parse_lock_error(busy) == LockHolder("/var/lib/dpkg/lock")
    frontend = (
        "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is "
        "another process using it?\n"
    )
    assert parse_lock_error(frontend) == LockHolder("/var/lib/dpkg/lock-frontend")


def test_the_kernel_names_the_holder_apt_did_not_name(tmp_path: Path) -> None:
    """find_lock_holder asks /proc/locks; a process holding the lock in this test is
    this process itself, which the kernel's table shows as any other."""
    lock = tmp_path / "lock-frontend"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        assert find_lock_holder(LockHolder(str(lock))) == LockHolder(str(lock))
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        found = find_lock_holder(LockHolder(str(lock)))
        assert found.lock == str(lock)
        assert found.pid == os.getpid()
        assert found.process
        # What apt said wins.
        said = LockHolder(str(lock), 1, "init")
        assert find_lock_holder(said) == said
    finally:
        os.close(fd)
    assert find_lock_holder(LockHolder(str(lock))).pid is None


def test_permission_denied_is_not_a_held_lock() -> None:
    stderr = (
        "E: Could not open lock file /var/lib/dpkg/lock-frontend - open (13: Permission "
        "denied)\n"
        "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), are you "
        "root?\n"
    )
    assert parse_lock_error(stderr) is None


def test_relevant_lines_of_a_failing_postinst() -> None:
    """apt copies dpkg's pseudo-terminal to stdout (``\\r\\n``); only apt's own error is on
    stderr."""
    stdout = (
        "Reading package lists...\r\n"
        "Selecting previously unselected package pkg-bad.\r\n"
        "Preparing to unpack .../repo/./pkg-bad_1.0-1_all.deb ...\r\n"
        "Unpacking pkg-bad (1.0-1) ...\r\n"
        "Setting up pkg-c (3.0~rc1-1) ...\r\n"
        "Setting up pkg-bad (1.0-1) ...\r\n"
        "postinst of pkg-bad fails on purpose\r\n"
        "dpkg: error processing package pkg-bad (--configure):\r\n"
        " installed pkg-bad package post-installation script subprocess returned error exit "
        "status 1\r\n"
        "Errors were encountered while processing:\r\n"
        " pkg-bad\r\n"
    )
    stderr = "E: Sub-process /usr/bin/dpkg returned an error code (1)\n"
    assert relevant_apt_lines(stdout, stderr) == (
        "postinst of pkg-bad fails on purpose",
        "dpkg: error processing package pkg-bad (--configure):",
        " installed pkg-bad package post-installation script subprocess returned error exit "
        "status 1",
        "Errors were encountered while processing:",
        " pkg-bad",
        "E: Sub-process /usr/bin/dpkg returned an error code (1)",
    )


def test_relevant_lines_limits() -> None:
    assert relevant_apt_lines("E: one\n two\nthree\n", "") == ("E: one", " two")
    # script output is quoted only when dpkg reports an error right after it
    assert relevant_apt_lines("Setting up a (1) ...\nchatter\nSetting up b (1) ...\n", "") == ()
    many = "".join(f"{i}\n" for i in range(40))
    assert relevant_apt_lines("", many) == tuple(str(i) for i in range(15, 40))


# -- the install command ---------------------------------------------------------------------------


def test_install_command_as_root() -> None:
    argv = AptProvider().install_command(
        [("pkg-a", "1.0-1"), ("pkg-b", "1:2.0-1")], Privileges(True)
    )
    assert argv[:4] == ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-o"]
    assert argv[argv.index("--") :] == ["--", "pkg-a=1.0-1", "pkg-b=1:2.0-1"]
    options = argv[argv.index("apt-get") + 1 : argv.index("install")]
    assert "APT::Cmd::Pattern-Only=true" in options
    assert "DPkg::Lock::Timeout=120" in options
    assert "Dpkg::Options::=--force-confdef" in options
    assert "Dpkg::Options::=--force-confold" in options
    flags = argv[argv.index("install") + 1 : argv.index("--")]
    assert flags == ["-y", "--no-install-recommends", "--no-remove"]


def test_install_command_through_sudo_keeps_apt_config() -> None:
    provider = AptProvider(env={"APT_CONFIG": "apt.conf"})
    argv = provider.install_command(
        [("pkg-a", "1.0-1")], Privileges(True, ("sudo", "-n")), lock_timeout=2.5
    )
    assert argv[:6] == [
        "sudo",
        "-n",
        "env",
        "DEBIAN_FRONTEND=noninteractive",
        "APT_CONFIG=apt.conf",
        "apt-get",
    ]
    assert "DPkg::Lock::Timeout=3" in argv


def test_install_command_without_privileges_is_the_root_command() -> None:
    """What a user without root is told to run as root: no sudo inside."""
    argv = AptProvider().install_command([("pkg-a", "1.0-1")], Privileges(False, why="no"))
    assert argv[0] == "env"


@pytest.mark.parametrize(("name", "version"), [("pkg-a", "1.0 -1"), ("-oX=1", "1.0"), ("a*", "1")])
def test_install_command_validates(name: str, version: str) -> None:
    with pytest.raises(ProviderError):
        AptProvider().install_command([(name, version)], Privileges(True))
