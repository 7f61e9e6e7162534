"""The Homebrew provider (macOS, or Linuxbrew): formulae and Homebrew's own Python.

Homebrew's Python packages (``numpy``, ``pillow`` ...) are built for one Homebrew Python,
``python@3.X``, and land in ``$(brew --prefix)/lib/python3.X/site-packages`` through the links
Homebrew makes from each formula's keg. So:

* the interpreter is ``$(brew --prefix)/opt/python@3.X/bin/python3.X`` (the versioned name:
  a non-default ``python@3.X`` has no ``bin/python3``), where ``3.X`` is the ``python@3.X``
  the planned formulae depend on, else the one Homebrew's ``python3`` alias names;
* a keg-only formula is not linked into the prefix, so its Python packages are not on that
  site dir: it is reported with no usable version (candidate and installed ``None``, the
  reason in :attr:`BrewProvider.unusable`) unless it was linked by hand (``brew link
  --force``), and then only at the linked version. The same holds for a formula that is
  installed but not linked (``brew unlink``, or a link conflict).

Commands and what is read from them (sources in ``fixtures/brew/README.md``):

* query: ONE ``brew info --json=v2 --formula -- NAME...``. ``formulae[].versions.stable`` and
  ``revision`` give the candidate (``1.26.4`` with revision 1 is ``1.26.4_1``, Homebrew's
  ``pkg_version``), ``installed[].version`` the kegs, ``linked_keg`` the one in use,
  ``keg_only``. ``brew info`` fails as a whole when one name is unknown (``Error: No
  available formula with the name "foo"``): the unknown names are read from that message
  and the call is retried without them; if the error names none, each name is asked on its
  own, for that call only. ``brew list --versions`` is not asked here: it would only repeat
  the kegs, without saying which one is linked (it is :meth:`BrewProvider.verify`'s).
* closure: ``brew install --dry-run --formula -- NAME...`` (Homebrew 4: ``==> Would install N
  formulae:`` and ``==> Would install N dependencies for NAME:``, newer releases also ``==>
  Would upgrade N dependencies for NAME:`` with ``name old -> new``), then one ``brew info``
  for the versions. A Homebrew without ``install --dry-run`` falls back to ``brew deps
  --formula --union --missing``.
* verify: ``brew list --versions --formula -- NAME...`` (``name version version ...``).

``ClosureItem.projects`` stays empty: a formula's JSON names no PyPI project.

Homebrew cannot install a chosen version: ``brew install`` takes the formula's current
version. The plan's versions are therefore checked right before the install (the formula
must still be at the planned ``pkg_version``) and after it (the planned version must be
among the installed kegs). Every command runs with ``HOMEBREW_NO_AUTO_UPDATE=1`` (no tap
update between planning and installing that would change the versions) and
``HOMEBREW_NO_INSTALL_CLEANUP=1`` (the kegs an upgrade replaces stay, so linking the old keg
again undoes it). Homebrew refuses to run as root, so the provider needs a
normal user, and never sudo.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from packaging.version import InvalidVersion, Version

from sysnative.errors import PrivilegeError, ProviderError, ProviderUnavailable, SystemStepError
from sysnative.models import ClosureItem, SystemPackage
from sysnative.protocols import Privileges
from sysnative.providers.common import checked_transaction, transaction_differences, user_name
from sysnative.runner import CommandNotFound, Completed, run

__all__ = [
    "BREW_ENV",
    "BrewProvider",
    "DryRunPlan",
    "Formula",
    "brew_to_pep440",
    "closure_differences",
    "parse_dry_run",
    "parse_info_json",
    "parse_list_versions",
    "parse_unknown_formulae",
    "pkg_version",
    "python_versions",
    "resolve_formula",
    "split_pkg_version",
    "validate_formula_names",
    "validate_install_packages",
    "validate_pkg_version",
]

#: A formula name (``numpy``, ``python@3.13``, ``libsigc++``), optionally tap-qualified
#: (``user/tap/name``); never starting with ``-``.
FORMULA_RE = re.compile(r"^(?:[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_-]*/)?[a-z0-9][a-z0-9+_.@-]*$")

#: A Homebrew version with its revision (``1.26.4_1``, ``2024-11-26``, ``1.4rc5_2``).
PKG_VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+~-]*$")

#: The environment of every brew command (module docstring).
BREW_ENV = {"HOMEBREW_NO_AUTO_UPDATE": "1", "HOMEBREW_NO_INSTALL_CLEANUP": "1"}

_UNAVAILABLE_MESSAGE = "Homebrew was not found on this machine (brew is not on PATH)."
_UNAVAILABLE_HINT = (
    "Install Homebrew (macOS, or Linuxbrew on Linux) or choose the provider that matches "
    "this system."
)


# --------------------------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------------------------


def split_pkg_version(version: str) -> tuple[str, int]:
    """``"1.26.4_1"`` -> ``("1.26.4", 1)``; no revision is revision 0 (Homebrew's
    ``PkgVersion``: the revision is a trailing ``_N``)."""
    m = re.fullmatch(r"(.+?)_(\d+)", version)
    if m:
        return m.group(1), int(m.group(2))
    return version, 0


def pkg_version(stable: str, revision: int) -> str:
    """Homebrew's ``pkg_version``: the version, and ``_REVISION`` when the formula was
    rebuilt without a version change."""
    return f"{stable}_{revision}" if revision else stable


def brew_to_pep440(version: str) -> Version | None:
    """The PEP 440 reading of a Homebrew version: the revision (``_1``) is Homebrew's
    rebuild counter, not part of the upstream version, and is dropped; ``None`` when the
    rest is not a PEP 440 version (``2024-11-26``, ``9e``)."""
    if not isinstance(version, str) or not PKG_VERSION_RE.fullmatch(version):
        return None
    upstream, _revision = split_pkg_version(version)
    try:
        return Version(upstream)
    except InvalidVersion:
        return None


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


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def validate_formula_names(packages: Iterable[str]) -> tuple[str, ...]:
    """The names, de-duplicated in order; :class:`ProviderError` for any invalid one."""
    names: list[str] = []
    for name in packages:
        if not isinstance(name, str) or not FORMULA_RE.fullmatch(name):
            raise ProviderError(
                f"{name!r} is not a valid Homebrew formula name, so it was not passed to brew.",
                "Formula names use lower-case letters, digits and '+', '_', '.', '@', '-' "
                "(optionally as user/tap/name) and start with a letter or digit. Check the "
                "mapping entry that produced this name.",
            )
        if name not in names:
            names.append(name)
    return tuple(names)


def validate_pkg_version(version: str) -> str:
    """``version`` unchanged when it is a Homebrew version; :class:`ProviderError` otherwise."""
    if not isinstance(version, str) or not PKG_VERSION_RE.fullmatch(version):
        raise ProviderError(
            f"{version!r} is not a valid Homebrew version.",
            "Homebrew versions use letters, digits and '.', '_', '+', '~', '-' "
            "(`1.26.4_1`). Check the plan that produced this version.",
        )
    return version


def validate_install_packages(
    packages: Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    """The ``(name, version)`` pairs, checked and de-duplicated in order."""
    pairs: dict[str, str] = {}
    for name, version in packages:
        validate_formula_names([name])
        validate_pkg_version(version)
        if pairs.get(name, version) != version:
            raise ProviderError(
                f"{name} is asked for at two versions ({pairs[name]} and {version}).",
                "A transaction installs one version of each formula; check the plan.",
            )
        pairs[name] = version
    return tuple(pairs.items())


def closure_differences(
    planned: Sequence[ClosureItem], simulated: Sequence[ClosureItem]
) -> tuple[str, ...]:
    """How brew's simulated transaction differs from the plan, one line per formula."""
    return transaction_differences(planned, simulated, "brew")


# --------------------------------------------------------------------------------------------
# The provider
# --------------------------------------------------------------------------------------------


def _path_of(env: Mapping[str, str] | None) -> str | None:
    if env and "PATH" in env:
        return env["PATH"]
    return os.environ.get("PATH")


@dataclass
class _Cache:
    formulae: dict[str, Formula] = field(default_factory=dict)
    prefix: str | None = None
    python: str | None = None
    #: ``python@3.X`` versions the planned formulae depend on, first seen first.
    pythons: list[str] = field(default_factory=list)


class BrewProvider:
    """:class:`sysnative.protocols.Provider` for Homebrew."""

    name = "brew"
    ecosystem = "homebrew"

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        cache_dir: Path | None = None,
        options: Sequence[str] = (),
    ) -> None:
        #: Extra environment for every command (on top of :data:`BREW_ENV`).
        self._env: dict[str, str] = {**BREW_ENV, **(dict(env) if env else {})}
        self._cache_dir = cache_dir
        #: Extra options for ``brew install`` (``--build-from-source`` ...).
        self._options = tuple(options)
        for option in self._options:
            if not isinstance(option, str) or "\0" in option:
                raise ProviderError(f"{option!r} is not a valid option for brew.")
        self._cache = _Cache()
        self._lock = threading.Lock()
        #: Why a queried formula cannot serve Python packages (keg-only, not linked).
        self.unusable: dict[str, str] = {}

    # -- availability ---------------------------------------------------------------------

    @staticmethod
    def available(env: Mapping[str, str] | None = None) -> bool:
        """Whether ``brew`` is on ``PATH`` (``env``'s, if given)."""
        return shutil.which("brew", path=_path_of(env)) is not None

    def _require(self) -> None:
        if not self.available(self._env):
            raise ProviderUnavailable(_UNAVAILABLE_MESSAGE, _UNAVAILABLE_HINT)

    def _run(
        self, argv: Sequence[str], *, timeout: float | None = 600, echo: TextIO | None = None
    ) -> Completed:
        self._require()
        try:
            return run(argv, env=self._env, input="", timeout=timeout, echo=echo)
        except CommandNotFound as exc:
            raise ProviderUnavailable(_UNAVAILABLE_MESSAGE, _UNAVAILABLE_HINT) from exc

    # -- brew info ----------------------------------------------------------------------------

    def _info_call(self, names: Sequence[str]) -> tuple[dict[str, Formula], Completed]:
        result = self._run(["brew", "info", "--json=v2", "--formula", "--", *names])
        if result.ok:
            try:
                return parse_info_json(result.stdout), result
            except ValueError as exc:
                raise ProviderError(
                    "brew info printed something other than JSON: " + result.describe()
                ) from exc
        return {}, result

    def info(self, packages: Sequence[str], *, cached: bool = True) -> dict[str, Formula]:
        """``brew info`` for every known name among ``packages``, keyed by the requested name.

        One call; when brew rejects unknown names, they are dropped (read from its error)
        and the call is repeated; if its error names none, the names are asked one by one.
        """
        names = validate_formula_names(packages)
        found: dict[str, Formula] = {}
        with self._lock:
            if cached:
                found = {n: self._cache.formulae[n] for n in names if n in self._cache.formulae}
        remaining = [n for n in names if n not in found]
        while remaining:
            formulae, result = self._info_call(remaining)
            if result.ok:
                for name in remaining:
                    formula = resolve_formula(formulae, name)
                    if formula is not None:
                        found[name] = formula
                break
            unknown = set(parse_unknown_formulae(result.stderr + "\n" + result.stdout))
            if unknown & set(remaining):
                remaining = [n for n in remaining if n not in unknown]
                continue
            if len(remaining) == 1:
                raise ProviderError(
                    "brew info could not report formula versions: " + result.describe(),
                    "Run `brew doctor`; brew's own message is above.",
                )
            for name in remaining:  # the error named no formula: ask each alone
                try:
                    found.update(self.info([name], cached=cached))
                except ProviderError as exc:
                    self.unusable[name] = str(exc)
            break
        with self._lock:
            self._cache.formulae.update(found)
        return found

    # -- Provider protocol ------------------------------------------------------------------

    def query(self, packages: Sequence[str]) -> dict[str, SystemPackage]:
        """Candidate and installed versions from ONE ``brew info --json=v2`` (module
        docstring). Unknown names are absent; a keg-only or unlinked formula is present with
        no usable version, and the reason is in :attr:`unusable`."""
        names = validate_formula_names(packages)
        if not names:
            return {}
        formulae = self.info(names)
        found: dict[str, SystemPackage] = {}
        for name in names:
            formula = formulae.get(name)
            if formula is None:
                continue
            reason = formula.unusable
            if reason is not None:
                self.unusable[name] = reason
                found[name] = SystemPackage(name, candidate=None, installed=None)
                continue
            self.unusable.pop(name, None)
            installed = formula.linked_keg
            # A keg-only formula linked by hand stays at the linked version: installing a
            # newer one would leave it unlinked.
            candidate = installed if formula.keg_only else formula.pkg_version
            found[name] = SystemPackage(name, candidate=candidate, installed=installed)
            self._note_pythons(formula)
        return found

    def _note_pythons(self, formula: Formula) -> None:
        deps = [*formula.dependencies, formula.name]
        with self._lock:
            for version in python_versions(deps):
                if version not in self._cache.pythons:
                    self._cache.pythons.append(version)

    def _dry_run(self, names: Sequence[str]) -> DryRunPlan:
        result = self._run(["brew", "install", "--dry-run", "--formula", "--", *names])
        said = result.stdout + "\n" + result.stderr
        if result.ok:
            return parse_dry_run(result.stdout)
        unknown = parse_unknown_formulae(said)
        if unknown:
            raise ProviderError(
                f"Homebrew has no formula {', '.join(unknown)}.",
                "Check the name in the mapping, or `brew update` and try again.",
            )
        if "--dry-run" in said and "invalid option" in said:
            return self._deps_plan(names)
        raise ProviderError(
            f"brew cannot install {', '.join(names)}: " + result.describe(),
            "Run `brew install --dry-run " + " ".join(names) + "` to see brew's explanation.",
        )

    def _deps_plan(self, names: Sequence[str]) -> DryRunPlan:
        """For a Homebrew without ``install --dry-run``: the missing dependencies, and the
        named formulae that are not installed."""
        result = self._run(["brew", "deps", "--formula", "--union", "--missing", "--", *names])
        if not result.ok:
            raise ProviderError("brew deps failed: " + result.describe())
        deps = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        formulae = self.info(names)
        wanted = tuple(n for n in names if n in formulae and not formulae[n].installed)
        return DryRunPlan(wanted, tuple((d, None) for d in deps), ())

    def _closure(self, plan: DryRunPlan, *, cached: bool) -> tuple[ClosureItem, ...]:
        names = plan.names
        if not names:
            return ()
        formulae = self.info(names, cached=cached)
        olds = {name: old for name, old, _new in plan.upgrades}
        items: list[ClosureItem] = []
        for name in names:
            formula = formulae.get(name)
            if formula is None or formula.pkg_version is None:
                raise ProviderError(
                    f"brew would install {name}, but brew info reports no version for it.",
                    "Run `brew info " + name + "`.",
                )
            self._note_pythons(formula)
            replaces = olds.get(name)
            if (
                replaces is None
                and formula.installed
                and formula.pkg_version not in formula.installed
            ):
                replaces = formula.linked_keg or formula.installed[-1]
            items.append(ClosureItem(name, formula.pkg_version, None, replaces))
        return tuple(items)

    def simulate(self, packages: Sequence[str]) -> tuple[ClosureItem, ...]:
        """Every formula ``brew install`` would install or upgrade, with the versions
        ``brew info`` reports. Already installed and current formulae are not listed."""
        names = validate_formula_names(packages)
        if not names:
            return ()
        return self._closure(self._dry_run(names), cached=True)

    def to_pep440(self, distro_version: str) -> Version | None:
        return brew_to_pep440(distro_version)

    def prefix(self) -> str:
        """``brew --prefix``, asked once."""
        with self._lock:
            known = self._cache.prefix
        if known is not None:
            return known
        result = self._run(["brew", "--prefix"])
        prefix = result.stdout.strip()
        if not result.ok or not prefix:
            raise ProviderError("brew --prefix failed: " + result.describe())
        with self._lock:
            self._cache.prefix = prefix
        return prefix

    def python_version(self) -> str:
        """``3.X`` of the Homebrew Python the planned formulae depend on (the first seen),
        else of the formula Homebrew's ``python3`` alias names."""
        with self._lock:
            if self._cache.pythons:
                return self._cache.pythons[0]
            known = self._cache.python
        if known is not None:
            return known
        formula = self.info(["python3"]).get("python3")
        versions = python_versions([formula.name]) if formula is not None else ()
        if not versions:
            raise ProviderError(
                "Homebrew's python3 formula could not be found (`brew info python3`).",
                "Run `brew doctor`.",
            )
        with self._lock:
            self._cache.python = versions[0]
        return versions[0]

    def site_dirs(self) -> tuple[str, ...]:
        """``$(brew --prefix)/lib/python3.X/site-packages``, where Homebrew links the Python
        packages of its formulae."""
        return (f"{self.prefix()}/lib/python{self.python_version()}/site-packages",)

    def interpreter(self) -> str:
        """``$(brew --prefix)/opt/python@3.X/bin/python3.X``."""
        version = self.python_version()
        return f"{self.prefix()}/opt/python@{version}/bin/python{version}"

    def prepare(self) -> bool:
        """Ask ``brew --prefix`` now (brew's start-up is the slow part of the first call)."""
        if not self.available(self._env):
            return False
        try:
            self.prefix()
        except ProviderError:
            return False
        return True

    # -- execution side ---------------------------------------------------------------------

    def check_privileges(self) -> Privileges:
        """Homebrew refuses to run as root, so: a normal user, who can write the prefix."""
        euid = os.geteuid()
        if euid == 0:
            return Privileges(
                ok=False,
                why="sysnative runs as root, and Homebrew refuses to run as root; run it as "
                "the user who owns the Homebrew installation",
            )
        prefix = self.prefix()
        if os.path.isdir(prefix) and not os.access(prefix, os.W_OK):
            return Privileges(
                ok=False,
                why=f"Homebrew's prefix {prefix} is not writable by user {user_name(euid)}",
            )
        return Privileges(ok=True)

    def install_command(
        self,
        packages: Sequence[tuple[str, str]],
        privileges: Privileges,
        *,
        lock_timeout: float = 120.0,
    ) -> list[str]:
        """``env HOMEBREW_NO_AUTO_UPDATE=1 HOMEBREW_NO_INSTALL_CLEANUP=1 brew install --formula
        [OPTIONS] -- NAME...``.

        Homebrew takes no version: the versions in ``packages`` were checked by
        :meth:`check_install` and are checked again by :meth:`verify`. ``lock_timeout`` is
        not used (brew has no option for it). Never prefixed with sudo.
        """
        pairs = validate_install_packages(packages)
        return [
            "env",
            *(f"{k}={v}" for k, v in BREW_ENV.items()),
            "brew",
            "install",
            "--formula",
            *self._options,
            "--",
            *(name for name, _version in pairs),
        ]

    def check_install(
        self, packages: Sequence[tuple[str, str]], closure: Sequence[ClosureItem]
    ) -> None:
        """Right before the install: every requested formula must still be at the planned
        version (brew cannot install another), and a fresh dry run must give the planned
        closure."""
        pairs = _checked_transaction(packages, closure)
        if not pairs:
            return
        names = [name for name, _ in pairs]
        formulae = self.info(names, cached=False)
        changed = []
        for name, version in pairs:
            formula = formulae.get(name)
            now = formula.pkg_version if formula else None
            if now != version:
                changed.append(f"{name}: the plan has {version}, Homebrew now has {now or 'none'}")
        if changed:
            raise ProviderError(
                "Homebrew's formulae changed since the plan was made, and brew cannot install "
                "another version than the formula's own:\n"
                + "\n".join("    " + line for line in changed),
                "Nothing was changed; make the plan again.",
            )
        differences = closure_differences(
            closure, self._closure(self._dry_run(names), cached=False)
        )
        if differences:
            raise ProviderError(
                "brew would now install something other than the plan:\n"
                + "\n".join("    " + line for line in differences),
                "Nothing was changed; make the plan again.",
            )

    def install(
        self,
        packages: Sequence[tuple[str, str]],
        closure: Sequence[ClosureItem],
        privileges: Privileges,
        *,
        lock_timeout: float = 120.0,
        quiet: bool = True,
    ) -> None:
        """Run :meth:`install_command`, then check with ``brew list --versions`` that every
        planned formula is installed at the planned version."""
        pairs = _checked_transaction(packages, closure)
        if not pairs:
            return
        argv = self.install_command(pairs, privileges, lock_timeout=lock_timeout)
        if not privileges.ok:
            command = shlex.join(argv)
            raise PrivilegeError(
                f"Installing with Homebrew is not possible: {privileges.why}. Nothing was changed.",
                f"Run this command as the Homebrew installation's owner, then run sysnative "
                f"again:\n    {command}",
                command=command,
            )
        result = self._run(argv, timeout=None, echo=None if quiet else sys.stderr)
        planned = {item.name for item in closure}
        targets = (*closure, *(ClosureItem(n, v) for n, v in pairs if n not in planned))
        problems, versions = self._verify(targets)
        if result.ok and not problems:
            return
        raise _step_error(result, targets, problems, versions)

    def recovery(self) -> tuple[str, tuple[str, ...]]:
        """See :meth:`sysnative.protocols.Provider.recovery`."""
        return ("`brew doctor` reports what an interrupted install left behind.", ())

    def verify(self, closure: Sequence[ClosureItem]) -> tuple[str, ...]:
        """One line per formula whose planned version is not among its installed kegs
        (ONE ``brew list --versions``); ``()`` when every one is installed as planned."""
        return self._verify(closure)[0]

    def _verify(
        self, closure: Sequence[ClosureItem]
    ) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
        _validate_closure(closure)
        names = validate_formula_names(item.name for item in closure)
        if not names:
            return (), {}
        result = self._run(["brew", "list", "--versions", "--formula", "--", *names])
        # brew exits 1 when some of the names are not installed, and lists the others.
        if result.returncode not in (0, 1):
            raise ProviderError(
                "brew list could not report installed formulae: " + result.describe()
            )
        listed = parse_list_versions(result.stdout)
        versions = {item.name: listed.get(item.name.rsplit("/", 1)[-1], ()) for item in closure}
        out: list[str] = []
        for item in closure:
            have = versions[item.name]
            if item.version in have:
                continue
            if have:
                out.append(
                    f"{item.name}: installed at {', '.join(have)}, but the plan has {item.version}"
                )
            else:
                out.append(f"{item.name} {item.version}: not installed")
        return tuple(out), versions


def _step_error(
    result: Completed,
    targets: Sequence[ClosureItem],
    problems: Sequence[str],
    versions: Mapping[str, tuple[str, ...]],
) -> SystemStepError:
    state = tuple(
        f"{item.name}: {', '.join(versions.get(item.name, ())) or 'not installed'}"
        for item in targets
    )
    new = [i.name for i in targets if i.replaces is None and _present(i, versions)]
    upgraded = [f"{i.name} {i.replaces}" for i in targets if i.replaces and _present(i, versions)]
    undo: list[str] = []
    if new:
        undo.append(shlex.join(["brew", "uninstall", "--formula", "--", *new]))
    head = (
        "brew reported success, but not every formula of the transaction is installed at the "
        "planned version."
        if result.ok
        else f"The Homebrew transaction failed (brew exited with status {result.returncode})."
    )
    tail = [
        line.rstrip()
        for line in (result.stderr + "\n" + result.stdout).splitlines()
        if line.startswith(("Error:", "Warning:"))
    ][-15:]
    parts = [head]
    if tail:
        parts.append("brew said:\n" + "\n".join("    " + line for line in tail))
    parts.append("Not as planned:\n" + "\n".join("    " + line for line in problems))
    hints = []
    if undo:
        hints.append("To remove what this run installed, run: " + " && ".join(undo))
    if upgraded:
        hints.append(
            "Homebrew cannot downgrade; the older kegs were kept (no cleanup), so `brew link "
            "--overwrite` of the old keg restores them: " + ", ".join(upgraded)
        )
    if not (new or upgraded):
        hints.append("Nothing was installed. Fix what brew reports above and try again.")
    return SystemStepError("\n".join(parts), "\n".join(hints), state=state, undo=tuple(undo))


def _present(item: ClosureItem, versions: Mapping[str, tuple[str, ...]]) -> bool:
    """Whether any keg of the item's formula is installed."""
    return bool(versions.get(item.name))


def _validate_closure(closure: Sequence[ClosureItem]) -> None:
    validate_formula_names(item.name for item in closure)
    for item in closure:
        validate_pkg_version(item.version)
        if item.replaces is not None:
            validate_pkg_version(item.replaces)


def _checked_transaction(
    packages: Sequence[tuple[str, str]], closure: Sequence[ClosureItem]
) -> tuple[tuple[str, str], ...]:
    return checked_transaction(
        packages,
        closure,
        validate_packages=validate_install_packages,
        validate_closure=_validate_closure,
        things="formulae",
        thing="formula",
    )
