"""PyPI-project to system-package name mapping tables (PEP 804 ``{ecosystem}.mapping.json``).

sysnative decides, for every native project in a resolution, which system package provides
it. That knowledge lives in data files shaped like PEP 804 mappings, one per ecosystem::

    {"name": "debian", "mappings": [{"id": "dep:pypi/numpy", "specs": ["python3-numpy"]}], ...}

This module reads such files, validates them, and answers two questions quickly:

* :meth:`MappingTable.lookup` -- which packages provide a PyPI project (forward direction);
* :meth:`MappingTable.reverse` -- which PyPI project a system package is (reverse direction,
  used to map an apt install closure back to the projects it satisfies).

Why validate so strictly at load time: package names from these files end up on the command
line of a privileged package manager. A name such as ``-o APT::...`` or ``foo;rm -rf`` must
never get that far, so every name must match Debian's package-name grammar before a table
exists at all. A malformed user file is reported with the file and the entry at fault, because
"invalid mapping" alone is useless to someone editing a five-thousand-line JSON file.

Why it is fast: the built-in table is loaded on every sysnative invocation. Parsing is one
``json.loads`` plus one pass over the entries with precompiled regular expressions; nothing
is normalised twice, and the built-in table is cached per process.

sysnative-specific data lives, as PEP 804 allows, in each entry's ``extra_metadata``:

``dist_names``
    the distribution names the package registers (``dist-info``/``egg-info``) when they
    differ from the project name; ``[]`` when it registers none (opencv on Debian).
``version_rule``
    dh-python's upstream-to-Debian version translation (``PEP386``, ``s/^/1:/``).
``registers_version``, ``registers_for``
    the version the package's registered metadata claims (regex on Debian 12 registers
    ``2022.10.31`` for the package version ``0.1.20221031-1``; kiwisolver registers
    ``0.0.0``), and optionally the package version it was read from (the fact then applies to
    that upstream release only). :mod:`sysnative.sysversion` decides which version is the
    truth: a registered version older than the package's is a placeholder, and
    :mod:`sysnative.markerdist` writes a marker so that pip sees the package's version.
``alias_of``
    this project is another name for the canonical project given here (``psycopg2-binary``
    -> ``psycopg2``); an alias never claims the reverse direction.
``primary_for``
    the packages whose reverse lookup names this project. Absent means "all of ``specs``"
    (or none for an alias); present only where several projects share one package.
``note``
    why the entry is what it is (curated entries always say).
``route``
    ``"pypi"``: never take this project from the system, whatever a lower layer maps it to
    (``specs`` may then be empty). Meant for override layers.

A file may also carry a top-level ``extra_metadata.default_specs``: templates such as
``"python3dist({name})"`` that map every project without an entry (Fedora, where dnf resolves
``python3dist()`` provides itself, so the file holds only the exceptions).

Package names are checked against the ecosystem's own grammar (:data:`PACKAGE_GRAMMARS`), and
tables are stacked in layers (:func:`load_layers`), each entry remembering its layer.

Unlike PEP 804, where a ``specs`` list means "all of these", sysnative reads a list as
alternatives in order of preference: ``packages[0]`` is the package to install, the rest are
other packages that also provide the project (``simpy``: ``python3-simpy3`` then the old
``python3-simpy``).
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn, cast

from packaging.utils import NormalizedName, canonicalize_name

from sysnative.errors import MappingError

__all__ = [
    "LAYERS",
    "PACKAGE_GRAMMARS",
    "MappingEntry",
    "MappingTable",
    "load_builtin",
    "load_file",
    "load_layers",
    "loads",
    "merge",
]

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
_PACKAGE_RE = PACKAGE_GRAMMARS["debian"]
#: A canonical (``packaging.utils.canonicalize_name``) and valid (PEP 508) project name.
_CANONICAL_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_ID_PREFIX = "dep:pypi/"
_ID_RE = re.compile(r"dep:pypi/([a-z0-9]+(?:-[a-z0-9]+)*)")
#: PEP 804 ecosystem identifiers, e.g. ``debian`` or ``debian+12``.
_ECOSYSTEM_RE = re.compile(r"[a-z0-9][a-z0-9._-]*(?:\+[a-z0-9._-]+)?")
_SPEC_CATEGORIES = frozenset({"build", "host", "build_host", "run"})
_BUILTIN_PREFIX = "built-in:"


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
    #: (:mod:`sysnative.sysversion` decides whether it is the truth or a placeholder).
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


# --------------------------------------------------------------------------------------------
# Loading


@functools.cache
def load_builtin(ecosystem: str) -> MappingTable:
    """The mapping shipped in ``sysnative/data/{ecosystem}.mapping.json`` (cached).

    Raises :class:`MappingError` for an unknown ecosystem, naming the ones that exist.
    """
    if not _ECOSYSTEM_RE.fullmatch(ecosystem):
        raise MappingError(f"{ecosystem!r} is not a valid mapping ecosystem name.")
    data_dir = resources.files("sysnative") / "data"
    resource = data_dir / f"{ecosystem}.mapping.json"
    try:
        text = resource.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        known = sorted(
            item.name[: -len(".mapping.json")]
            for item in data_dir.iterdir()
            if item.name.endswith(".mapping.json")
        )
        raise MappingError(
            f"sysnative ships no mapping for the ecosystem {ecosystem!r}.",
            f"Built-in mappings: {', '.join(known) or 'none'}.",
        ) from None
    return loads(text, origin=f"{_BUILTIN_PREFIX}{ecosystem}", ecosystem=ecosystem)


def load_file(
    path: str | os.PathLike[str], *, ecosystem: str | None = None, layer: str = "--mapping"
) -> MappingTable:
    """Read and validate one mapping file; every problem names the file and the entry.

    With ``ecosystem``, a file whose ``name`` says another ecosystem is refused: its package
    names mean nothing to this provider.
    """
    where = os.fspath(path)
    try:
        data = Path(where).read_bytes()
    except OSError as exc:
        raise MappingError(
            f"{where}: cannot read the mapping file: {exc.strerror or exc}.",
            "Check the path given for the mapping file.",
        ) from exc
    return loads(data, origin=where, ecosystem=ecosystem, layer=layer, strict_name=True)


def loads(
    text: str | bytes,
    origin: str = "<string>",
    ecosystem: str | None = None,
    *,
    layer: str = "built-in",
    strict_name: bool = False,
) -> MappingTable:
    """Parse and validate a mapping document.

    ``origin`` names the source in every error and in each entry's ``origin``. The ecosystem
    is ``ecosystem`` if given, else the document's ``name``, else derived from an origin named
    ``{ecosystem}.mapping.json``.
    """
    try:
        document = json.loads(text)
    except UnicodeDecodeError as exc:
        raise MappingError(
            f"{origin}: not UTF-8 text ({exc.reason} at byte {exc.start}).",
            "Mapping files are JSON documents encoded as UTF-8.",
        ) from None
    except json.JSONDecodeError as exc:
        raise MappingError(
            f"{origin}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.",
            "Fix the JSON syntax (a trailing comma or a missing quote is the usual cause).",
        ) from None
    return _Parser(origin, layer).table(document, ecosystem, strict_name=strict_name)


# --------------------------------------------------------------------------------------------
# Validation


class _Parser:
    """One validation pass over a decoded document; errors name ``origin`` and the entry."""

    def __init__(self, origin: str, layer: str = "built-in") -> None:
        self.origin = origin
        self.layer = layer
        self.package_re = _PACKAGE_RE

    def fail(self, where: str | None, problem: str, hint: str | None = None) -> NoReturn:
        place = f"{self.origin}: {where}: " if where else f"{self.origin}: "
        raise MappingError(place + problem, hint)

    def table(
        self, document: object, ecosystem: str | None, *, strict_name: bool = False
    ) -> MappingTable:
        if not isinstance(document, dict):
            self.fail(None, "the document must be a JSON object with a 'mappings' list.")
        doc = cast("dict[str, Any]", document)
        name = doc.get("name")
        if name is not None and not isinstance(name, str):
            self.fail(None, "'name' must be a string.")
        if strict_name and ecosystem is not None and name is not None and name != ecosystem:
            self.fail(
                None,
                f"the file maps projects for the ecosystem {name!r}, but the provider "
                f"uses {ecosystem!r}.",
                f"Use a file whose 'name' is {ecosystem!r}, or leave 'name' out.",
            )
        if ecosystem is None:
            ecosystem = name or _ecosystem_from_origin(self.origin)
        self.package_re = package_grammar(ecosystem)
        rule = self.rule(doc.get("extra_metadata"))
        mappings = doc.get("mappings")
        if mappings is None:
            self.fail(
                None,
                "missing the 'mappings' list.",
                "A PEP 804 mapping file is an object with a 'mappings' list of entries.",
            )
        if not isinstance(mappings, list):
            self.fail(None, "'mappings' must be a list of entries.")
        managers = doc.get("package_managers")
        if managers is not None and not isinstance(managers, list):
            self.fail(None, "'package_managers' must be a list.")
        provenance = doc.get("provenance")
        if provenance is not None and not isinstance(provenance, dict):
            self.fail(None, "'provenance' must be an object.")

        # The hot loop: almost every entry is {"id": ..., "specs": [...]}, which is validated
        # inline with two precompiled regexes; anything else takes the general path.
        id_match = _ID_RE.fullmatch
        package_ok = self.package_re.fullmatch
        origin = self.origin
        layer = self.layer
        by_project: dict[NormalizedName, MappingEntry] = {}
        reverse: dict[str, NormalizedName] = {}
        deferred: list[tuple[str, dict[str, Any], NormalizedName]] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(mappings):
            raw_id = item.get("id") if type(item) is dict else None
            match = id_match(raw_id) if type(raw_id) is str else None
            if match is None:
                self.bad_id(index, item)
            entry_id = match.string
            if entry_id in seen:
                self.fail(
                    f"entry #{index} ({entry_id})",
                    f"duplicate id; entry #{seen[entry_id]} has the same id.",
                )
            seen[entry_id] = index
            project = NormalizedName(match.group(1))
            specs = item.get("specs")
            if len(item) == 2 and type(specs) is list:
                for package in specs:
                    if (
                        type(package) is not str
                        or package_ok(package) is None
                        or package in reverse
                    ):
                        break
                    reverse[package] = project
                else:
                    packages = tuple(specs)
                    by_project[project] = MappingEntry(
                        project,
                        packages,
                        None,
                        None,
                        None,
                        None,
                        origin,
                        packages,
                        None,
                        False,
                        layer,
                    )
                    continue
                for package in specs:  # undo this entry's claims; the general path decides
                    if type(package) is str and reverse.get(package) == project:
                        del reverse[package]
            where = f"entry #{index} ({entry_id})"
            if "specs" not in item and "specs_from" in item:
                deferred.append((where, item, project))  # needs every id first
            else:
                entry = self.entry(where, item, project, mappings, seen)
                self.claim(where, entry, reverse, seen)
                by_project[project] = entry
        for where, item, project in deferred:
            entry = self.entry(where, item, project, mappings, seen)
            self.claim(where, entry, reverse, seen)
            by_project[project] = entry
        if deferred:  # put the specs_from entries back in file order
            order = sorted(by_project, key=lambda project: seen[_ID_PREFIX + project])
            by_project = {project: by_project[project] for project in order}

        return MappingTable._prebuilt(
            ecosystem, by_project, reverse, provenance, (self.origin,), rule
        )

    def rule(self, extra: object) -> Rule | None:
        """The top-level ``extra_metadata.default_specs`` naming rule, validated."""
        if extra is None:
            return None
        if not isinstance(extra, dict):
            self.fail(None, "the top-level 'extra_metadata' must be an object.")
        templates = extra.get("default_specs")
        if templates is None:
            return None
        where = "extra_metadata.default_specs"
        for template in self.strings(None, where, templates):
            # Checked with a name of every allowed shape, so no project can make it unsafe.
            if "{name}" not in template or not all(
                self.package_re.fullmatch(template.replace("{name}", probe))
                for probe in ("a", "a-b", "a0")
            ):
                self.fail(
                    None,
                    f"{where}: {template!r} is not a package-name template.",
                    "Write a template such as 'python3dist({name})': '{name}' is replaced "
                    "by the canonical project name, and the result must be a valid package "
                    "name.",
                )
        return Rule(tuple(templates), self.origin, self.layer)

    def claim(
        self,
        where: str,
        entry: MappingEntry,
        reverse: dict[str, NormalizedName],
        seen: dict[str, int],
    ) -> None:
        """Record ``entry``'s reverse claims; a package may have only one primary project."""
        for package in entry.primary_for:
            other = reverse.setdefault(package, entry.project)
            if other != entry.project:
                self.fail(
                    where,
                    f"{package!r} is already the primary package of entry "
                    f"#{seen[_ID_PREFIX + other]} ({_ID_PREFIX}{other}).",
                    "Each package may name one project in the reverse direction: give "
                    "the other entries 'alias_of' or an explicit 'primary_for' list.",
                )

    def bad_id(self, index: int, item: object) -> NoReturn:
        """Explain why an entry's id was refused (the fast path only knows that it was)."""
        where = f"entry #{index}"
        if not isinstance(item, dict):
            self.fail(where, "each entry must be an object with an 'id'.")
        entry_id = item.get("id")
        if entry_id is None:
            self.fail(where, "the entry has no 'id'.", "Add an id such as 'dep:pypi/numpy'.")
        if not isinstance(entry_id, str):
            self.fail(where, "'id' must be a string.")
        where = f"entry #{index} ({entry_id})"
        if not entry_id.startswith(_ID_PREFIX):
            self.fail(
                where,
                "the id must have the form 'dep:pypi/<project>'.",
                "sysnative maps PyPI projects, so every id starts with 'dep:pypi/'.",
            )
        name = entry_id[len(_ID_PREFIX) :]
        canonical = canonicalize_name(name)
        if _CANONICAL_RE.fullmatch(canonical):
            self.fail(
                where,
                "the project name in the id is not canonical.",
                f"Write it as 'dep:pypi/{canonical}' (PEP 503 normalised).",
            )
        self.fail(where, f"{name!r} is not a valid project name.")

    def entry(
        self,
        where: str,
        item: dict[str, Any],
        project: NormalizedName,
        mappings: list[Any],
        index_of: dict[str, int],
    ) -> MappingEntry:
        if "specs" in item:
            packages = self.specs(where, item["specs"])
        elif "specs_from" in item:
            source = item["specs_from"]
            if not isinstance(source, str) or source not in index_of:
                self.fail(where, f"'specs_from' names {source!r}, which is not in this file.")
            target = mappings[index_of[source]]
            if "specs" not in target:
                self.fail(where, f"'specs_from' target {source} has no 'specs' of its own.")
            packages = self.specs(f"entry #{index_of[source]} ({source})", target["specs"])
        else:
            self.fail(where, "the entry needs 'specs' (a list of package names) or 'specs_from'.")

        if not isinstance(item.get("description", ""), str):
            self.fail(where, "'description' must be a string.")
        extra = item.get("extra_metadata")
        if extra is None:
            extra = {}
        elif not isinstance(extra, dict):
            self.fail(where, "'extra_metadata' must be an object.")

        dist_names: tuple[str, ...] | None = None
        if "dist_names" in extra:
            dist_names = self.strings(where, "extra_metadata.dist_names", extra["dist_names"])
        version_rule = self.optional_str(where, "version_rule", extra.get("version_rule"))
        registers_version = self.optional_str(
            where, "registers_version", extra.get("registers_version")
        )
        registers_for = self.optional_str(where, "registers_for", extra.get("registers_for"))
        if registers_for is not None and registers_version is None:
            self.fail(
                where,
                "'registers_for' says which version 'registers_version' was read "
                "from, and needs it.",
            )
        note = self.optional_str(where, "note", extra.get("note"))
        route = self.optional_str(where, "route", extra.get("route"))
        if route not in (None, "pypi"):
            self.fail(
                where,
                f"extra_metadata.route {route!r} is not understood.",
                'The only route a mapping entry can set is "pypi" (never the system).',
            )
        alias = self.optional_str(where, "alias_of", extra.get("alias_of"))
        alias_of: NormalizedName | None = None
        if alias is not None:
            if not _CANONICAL_RE.fullmatch(alias):
                self.fail(where, f"alias_of {alias!r} is not a canonical project name.")
            if alias == project:
                self.fail(where, "an entry cannot be an alias of itself.")
            alias_of = NormalizedName(alias)

        if "primary_for" in extra:
            primary_for = self.strings(where, "extra_metadata.primary_for", extra["primary_for"])
            if alias_of is not None and primary_for:
                self.fail(where, "an alias ('alias_of') cannot claim packages in 'primary_for'.")
            for package in primary_for:
                if package not in packages:
                    self.fail(where, f"primary_for names {package!r}, which is not in its specs.")
        else:
            primary_for = () if alias_of is not None else packages

        return MappingEntry(
            project=project,
            packages=packages,
            dist_names=dist_names,
            version_rule=version_rule,
            alias_of=alias_of,
            note=note,
            origin=self.origin,
            primary_for=primary_for,
            registers_version=registers_version,
            registers_for=registers_for,
            pypi_only=route == "pypi",
            layer=self.layer,
        )

    def specs(self, where: str, specs: object) -> tuple[str, ...]:
        """PEP 804 allows a string, a list, or a ``{build, host, run}`` table.

        sysnative installs what a project needs at run time, so the table form contributes
        its ``run`` packages.
        """
        if isinstance(specs, str):
            values: object = [specs]
        elif isinstance(specs, dict):
            unknown = sorted(set(specs) - _SPEC_CATEGORIES)
            if unknown:
                self.fail(where, f"'specs' has unknown categories {unknown}.")
            for category, value in specs.items():
                self.packages(where, f"specs.{category}", value)
            run = specs.get("run", [])
            values = [run] if isinstance(run, str) else run
        else:
            values = specs
        return self.packages(where, "specs", values)

    def packages(self, where: str, field: str, value: object) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        names = self.strings(where, field, value)
        for name in names:
            if not self.package_re.fullmatch(name):
                self.fail(
                    where,
                    f"unsafe or invalid package name {name!r} in '{field}'.",
                    f"Package names here must match ^{self.package_re.pattern}$; "
                    "whitespace, shell or glob characters and a leading '-' are refused.",
                )
        return names

    def strings(self, where: str | None, field: str, value: object) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(where, f"'{field}' must be a list of strings.")
        return tuple(cast("list[str]", value))

    def optional_str(self, where: str, field: str, value: object) -> str | None:
        if value is None or isinstance(value, str):
            return value
        self.fail(where, f"extra_metadata.{field} must be a string.")


def package_grammar(ecosystem: str) -> re.Pattern[str]:
    """The package-name grammar of ``ecosystem`` (``debian+12`` is Debian's)."""
    return PACKAGE_GRAMMARS.get(ecosystem.partition("+")[0], _GENERIC_PACKAGE_RE)


def _ecosystem_from_origin(origin: str) -> str:
    """``…/debian.mapping.json`` -> ``debian``; anything else -> ``unknown``."""
    base = os.path.basename(origin)
    if base.endswith(".mapping.json"):
        candidate = base[: -len(".mapping.json")]
        if _ECOSYSTEM_RE.fullmatch(candidate):
            return candidate
    return "unknown"


# --------------------------------------------------------------------------------------------
# Layers

#: The layers, lowest first; a later layer's entry replaces an earlier one with the same id.
LAYERS: tuple[str, ...] = (
    "built-in",
    "system data",  # $XDG_DATA_DIRS/external-packaging-metadata-mappings/ (PEP 804)
    "site config",
    "user config",
    "pyproject.toml",
    "--mapping",
)
_PEP804_DIR = "external-packaging-metadata-mappings"


def layer_files(
    ecosystem: str,
    *,
    site_files: Iterable[str] = (),
    user_files: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
) -> list[tuple[str, Path]]:
    """The mapping files of the system-data, site and user layers that exist, lowest first.

    ``$XDG_DATA_DIRS`` lists directories most important first (default ``/usr/local/share``
    then ``/usr/share``), so the last one is the lowest layer. The site and user config dirs
    are platformdirs' (``/etc/xdg/sysnative``, ``~/.config/sysnative`` on Linux); each may hold
    ``{ecosystem}.mapping.json``, and ``site_files``/``user_files`` (named in the matching
    ``config.toml``) come after it.
    """
    import platformdirs

    environ = os.environ if env is None else env
    name = f"{ecosystem}.mapping.json"
    found: list[tuple[str, Path]] = []
    data_dirs = environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share"
    for directory in reversed([d for d in data_dirs.split(os.pathsep) if d]):
        found.append(("system data", Path(directory) / _PEP804_DIR / name))
    site_dir = Path(platformdirs.site_config_dir("sysnative"))
    found.append(("site config", site_dir / name))
    found.extend(("site config", Path(f)) for f in site_files)
    found.append(("user config", Path(platformdirs.user_config_dir("sysnative")) / name))
    found.extend(("user config", Path(f)) for f in user_files)
    named = {Path(f) for f in (*site_files, *user_files)}
    # A file named in config.toml must exist; a conventional location may be absent.
    return [(layer, path) for layer, path in found if path in named or path.is_file()]


def load_layers(
    ecosystem: str,
    *,
    files: Iterable[str] = (),
    site_files: Iterable[str] = (),
    user_files: Iterable[str] = (),
    project_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> MappingTable:
    """The built-in table with every override layer of :data:`LAYERS` stacked on it.

    ``files`` are ``--mapping FILE`` arguments (the top layer); ``project_dir`` is where a
    ``pyproject.toml`` with ``[tool.sysnative.mapping.<ecosystem>]`` may be.
    """
    tables = [load_builtin(ecosystem)]
    for layer, path in layer_files(
        ecosystem, site_files=site_files, user_files=user_files, env=env
    ):
        tables.append(load_file(path, ecosystem=ecosystem, layer=layer))
    if project_dir is not None:
        project = load_pyproject(project_dir / "pyproject.toml", ecosystem)
        if project is not None:
            tables.append(project)
    tables.extend(load_file(f, ecosystem=ecosystem, layer="--mapping") for f in files)
    return tables[0] if len(tables) == 1 else MappingTable.layered(*tables)


def load_pyproject(path: Path, ecosystem: str) -> MappingTable | None:
    """``[tool.sysnative.mapping.<ecosystem>]`` of a ``pyproject.toml``, or ``None``.

    Each key is a project; its value is a package name, a list of them (preferred first),
    ``false`` for "never from the system", or a table with ``specs`` and the
    ``extra_metadata`` keys spelled with dashes or underscores (``dist-names``, ``note``)::

        [tool.sysnative.mapping.debian]
        pillow = "python3-pil"
        tensorflow = false
        h5py = { specs = ["python3-h5py"], dist-names = ["h5py._debian_h5py_serial"] }
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise MappingError(f"{path}: cannot read it: {exc.strerror or exc}.") from exc
    from sysnative.tomlcompat import TOMLDecodeError, loads_toml

    try:
        document = loads_toml(raw.decode("utf-8"))
    except (UnicodeDecodeError, TOMLDecodeError) as exc:
        raise MappingError(f"{path}: not valid TOML: {exc}.") from None
    tool = document.get("tool", {}).get("sysnative", {})
    section = tool.get("mapping", {}) if isinstance(tool, dict) else {}
    if not isinstance(section, dict):
        raise MappingError(f"{path}: [tool.sysnative.mapping] must be a table of ecosystems.")
    table = section.get(ecosystem)
    if table is None:
        return None
    origin = f"{path} [tool.sysnative.mapping.{ecosystem}]"
    if not isinstance(table, dict):
        raise MappingError(f"{origin}: must be a table of project = package entries.")
    entries = []
    for project, value in table.items():
        canonical = canonicalize_name(project)
        where = f"{origin}: {project}"
        entry: dict[str, Any] = {"id": _ID_PREFIX + canonical}
        if value is False:
            entry["specs"] = []
            entry["extra_metadata"] = {"route": "pypi"}
        elif isinstance(value, (str, list)):
            entry["specs"] = value
        elif isinstance(value, dict):
            extra = {k.replace("-", "_"): v for k, v in value.items() if k != "specs"}
            entry["specs"] = value.get("specs", [])
            if extra:
                entry["extra_metadata"] = extra
        else:
            raise MappingError(
                f"{where}: the value must be a package name, a list of them, false, or a table.",
                'For example: pillow = "python3-pil", or tensorflow = false (never the system).',
            )
        entries.append(entry)
    document_text = json.dumps({"name": ecosystem, "mappings": entries})
    return loads(document_text, origin=origin, ecosystem=ecosystem, layer="pyproject.toml")
