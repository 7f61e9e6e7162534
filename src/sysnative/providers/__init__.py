"""System package providers, and choosing the one this machine uses.

Detection reads what the machine says about itself, in this order:

1. an active conda environment (``$CONDA_PREFIX``) wins: the user chose that environment;
2. macOS means Homebrew;
3. otherwise ``/etc/os-release``'s ``ID`` and then each ``ID_LIKE`` entry (read with
   ``distro``): ``debian``/``ubuntu`` and their derivatives use apt, ``fedora``/``rhel``/
   ``centos`` and theirs use dnf. Debian itself has no ``ID_LIKE``, which is why ``ID`` is
   read first (the PEP 725 prototype looks only at ``ID_LIKE`` and finds nothing there).

``--provider NAME`` (or the ``provider`` configuration key) overrides detection. A provider
that is unknown, or whose tools are not on this machine, is an error that lists the
providers this machine does have.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sysnative.errors import ProviderUnavailable
from sysnative.protocols import Provider

__all__ = ["PROVIDERS", "MachineFacts", "available_providers", "detect", "select_provider"]

#: Provider name -> ``module:class``; imported only when used.
_REGISTRY: dict[str, str] = {
    "apt": "sysnative.providers.apt.provider:AptProvider",
    "dnf": "sysnative.providers.dnf.provider:DnfProvider",
    "conda": "sysnative.providers.conda.provider:CondaProvider",
    "brew": "sysnative.providers.brew.provider:BrewProvider",
}
PROVIDERS: tuple[str, ...] = tuple(_REGISTRY)

_APT_FAMILY = frozenset({"debian", "ubuntu"})
_DNF_FAMILY = frozenset({"fedora", "rhel", "centos"})


@dataclass(frozen=True)
class MachineFacts:
    """What detection looks at; :meth:`current` reads them from this machine."""

    system: str
    distro_id: str = ""
    distro_like: tuple[str, ...] = ()
    distro_version: str = ""
    conda_prefix: str | None = None

    @classmethod
    def current(cls, env: Mapping[str, str] | None = None) -> MachineFacts:
        import os

        from sysnative.machine import linux_distribution

        environ = os.environ if env is None else env
        distro = linux_distribution()
        return cls(
            system=sys.platform,
            distro_id=distro.id(),
            distro_like=tuple(distro.like().split()),
            distro_version=distro.version(),
            conda_prefix=environ.get("CONDA_PREFIX") or None,
        )


def detect(facts: MachineFacts) -> str | None:
    """The provider this machine's facts point to, or ``None`` when they point nowhere."""
    if facts.conda_prefix:
        return "conda"
    if facts.system == "darwin":
        return "brew"
    for family in (facts.distro_id, *facts.distro_like):
        if family in _APT_FAMILY:
            return "apt"
        if family in _DNF_FAMILY:
            return "dnf"
    return None


def _provider_class(name: str) -> Any:
    module, _, attribute = _REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def available_providers(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The providers whose tools are on this machine (conda: with an environment active)."""
    present = []
    for name in _REGISTRY:
        try:
            cls = _provider_class(name)
        except ImportError:  # pragma: no cover - a broken installation
            continue
        if cls.available(env):
            present.append(name)
    return tuple(present)


def _unavailable_hint(env: Mapping[str, str] | None) -> str:
    present = available_providers(env)
    if present:
        return f"Providers available on this machine: {', '.join(present)} (use --provider)."
    return (
        "No supported package manager is available on this machine "
        f"(sysnative knows {', '.join(PROVIDERS)}); without --system-native, sysnative "
        "install hands everything to pip."
    )


def select_provider(
    name: str | None,
    *,
    cache_dir: Path | None = None,
    options: Mapping[str, Sequence[str]] | None = None,
    facts: MachineFacts | None = None,
    env: Mapping[str, str] | None = None,
) -> Provider:
    """The provider called ``name``, else the detected one; a clear error otherwise.

    ``options`` are extra arguments for each provider's tool, by provider name
    (``{"dnf": ["--installroot=DIR"]}``); only the chosen provider's are used.
    """
    if name is not None and name not in _REGISTRY:
        raise ProviderUnavailable(f"Unknown provider {name!r}.", _unavailable_hint(env))
    if name is None:
        facts = MachineFacts.current(env) if facts is None else facts
        name = detect(facts)
        if name is None:
            what = facts.distro_id or facts.system
            raise ProviderUnavailable(
                f"sysnative does not know which package manager {what} uses.",
                _unavailable_hint(env),
            )
    cls = _provider_class(name)
    if not cls.available(env):
        raise ProviderUnavailable(
            f"The provider {name!r} was asked for or detected, but its tools are not on this "
            "machine" + (" (or no conda environment is active)." if name == "conda" else "."),
            _unavailable_hint(env),
        )
    kwargs: dict[str, Any] = {"cache_dir": cache_dir}
    if env is not None:
        kwargs["env"] = env
    chosen = tuple((options or {}).get(name, ()))
    if chosen:
        if name == "apt":
            raise ProviderUnavailable(
                "The apt provider takes no extra options.",
                "Configure apt itself (APT_CONFIG, /etc/apt/apt.conf.d) instead.",
            )
        kwargs["options"] = chosen
    provider: Provider = cls(**kwargs)
    return provider
