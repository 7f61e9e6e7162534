"""System package providers (apt first; dnf, conda and Homebrew later)."""

from __future__ import annotations

from pathlib import Path

from sysnative.errors import ProviderUnavailable
from sysnative.providers.base import Provider


def select_provider(name: str | None, *, cache_dir: Path | None = None) -> Provider:
    """The provider called ``name``, or the one this machine has; a clear error otherwise."""
    from sysnative.providers.apt import AptProvider

    known = {"apt": AptProvider}
    if name is not None and name not in known:
        raise ProviderUnavailable(
            f"Unknown provider {name!r}.", f"Available providers: {', '.join(sorted(known))}."
        )
    if name is None:
        present = [n for n, cls in known.items() if cls.available()]
        if not present:
            raise ProviderUnavailable(
                "No supported system package manager was found on this machine "
                f"(looked for: {', '.join(sorted(known))}).",
                "sysnative --system-native needs Debian or a derivative with apt; without "
                "--system-native, sysnative install hands everything to pip.",
            )
        name = present[0]
    cls = known[name]
    if not cls.available():
        raise ProviderUnavailable(
            f"The provider {name!r} was asked for, but its tools are not on this machine.",
            "Choose a provider this machine has with --provider, or install its tools.",
        )
    return cls(cache_dir=cache_dir)
