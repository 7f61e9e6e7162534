"""Pure parsers of what brew prints: ``brew info --json``, ``brew install --dry-run``,
``brew list --versions`` and brew's error for an unknown formula.

No process runs here (:mod:`sysnative.providers.brew.provider` runs brew); every function
takes the text and returns frozen records (:class:`KegState` is what the listing says of one
formula of a transaction). Sources of the recorded outputs the tests read are
in ``fixtures/brew/README.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sysnative.models import ClosureItem
from sysnative.providers.brew.version import pkg_version

__all__ = [
    "FORMULA_RE",
    "DryRunPlan",
    "Formula",
    "KegState",
    "parse_dry_run",
    "parse_info_json",
    "parse_list_versions",
    "parse_unknown_formulae",
    "python_versions",
    "resolve_formula",
]

#: A formula name (``numpy``, ``python@3.13``, ``libsigc++``), optionally tap-qualified
#: (``user/tap/name``); never starting with ``-``.
FORMULA_RE = re.compile(r"^(?:[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_-]*/)?[a-z0-9][a-z0-9+_.@-]*$")

# --------------------------------------------------------------------------------------------
# brew info --json
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Formula:
    """What ``brew info --json`` says about one formula."""

    name: str
    full_name: str
    #: ``versions.stable`` (``None`` for a HEAD-only formula).
    stable: str | None
    revision: int = 0
    #: ``installed[].version``: the installed kegs, as ``pkg_version`` strings.
    installed: tuple[str, ...] = ()
    #: The keg linked into the prefix (``None``: not linked).
    linked_keg: str | None = None
    keg_only: bool = False
    keg_only_reason: str | None = None
    dependencies: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    oldnames: tuple[str, ...] = ()
    outdated: bool = False

    @property
    def pkg_version(self) -> str | None:
        """The version ``brew install`` would install now."""
        return pkg_version(self.stable, self.revision) if self.stable else None

    @property
    def unusable(self) -> str | None:
        """Why the formula's Python packages are not on Homebrew's site dir; ``None`` when
        they are (or would be, once installed)."""
        if self.keg_only and self.linked_keg is None:
            reason = f" ({self.keg_only_reason})" if self.keg_only_reason else ""
            return (
                f"{self.name} is keg-only{reason}: Homebrew does not link it into its prefix, "
                "so its Python packages are not on Homebrew's site-packages"
            )
        if self.installed and self.linked_keg is None:
            return (
                f"{self.name} is installed ({', '.join(self.installed)}) but not linked; "
                f"`brew link {self.name}` links it"
            )
        return None


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def _formula(obj: object) -> Formula | None:
    if not isinstance(obj, dict):
        return None
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        return None
    versions = obj.get("versions")
    stable = versions.get("stable") if isinstance(versions, dict) else None
    revision = obj.get("revision")
    installed = tuple(
        entry["version"]
        for entry in obj.get("installed") or []
        if isinstance(entry, dict) and isinstance(entry.get("version"), str)
    )
    linked = obj.get("linked_keg")
    reason = obj.get("keg_only_reason")
    reason_text: str | None = None
    if isinstance(reason, dict):
        parts = [str(reason.get(k) or "").strip() for k in ("reason", "explanation")]
        reason_text = ": ".join(p for p in parts if p) or None
    elif isinstance(reason, str) and reason:
        reason_text = reason
    full_name = obj.get("full_name")
    keg_only = obj.get("keg_only")
    return Formula(
        name=name,
        full_name=full_name if isinstance(full_name, str) and full_name else name,
        stable=stable if isinstance(stable, str) and stable else None,
        revision=revision if isinstance(revision, int) and not isinstance(revision, bool) else 0,
        installed=installed,
        linked_keg=linked if isinstance(linked, str) and linked else None,
        # Homebrew writes a boolean; some API mirrors put the reason string here instead.
        keg_only=bool(keg_only) if isinstance(keg_only, (bool, str)) else False,
        keg_only_reason=reason_text,
        dependencies=_strings(obj.get("dependencies")),
        aliases=_strings(obj.get("aliases")),
        oldnames=_strings(obj.get("oldnames")) + _strings([obj.get("oldname")]),
        outdated=obj.get("outdated") is True,
    )


def parse_info_json(text: str) -> dict[str, Formula]:
    """Formulae by name from ``brew info --json=v2`` (``{"formulae": [...], "casks": [...]}``)
    or ``--json=v1`` (a list of formulae); casks are ignored."""
    document: Any = json.loads(text)
    entries = document.get("formulae") if isinstance(document, dict) else document
    found: dict[str, Formula] = {}
    for entry in entries if isinstance(entries, list) else []:
        formula = _formula(entry)
        if formula is not None:
            found.setdefault(formula.name, formula)
    return found


def resolve_formula(formulae: Mapping[str, Formula], requested: str) -> Formula | None:
    """The formula ``brew`` answered for ``requested``: by name, full name (``tap/name``), an
    alias (``python3`` -> ``python@3.13``) or a former name."""
    if requested in formulae:
        return formulae[requested]
    for formula in formulae.values():
        if requested == formula.full_name or requested in formula.aliases:
            return formula
        if requested in formula.oldnames:
            return formula
    short = requested.rsplit("/", 1)[-1]
    return formulae.get(short) if short != requested else None


_UNKNOWN_RE = re.compile(r'No available formula(?: or cask)? with the name "([^"]+)"')


def parse_unknown_formulae(text: str) -> tuple[str, ...]:
    """The names in brew's ``No available formula with the name "foo"`` errors."""
    return tuple(dict.fromkeys(m.group(1) for m in _UNKNOWN_RE.finditer(text)))


def python_versions(dependencies: Iterable[str]) -> tuple[str, ...]:
    """``("3.13",)`` from dependencies such as ``python@3.13``, in order."""
    found: dict[str, None] = {}
    for dep in dependencies:
        m = re.fullmatch(r"(?:.*/)?python@(3\.\d+)", dep)
        if m:
            found[m.group(1)] = None
    return tuple(found)


# --------------------------------------------------------------------------------------------
# brew install --dry-run, brew list --versions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DryRunPlan:
    """What ``brew install --dry-run`` says it would do."""

    #: The named formulae it would install (or upgrade), in order.
    formulae: tuple[str, ...] = ()
    #: Dependencies it would install: ``(name, version or None)``.
    dependencies: tuple[tuple[str, str | None], ...] = ()
    #: Dependencies it would upgrade: ``(name, old or None, new or None)``.
    upgrades: tuple[tuple[str, str | None, str | None], ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every formula of the transaction, in order, once."""
        names = [*self.formulae, *(d[0] for d in self.dependencies), *(u[0] for u in self.upgrades)]
        return tuple(dict.fromkeys(names))


_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
_HEADER_RE = re.compile(
    r"^==> Would (?P<verb>install|upgrade) (?P<count>\d+) (?P<what>[a-z ]+?)"
    r"(?: for (?P<for>\S+))?:\s*$"
)


def _entries(lines: Sequence[str], count: int) -> list[tuple[str, str | None, str | None]]:
    """``(name, old, new)`` from the lines under a header.

    Homebrew 4 printed the names space-separated on one line (``puts names.join(" ")``) and
    upgrades comma-separated (``a 1 -> 2, b 3 -> 4``); newer releases print one entry per line
    (``name``, ``name version`` or ``name old -> new``, padded to columns). One entry per line
    is recognized by the line count matching the header's count.
    """
    chunks: list[str] = []
    if len(lines) == count:
        chunks = list(lines)
    else:
        for line in lines:
            if "->" in line:
                chunks += [c for c in line.split(",") if c.strip()]
            else:
                chunks += line.split()
    out: list[tuple[str, str | None, str | None]] = []
    for chunk in chunks:
        tokens = chunk.split()
        if not tokens:
            continue
        name = tokens[0]
        if "->" in tokens:
            arrow = tokens.index("->")
            old = tokens[arrow - 1] if arrow > 1 else None
            new = tokens[arrow + 1] if arrow + 1 < len(tokens) else None
            out.append((name, old, new))
        else:
            out.append((name, None, tokens[1] if len(tokens) > 1 else None))
    return out


def parse_dry_run(text: str) -> DryRunPlan:
    """Read ``brew install --dry-run`` (and the dependency sections ``brew upgrade
    --dry-run`` shares with it): every ``==> Would install|upgrade N ...:`` header and the
    entries under it, up to the next ``==>`` header, warning or blank line."""
    formulae: list[str] = []
    dependencies: list[tuple[str, str | None]] = []
    upgrades: list[tuple[str, str | None, str | None]] = []
    lines = [_ANSI_RE.sub("", line).rstrip() for line in text.splitlines()]
    i = 0
    while i < len(lines):
        header = _HEADER_RE.match(lines[i])
        i += 1
        if not header:
            continue
        body: list[str] = []
        while (
            i < len(lines)
            and lines[i].strip()
            and not lines[i].startswith(("==>", "Warning:", "Error:"))
        ):
            body.append(lines[i])
            i += 1
        requested = header.group("what").startswith("formula") and header.group("for") is None
        for name, old, new in _entries(body, int(header.group("count"))):
            if header.group("verb") == "upgrade" or old is not None:
                upgrades.append((name, old, new))
            elif requested:
                formulae.append(name)
            else:
                dependencies.append((name, new))
    return DryRunPlan(tuple(formulae), tuple(dependencies), tuple(upgrades))


def parse_list_versions(text: str) -> dict[str, tuple[str, ...]]:
    """``brew list --versions``: ``name version version ...`` (one keg per version) per
    line."""
    found: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        parts = _ANSI_RE.sub("", line).split()
        if len(parts) >= 2 and FORMULA_RE.fullmatch(parts[0]):
            found.setdefault(parts[0], tuple(parts[1:]))
    return found


@dataclass(frozen=True)
class KegState:
    """What ``brew list --versions`` says of one formula of a transaction."""

    item: ClosureItem
    #: The installed kegs' versions.
    kegs: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """The planned version is among the installed kegs."""
        return self.item.version in self.kegs

    def describe(self) -> str:
        """One line for the user."""
        item = self.item
        if self.kegs:
            return (
                f"{item.name}: installed at {', '.join(self.kegs)}, but the plan has {item.version}"
            )
        return f"{item.name} {item.version}: not installed"
