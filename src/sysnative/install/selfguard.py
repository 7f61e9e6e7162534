"""Never let a plan break the sysnative that carries it out.

sysnative is a tool that belongs in an environment of its own (``pipx install sysnative``)
and installs into another one with ``--python``. Without ``--python`` and outside a venv,
the target is the interpreter running sysnative, and a plan can then change a distribution
sysnative itself imports: ``packaging<25`` into sysnative's own venv replaces the
``packaging`` it needs (``packaging>=25.0``, for ``packaging.pylock``), and the next
``sysnative lock`` fails with an ImportError. A system package can do the same when
sysnative runs in a venv that sees the system's site dir and imports a dependency from
there (Debian's ``python3-distro``, say) and the plan's transaction would change it.

This module refuses such a plan before anything changes. It has two halves, like
:mod:`sysnative.checks.preflight`:

- pure: :func:`planned_changes` (what a plan would put where) and :func:`check_self` (which
  of those changes break what the running sysnative needs), on frozen values that tests
  build by hand;
- the I/O edge: :func:`running_sysnative` reads, with :mod:`importlib.metadata`, what the
  running sysnative needs and the directory each of those distributions is loaded from,
  and :func:`refuse_self_changes` puts the two together and raises
  :class:`~sysnative.errors.SelfChangeRefused`.

**What counts as breaking.** A change affects a distribution sysnative loads from a
directory ``D`` when it goes into ``D`` itself (it *replaces* sysnative's copy) or into a
directory before ``D`` on the running interpreter's ``sys.path`` (it *shadows* it: the next
import finds the new copy first). Such a change is refused when

- the new version does not satisfy every requirement on that distribution along sysnative's
  own requirements (``packaging>=25.0`` from sysnative, or a dependency's requirement on
  one of its own dependencies), markers evaluated for the running interpreter; or
- it is sysnative itself, at any version: the plan would replace the program that is
  carrying it out, halfway through (upgrading sysnative is the job of whatever installed it:
  ``pipx upgrade sysnative``, or pip in sysnative's environment).

**A change that still satisfies the requirement is allowed.** Upgrading ``packaging`` from
25.0 to 26.4 in sysnative's own venv keeps every promise sysnative's metadata makes, which
is the contract sysnative is tested and released against; pip upgrades its own
dependencies, and itself, in place on the same reasoning, and pip's own consistency check
(``pip check``) asks exactly this question. Refusing those changes too would make a shared
environment impossible to keep up to date with sysnative while protecting nothing its
requirements promise. Modules the running process has imported already stay in memory; a
module imported after the wheel step reads the new version, which the requirement says is
compatible.
"""

from __future__ import annotations

import enum
import logging
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from sysnative.errors import SelfChangeRefused
from sysnative.models import Plan, Route
from sysnative.target import TargetEnvironment

logger = logging.getLogger(__name__)

__all__ = [
    "SELF",
    "Effect",
    "Need",
    "NeededDistribution",
    "PlannedChange",
    "RunningSysnative",
    "SelfConflict",
    "check_self",
    "planned_changes",
    "refuse_self_changes",
    "refuse_self_changes_to",
    "running_sysnative",
]

#: The distribution name of sysnative itself.
SELF = canonicalize_name("sysnative")


@dataclass(frozen=True)
class Need:
    """One requirement on a distribution the running sysnative needs, and whose it is."""

    requirement: Requirement
    #: ``"sysnative 0.1.0"``, or the dependency of sysnative that has the requirement.
    by: str

    def describe(self) -> str:
        """``sysnative 0.1.0 requires packaging>=25.0`` (the marker, true here, left out)."""
        extras = f"[{','.join(sorted(self.requirement.extras))}]" if self.requirement.extras else ""
        return f"{self.by} requires {self.requirement.name}{extras}{self.requirement.specifier}"


@dataclass(frozen=True)
class NeededDistribution:
    """A distribution the running sysnative imports, and where from."""

    name: NormalizedName
    version: Version | None
    #: The directory the running interpreter finds it in (its site dir).
    location: str
    #: Every requirement on it along sysnative's requirements (empty for sysnative itself).
    needs: tuple[Need, ...] = ()

    def describe(self) -> str:
        return f"{self.name} {self.version}" if self.version is not None else str(self.name)


@dataclass(frozen=True)
class RunningSysnative:
    """What the running sysnative needs, and the running interpreter's import path."""

    version: Version | None
    #: sysnative itself (under :data:`SELF`) and everything it needs, transitively.
    distributions: Mapping[NormalizedName, NeededDistribution]
    #: The running interpreter's ``sys.path``, in order.
    sys_path: tuple[str, ...]


@dataclass(frozen=True)
class PlannedChange:
    """A distribution a plan installs, upgrades or downgrades, and where it may go."""

    project: NormalizedName
    version: Version
    #: Where its files go: the target's purelib for a wheel, the provider's site dirs for a
    #: system package (any of them).
    directories: tuple[str, ...]
    #: ``the wheel packaging-24.2-py3-none-any.whl``, ``apt package python3-distro 1.9.0-1``.
    source: str


class Effect(str, enum.Enum):
    #: Into the directory the running sysnative loads the distribution from.
    REPLACES = "replaces"
    #: Into a directory before that one on the running ``sys.path``.
    SHADOWS = "shadows"


@dataclass(frozen=True)
class SelfConflict:
    """A planned change that would break the running sysnative."""

    change: PlannedChange
    needed: NeededDistribution
    effect: Effect
    #: The directory the change goes into.
    directory: str
    #: The requirements the new version does not satisfy; empty when the change replaces
    #: sysnative itself.
    unmet: tuple[Need, ...] = ()

    def describe(self) -> str:
        change, needed = self.change, self.needed
        what = f"{change.project} {change.version} ({change.source})"
        if self.effect is Effect.REPLACES:
            where = (
                f"would go into {self.directory}, where the running sysnative loads "
                f"{needed.describe()} from"
            )
        else:
            where = (
                f"would go into {self.directory}, ahead of {needed.location} (where the "
                f"running sysnative loads {needed.describe()} from) on its sys.path, and "
                "hide it"
            )
        if not self.unmet:
            return f"{what} {where}: it would replace the running sysnative itself"
        unmet = "; ".join(need.describe() for need in self.unmet)
        return f"{what} {where}: {unmet}, which {change.version} does not satisfy"


# -- pure -----------------------------------------------------------------------------------


def planned_changes(
    plan: Plan, *, purelib: str, system_dirs: Sequence[str]
) -> tuple[PlannedChange, ...]:
    """Every distribution ``plan`` would install or change, and where its files go.

    A wheel goes into the target's ``purelib`` (pip ``--python TARGET``); a system package
    into one of the provider's ``system_dirs``, whatever the target. Rows already in place
    are no change.
    """
    changes = []
    for row in plan.packages:
        if row.already_installed:
            continue
        if row.route is Route.PYPI:
            source = f"the wheel {row.file.filename}" if row.file else "a wheel from the index"
            directories: tuple[str, ...] = (purelib,) if purelib else ()
        else:
            package = " ".join(p for p in (row.package, row.distro_version) if p)
            source = f"{row.provider or plan.provider} package {package}".rstrip()
            directories = tuple(system_dirs)
        changes.append(PlannedChange(row.name, row.version, directories, source))
    return tuple(changes)


def check_self(
    changes: Iterable[PlannedChange], running: RunningSysnative
) -> tuple[SelfConflict, ...]:
    """The changes that would break the running sysnative (see the module docstring);
    empty when the plan leaves it working. Paths are compared as given (normalized, not
    resolved: the caller resolves symlinks)."""
    conflicts = []
    for change in changes:
        needed = running.distributions.get(change.project)
        if needed is None:
            continue
        found = _effect(change.directories, needed.location, running.sys_path)
        if found is None:
            continue
        effect, directory = found
        if change.project == SELF:
            conflicts.append(SelfConflict(change, needed, effect, directory))
            continue
        unmet = tuple(
            need
            for need in needed.needs
            if not need.requirement.specifier.contains(change.version, prereleases=True)
        )
        if unmet:
            conflicts.append(SelfConflict(change, needed, effect, directory, unmet))
    return tuple(conflicts)


def _effect(
    directories: Sequence[str], location: str, sys_path: Sequence[str]
) -> tuple[Effect, str] | None:
    """How a change into one of ``directories`` reaches a distribution loaded from
    ``location``: replacing it, hiding it, or (``None``) not at all."""
    path = [_norm(p) for p in sys_path]
    here = _norm(location)
    loaded_at = path.index(here) if here in path else None
    shadowing = None
    for directory in directories:
        there = _norm(directory)
        if there == here:
            return Effect.REPLACES, directory
        if loaded_at is not None and there in path[:loaded_at] and shadowing is None:
            shadowing = (Effect.SHADOWS, directory)
    return shadowing


def _norm(path: str) -> str:
    return os.path.normcase(os.path.normpath(path))


# -- the I/O edge ---------------------------------------------------------------------------


def refuse_self_changes_to(
    plan: Plan, target: TargetEnvironment, system_dirs: Sequence[str]
) -> None:
    """:func:`refuse_self_changes` for ``plan`` installed into ``target``, the system's
    packages landing in ``system_dirs``: what ``install`` (and its ``--dry-run``) checks."""
    refuse_self_changes(
        plan, target=target.executable, purelib=target.purelib, system_dirs=system_dirs
    )


def refuse_self_changes(
    plan: Plan,
    *,
    target: str,
    purelib: str,
    system_dirs: Sequence[str],
    running: RunningSysnative | None = None,
) -> None:
    """Raise :class:`SelfChangeRefused` when ``plan`` would break the running sysnative.

    ``target`` names the target interpreter in the message; ``purelib`` and
    ``system_dirs`` are where the plan's wheels and system packages go. ``running`` is
    read from this process (:func:`running_sysnative`) unless given. Symlinks in every
    path are resolved first, so that a venv reached through a link still matches.
    """
    changes = planned_changes(
        plan,
        purelib=_real(purelib) if purelib else "",
        system_dirs=tuple(_real(d) for d in system_dirs if d),
    )
    if not changes:
        return
    if running is None:
        running = running_sysnative()
        if running is None:
            return
    conflicts = check_self(changes, running)
    if conflicts:
        raise SelfChangeRefused(target, conflicts)


def running_sysnative(
    path: Sequence[str] | None = None, *, name: str = SELF
) -> RunningSysnative | None:
    """What the running sysnative needs, from the installed metadata ``path`` shows
    (default: this interpreter's ``sys.path``); ``None`` when sysnative has no installed
    metadata (run from a source tree): there is then nothing to compare with.

    Each distribution is the first one on the path, which is the one the import system
    loads (for an editable install, the code may come from elsewhere: its metadata's
    directory is still where an install would replace it). Requirements are followed
    transitively, markers evaluated for this interpreter with the extras each one was
    required with. A requirement on a distribution that is not installed is left out: the
    plan cannot replace what is not there.
    """
    search = [_real(p or os.getcwd()) for p in (sys.path if path is None else path)]
    root = _find(name, search)
    if root is None:
        logger.debug("no installed metadata for %s: the self-check is skipped", name)
        return None
    found: dict[NormalizedName, tuple[metadata.Distribution, list[Need]]] = {
        canonicalize_name(name): (root, [])
    }
    queue: list[tuple[metadata.Distribution, frozenset[str]]] = [(root, frozenset())]
    seen: set[tuple[NormalizedName, frozenset[str]]] = {(canonicalize_name(name), frozenset())}
    while queue:
        dist, extras = queue.pop(0)
        by = f"{dist.metadata['Name']} {dist.version}"
        for text in dist.requires or ():
            try:
                req = Requirement(text)
            except InvalidRequirement:
                logger.debug("%s: unreadable requirement %r", by, text)
                continue
            if req.marker is not None and not any(
                req.marker.evaluate({"extra": extra}) for extra in (*sorted(extras), "")
            ):
                continue
            dep_name = canonicalize_name(req.name)
            if dep_name not in found:
                dep = _find(req.name, search)
                if dep is None:
                    logger.debug("%s needs %s, which is not installed", by, req.name)
                    continue
                found[dep_name] = (dep, [])
            need = Need(req, by)
            if need not in found[dep_name][1]:  # walked again for another extra
                found[dep_name][1].append(need)
            key = (dep_name, frozenset(canonicalize_name(e) for e in req.extras))
            if key not in seen:
                seen.add(key)
                queue.append((found[dep_name][0], frozenset(req.extras)))
    distributions = {}
    for dep_name, (dist, needs) in found.items():
        location = _location(dist)
        if location is None:
            logger.debug("cannot tell where %s is installed", dep_name)
            continue
        distributions[dep_name] = NeededDistribution(
            dep_name, _version(dist.version), location, tuple(needs)
        )
    return RunningSysnative(_version(root.version), distributions, tuple(search))


def _find(name: str, path: list[str]) -> metadata.Distribution | None:
    """The first distribution called ``name`` on ``path``, as ``import`` would find it.

    Python 3.9's finder does not normalize names, so the spelling of a ``.dist-info``
    directory (``typing_extensions``) is tried too.
    """
    for spelling in dict.fromkeys((name, canonicalize_name(name).replace("-", "_"))):
        for dist in metadata.distributions(name=spelling, path=path):
            return dist
    return None


def _location(dist: metadata.Distribution) -> str | None:
    """The directory holding ``dist``'s metadata (its site dir), symlinks resolved."""
    try:
        return _real(str(dist.locate_file("")))
    except (NotImplementedError, TypeError, ValueError):  # a finder without files on disk
        return None


def _version(text: str | None) -> Version | None:
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None


def _real(path: str) -> str:
    return os.path.realpath(path)
