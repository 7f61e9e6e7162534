"""The conda provider: the active conda environment, through micromamba, mamba or conda.

Target: the environment in ``$CONDA_PREFIX`` (the provider's ``env`` first, then the
process environment). Every command names it with ``-p PREFIX``, so nothing ever lands in
another environment. No root is needed: the environment must be writable by the user.

Tools. ``micromamba`` is preferred, then ``mamba``, then ``conda`` (the first found on
``PATH``): all three take the same ``install --dry-run --json --yes -p PREFIX -- SPEC...``
command line (:mod:`sysnative.providers.conda.names`), and the libmamba-based ones solve
much faster. Their ``--json`` output differs; :mod:`sysnative.providers.conda.parse` reads all
of them.

Versions are reported as ``VERSION=BUILD`` (``1.26.4=py311h64a7726_0``, see
:mod:`sysnative.providers.conda.version`), and installed with the exact MatchSpec
``name==VERSION[build=BUILD]``: the version alone names several builds, the pair names one
package.

Which command answers what:

* installed versions: the file names in ``PREFIX/conda-meta`` (``NAME-VERSION-BUILD.json``,
  the record conda, mamba, micromamba and rattler all write), read directly: exact, and no
  process to start.
* candidates: ONE ``install --dry-run --json`` of all names. ``search`` lists every build on
  every channel, also those for other Pythons or with conflicting pins; only the solver knows
  which build ``install`` takes in THIS environment, and the dry run is what ``simulate`` runs
  anyway (the answer is cached for it). A name the solver cannot find makes the whole call
  fail (``PackagesNotFoundError`` / ``nothing provides requested``): those names are read
  from the error and the call is retried once without them. If the names cannot be solved
  together, each is asked on its own (a name that cannot be installed here has candidate
  ``None``).
* closure: ``install --dry-run --json`` (LINK = installed, UNLINK + LINK of one name = an
  upgrade with ``replaces``, UNLINK alone = a removal, which is refused).
* verify: ``PREFIX/conda-meta/NAME-VERSION-BUILD.json`` of every package of the plan.

``ClosureItem.projects`` stays empty: dry-run and repodata records do not list a package's
files, and conda-forge metadata names no PyPI project. Once installed, the conda-meta record
lists the files, and :meth:`CondaProvider.installed_records` reads the PyPI distributions a
package installs from its ``site-packages/*.dist-info`` directories.

The provider is a :class:`sysnative.providers.base.PackageManagerProvider`: the base runs the
checked transaction (validate, dry-run the exact specs and compare, install, read conda-meta)
and this class fills in its hooks. Parsing is in :mod:`~sysnative.providers.conda.parse`,
conda-meta reading in :mod:`~sysnative.providers.conda.meta`, the messages in
:mod:`~sysnative.providers.conda.messages`.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from packaging.version import Version

from sysnative.errors import ProviderError, SystemStepError
from sysnative.models import ClosureItem, SystemPackage
from sysnative.protocols import Privileges
from sysnative.providers.base import PackageManagerProvider
from sysnative.providers.common import user_name
from sysnative.providers.conda import meta
from sysnative.providers.conda.messages import (
    owner_error,
    removal_error,
    solve_error,
    transaction_error,
)
from sysnative.providers.conda.names import (
    GRAMMAR,
    build_install_argv,
    install_specs,
    validate_package_names,
)
from sysnative.providers.conda.parse import (
    CondaFailure,
    CondaRecord,
    Transaction,
    closure_from_transaction,
    parse_failure,
    parse_search_json,
    parse_transaction,
)
from sysnative.providers.conda.version import conda_to_pep440, join_version_build
from sysnative.runner import Completed

__all__ = ["TOOLS", "CondaProvider"]

#: The tools, in order of preference (the libmamba-based ones solve faster).
TOOLS = ("micromamba", "mamba", "conda")


def _prefix_of(env: Mapping[str, str] | None) -> str | None:
    prefix = (env or {}).get("CONDA_PREFIX") or os.environ.get("CONDA_PREFIX")
    return prefix or None


def _find_tool(env: Mapping[str, str] | None) -> str | None:
    path = (env or {}).get("PATH")
    for tool in TOOLS:
        if shutil.which(tool, path=path) is not None:
            return tool
    return None


@dataclass(frozen=True)
class _DryRun:
    """One dry run: the transaction, or the failure and what the tool printed."""

    transaction: Transaction | None
    failure: CondaFailure | None
    result: Completed


class CondaProvider(PackageManagerProvider[meta.PackageState]):
    """:class:`sysnative.protocols.Provider` for the active conda environment."""

    name = "conda"
    ecosystem = "conda-forge"
    grammar = GRAMMAR
    recovery_advice = (
        "conda links each package into the environment whole; `conda list` (or the "
        "micromamba or mamba equivalent) shows what the environment has now.",
        (),
    )
    unavailable_message = (
        "The conda provider needs an active conda environment ($CONDA_PREFIX) and one of "
        "micromamba, mamba or conda on PATH ({missing})."
    )
    #: A tool that was found and then could not be run is named with what happened.
    program_not_found = "{program} was not found"
    unavailable_hint = (
        "Activate the environment to install into (`conda activate ENV`, `micromamba activate "
        "ENV`), or choose another provider."
    )
    changed_since_plan = (
        "The channels or the environment changed since the plan was made. Nothing was "
        "changed; make the plan again."
    )
    planned_things = "conda packages"
    #: No root: the command is handed to the environment's owner.
    _privilege_error = staticmethod(owner_error)
    #: Every command gets an empty stdin and a timeout.
    command_options: ClassVar[Mapping[str, Any]] = {"input": "", "timeout": 600}

    def _init_state(self) -> None:
        # ``CONDA_PREFIX`` in ``env`` names the target; the options are extra options for
        # ``install`` (``-c conda-forge``, ``--override-channels`` ...). ``cache_dir`` is
        # unused: dry runs are cached in memory only, since the channels' repodata can change
        # without anything in the environment changing.
        self._tool: str | None = None
        self._dry_runs: dict[tuple[str, ...], _DryRun] = {}
        #: The ``python`` a simulation would link, for site dirs before python is installed.
        self._python_seen: CondaRecord | None = None

    # -- availability, the environment, the tool -------------------------------------------

    @classmethod
    def _missing_tools(cls, env: Mapping[str, str] | None) -> tuple[str, ...]:
        """What is missing for a conda environment to be active (``$CONDA_PREFIX`` is a
        directory) with micromamba, mamba or conda on ``PATH``."""
        prefix = _prefix_of(env)
        if prefix is None:
            return ("no environment is active",)
        if not os.path.isdir(prefix):
            return (f"$CONDA_PREFIX {prefix} is not a directory",)
        return () if _find_tool(env) is not None else ("none of them was found",)

    @property
    def prefix(self) -> Path:
        """The target environment; :class:`ProviderUnavailable` when none is active."""
        prefix = _prefix_of(self._env)
        if prefix is None or not os.path.isdir(prefix):
            raise self._unavailable(self._missing_tools(self._env)[0])
        return Path(prefix)

    @property
    def tool(self) -> str:
        """The tool in use (``micromamba``, ``mamba`` or ``conda``)."""
        with self._lock:
            if self._tool is None:
                self._tool = _find_tool(self._env)
            if self._tool is None:
                raise self._unavailable("none of them was found")
            return self._tool

    # -- the environment's own records ----------------------------------------------------

    def _meta_dir(self) -> Path:
        return self.prefix / "conda-meta"

    def installed_versions(self, packages: Sequence[str]) -> dict[str, str]:
        """``VERSION=BUILD`` of every installed package among ``packages`` (conda-meta)."""
        names = validate_package_names(packages)
        listing = meta.listing(self._meta_dir())
        return {name: join_version_build(*listing[name][0]) for name in names if name in listing}

    def installed_records(self) -> dict[str, CondaRecord]:
        """Every installed package's conda-meta record (with the PyPI projects it installs)."""
        return meta.installed_records(self._meta_dir())

    # -- dry runs --------------------------------------------------------------------------

    def _dry_run(self, specs: Sequence[str], *, cached: bool = True) -> _DryRun:
        argv = build_install_argv(self.tool, str(self.prefix), specs, self._options, dry_run=True)
        key = (meta.state_digest(self.prefix), *argv)
        if cached:
            with self._lock:
                hit = self._dry_runs.get(key)
            if hit is not None:
                return hit
        result = self._run(argv)
        said = result.stdout + "\n" + result.stderr
        transaction = parse_transaction(result.stdout)
        failure = None if transaction is not None else parse_failure(said)
        answer = _DryRun(transaction, failure, result)
        if transaction is not None:
            for record in transaction.link:
                if record.name == "python":
                    self._python_seen = record
            with self._lock:
                self._dry_runs[key] = answer
        return answer

    def _solve_error(self, specs: Sequence[str], answer: _DryRun) -> ProviderError:
        dry_run = build_install_argv(
            self.tool, str(self.prefix), specs, self._options, dry_run=True
        )
        return solve_error(
            self.tool, self.prefix, specs, answer.failure, answer.result, shlex.join(dry_run)
        )

    # -- Provider protocol ------------------------------------------------------------------

    def query(self, packages: Sequence[str]) -> dict[str, SystemPackage]:
        """Installed versions from conda-meta, candidates from ONE dry run of all names.

        The candidate is the build the dry run would link; for an installed package the
        dry run leaves alone, it is the installed build. A name the channels do not have is
        absent (unless installed: then its candidate is the installed build). When the
        names cannot be installed together, each is asked alone; one that cannot be
        installed here at all gets candidate ``None``.
        """
        names = validate_package_names(packages)
        if not names:
            return {}
        listing = meta.listing(self._meta_dir())
        installed = {n: join_version_build(*listing[n][0]) for n in names if n in listing}
        subdirs: dict[str, str | None] = {}
        candidates: dict[str, str | None] = {}
        missing: set[str] = set()

        def absorb(transaction: Transaction, asked: Sequence[str]) -> None:
            for record in transaction.link:
                if record.name in asked and record.name not in candidates:
                    candidates[record.name] = record.distro_version
                    subdirs[record.name] = record.subdir
            for name in asked:
                candidates.setdefault(name, installed.get(name))

        remaining = list(names)
        answer = self._dry_run(remaining)
        if (
            answer.transaction is None
            and answer.failure is not None
            and set(answer.failure.missing) & set(remaining)
        ):
            missing.update(answer.failure.missing)
            remaining = [n for n in remaining if n not in missing]
            answer = self._dry_run(remaining) if remaining else answer
        if answer.transaction is not None:
            absorb(answer.transaction, remaining)
        elif remaining:
            if answer.failure is None:
                raise self._solve_error(remaining, answer)
            for name in remaining:
                alone = self._dry_run([name])
                if alone.transaction is not None:
                    absorb(alone.transaction, [name])
                elif alone.failure is not None and name in alone.failure.missing:
                    missing.add(name)
                elif alone.failure is not None:
                    candidates[name] = installed.get(name)
                else:
                    raise self._solve_error([name], alone)
        found: dict[str, SystemPackage] = {}
        for name in names:
            if name in missing and name not in installed:
                continue
            found[name] = SystemPackage(
                name=name,
                candidate=candidates.get(name, installed.get(name)),
                installed=installed.get(name),
                architecture=subdirs.get(name),
            )
        return found

    def simulate(self, packages: Sequence[str]) -> tuple[ClosureItem, ...]:
        """What ``install`` would link: the LINK entries of a dry run, in the tool's order,
        with the build each replaces. A transaction that would remove a package (UNLINK
        without LINK) is refused. The answer is cached per environment state for this
        provider's life; channel changes between runs are seen by the next run."""
        names = validate_package_names(packages)
        if not names:
            return ()
        return self._closure(names, cached=True)

    def _closure(self, specs: Sequence[str], *, cached: bool) -> tuple[ClosureItem, ...]:
        answer = self._dry_run(specs, cached=cached)
        if answer.transaction is None:
            raise self._solve_error(specs, answer)
        items, removals = closure_from_transaction(answer.transaction)
        if removals:
            removed = [f"{r.name} {r.distro_version}" for r in removals]
            raise self._removal_error(specs, removed, now=not cached)
        return items

    def _removal_error(
        self, specs: Sequence[str], removals: Sequence[str], *, now: bool = False
    ) -> ProviderError:
        return removal_error(self.tool, specs, removals, now=now)

    def to_pep440(self, distro_version: str) -> Version | None:
        return conda_to_pep440(distro_version)

    def site_dirs(self) -> tuple[str, ...]:
        """The environment's site-packages: from its ``python`` record (conda-meta), else
        from the ``python`` a simulation would link; ``()`` when the environment has no
        Python and none was simulated."""
        return meta.site_packages(self.prefix, self._python_seen)

    def interpreter(self) -> str:
        """The environment's ``bin/python``."""
        return str(self.prefix / "bin" / "python")

    def prepare(self) -> bool:
        """Find the tool and read the environment (both cheap). True unless a dry run for the
        environment's current state is already cached."""
        if not self.available(self._env):
            return False
        _ = self.tool
        state = meta.state_digest(self.prefix)
        with self._lock:
            return not any(key[0] == state for key in self._dry_runs)

    # -- execution side: the base's checked transaction, with conda's hooks -----------------

    def check_privileges(self) -> Privileges:
        """The environment (and its conda-meta) must be writable by this user; conda needs no
        root and sysnative never uses sudo for it."""
        prefix = self.prefix
        targets = [prefix, prefix / "conda-meta"]
        if all(os.access(p, os.W_OK) for p in targets if p.exists()):
            return Privileges(ok=True)
        euid = os.geteuid()
        return Privileges(
            ok=False,
            why=f"the environment {prefix} is not writable by user {user_name(euid)} (uid {euid})",
        )

    def _install_argv(
        self, pairs: Sequence[tuple[str, str]], closure: Sequence[ClosureItem], lock_timeout: float
    ) -> list[str]:
        """``TOOL install --json --yes -p PREFIX [OPTIONS] -- name==VERSION[build=BUILD] ...``.

        ``lock_timeout`` is not used: conda has no option for it.
        """
        return build_install_argv(self.tool, str(self.prefix), install_specs(pairs), self._options)

    def _simulate_exact(
        self, pairs: Sequence[tuple[str, str]], closure: Sequence[ClosureItem]
    ) -> tuple[Sequence[str], Sequence[ClosureItem], Sequence[str]]:
        """Dry-run the exact specs, never from the cache (:meth:`check_install`)."""
        specs = install_specs(pairs)
        return specs, self._closure(specs, cached=False), ()

    def _package_states(
        self, closure: Sequence[ClosureItem], said: str = ""
    ) -> Sequence[meta.PackageState]:
        """The exact ``conda-meta/NAME-VERSION-BUILD.json`` record of every package: the
        tool's exit status alone is not trusted."""
        return meta.package_states(self._meta_dir(), closure)

    def _step_error(
        self, result: Completed, states: Sequence[meta.PackageState], privileges: Privileges
    ) -> SystemStepError:
        return transaction_error(self.tool, str(self.prefix), result, states)

    # -- extras -----------------------------------------------------------------------------

    def available_versions(self, packages: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """Every ``VERSION=BUILD`` the channels have for ``packages``, for explanations; the
        candidate for THIS environment comes from :meth:`query`.

        One ``search --json`` per name: ``conda search`` and ``micromamba search`` take a
        single spec (which is one more reason :meth:`query` asks a dry run instead).
        """
        names = validate_package_names(packages)
        tool = self.tool
        found: dict[str, list[CondaRecord]] = {}
        for name in names:
            answer = self._run([tool, "search", "--json", *self._options, "--", name])
            for key, records in parse_search_json(answer.stdout).items():
                found.setdefault(key, []).extend(records)
        return {
            name: tuple(dict.fromkeys(r.distro_version for r in found[name]))
            for name in names
            if name in found
        }
