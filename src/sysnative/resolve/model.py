"""Requirement and candidate values the resolvelib provider works with."""

from __future__ import annotations

from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from sysnative.models import IndexFile, SystemProvision

#: The identifier of the target interpreter, a pseudo-project required through
#: ``Requires-Python`` (as pip does), so an incompatible release makes the resolver backtrack.
PYTHON = NormalizedName("<python>")

ROOT = "the command line"


def identifier(name: NormalizedName, extras: frozenset[NormalizedName]) -> str:
    if not extras:
        return name
    return f"{name}[{','.join(sorted(extras))}]"


@dataclass(frozen=True)
class Req:
    """One requirement edge: ``name[extras] specifier``, and who asked for it."""

    name: NormalizedName
    specifier: SpecifierSet
    extras: frozenset[NormalizedName] = frozenset()
    #: Who asked: ``ROOT`` or ``"xarray 2023.1.0"``.
    parent: str = ROOT
    #: The requirement as written, for messages.
    text: str = ""

    @property
    def identifier(self) -> str:
        return identifier(self.name, self.extras)

    def describe(self) -> str:
        text = self.text or f"{self.name}{self.specifier}"
        return f"{text} (required by {self.parent})"

    @property
    def parent_project(self) -> NormalizedName | None:
        """The project whose release required this (``uvicorn`` for ``"uvicorn[standard]
        0.55.0"``); ``None`` when the user did (the command line, a requirements file)."""
        return parent_project(self.parent)


def parent_project(parent: str) -> NormalizedName | None:
    """:attr:`Req.parent_project` for a ``parent`` string."""
    name, _, version = parent.partition(" ")
    try:
        Version(version)
    except InvalidVersion:
        return None
    return canonicalize_name(name.partition("[")[0])


@dataclass(frozen=True)
class Candidate:
    """A concrete version of a project: from the index, from the system, or the target Python."""

    name: NormalizedName
    version: Version
    extras: frozenset[NormalizedName] = frozenset()
    #: Usable files of this version, most preferred first: wheels by tag priority, then (only
    #: with ``--allow-build``) the sdist. Empty for a release of a project that publishes no
    #: wheel, when building is not allowed (native: the system provides it).
    files: tuple[IndexFile, ...] = ()
    #: Set when the system provides this project at this version (a fixed candidate).
    system: SystemProvision | None = None

    @property
    def identifier(self) -> str:
        return identifier(self.name, self.extras)

    @property
    def has_wheel(self) -> bool:
        return any(f.kind.value == "wheel" for f in self.files)

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


@dataclass(frozen=True)
class Unavailable:
    """Why a native project can be had from nowhere, and what the user could do about it.

    The routing stage knows the situation (is there a wheel, is the project mapped, which
    options are in use), so it writes the hint; the resolver only carries it to the error
    it raises when no release of the dependents does without the project.
    """

    why: str
    hint: str
