"""Choosing the provider: detection from the machine's facts, and the errors around it."""

from __future__ import annotations

import pytest

from sysnative.errors import ProviderUnavailable
from sysnative.providers import PROVIDERS, MachineFacts, detect, select_provider


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        # Debian has no ID_LIKE: ID itself must be read (the PEP 725 prototype misses it).
        (MachineFacts("linux", "debian", (), "12"), "apt"),
        (MachineFacts("linux", "ubuntu", ("debian",), "24.04"), "apt"),
        (MachineFacts("linux", "linuxmint", ("ubuntu", "debian"), "21"), "apt"),
        (MachineFacts("linux", "fedora", (), "40"), "dnf"),
        (MachineFacts("linux", "rhel", ("fedora",), "9.4"), "dnf"),
        (MachineFacts("linux", "rocky", ("rhel", "centos", "fedora"), "9"), "dnf"),
        (MachineFacts("linux", "almalinux", ("rhel", "centos", "fedora"), "9"), "dnf"),
        (MachineFacts("darwin"), "brew"),
        # An active conda environment wins over the distribution.
        (MachineFacts("linux", "debian", (), "12", conda_prefix="/opt/env"), "conda"),
        (MachineFacts("darwin", conda_prefix="/opt/env"), "conda"),
        (MachineFacts("linux", "arch", (), ""), None),
        (MachineFacts("linux", "", (), ""), None),
    ],
)
def test_detect(facts: MachineFacts, expected: str | None) -> None:
    assert detect(facts) == expected


def test_this_machine_is_detected_as_apt() -> None:
    import distro

    if distro.id() != "debian":
        pytest.skip("the development and CI machines are Debian")
    assert detect(MachineFacts.current(env={})) == "apt"


def test_unknown_provider_lists_the_available_ones() -> None:
    with pytest.raises(ProviderUnavailable) as info:
        select_provider("yum")
    assert "Unknown provider 'yum'" in info.value.message
    assert info.value.hint is not None
    assert "available on this machine" in info.value.hint or "No supported" in info.value.hint


def test_undetectable_machine_is_an_error_naming_the_distribution() -> None:
    with pytest.raises(ProviderUnavailable) as info:
        select_provider(None, facts=MachineFacts("linux", "arch", (), ""))
    assert "arch" in info.value.message
    assert info.value.hint is not None


def test_absent_tools_list_what_the_machine_has(tmp_path: object) -> None:
    # An empty PATH: no provider's tools at all.
    with pytest.raises(ProviderUnavailable) as info:
        select_provider("apt", env={"PATH": "/nonexistent"})
    assert "not on this machine" in info.value.message
    assert info.value.hint is not None
    assert ", ".join(PROVIDERS) in info.value.hint


def test_apt_takes_no_options() -> None:
    with pytest.raises(ProviderUnavailable, match="takes no extra options"):
        select_provider("apt", options={"apt": ["-o", "Debug::NoLocking=1"]})


def test_distribution_facts_come_from_os_release_without_subprocesses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import subprocess

    import distro

    from sysnative.machine import linux_distribution

    full = distro.LinuxDistribution()  # may run lsb_release and uname
    expected = (full.id(), full.like(), full.version())

    def no_subprocess(*args: object, **kwargs: object) -> object:
        raise AssertionError(f"a subprocess ran: {args!r}")

    monkeypatch.setattr(subprocess, "check_output", no_subprocess)
    monkeypatch.setattr(subprocess, "run", no_subprocess)
    monkeypatch.setattr(subprocess, "Popen", no_subprocess)
    linux_distribution.cache_clear()
    try:
        facts = linux_distribution()
        assert (facts.id(), facts.like(), facts.version()) == expected
        assert facts.id()  # this machine has an os-release
    finally:
        linux_distribution.cache_clear()
