"""The target environment as a value: the interpreter sysnative installs into, as the probe
(:mod:`sysnative.probe`) described it.

Built from the probe's JSON by :meth:`TargetEnvironment.from_json`, so that the planning core
can take a target without running anything; tests build targets from recorded probes.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from packaging.tags import Tag, parse_tag
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

#: Tag priorities by tag list (see :meth:`TargetEnvironment.tag_priority`).
_tag_priorities: dict[tuple[Tag, ...], Mapping[Tag, int]] = {}


@dataclass(frozen=True)
class InstalledDistribution:
    name: NormalizedName
    version: Version | None
    #: The directory the distribution lives in (its site dir).
    location: str
    requires: tuple[str, ...] = ()
    installer: str = ""


@dataclass(frozen=True)
class TargetEnvironment:
    executable: str
    python_version: str
    python_full_version: str
    markers: Mapping[str, str]
    #: Supported wheel tags, most preferred first.
    tags: tuple[Tag, ...]
    sys_path: tuple[str, ...]
    prefix: str
    base_prefix: str
    purelib: str
    site_packages: tuple[str, ...] = ()
    #: The user site-packages directory, whether or not it exists (``None``: not reported).
    user_site: str | None = None
    #: ``None`` when the target is not a venv.
    include_system_site_packages: bool | None = None
    externally_managed: bool = False
    installed: Mapping[NormalizedName, InstalledDistribution] = field(default_factory=dict)

    @property
    def is_venv(self) -> bool:
        return self.prefix != self.base_prefix

    def tag_priority(self) -> Mapping[Tag, int]:
        """Lower is better, as in pip: the order of ``sys_tags()`` in the target.

        One shared mapping per tag list, so that listings computed for the same target (by
        the resolver's passes, the prefetcher and the speculator) can be memoized on it.
        """
        known = _tag_priorities.get(self.tags)
        if known is None:
            if len(_tag_priorities) >= 64:
                _tag_priorities.clear()
            known = _tag_priorities[self.tags] = MappingProxyType(
                {tag: i for i, tag in enumerate(self.tags)}
            )
        return known

    def sees(self, directory: str) -> bool:
        """Whether ``directory`` is on the target's ``sys.path``."""
        wanted = posixpath.normpath(directory)
        return any(posixpath.normpath(p) == wanted for p in self.sys_path)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> TargetEnvironment:
        """Build from the probe's JSON (also used by tests with recorded probes)."""
        tags: list[Tag] = []
        for text in _str_list(data.get("tags")):
            tags.extend(parse_tag(text))
        installed: dict[NormalizedName, InstalledDistribution] = {}
        raw_dists = data.get("distributions") or []
        assert isinstance(raw_dists, list)
        for raw in raw_dists:
            dist = _installed(raw)
            # The first one on sys.path wins, as for the import system; the probe lists them
            # in sys.path order.
            installed.setdefault(dist.name, dist)
        markers = data.get("markers") or {}
        assert isinstance(markers, dict)
        include = data.get("include_system_site_packages")
        return cls(
            executable=str(data["executable"]),
            python_version=str(data["version"]),
            python_full_version=str(data["full_version"]),
            markers={str(k): str(v) for k, v in markers.items()},
            tags=tuple(tags),
            sys_path=tuple(_str_list(data.get("sys_path"))),
            prefix=str(data.get("prefix", "")),
            base_prefix=str(data.get("base_prefix", "")),
            purelib=str(data.get("purelib", "")),
            site_packages=tuple(_str_list(data.get("site_packages"))),
            user_site=_opt_str(data.get("user_site")),
            include_system_site_packages=include if isinstance(include, bool) else None,
            externally_managed=bool(data.get("externally_managed", False)),
            installed=installed,
        )


def _str_list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _installed(raw: object) -> InstalledDistribution:
    assert isinstance(raw, dict)
    try:
        version: Version | None = Version(str(raw.get("version")))
    except InvalidVersion:
        version = None
    return InstalledDistribution(
        name=canonicalize_name(str(raw["name"])),
        version=version,
        location=str(raw.get("location", "")),
        requires=tuple(_str_list(raw.get("requires"))),
        installer=str(raw.get("installer", "")),
    )
