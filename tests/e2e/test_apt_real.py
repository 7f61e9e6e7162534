"""AptProvider against this machine's real apt (read-only: policy and simulation)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sysnative.providers.apt.provider import AptProvider

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def system_apt() -> AptProvider:
    if not AptProvider.available() or not Path("/etc/debian_version").exists():
        pytest.skip("needs a Debian-based system with apt")
    if shutil.which("dpkg") is None:
        pytest.skip("needs dpkg")
    provider = AptProvider()
    if not provider.query(["python3-numpy"]):
        pytest.skip("apt's package lists do not know python3-numpy (run apt-get update)")
    return provider


def test_query_numpy_and_scipy(system_apt: AptProvider) -> None:
    found = system_apt.query(["python3-numpy", "python3-scipy", "no-such-package-sysnative"])
    assert set(found) == {"python3-numpy", "python3-scipy"}
    for package in found.values():
        assert package.candidate is not None
        assert system_apt.to_pep440(package.candidate) is not None
        assert package.architecture


def test_simulate_scipy_pulls_numpy(system_apt: AptProvider) -> None:
    closure = system_apt.simulate(["python3-scipy"])
    names = {item.name for item in closure}
    installed = system_apt.installed_versions(["python3-scipy", "python3-numpy"])
    assert "python3-scipy" in names or "python3-scipy" in installed
    assert "python3-numpy" in names or "python3-numpy" in installed
