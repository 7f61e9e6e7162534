"""Core metadata: a wheel's ``METADATA`` read into :class:`CoreMetadata`, and the pieces of
reading it from a zip that need no I/O (which member, which byte ranges).

Pure parsing; the bytes come from :mod:`sysnative.index.client` (a ``.metadata`` file, range
requests, a whole wheel) or from a prepared sdist (:mod:`sysnative.install.sdists`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from sysnative.index.pages import parse_memo, parse_requires_python, remember
from sysnative.models import CoreMetadata, IndexFile

logger = logging.getLogger(__name__)

#: Requires-Dist lines, parsed once per process (see :func:`parse_requires_dist`).
_requires_dist_memo: dict[str, Requirement | None] = parse_memo()


def parse_requires_dist(line: str) -> Requirement | None:
    """A Requires-Dist value, or ``None`` if it does not parse.

    Memoized per string, as Requires-Python is: a project's releases repeat the same lines
    (xarray's thirty releases, each with dozens of extras), and packaging's parser costs tens
    of microseconds per line. The returned ``Requirement`` may be shared: do not mutate it.
    """
    try:
        return _requires_dist_memo[line]
    except KeyError:
        pass
    try:
        requirement: Requirement | None = Requirement(line)
    except InvalidRequirement:
        requirement = None
    remember(_requires_dist_memo, line, requirement)
    return requirement


def parse_core_metadata(data: bytes) -> CoreMetadata:
    """The resolver's view of a METADATA file; unparsable requirement lines are skipped.

    Raises ``ValueError`` when the name or version is missing or invalid: such data is not
    core metadata at all (e.g. an error page served with status 200).
    """
    raw, _unparsed = parse_email(data)
    name, version = raw.get("name"), raw.get("version")
    if not name or not version:
        raise ValueError("no Name or Version field")
    requires = []
    for line in raw.get("requires_dist", []):
        requirement = parse_requires_dist(line)
        if requirement is None:
            logger.debug("skipping unparsable Requires-Dist %r of %s", line, name)
        else:
            requires.append(requirement)
    extras = frozenset(canonicalize_name(e) for e in raw.get("provides_extra", []))
    return CoreMetadata(
        name=canonicalize_name(name),
        version=Version(version),  # InvalidVersion is a ValueError
        requires_dist=tuple(requires),
        requires_python=parse_requires_python(raw.get("requires_python")),
        provides_extra=extras,
    )


def metadata_matches(meta: CoreMetadata, file: IndexFile) -> bool:
    """Whether ``meta`` names the project and version of ``file``."""
    return meta.name == file.project and meta.version == file.version


def parse_content_range(value: str | None) -> tuple[int, int, int] | None:
    """``bytes START-END/TOTAL`` -> (start, end inclusive, total)."""
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+)\s*", value or "")
    if match is None:
        return None
    start, end, total = (int(g) for g in match.groups())
    return start, end, total


def metadata_member(names: Iterable[str], project: NormalizedName) -> str | None:
    """The top-level ``<name>-<version>.dist-info/METADATA`` of the wheel for ``project``."""
    candidates = [n for n in names if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
    for name in candidates:
        dist = name.split("/", 1)[0][: -len(".dist-info")]
        if canonicalize_name(dist.rsplit("-", 1)[0]) == project:
            return name
    return candidates[0] if len(candidates) == 1 else None
