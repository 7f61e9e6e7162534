"""The dnf provider's parsers and checks, over output recorded from the real dnf and rpm
(see fixtures/dnf/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sysnative.models import ClosureItem, SystemPackage
from sysnative.providers.dnf.parse import (
    LockHolder,
    RpmPackage,
    ScriptletFailure,
    closure_from_transaction,
    nevra,
    package_states,
    parse_dnf_problems,
    parse_lock_error,
    parse_package_list,
    parse_scriptlet_failures,
    parse_transaction,
    python_abi,
    python_projects,
    relevant_dnf_lines,
    select_package,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "dnf"


def fixture(name: str) -> str:
    path = FIXTURES / name
    return path.read_text(encoding="utf-8") if path.exists() else ""


def pkg(name: str, evr: str, arch: str = "noarch", *provides: str, repo: str = "r") -> RpmPackage:
    epoch, _, rest = evr.rpartition(":")
    version, _, release = rest.partition("-")
    return RpmPackage(name, int(epoch or 0), version, release, arch, repo, provides)


# -- repoquery and rpm -q ---------------------------------------------------------------------


def test_repoquery_packages_and_provides() -> None:
    packages = parse_package_list(fixture("repoquery_mixed.txt"))
    by_name = {p.name: p for p in packages}
    assert list(by_name) == ["python3-bar", "python3-foo", "python3-libs", "python3-numpy"]
    numpy = by_name["python3-numpy"]
    assert (numpy.epoch, numpy.version, numpy.release, numpy.arch) == (
        1,
        "1.26.4",
        "7.fc40",
        "noarch",
    )
    assert numpy.evr == "1:1.26.4-7.fc40"
    assert numpy.nevra == "python3-numpy-1:1.26.4-7.fc40.noarch"
    assert numpy.repo == "sysnative-test-0"
    assert numpy.provides == (
        "python3-numpy = 1:1.26.4-7.fc40",
        "python3.12dist(numpy) = 1.26.4",
        "python3dist(numpy) = 1.26.4",
    )
    assert "python3dist(numpy)" in numpy.provides_names()
    assert by_name["python3-bar"].evr == "3.0.0~rc1-1.fc41"


def test_rpm_whatprovides_skips_not_found_lines_and_duplicates() -> None:
    packages = parse_package_list(fixture("rpm_whatprovides.txt"))
    assert [(p.name, p.evr, p.repo) for p in packages] == [
        ("python3-bar", "2.0-1.fc40", "@System"),
        ("python3-libs", "3.12.4-1.fc40", "@System"),
    ]
    assert packages[0].provides == ("python3-bar", "python3.12dist(bar)", "python3dist(bar)")
    assert packages[1].provides == ("python(abi)", "python3-libs")


def test_select_package_by_provide_and_by_name() -> None:
    available = parse_package_list(fixture("repoquery_mixed.txt"))
    installed = parse_package_list(fixture("rpm_whatprovides.txt"))
    assert select_package("python3dist(foo)", available, ()) == SystemPackage(
        "python3-foo", candidate="1.2-3.fc40", installed=None, architecture="noarch"
    )
    assert select_package("python3dist(numpy)", available, ()) == SystemPackage(
        "python3-numpy", candidate="1:1.26.4-7.fc40", installed=None, architecture="noarch"
    )
    # installed older than the repository's
    assert select_package("python3dist(bar)", available, installed) == SystemPackage(
        "python3-bar", candidate="3.0.0~rc1-1.fc41", installed="2.0-1.fc40", architecture="noarch"
    )
    assert select_package("python3-bar", available, installed) == select_package(
        "python3dist(bar)", available, installed
    )
    assert select_package("python(abi)", available, installed) == SystemPackage(
        "python3-libs", "3.12.4-1.fc40", "3.12.4-1.fc40", "noarch"
    )
    assert select_package("nothing-here", available, installed) is None


def test_select_package_installed_newer_than_repositories() -> None:
    installed = [pkg("python3-x", "2.0-1.fc40", "noarch", "python3dist(x)")]
    available = [pkg("python3-x", "1.0-1.fc40", "noarch", "python3dist(x) = 1.0")]
    assert select_package("python3dist(x)", available, installed) == SystemPackage(
        "python3-x", "2.0-1.fc40", "2.0-1.fc40", "noarch"
    )


def test_select_package_prefers_native_arch_and_ignores_sources() -> None:
    available = [
        pkg("python3-lxml", "5.1.0-1.fc40", "i686", "python3dist(lxml) = 5.1"),
        pkg("python3-lxml", "5.1.0-1.fc40", "x86_64", "python3dist(lxml) = 5.1"),
        pkg("python3-lxml", "9.9-1.fc40", "src", "python3dist(lxml) = 9.9"),
    ]
    found = select_package("python3dist(lxml)", available, (), native_arch="x86_64")
    assert found == SystemPackage("python3-lxml", "5.1.0-1.fc40", None, "x86_64")


def test_select_package_between_providers_takes_the_highest_provided_version() -> None:
    available = [
        pkg("python3-pytest7", "7.4.3-1.fc40", "noarch", "python3dist(pytest) = 7.4.3"),
        pkg("python3-pytest", "8.1.1-1.fc40", "noarch", "python3dist(pytest) = 8.1.1"),
    ]
    found = select_package("python3dist(pytest)", available, ())
    assert found is not None
    assert found.name == "python3-pytest"
    # a package NAMED like the spec wins over other providers
    assert select_package("python3-pytest7", available, ()) == SystemPackage(
        "python3-pytest7", "7.4.3-1.fc40", None, "noarch"
    )


def test_python_abi() -> None:
    assert python_abi(parse_package_list(fixture("repoquery_mixed.txt"))) == "3.12"
    libs = pkg("python3-libs", "3.12.4-1.fc40", "x86_64", "python(abi) = 3.12")
    alt = pkg("python3.13-libs", "3.13.0-1.fc40", "x86_64", "python(abi) = 3.13")
    old = pkg("python3.9", "3.9.19-1.fc40", "x86_64", "python(abi) = 3.9")
    assert python_abi([alt, libs, old]) == "3.12"  # the system python3's library wins
    assert python_abi([old, alt]) == "3.13"
    assert python_abi([pkg("python2", "2.7-1", "x86_64", "python(abi) = 2.7")]) is None
    assert python_abi([]) is None


# -- the resolver shim ------------------------------------------------------------------------


def test_transaction_with_dependencies_and_projects() -> None:
    items = parse_transaction(fixture("resolve_foo.txt"))
    assert items is not None
    assert [(i.action, i.package.nevra) for i in items] == [
        ("install", "python3-bar-3.0.0~rc1-1.fc41.noarch"),
        ("install", "python3-foo-1.2-3.fc40.noarch"),
        ("install", "python3-libs-3.12.4-1.fc40.noarch"),
    ]
    closure, removals = closure_from_transaction(items)
    assert removals == ()
    assert closure == (
        ClosureItem("python3-bar", "3.0.0~rc1-1.fc41", "noarch", None, ("bar",)),
        ClosureItem("python3-foo", "1.2-3.fc40", "noarch", None, ("foo",)),
        ClosureItem("python3-libs", "3.12.4-1.fc40", "noarch", None, ()),
    )


@pytest.mark.parametrize("name", ["resolve_upgrade.txt", "resolve_upgrade_plain.txt"])
def test_transaction_upgrade_replaces(name: str) -> None:
    items = parse_transaction(fixture(name))
    assert items is not None
    closure, removals = closure_from_transaction(items)
    assert removals == ()
    assert closure == (
        ClosureItem("python3-bar", "3.0.0~rc1-1.fc41", "noarch", "2.0-1.fc40", ("bar",)),
        ClosureItem("python3-foo", "1.2-3.fc40", "noarch", None, ("foo",)),
    )


def test_transaction_obsoletes_is_a_removal() -> None:
    items = parse_transaction(fixture("resolve_obsoletes.txt"))
    assert items is not None
    closure, removals = closure_from_transaction(items)
    assert [c.name for c in closure] == ["python3-newbar"]
    assert removals == ("python3-bar-2.0-1.fc40.noarch",)


def test_transaction_nothing_to_do_is_empty_not_missing() -> None:
    assert parse_transaction(fixture("resolve_nothing_to_do.txt")) == ()


@pytest.mark.parametrize("name", ["resolve_nomatch.txt", "resolve_problem.txt", ""])
def test_transaction_missing_when_dnf_never_got_there(name: str) -> None:
    assert parse_transaction(fixture(name) if name else "") is None


def test_transaction_downgrade_and_arch_change() -> None:
    text = (
        "sysnative-dnf-transaction\t2\n"
        "sysnative-dnf-item\tdowngrade\tpython3-x\t0\t1.0\t1.fc40\tnoarch\trepo\t"
        "python3dist(x) = 1.0\n"
        "sysnative-dnf-item\tdowngraded\tpython3-x\t0\t2.0\t1.fc40\tx86_64\t@System\t"
        "python3dist(x) = 2.0\n"
    )
    items = parse_transaction(text)
    assert items is not None
    closure, _ = closure_from_transaction(items)
    assert closure == (ClosureItem("python3-x", "1.0-1.fc40", "noarch", "2.0-1.fc40", ("x",)),)


def test_python_projects() -> None:
    assert python_projects(
        [
            "python3-zope-interface = 6.2-1.fc40",
            "python3dist(zope.interface) = 6.2",
            "python3dist(Zope_Interface) = 6.2",
            "python3.12dist(zope-interface) = 6.2",
            "python3dist(requests[socks]) = 2.31",
            "python3dist(a) = 1",
        ]
    ) == ("a", "zope-interface")


# -- errors -----------------------------------------------------------------------------------


def test_dnf_problems_no_match() -> None:
    assert parse_dnf_problems(
        fixture("resolve_nomatch.txt"), fixture("resolve_nomatch.stderr")
    ) == ("No match for argument: nothing-here", "Error: Unable to find a match: nothing-here")


def test_dnf_problems_unsatisfiable() -> None:
    assert parse_dnf_problems(
        fixture("resolve_problem.txt"), fixture("resolve_problem.stderr")
    ) == (
        "Problem: conflicting requests",
        "- nothing provides not-in-the-repo needed by python3-broken-1.0-1.fc40.noarch",
    )


def test_scriptlet_failures() -> None:
    said = fixture("install_post_fails.txt") + fixture("install_post_fails.stderr")
    assert parse_scriptlet_failures(said) == (ScriptletFailure("python3-bad", "POSTIN"),)
    assert parse_scriptlet_failures(said)[0].label == "%post"
    said = fixture("install_pre_fails.txt") + fixture("install_pre_fails.stderr")
    assert [f.label for f in parse_scriptlet_failures(said)] == ["%pre"]
    assert parse_scriptlet_failures(fixture("resolve_foo.txt")) == ()


def test_lock_errors() -> None:
    held = parse_lock_error(fixture("install_dnf_locked.stderr"))
    assert held is not None
    assert (held.lock, held.process, held.kind) == ("RPMDB", "sleep", "dnf")
    assert isinstance(held.pid, int)
    assert parse_lock_error(fixture("install_rpm_locked.stderr")) == LockHolder(
        "WORLD/world/installroot/var/lib/rpm/.rpm.lock", None, None, "rpm"
    )
    for name in ("install_post_fails.stderr", "install_pre_fails.stderr", "resolve_problem.stderr"):
        assert parse_lock_error(fixture(name)) is None


def test_relevant_lines_of_a_failing_post() -> None:
    lines = relevant_dnf_lines(
        fixture("install_post_fails.txt"), fixture("install_post_fails.stderr")
    )
    assert lines == (
        'error: lua script failed: [string "%post(python3-bad-1.0-1.fc40.noarch)"]:2: '
        "post of python3-bad fails on purpose",
        "post of python3-bad fails on purpose",
        "Error in POSTIN scriptlet in rpm package python3-bad",
    )


def test_relevant_lines_of_a_failing_pre() -> None:
    lines = relevant_dnf_lines(
        fixture("install_pre_fails.txt"), fixture("install_pre_fails.stderr")
    )
    assert "Failed:" in lines
    assert "  python3-prebad-1.0-1.fc40.noarch" in lines
    assert lines[-1] == "Error: Transaction failed"


# -- verification ---------------------------------------------------------------------------


def test_package_states() -> None:
    closure = (
        ClosureItem("python3-bad", "1.0-1.fc40", "noarch"),
        ClosureItem("python3-bar", "3.0.0~rc1-1.fc41", "noarch", replaces="2.0-1.fc40"),
        ClosureItem("python3-foo", "1.2-3.fc40", "noarch"),
        ClosureItem("python3-libs", "0:3.12.4-1.fc40", "noarch"),
        ClosureItem("python3-libs", "3.12.4-1.fc40", "x86_64"),
    )
    failures = [ScriptletFailure("python3-bad", "POSTIN")]
    states = package_states(closure, fixture("rpm_states.txt"), failures)
    assert [s.ok for s in states] == [False, False, False, True, False]
    assert [s.describe() for s in states] == [
        "python3-bad 1.0-1.fc40: installed, but its %post scriptlet failed",
        "python3-bar: installed at 2.0-1.fc40.noarch, but the plan has 3.0.0~rc1-1.fc41",
        "python3-foo 1.2-3.fc40: not installed",
        "python3-libs 0:3.12.4-1.fc40: installed",
        "python3-libs: installed at 3.12.4-1.fc40.noarch, but the plan has 3.12.4-1.fc40",
    ]


def test_package_state_old_version_left_behind() -> None:
    text = (
        "sysnative-pkg\tpython3-x\t(none)\t2.0\t1\tnoarch\t\n"
        "sysnative-pkg\tpython3-x\t(none)\t1.0\t1\tnoarch\t\n"
    )
    (state,) = package_states([ClosureItem("python3-x", "2.0-1", None, "1.0-1")], text)
    assert state.present
    assert state.stale
    assert state.describe() == (
        "python3-x 2.0-1: installed, but 1.0-1 is still installed too (removing the old "
        "version failed)"
    )


def test_nevra() -> None:
    assert nevra("python3-numpy", "1:1.26.4-7.fc40", "x86_64") == (
        "python3-numpy-1:1.26.4-7.fc40.x86_64"
    )
    assert nevra("python3-foo", "1.2-3.fc40", None) == "python3-foo-1.2-3.fc40"
