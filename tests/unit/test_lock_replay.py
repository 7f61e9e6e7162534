"""Using a lock: does this machine match, the refusal when it does not, and the plan that
reproduces the lock (what stays, what is installed, the marker facts)."""

from __future__ import annotations

from dataclasses import replace

from lockworld import MACHINE, make_lock, mapping, n, plan, target, text_of

from sysnative.install import standins
from sysnative.lock import replay
from sysnative.lock.document import loads
from sysnative.lock.model import LockMachine, LockMismatch
from sysnative.models import ClosureItem, Plan, PlannedPackage, Route

# -- does this machine match? ------------------------------------------------------------------


def test_the_same_machine_matches() -> None:
    assert replay.machine_differences(make_lock(), MACHINE, target()) == ()


def test_each_difference_says_both_sides() -> None:
    here = LockMachine("dnf", "ubuntu", "24.04", "arm64")
    found = replay.machine_differences(make_lock(), here, target())
    assert [d.describe() for d in found] == [
        "package manager: the lock says apt, here it is dnf",
        "distribution: the lock says debian 12, here it is ubuntu 24.04",
        "architecture: the lock says amd64, here it is arm64",
    ]


def test_another_python_is_one_difference() -> None:
    other = target(markers={"python_version": "3.12", "python_full_version": "3.12.1"})
    found = replay.machine_differences(make_lock(), MACHINE, other)
    assert [d.describe() for d in found] == [
        "Python (the target venv/bin/python): the lock says CPython 3.11, here it is CPython 3.12"
    ]


def test_the_environments_marker_is_checked() -> None:
    other = target(markers={"platform_machine": "aarch64"})
    (found,) = replay.machine_differences(make_lock(), replace(MACHINE), other)
    assert found.what == "environment (PEP 751 environments)"
    assert "platform_machine = 'aarch64'" in found.here


def test_a_kernel_update_is_no_difference() -> None:
    other = target(markers={"platform_release": "6.9", "platform_version": "#2"})
    assert replay.machine_differences(make_lock(), MACHINE, other) == ()


def test_the_refusal_says_what_to_do() -> None:
    lock = make_lock()
    here = LockMachine("apt", "debian", "13", "amd64")
    error = replay.mismatch_error(
        lock, "ci/pylock.toml", replay.machine_differences(lock, here, target())
    )
    assert isinstance(error, LockMismatch)
    assert error.message == (
        "ci/pylock.toml was made for another machine, so its exact versions cannot be "
        "installed here. Nothing was changed.\n"
        "    distribution: the lock says debian 12, here it is debian 13"
    )
    assert error.hint is not None
    assert (
        "sysnative lock numpy requests pyyaml opencv-python -o ci/pylock.toml "
        "-c CONSTRAINTS-FILE" in error.hint
    )
    assert "pip install --no-deps -r ci/pylock.toml" in error.hint


def test_projects_without_a_package_must_be_there_already() -> None:
    p = plan()
    rows = (*p.packages, replace(p.packages[4], name=n("six"), package=None, distro_version=None))
    lock = make_lock(replace(p, packages=rows))
    assert replay.missing_system_projects(lock, target(installed={"six": "6.0"})) == ()
    (line,) = replay.missing_system_projects(lock, target())
    assert line.startswith("six 6.0 (already on the system when the lock was made")


# -- Lock -> Plan --------------------------------------------------------------------------------


def by_name(p: Plan) -> dict[str, PlannedPackage]:
    return {r.name: r for r in p.packages}


def test_a_fresh_machine_installs_everything_of_the_lock() -> None:
    p = replay.locked_plan(make_lock(), installed={}, target=target())
    rows = by_name(p)
    assert [(r.name, r.route.value) for r in p.packages] == [
        ("beniget", "system"),
        ("numpy", "system"),
        ("opencv-python", "system"),
        ("pyyaml", "system"),
        ("idna", "pypi"),
        ("requests", "pypi"),
    ]
    assert {name: r.requested for name, r in rows.items() if r.route is Route.SYSTEM} == {
        "beniget": False,  # comes with numpy
        "numpy": True,
        "opencv-python": True,
        "pyyaml": True,  # installed when locked: nothing else pulls it in
    }
    assert not any(r.already_installed for r in p.packages)
    assert [(c.name, c.version, c.replaces) for c in p.system_closure] == [
        ("libblas3", "3.11.0-2", None),
        ("python3-beniget", "0.4.1-3", None),
        ("python3-numpy", "1:1.24.2-1+deb12u1", None),
        ("python3-opencv", "4.6.0+dfsg-12", None),
        ("python3-yaml", "6.0-3+b2", None),
    ]
    requests = rows["requests"].file
    assert requests is not None
    assert requests.sha256 == "a" * 64
    assert requests.size == 10
    assert requests.url == "https://127.0.0.1:8443/files/requests-2.31.0-py3-none-any.whl"
    assert p.notes == ("a note",)


def test_what_is_installed_at_the_locked_version_stays() -> None:
    installed = {
        "python3-numpy": "1:1.24.2-1+deb12u1",
        "libblas3": "3.10.0-1",  # another version: upgraded to the locked one
        "python3-yaml": "6.0-3+b2",
        "python3-opencv": "4.6.0+dfsg-12",
        "python3-beniget": "0.4.1-3",
    }
    p = replay.locked_plan(
        make_lock(), installed=installed, target=target(installed={"idna": "3.6"})
    )
    rows = by_name(p)
    assert all(r.already_installed for r in p.system)
    assert rows["idna"].already_installed
    assert not rows["requests"].already_installed
    assert p.system_closure == (ClosureItem("libblas3", "3.11.0-2", "amd64", "3.10.0-1"),)


def test_missing_dependencies_alone_are_asked_for_by_name() -> None:
    installed = {
        "python3-numpy": "1:1.24.2-1+deb12u1",
        "python3-yaml": "6.0-3+b2",
        "python3-opencv": "4.6.0+dfsg-12",
        "libblas3": "3.11.0-2",
    }
    p = replay.locked_plan(make_lock(), installed=installed, target=target())
    assert [(r.name, r.requested) for r in p.system if not r.already_installed] == [
        ("beniget", True)
    ]
    assert [c.name for c in p.system_closure] == ["python3-beniget"]


def test_download_urls_can_be_replaced() -> None:
    lock = make_lock()
    url = lock.wheels[1].url
    p = replay.locked_plan(lock, installed={}, target=target(), urls={url: url + "?x"})
    file = by_name(p)["requests"].file
    assert file is not None
    assert file.url == url + "?x"


def test_the_lock_carries_the_marker_facts() -> None:
    """The marker step decides from the lock's mapping as it would from the real one (pyyaml
    registers the placeholder 0.0.0 here)."""
    lock = loads(text_of(make_lock()))
    table = replay.lock_mapping(lock, "debian")
    p = replay.locked_plan(lock, installed={}, target=target())
    after = target(installed={"pyyaml": "0.0.0"})
    from_lock = standins.markers_needed(p.system, table, after)
    from_mapping = standins.markers_needed(p.system, mapping(), after)
    assert from_lock == from_mapping
    assert [(m.name, str(m.version)) for m in from_lock] == [
        ("opencv-python", "4.6.0"),
        ("pyyaml", "6.0"),
    ]
