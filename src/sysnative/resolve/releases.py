"""An index listing grouped into candidate releases for the resolver, newest first, with the
releases left out and why (Requires-Python, yanked, no wheel for the target, only an sdist).

Pure: the files come from the index client, the tag priorities and the Python version from
the target. Listings are memoized by identity, because the resolver's passes, the prefetcher
and the speculator list the same shared file tuples again and again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.tags import Tag
from packaging.utils import NormalizedName
from packaging.version import Version

from sysnative.models import FileKind, IndexFile
from sysnative.resolve.model import Candidate


@dataclass(frozen=True)
class Releases:
    """An index listing grouped for the resolver: the candidates, and what was left out."""

    #: Candidate versions, newest first (see :func:`build_candidates`).
    candidates: tuple[Candidate, ...]
    #: Versions the index lists but that are not candidates, with why (newest first):
    #: ``"requires Python >=3.10"``, ``"is yanked"``, ``"has no wheel for the target"``,
    #: ``"has only an sdist, which sysnative builds only with --allow-build"``.
    excluded: tuple[tuple[Version, str], ...] = ()


def build_candidates(
    name: NormalizedName,
    files: Iterable[IndexFile],
    tag_priority: Mapping[Tag, int],
    python_version: Version,
    *,
    allow_build: bool = False,
) -> tuple[Candidate, ...]:
    """Group an index listing into candidate versions, newest first.

    Binary-only by default: a version is a candidate when it has a wheel for the target,
    and its files are those wheels, best tag first. A project that publishes no usable
    wheel in any version still has its versions as candidates, without files: such a
    project is native, and building it is the system's job. A version without a wheel of a
    project that has wheels elsewhere is left out (:func:`list_releases` says why).

    ``allow_build`` (``--allow-build``) follows pip: the newest acceptable version wins, with
    its wheel when it has one for the target, else its sdist (to be built). A version's
    sdist comes after its wheels in its files, and an older wheel is never preferred to a
    newer sdist (pip's default, not ``--prefer-binary``).

    Yanked files are left out (PEP 592): the resolver never needs them to pin, and an ``==``
    pin to a yanked release is refused (:func:`list_releases` says why).
    """
    return list_releases(
        name, files, tag_priority, python_version, allow_build=allow_build
    ).candidates


#: Listings already computed, by project, file list, tag priorities and Python version.
#: The resolver's passes, the prefetcher and the speculator all list the same pages, whose
#: file tuples (the index's per-run memo) and tag priorities (one mapping per target) are
#: shared objects: keyed by identity, holding the objects so that no id is reused.
_releases_memo: dict[tuple[str, int, int, Version, bool], tuple[object, object, Releases]] = {}
_RELEASES_MEMO_LIMIT = 4096


def list_releases(
    name: NormalizedName,
    files: Iterable[IndexFile],
    tag_priority: Mapping[Tag, int],
    python_version: Version,
    *,
    allow_build: bool = False,
) -> Releases:
    """:func:`build_candidates`, and the releases left out with why (memoized for tuples).

    A release dropped silently turns ``app==2.0`` into "no version satisfies", when the real
    answer is "app 2.0 requires Python >=3.10": each dropped file records its reason, and a
    version none of whose files survived is listed in ``excluded`` with the most telling one
    (Requires-Python, then yanked, then no wheel for the target).
    """
    key = (name, id(files), id(tag_priority), python_version, allow_build)
    if isinstance(files, tuple):
        known = _releases_memo.get(key)
        if known is not None and known[0] is files and known[1] is tag_priority:
            return known[2]
    releases = _grouped(name, files, tag_priority, python_version, allow_build)
    if isinstance(files, tuple):
        if len(_releases_memo) >= _RELEASES_MEMO_LIMIT:
            _releases_memo.clear()
        _releases_memo[key] = (files, tag_priority, releases)
    return releases


def _grouped(
    name: NormalizedName,
    files: Iterable[IndexFile],
    tag_priority: Mapping[Tag, int],
    python_version: Version,
    allow_build: bool,
) -> Releases:
    """:func:`list_releases`' work, unmemoized."""
    by_version: dict[Version, list[IndexFile]] = defaultdict(list)
    #: version -> {"python": specifier, "yanked": reason, "tags": ""}, first of each kind.
    dropped: dict[Version, dict[str, str]] = {}
    any_wheel = False
    # A project lists thousands of files with a handful of distinct Requires-Python values
    # and tag sets, shared objects (the index's parsing memos): each is judged once, keyed
    # by identity. The values hold their objects, so no id is reused while the dicts live.
    python_ok: dict[int, tuple[SpecifierSet, bool]] = {}
    best_tag: dict[int, tuple[frozenset[Tag], int]] = {}
    worst = len(tag_priority) + 1
    for f in files:
        if f.yanked is not None:
            dropped.setdefault(f.version, {}).setdefault("yanked", f.yanked)
            continue
        if f.requires_python is not None:
            judged = python_ok.get(id(f.requires_python))
            if judged is None:
                ok = f.requires_python.contains(python_version, prereleases=True)
                judged = python_ok[id(f.requires_python)] = (f.requires_python, ok)
            if not judged[1]:
                dropped.setdefault(f.version, {}).setdefault("python", str(f.requires_python))
                continue
        if f.kind is FileKind.WHEEL:
            ranked = best_tag.get(id(f.tags))
            if ranked is None:
                best = min((tag_priority.get(t, worst) for t in f.tags), default=worst)
                ranked = best_tag[id(f.tags)] = (f.tags, best)
            if ranked[1] == worst:
                dropped.setdefault(f.version, {}).setdefault("tags", "")
                continue
            any_wheel = True
        by_version[f.version].append(f)
    out = []
    sdist_only: set[Version] = set()
    for version in sorted(by_version, reverse=True):
        group = by_version[version]
        wheels = [f for f in group if f.kind is FileKind.WHEEL]
        if not allow_build:
            # An sdist is no usable file: only wheels stay.
            if any_wheel and not wheels:
                sdist_only.add(version)
                continue
            group = wheels

        def rank(f: IndexFile) -> tuple[int, int, str]:
            if f.kind is not FileKind.WHEEL:
                return (1, worst, f.filename)
            # pip's order: the most specific tag the target supports. Whether a pure wheel
            # exists (and is then the one installed) is decided later, by ``classify``.
            return (0, best_tag[id(f.tags)][1], f.filename)

        out.append(Candidate(name, version, files=tuple(sorted(group, key=rank))))
    kept = {c.version for c in out}
    excluded = [
        (version, _why_left_out(dropped.get(version, {}), version in sdist_only))
        for version in sorted(set(dropped) | sdist_only, reverse=True)
        if version not in kept
    ]
    return Releases(tuple(out), tuple(excluded))


def _why_left_out(dropped: Mapping[str, str], sdist_only: bool) -> str:
    if "python" in dropped:
        return f"requires Python {dropped['python']}"
    if "yanked" in dropped:
        reason = dropped["yanked"]
        return f"is yanked ({reason})" if reason else "is yanked"
    if "tags" not in dropped:
        return "has only an sdist, which sysnative builds only with --allow-build"
    if sdist_only:
        return (
            "has no wheel for the target, only an sdist, which sysnative builds only with "
            "--allow-build"
        )
    return "has no wheel for the target"
