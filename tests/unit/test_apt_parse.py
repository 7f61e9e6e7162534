"""The apt output parsers, over output recorded from the real apt (see fixtures/apt/README.md).

The dpkg states and apt's lock and error messages below were printed by apt 2.6.1 and dpkg
1.21.23 on Debian 12 (the runs of tests/integration/test_apt_install.py); only the admin
directory was replaced with dpkg's default one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sysnative.errors import ProviderError
from sysnative.models import ClosureItem, SystemPackage
from sysnative.providers.apt.names import validate_package_names
from sysnative.providers.apt.parse import (
    DPKG_STATE_FORMAT,
    LockHolder,
    PackageState,
    package_states,
    parse_apt_errors,
    parse_dpkg_query,
    parse_lock_error,
    parse_policy,
    parse_removals,
    parse_simulation,
    parse_unmet_dependencies,
    relevant_apt_lines,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "apt"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


# -- apt-cache policy -------------------------------------------------------------------------


def test_policy_mixed_known_and_unknown() -> None:
    parsed = parse_policy(fixture("policy_mixed.txt"))
    assert list(parsed) == ["python3-numpy", "python3-scipy", "python3-requests", "python3-yaml"]
    assert parsed["python3-numpy"] == SystemPackage(
        "python3-numpy", candidate="1:1.24.2-1+deb12u1", installed=None
    )
    assert parsed["python3-scipy"].candidate == "1.10.1-2"
    assert parsed["python3-requests"].candidate == "2.28.1+dfsg-1"
    assert parsed["python3-yaml"] == SystemPackage(
        "python3-yaml", candidate="6.0-3+b2", installed="6.0-3+b2"
    )
    assert "no-such-package" not in parsed


def test_policy_installed_older_than_candidate() -> None:
    parsed = parse_policy(fixture("policy_upgradable.txt"))
    assert parsed["dpkg"].installed == "1.21.22"
    assert parsed["dpkg"].candidate == "1.21.23"
    assert parsed["python3-cryptography"].installed == "38.0.4-3+deb12u1"


def test_policy_virtual_and_regex_answers() -> None:
    """A virtual package has a block without candidate; a regex answers with other names."""
    parsed = parse_policy(fixture("policy_virtual_regex.txt"))
    assert parsed["awk"] == SystemPackage("awk", candidate=None, installed=None)
    assert "python3-nump." not in parsed
    assert "python3-numpy" in parsed  # the provider must filter by exact requested name
    assert "python3-numpysane" in parsed


def test_policy_empty_and_foreign_arch() -> None:
    assert parse_policy("") == {}
    text = "libfoo:i386:\n  Installed: (none)\n  Candidate: 1.0-1\n  Version table:\n"
    assert parse_policy(text) == {"libfoo:i386": SystemPackage("libfoo:i386", "1.0-1")}


# -- apt-get install -s -----------------------------------------------------------------------


def test_simulation_scipy_closure() -> None:
    items = parse_simulation(fixture("simulate_scipy.txt"))
    names = [i.name for i in items]
    assert len(items) == 21  # Inst lines only, not Conf
    assert len(set(names)) == len(names)
    assert names[0] == "libblas3"
    assert "python3-numpy" in names
    assert "python3-scipy" in names
    numpy = items[names.index("python3-numpy")]
    assert numpy == ClosureItem("python3-numpy", "1:1.24.2-1+deb12u1", "amd64", None)
    assert all(i.replaces is None for i in items)
    assert parse_removals(fixture("simulate_scipy.txt")) == ()


def test_simulation_upgrade_has_replaces() -> None:
    items = parse_simulation(fixture("simulate_upgrade_dpkg.txt"))
    assert items == (
        ClosureItem("dpkg", "1.21.23", "amd64", replaces="1.21.22"),
        ClosureItem("dpkg-dev", "1.21.23", "all", replaces="1.21.22"),
        ClosureItem("libdpkg-perl", "1.21.23", "all", replaces="1.21.22"),
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # local repository without a Release file: "localhost" as the release string
        ("Inst b (1.0-1 localhost [all])", ClosureItem("b", "1.0-1", "all")),
        # several origins, with spaces and commas
        (
            "Inst libc6 [2.36-9] (2.36-9+deb12u4 Debian:12.5/stable, "
            "Debian-Security:12/stable-security [amd64])",
            ClosureItem("libc6", "2.36-9+deb12u4", "amd64", "2.36-9"),
        ),
        (
            "Inst libfoo:i386 (1.0-1 Debian:12.5/stable [i386])",
            ClosureItem("libfoo", "1.0-1", "i386"),
        ),
        ("Conf b (1.0-1 localhost [all])", None),
        ("Remv foo [1.0-1]", None),
    ],
)
def test_simulation_line_shapes(line: str, expected: ClosureItem | None) -> None:
    assert parse_simulation(line) == ((expected,) if expected else ())


def test_removals() -> None:
    text = "Remv foo [1.0-1]\nInst bar (2.0 localhost [all])\nRemv baz:i386 [3]\n"
    assert parse_removals(text) == ("foo", "baz:i386")


def test_errors_unknown_package() -> None:
    assert parse_simulation(fixture("simulate_unknown.txt")) == ()
    assert parse_apt_errors(fixture("simulate_unknown.stderr")) == (
        "E: Unable to locate package no-such-package",
    )


def test_errors_unmet_dependencies() -> None:
    assert parse_unmet_dependencies(fixture("simulate_unmet.txt")) == (
        "d : Depends: nothere but it is not installable",
    )
    assert parse_apt_errors(fixture("simulate_unmet.stderr")) == (
        "E: Unable to correct problems, you have held broken packages.",
    )
    assert parse_unmet_dependencies(fixture("simulate_scipy.txt")) == ()


# -- dpkg-query -------------------------------------------------------------------------------


def test_dpkg_query_keeps_only_installed() -> None:
    text = (
        "python3-yaml\tinstall ok installed\t6.0-3+b2\n"
        "python3-old\tdeinstall ok config-files\t1.0-1\n"
        "python3-half\tinstall reinstreq half-installed\t2.0-1\n"
        "python3-held\thold ok installed\t3.0-1\n"
        "garbage line\n"
    )
    assert parse_dpkg_query(text) == {"python3-yaml": "6.0-3+b2", "python3-held": "3.0-1"}


# -- names --------------------------------------------------------------------------------------


def test_valid_names_are_deduplicated_in_order() -> None:
    names = ["python3-numpy", "libstdc++6", "python3-ruamel.yaml", "python3-numpy", "g++"]
    assert validate_package_names(names) == (
        "python3-numpy",
        "libstdc++6",
        "python3-ruamel.yaml",
        "g++",
    )


@pytest.mark.parametrize(
    "bad",
    ["python3-lx*", "-oFoo", "a b", "x;rm", "", "a", "Python3-Numpy", "pkg:amd64", "ab\n", "[ab]c"],
)
def test_invalid_names_rejected(bad: str) -> None:
    with pytest.raises(ProviderError) as info:
        validate_package_names(["python3-numpy", bad])
    assert repr(bad) in info.value.message
    assert info.value.hint


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
