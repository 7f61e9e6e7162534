"""The mapping table as a value: entries, layers and lookups in both directions.

See :mod:`sysnative.mapping` for the data format; :mod:`sysnative.mapping.parse` builds tables
from documents and :mod:`sysnative.mapping.files` reads them from disk.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from packaging.utils import NormalizedName, canonicalize_name

#: Package-name grammar per ecosystem (the part before any ``+`` qualifier). Every one refuses
#: whitespace, shell and glob metacharacters and a leading ``-`` that the package manager
#: would read as an option. Debian: policy §5.6.7. Fedora: an RPM name, or the virtual provide
#: ``python3dist(<name>)`` that dnf resolves itself. conda: lower case, ``_ . -``. Homebrew
#: and Arch allow ``@`` (``python@3.12``) and ``+``.
PACKAGE_GRAMMARS: Mapping[str, re.Pattern[str]] = MappingProxyType(
    {
        "debian": re.compile(r"[a-z0-9][a-z0-9+.-]+"),
        "ubuntu": re.compile(r"[a-z0-9][a-z0-9+.-]+"),
        "fedora": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*|python3dist\([a-z0-9][a-z0-9._-]*\)"),
        "conda-forge": re.compile(r"[a-z0-9_][a-z0-9_.-]*"),
        "homebrew": re.compile(r"[a-z0-9][a-z0-9@+._-]*"),
        "arch": re.compile(r"[a-z0-9@_+][a-z0-9@._+-]*"),
    }
)
#: For an ecosystem sysnative does not know: the intersection of the above, roughly.
_GENERIC_PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9+._-]+")
PACKAGE_RE = PACKAGE_GRAMMARS["debian"]
#: A canonical (``packaging.utils.canonicalize_name``) and valid (PEP 508) project name.
CANONICAL_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
ID_PREFIX = "dep:pypi/"
ID_RE = re.compile(r"dep:pypi/([a-z0-9]+(?:-[a-z0-9]+)*)")
#: PEP 804 ecosystem identifiers, e.g. ``debian`` or ``debian+12``.
ECOSYSTEM_RE = re.compile(r"[a-z0-9][a-z0-9._-]*(?:\+[a-z0-9._-]+)?")
SPEC_CATEGORIES = frozenset({"build", "host", "build_host", "run"})
BUILTIN_PREFIX = "built-in:"


@dataclass(frozen=True)
class MappingEntry:
    """What one mapping file says about one PyPI project.

    ``dist_names`` is ``None`` when the system package registers the project under its own
    name (the common case, compared after canonicalisation), and ``()`` when it registers no
    distribution metadata at all, so "installed?" can only be answered by the package manager.
    """

    project: NormalizedName
    #: Packages that provide the project, preferred first. Empty: the ecosystem has none.
    packages: tuple[str, ...]
    dist_names: tuple[str, ...] | None
    version_rule: str | None
    alias_of: NormalizedName | None
    note: str | None
    #: The file the entry came from, or ``"built-in:<ecosystem>"``.
    origin: str
    #: Packages whose reverse lookup names this project (see the module docstring).
    primary_for: tuple[str, ...] = ()
    #: The version the package's metadata registers, when the mapping knows it
    #: (:mod:`sysnative.plan.sysversion` decides whether it is the truth or a placeholder).
    registers_version: str | None = None
    #: A layer said: never take this project from the system (``route: "pypi"``).
    pypi_only: bool = False
    #: The layer the entry came from (:data:`LAYERS`), ``rule`` for ``default_specs``.
    layer: str = "built-in"
    #: The package manager's version that ``registers_version`` was read from (``None``:
    #: any version).
    registers_for: str | None = None

    @property
    def preferred(self) -> str | None:
        """The package to install, or ``None`` when the ecosystem does not ship the project."""
        return self.packages[0] if self.packages else None


class MappingTable:
    """An immutable, validated mapping for one ecosystem.

    Build one with :func:`load_builtin`, :func:`load_file` or :func:`loads`; combine several
    with :meth:`layered`. Tables are never mutated after construction, so they can be cached
    and shared freely.
    """

    __slots__ = (
        "_by_package",
        "_entries",
        "_origins",
        "_provenance",
        "_reverse",
        "_rule",
        "ecosystem",
    )

    def __init__(
        self,
        ecosystem: str,
        entries: Iterable[MappingEntry],
        provenance: Mapping[str, object] | None = None,
        origins: tuple[str, ...] = (),
        rule: Rule | None = None,
    ) -> None:
        """Index ``entries``; a later entry for the same project replaces an earlier one.

        Reverse claims are applied in entry order, so a later claim on a package wins. The
        constructor trusts its entries: untrusted data must come through :func:`loads` (or
        :func:`load_file`), which validates names and refuses conflicting claims first.
        """
        by_project: dict[NormalizedName, MappingEntry] = {}
        for entry in entries:
            by_project[entry.project] = entry
        reverse: dict[str, NormalizedName] = {}
        for entry in by_project.values():
            for package in entry.primary_for:
                reverse[package] = entry.project
        self._setup(ecosystem, by_project, reverse, provenance, origins, rule)

    def _setup(
        self,
        ecosystem: str,
        by_project: dict[NormalizedName, MappingEntry],
        reverse: dict[str, NormalizedName],
        provenance: Mapping[str, object] | None,
        origins: tuple[str, ...],
        rule: Rule | None,
    ) -> None:
        self.ecosystem = ecosystem
        self._rule = rule
        self._entries = by_project
        self._reverse = reverse
        self._provenance: Mapping[str, object] = MappingProxyType(dict(provenance or {}))
        self._origins = origins
        self._by_package: dict[str, tuple[NormalizedName, ...]] | None = None

    @classmethod
    def _prebuilt(
        cls,
        ecosystem: str,
        by_project: dict[NormalizedName, MappingEntry],
        reverse: dict[str, NormalizedName],
        provenance: Mapping[str, object] | None,
        origins: tuple[str, ...],
        rule: Rule | None,
    ) -> MappingTable:
        """Adopt indexes the parser already built (saves a pass on every invocation)."""
        table = cls.__new__(cls)
        table._setup(ecosystem, by_project, reverse, provenance, origins, rule)
        return table

    @property
    def provenance(self) -> Mapping[str, object]:
        """Where the data came from (source, source version, generation date, counts)."""
        return self._provenance

    @property
    def origins(self) -> tuple[str, ...]:
        """The files (or ``built-in:<ecosystem>``) this table was read from, base first."""
        return self._origins

    @property
    def rule(self) -> Rule | None:
        """The naming rule for projects without an entry (``default_specs``), if any."""
        return self._rule

    def lookup(self, project: str) -> MappingEntry | None:
        """The entry for ``project`` (any spelling: it is canonicalised), or ``None``.

        A project without an entry gets one from the table's rule, when it has one.
        """
        name = canonicalize_name(project)
        entry = self._entries.get(name)
        if entry is None and self._rule is not None:
            return self._rule.entry(name)
        return entry

    def reverse(self, package: str) -> NormalizedName | None:
        """The primary PyPI project of a system package, or ``None`` if no entry claims it.

        Aliases never claim a package, so ``reverse("python3-psycopg2")`` is ``psycopg2``,
        never ``psycopg2-binary``.
        """
        return self._reverse.get(package)

    def provided_by(self, package: str) -> tuple[NormalizedName, ...]:
        """Every non-alias project whose entry lists ``package``, the primary first.

        One Debian package can genuinely register several distributions (``python3-xdg``
        registers ``pyxdg`` and ``xdg``); this answers "what does installing it satisfy".
        """
        if self._by_package is None:
            index: dict[str, list[NormalizedName]] = {}
            for entry in self._entries.values():
                if entry.alias_of is None:
                    for name in entry.packages:
                        index.setdefault(name, []).append(entry.project)
            self._by_package = {
                name: tuple(sorted(projects, key=lambda p: (p != self._reverse.get(name), p)))
                for name, projects in index.items()
            }
        return self._by_package.get(package, ())

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[MappingEntry]:
        return iter(self._entries.values())

    def __contains__(self, project: object) -> bool:
        return isinstance(project, str) and canonicalize_name(project) in self._entries

    def __repr__(self) -> str:
        return f"<MappingTable {self.ecosystem} entries={len(self)} origins={self._origins!r}>"

    @classmethod
    def layered(cls, *tables: MappingTable) -> MappingTable:
        """Stack tables: a later table's entry replaces an earlier one with the same id.

        The result keeps the first table's ecosystem and provenance (the base data set) and
        lists every origin. A later entry's reverse claims win over earlier ones; a package
        claimed only by a replaced entry is no longer claimed.
        """
        if not tables:
            raise ValueError("layered() needs at least one table")
        base = tables[0]
        merged: dict[NormalizedName, MappingEntry] = {}
        for table in tables:
            for entry in table:
                merged.pop(entry.project, None)
                merged[entry.project] = entry
        origins = tuple(origin for table in tables for origin in table.origins)
        rules = [table.rule for table in tables if table.rule is not None]
        return cls(
            base.ecosystem,
            merged.values(),
            base.provenance,
            origins,
            rules[-1] if rules else None,
        )


@dataclass(frozen=True)
class Rule:
    """``default_specs``: how a project without an entry is named in the ecosystem."""

    templates: tuple[str, ...]
    origin: str
    layer: str

    def entry(self, project: NormalizedName) -> MappingEntry:
        packages = tuple(template.replace("{name}", project) for template in self.templates)
        return MappingEntry(
            project=project,
            packages=packages,
            dist_names=None,
            version_rule=None,
            alias_of=None,
            note=f"from the naming rule {', '.join(self.templates)}",
            origin=self.origin,
            primary_for=(),
            layer="rule",
        )


def merge(base: MappingTable, override: MappingTable) -> MappingTable:
    """Two-table shorthand for :meth:`MappingTable.layered`."""
    return MappingTable.layered(base, override)


def package_grammar(ecosystem: str) -> re.Pattern[str]:
    """The package-name grammar of ``ecosystem`` (``debian+12`` is Debian's)."""
    return PACKAGE_GRAMMARS.get(ecosystem.partition("+")[0], _GENERIC_PACKAGE_RE)


def ecosystem_from_origin(origin: str) -> str:
    """``…/debian.mapping.json`` -> ``debian``; anything else -> ``unknown``."""
    base = posixpath.basename(origin)
    if base.endswith(".mapping.json"):
        candidate = base[: -len(".mapping.json")]
        if ECOSYSTEM_RE.fullmatch(candidate):
            return candidate
    return "unknown"
