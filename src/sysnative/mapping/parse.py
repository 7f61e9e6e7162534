"""Reading a mapping document: JSON to a validated :class:`~sysnative.mapping.table.MappingTable`,
with every problem naming the file and the entry at fault."""

from __future__ import annotations

import json
from typing import Any, NoReturn, cast

from packaging.utils import NormalizedName, canonicalize_name

from sysnative.errors import MappingError
from sysnative.mapping.table import (
    CANONICAL_RE,
    ID_PREFIX,
    ID_RE,
    PACKAGE_RE,
    SPEC_CATEGORIES,
    MappingEntry,
    MappingTable,
    Rule,
    ecosystem_from_origin,
    package_grammar,
)


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
        self.package_re = PACKAGE_RE

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
            ecosystem = name or ecosystem_from_origin(self.origin)
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
        id_match = ID_RE.fullmatch
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
            order = sorted(by_project, key=lambda project: seen[ID_PREFIX + project])
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
                    f"#{seen[ID_PREFIX + other]} ({ID_PREFIX}{other}).",
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
        if not entry_id.startswith(ID_PREFIX):
            self.fail(
                where,
                "the id must have the form 'dep:pypi/<project>'.",
                "sysnative maps PyPI projects, so every id starts with 'dep:pypi/'.",
            )
        name = entry_id[len(ID_PREFIX) :]
        canonical = canonicalize_name(name)
        if CANONICAL_RE.fullmatch(canonical):
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
            if not CANONICAL_RE.fullmatch(alias):
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
            unknown = sorted(set(specs) - SPEC_CATEGORIES)
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
