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

Commands and what is read from them (parsed by :mod:`sysnative.providers.brew.parse`, over
recorded outputs whose sources are in ``fixtures/brew/README.md``):

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
again undoes it; :data:`~sysnative.providers.brew.names.BREW_ENV`). Homebrew refuses
to run as root, so the provider needs a normal user, and never sudo.

The provider is a :class:`sysnative.providers.base.PackageManagerProvider`: the base runs the
checked transaction (validate, simulate and compare, install, ask ``brew list``) and this
class fills in its hooks. Parsing is in :mod:`~sysnative.providers.brew.parse`, versions in
:mod:`~sysnative.providers.brew.version`, the messages in
:mod:`~sysnative.providers.brew.messages`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from packaging.version import Version

from sysnative.errors import ProviderError, SystemStepError
from sysnative.models import ClosureItem, SystemPackage
from sysnative.protocols import Privileges
from sysnative.providers.base import PackageManagerProvider
from sysnative.providers.brew.messages import formulae_changed_error, owner_error, transaction_error
from sysnative.providers.brew.names import (
    BREW_ENV,
    GRAMMAR,
    build_install_argv,
    validate_formula_names,
)
from sysnative.providers.brew.parse import (
    DryRunPlan,
    Formula,
    KegState,
    parse_dry_run,
    parse_info_json,
    parse_list_versions,
    parse_unknown_formulae,
    python_versions,
    resolve_formula,
)
from sysnative.providers.brew.version import brew_to_pep440
from sysnative.providers.common import user_name
from sysnative.runner import Completed

__all__ = ["BrewProvider"]


@dataclass
class _Cache:
    formulae: dict[str, Formula] = field(default_factory=dict)
    prefix: str | None = None
    python: str | None = None
    #: ``python@3.X`` versions the planned formulae depend on, first seen first.
    pythons: list[str] = field(default_factory=list)


class BrewProvider(PackageManagerProvider[KegState]):
    """:class:`sysnative.protocols.Provider` for Homebrew."""

    name = "brew"
    ecosystem = "homebrew"
    grammar = GRAMMAR
    recovery_advice = ("`brew doctor` reports what an interrupted install left behind.", ())
    unavailable_message = "Homebrew was not found on this machine (brew is not on PATH)."
    unavailable_hint = (
        "Install Homebrew (macOS, or Linuxbrew on Linux) or choose the provider that matches "
        "this system."
    )
    planned_things = "formulae"
    #: Never sudo: Homebrew refuses root; the command is handed to the installation's owner.
    takes_privilege_prefix = False
    _privilege_error = staticmethod(owner_error)
    #: Every command's environment (under the provider's ``env``), an empty stdin, a timeout.
    command_env = BREW_ENV
    command_options: ClassVar[Mapping[str, Any]] = {"input": "", "timeout": 600}

    def _init_state(self) -> None:
        # The options are extra options for ``brew install`` (``--build-from-source`` ...).
        self._cache = _Cache()
        #: Why a queried formula cannot serve Python packages (keg-only, not linked).
        self.unusable: dict[str, str] = {}

    # -- availability --------------------------------------------------------------------------

    @classmethod
    def _missing_tools(cls, env: Mapping[str, str] | None) -> tuple[str, ...]:
        """``("brew",)`` when ``brew`` is not on ``PATH`` (``env``'s, if given)."""
        return () if shutil.which("brew", path=(env or {}).get("PATH")) else ("brew",)

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

    # -- execution side: the base's checked transaction, with brew's hooks ----------------

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

    def _install_argv(
        self, pairs: Sequence[tuple[str, str]], closure: Sequence[ClosureItem], lock_timeout: float
    ) -> list[str]:
        """``env HOMEBREW_NO_AUTO_UPDATE=1 HOMEBREW_NO_INSTALL_CLEANUP=1 brew install --formula
        [OPTIONS] -- NAME...``, never behind sudo.

        Homebrew takes no version: the versions in ``pairs`` were checked by
        :meth:`check_install` and are checked again by :meth:`verify`. ``lock_timeout`` is
        not used (brew has no option for it).
        """
        return build_install_argv([name for name, _version in pairs], self._options)

    def _simulate_exact(
        self, pairs: Sequence[tuple[str, str]], closure: Sequence[ClosureItem]
    ) -> tuple[Sequence[str], Sequence[ClosureItem], Sequence[str]]:
        """Every requested formula must still be at the planned version (brew cannot install
        another), then a fresh dry run gives the closure :meth:`check_install` compares."""
        names = [name for name, _ in pairs]
        formulae = self.info(names, cached=False)
        changed = []
        for name, version in pairs:
            formula = formulae.get(name)
            now = formula.pkg_version if formula else None
            if now != version:
                changed.append(f"{name}: the plan has {version}, Homebrew now has {now or 'none'}")
        if changed:
            raise formulae_changed_error(changed, self.changed_since_plan)
        return names, self._closure(self._dry_run(names), cached=False), ()

    def _package_states(self, closure: Sequence[ClosureItem], said: str = "") -> Sequence[KegState]:
        """The installed kegs of every formula of ``closure``, from ONE ``brew list
        --versions``: a formula is as planned when the planned version is among them."""
        names = validate_formula_names(item.name for item in closure)
        if not names:
            return ()
        result = self._run(["brew", "list", "--versions", "--formula", "--", *names])
        # brew exits 1 when some of the names are not installed, and lists the others.
        if result.returncode not in (0, 1):
            raise ProviderError(
                "brew list could not report installed formulae: " + result.describe()
            )
        listed = parse_list_versions(result.stdout)
        return tuple(
            KegState(item, listed.get(item.name.rsplit("/", 1)[-1], ())) for item in closure
        )

    def _step_error(
        self, result: Completed, states: Sequence[KegState], privileges: Privileges
    ) -> SystemStepError:
        return transaction_error(result, states)
