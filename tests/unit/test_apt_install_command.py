"""The exact argv of apt's transaction (:meth:`AptProvider.install_command`)."""

from __future__ import annotations

import pytest

from sysnative.errors import ProviderError
from sysnative.protocols import Privileges
from sysnative.providers.apt.provider import AptProvider

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
