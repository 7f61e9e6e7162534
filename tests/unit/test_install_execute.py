"""Ctrl-C during the system step: what is left, and each provider's own way to finish it."""

from __future__ import annotations

from typing import Any

import pytest
from memory import MemoryApt

from sysnative.install.execute import interrupted_system_step
from sysnative.models import ClosureItem
from sysnative.providers.apt.provider import AptProvider
from sysnative.providers.brew.provider import BrewProvider
from sysnative.providers.conda.provider import CondaProvider
from sysnative.providers.dnf.provider import DnfProvider


def test_the_error_lists_what_is_missing_and_uses_the_providers_recovery() -> None:
    apt = MemoryApt({})
    apt.installed_now["python3-a"] = "1.0-1"
    closure = (ClosureItem("python3-a", "1.0-1"), ClosureItem("python3-b", "2.0-1"))
    error = interrupted_system_step(apt, closure)
    assert error.exit_code == 130
    assert "python3-b 2.0-1: not installed" in error.message
    assert "python3-a" not in error.message
    assert error.hint is not None
    assert error.hint.startswith("Run the same command again to finish the job; ")
    assert "`dpkg --audit` lists unfinished packages." in error.hint
    assert error.retry == ("dpkg --configure -a",)


@pytest.mark.parametrize(
    ("provider", "tool", "retry"),
    [
        (AptProvider, "dpkg", ("dpkg --configure -a",)),
        (DnfProvider, "dnf check", ()),
        (CondaProvider, "conda list", ()),
        (BrewProvider, "brew doctor", ()),
    ],
)
def test_each_provider_names_its_own_tool(provider: Any, tool: str, retry: tuple[str, ...]) -> None:
    advice, commands = provider.recovery()
    assert tool in advice
    assert commands == retry
    if provider is not AptProvider:
        assert "dpkg" not in advice
