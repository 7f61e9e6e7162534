"""The dnf provider: Fedora and relatives, through DNF 4 (``dnf``/``dnf-3``) and ``rpm``.

Every command goes through the provider's one subprocess seam (:mod:`sysnative.providers.base`)
with an argv list, and every name, version and option is checked before it gets there
(:mod:`.names`); ``--`` ends option parsing before the names in every dnf and rpm call.

How each question is asked, and why:

* ``query``: ONE ``dnf repoquery --latest-limit=1 --whatprovides=SPEC ...`` for what is
  available and ONE ``rpm -q --whatprovides -- SPEC ...`` for what is installed (``rpm``
  answers in 15 ms; ``dnf repoquery --installed`` would load the repositories again, 150 ms
  or more). Neither tool says which argument matched which package, so both print every
  package's provides and :func:`.parse.select_package` matches them to the specs here.
* ``simulate``/``check_install``: dnf's real solver through dnf's own command line, run
  without root by the resolver shim (:mod:`.command` says how and why). The provides in the
  same output fill :attr:`ClosureItem.projects`, so no second call is needed.
  ``install_weak_deps=False``: the closure must be exactly what the install step installs,
  and weak dependencies are extras the user did not ask for; the install step passes the
  same setting.
* ``verify``: ONE ``rpm -q`` of every closure package: rpm's database is what the system has.
  A failing ``%post`` still leaves the package installed and dnf exits 0 ("Error in POSTIN
  scriptlet in rpm package ..."; rpm records no scriptlet outcome), so :meth:`install` also
  reads dnf's output for scriptlet errors.

DNF 5 (Fedora 41's ``dnf``) is not supported yet; :func:`.command.find_dnf` looks for DNF 4's
``dnf-3``/``dnf4`` next to it. What dnf and rpm print is read by the pure parsers of
:mod:`.parse`.
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Mapping, Sequence

from packaging.version import Version

from sysnative.errors import (
    PackageManagerLocked,
    ProviderError,
    ProviderUnavailable,
    SystemStepError,
)
from sysnative.models import ClosureItem, SystemPackage
from sysnative.protocols import Privileges
from sysnative.providers.base import PackageManagerProvider
from sysnative.providers.dnf.command import (
    RESOLVE_SHIM,
    TRANSACTION_SETTINGS,
    DnfCommand,
    find_dnf,
    missing_tools,
    option_value,
    setopt_value,
)
from sysnative.providers.dnf.messages import (
    check_rpm,
    lock_error,
    simulation_error,
    transaction_error,
)
from sysnative.providers.dnf.names import (
    ARCH_RE,
    GRAMMAR,
    validate_options,
    validate_package_names,
    validate_specs,
)
from sysnative.providers.dnf.parse import (
    REPOQUERY_FORMAT,
    RPM_FORMAT,
    RPM_PROVIDES_FORMAT,
    RPM_STATE_FORMAT,
    LockHolder,
    PackageState,
    RpmPackage,
    closure_from_transaction,
    nevra,
    package_states,
    parse_lock_error,
    parse_package_list,
    parse_scriptlet_failures,
    parse_transaction,
    python_abi,
    select_package,
)
from sysnative.providers.dnf.version import RpmVersion, rpm_spelling, rpm_to_pep440
from sysnative.runner import Completed

__all__ = ["INTERPRETER", "DnfProvider"]

#: Fedora's interpreter: the one its ``python3-*`` packages are built for.
INTERPRETER = "/usr/bin/python3"


class DnfProvider(PackageManagerProvider[PackageState]):
    """:class:`sysnative.protocols.Provider` for dnf-based systems."""

    name = "dnf"
    ecosystem = "fedora"
    grammar = GRAMMAR
    recovery_advice = (
        "`dnf check` lists the broken dependencies and duplicate packages an interrupted "
        "rpm transaction can leave.",
        (),
    )
    unavailable_message = (
        "dnf was not found on this machine (missing: {missing}). sysnative --provider dnf needs "
        "Fedora or a relative (RHEL, CentOS Stream, AlmaLinux, Rocky Linux) with DNF 4 and rpm."
    )
    unavailable_hint = (
        "Run sysnative on a Fedora-based system, choose the provider that matches this "
        "distribution, or install without --system-native to take everything from the index."
    )
    changed_since_plan = (
        "The repositories or the installed packages changed since the plan was made (a "
        "repository update, or another install). Nothing was changed; make the plan again."
    )
    _spelling = staticmethod(rpm_spelling)

    def _validate_options(self, options: Sequence[str]) -> tuple[str, ...]:
        """The extra dnf arguments, placed before the subcommand of every dnf call."""
        return validate_options(options)

    def _init_state(self) -> None:
        # ``cache_dir`` is unused for now: dnf keeps its own metadata cache, and no answer is
        # cached here.
        self._installroot = option_value(self._options, "--installroot")
        #: Architectures learnt from simulate/query, for exact NEVRAs in install_command.
        self._archs: dict[tuple[str, str], str] = {}
        self._python_version: str | None = None

    @classmethod
    def _missing_tools(cls, env: Mapping[str, str] | None) -> tuple[str, ...]:
        return missing_tools(env)

    def _dnf(self) -> DnfCommand:
        """DNF 4, or :class:`ProviderUnavailable` saying what is missing."""
        dnf, other = find_dnf(self._env)
        missing = missing_tools(self._env)
        if dnf is None and other:
            raise ProviderUnavailable(_DNF5_MESSAGE, _DNF5_HINT)
        if dnf is None or missing:
            raise self._unavailable(", ".join(missing))
        return dnf

    def _require_tools(self) -> None:
        self._dnf()

    def _rpm_root(self) -> tuple[str, ...]:
        return ("--root", self._installroot) if self._installroot else ()

    def _resolve_argv(self, dnf: DnfCommand, specs: Sequence[str]) -> list[str]:
        """``dnf install --assumeno`` through :data:`.command.RESOLVE_SHIM`."""
        return [
            dnf.interpreter, "-I", "-c", RESOLVE_SHIM,
            *self._options, "install", "--assumeno", *TRANSACTION_SETTINGS, "--", *specs,
        ]  # fmt: skip

    # -- Provider protocol ------------------------------------------------------------------

    def query(self, packages: Sequence[str]) -> dict[str, SystemPackage]:
        """Installed and candidate versions for package names and provides, from ONE
        ``dnf repoquery`` and ONE ``rpm -q`` call, keyed by the spec asked.

        :func:`select_package` explains which package answers a provide. Specs nothing
        provides are absent.
        """
        specs = validate_specs(packages)
        if not specs:
            return {}
        dnf = self._dnf()
        result = self._run(
            [
                dnf.name, *self._options, "repoquery", "--quiet", "--latest-limit=1",
                f"--queryformat={REPOQUERY_FORMAT}",
                *(f"--whatprovides={spec}" for spec in specs), "--",
            ]
        )  # fmt: skip
        if not result.ok:
            raise ProviderError(
                "dnf could not report available packages: " + result.describe(),
                "Check the repository configuration (`dnf repolist`); dnf's own message is above.",
            )
        available = parse_package_list(result.stdout)
        installed = self._installed_providing(specs)
        native = self._native_arch()
        found = {}
        for spec in specs:
            answer = select_package(spec, available, installed, native_arch=native)
            if answer is not None:
                found[spec] = answer
                if answer.candidate and answer.architecture:
                    self._remember_arch(answer.name, answer.candidate, answer.architecture)
        return found

    def _installed_providing(self, specs: Sequence[str]) -> tuple[RpmPackage, ...]:
        """ONE ``rpm -q --whatprovides`` call. rpm exits with the number of specs nothing
        provides, so only its ``error:`` lines mean failure."""
        result = self._run(
            ["rpm", *self._rpm_root(), "-q", "--qf", RPM_FORMAT, "--whatprovides", "--", *specs]
        )
        check_rpm(result)
        return parse_package_list(result.stdout)

    def _native_arch(self) -> str | None:
        forced = option_value(self._options, "--forcearch")
        return forced or platform.machine() or None

    def _remember_arch(self, name: str, version: str, arch: str) -> None:
        with self._lock:
            self._archs[(name, str(RpmVersion.parse(version)))] = arch

    def simulate(self, packages: Sequence[str]) -> tuple[ClosureItem, ...]:
        """What ``dnf install`` would install or upgrade, from dnf's solver, changing nothing
        and without root (see the module docstring for how).

        Packages already installed at the version dnf would pick are not listed. A transaction
        that would remove packages (an ``Obsoletes``) is refused: sysnative must not take away
        what the system already has.
        """
        specs = validate_specs(packages)
        if not specs:
            return ()
        closure, removals = self._resolve(specs)
        if removals:
            raise ProviderError(
                f"Installing {', '.join(specs)} with dnf would remove {', '.join(removals)}.",
                "sysnative does not remove system packages. Resolve the conflict with dnf "
                "yourself, or take these projects from the index instead.",
            )
        return closure

    def _resolve(self, specs: Sequence[str]) -> tuple[tuple[ClosureItem, ...], tuple[str, ...]]:
        dnf = self._dnf()
        result = self._run(self._resolve_argv(dnf, specs))
        items = parse_transaction(result.stdout)
        if items is None or result.returncode not in (0, 1):
            raise simulation_error(dnf.name, specs, result)
        closure, removals = closure_from_transaction(items)
        for item in closure:
            if item.architecture:
                self._remember_arch(item.name, item.version, item.architecture)
        return closure, removals

    def to_pep440(self, distro_version: str) -> Version | None:
        return rpm_to_pep440(distro_version)

    def site_dirs(self) -> tuple[str, ...]:
        """Fedora's two site directories for the system Python 3.X (pure-Python packages in
        ``/usr/lib``, compiled ones in ``/usr/lib64``), under the install root if one is set.

        X comes from :meth:`python_version`.
        """
        version = self.python_version()
        return tuple(
            self._rooted(f"/usr/{lib}/python{version}/site-packages") for lib in ("lib", "lib64")
        )

    def interpreter(self) -> str:
        """Fedora's ``python3`` (under the install root if one is set): the one its
        ``python3-*`` packages are built for."""
        return self._rooted(INTERPRETER)

    def _rooted(self, path: str) -> str:
        return os.path.join(self._installroot, path.lstrip("/")) if self._installroot else path

    def python_version(self) -> str:
        """The system Python's ``3.X``, asked once per provider.

        From the interpreter itself when there is no install root (the interpreter is the
        truth); otherwise, or when it cannot be run, from the ``python(abi) = 3.X`` provide of
        the installed ``python3-libs``, then of the one dnf would install. :class:`ProviderError`
        when none of them answers.
        """
        with self._lock:
            if self._python_version is None:
                self._python_version = self._probe_python_version()
            return self._python_version

    def _probe_python_version(self) -> str:
        if not self._installroot and os.path.isfile(INTERPRETER):
            try:
                result = self._run(
                    [INTERPRETER, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                    timeout=60,
                )
            except ProviderUnavailable:
                result = None
            if result is not None and result.ok and re.fullmatch(r"3\.\d+", result.stdout.strip()):
                return result.stdout.strip()
        spec = "python(abi)"
        installed = self._run(
            ["rpm", *self._rpm_root(), "-q", "--qf", RPM_PROVIDES_FORMAT, "--whatprovides",
             "--", spec]
        )  # fmt: skip
        version = python_abi(parse_package_list(installed.stdout))
        if version is None:
            dnf = self._dnf()
            available = self._run(
                [dnf.name, *self._options, "repoquery", "--quiet", "--latest-limit=1",
                 f"--queryformat={REPOQUERY_FORMAT}", f"--whatprovides={spec}", "--"]
            )  # fmt: skip
            version = python_abi(parse_package_list(available.stdout)) if available.ok else None
        if version is None:
            where = f" in {self._installroot}" if self._installroot else ""
            raise ProviderError(
                f"Cannot tell which Python 3 version the system's packages are for{where}: "
                "no python3 to ask, and neither rpm nor dnf knows a package providing "
                "python(abi).",
                "Install python3 (dnf install python3), or check the dnf options and "
                "repositories sysnative uses.",
            )
        return version

    def prepare(self) -> bool:
        """Load dnf's repository metadata now (``dnf makecache``), so the first query does not
        wait for it. Always True: no answer is cached, so guessing ahead is never wasted."""
        dnf, _ = find_dnf(self._env)
        if dnf is None:
            return False
        try:
            self._run([dnf.name, *self._options, "makecache", "--quiet"])
        except ProviderUnavailable:
            return False
        return True

    # -- execution side (the steps are in .base) ----------------------------------------------

    def _install_argv(
        self, pairs: Sequence[tuple[str, str]], closure: Sequence[ClosureItem], lock_timeout: float
    ) -> list[str]:
        """``dnf [options] install -y ... -- NEVRA ...`` (behind ``sudo -n`` when that is how
        root is reached).

        One transaction of exact packages (``name-[epoch:]version-release.arch``; the arch
        comes from ``closure`` or from what this provider simulated or queried, and is left
        out when neither knows it, which still pins the version). ``-y`` so nothing stops for
        a question; ``install_weak_deps=False`` and ``strict=True`` match the simulation the
        plan came from;
        ``exit_on_lock=True`` makes dnf stop at once instead of waiting without end when
        another dnf holds its lock (:meth:`install` waits ``lock_timeout`` itself). No
        ``--allowerasing``: dnf refuses a transaction that would remove packages.
        """
        dnf = self._dnf_name()
        archs = {(c.name, rpm_spelling(c.version)): c.architecture for c in closure}
        with self._lock:
            learnt = dict(self._archs)
        specs = []
        for name, version in pairs:
            key = (name, rpm_spelling(version))
            arch = archs.get(key) or learnt.get(key)
            specs.append(nevra(name, version, arch if arch and ARCH_RE.fullmatch(arch) else None))
        return [
            dnf,
            *self._options,
            "install",
            "-y",
            *TRANSACTION_SETTINGS,
            "--setopt=exit_on_lock=True",
            "--",
            *specs,
        ]

    def _dnf_name(self) -> str:
        """The DNF 4 command name for printed commands (``dnf`` when it is not installed,
        so a message can still show the command)."""
        dnf, _ = find_dnf(self._env)
        return dnf.name if dnf is not None else "dnf"

    def _simulate_exact(
        self, pairs: Sequence[tuple[str, str]], closure: Sequence[ClosureItem]
    ) -> tuple[list[str], tuple[ClosureItem, ...], tuple[str, ...]]:
        """The exact NEVRAs through dnf's solver."""
        archs = {(c.name, rpm_spelling(c.version)): c.architecture for c in closure}
        specs = [nevra(n, v, archs.get((n, rpm_spelling(v)))) for n, v in pairs]
        simulated, removals = self._resolve(specs)
        return specs, simulated, removals

    def _lock_error(self, said: str, lock_timeout: float) -> PackageManagerLocked | None:
        """dnf's or rpm's lock; ``exit_on_lock`` makes dnf stop at once, so :meth:`install`
        tries again every second for ``lock_timeout`` seconds."""
        held = parse_lock_error(said)
        return lock_error(held, self._lock_path(held), lock_timeout) if held else None

    def _refused_root(self, said: str) -> str | None:
        if "has to be run with superuser privileges" in said:
            return "dnf refused to run without root"
        return None

    def _package_states(
        self, closure: Sequence[ClosureItem], said: str = ""
    ) -> tuple[PackageState, ...]:
        """rpm's record of every package in ``closure``, from ONE ``rpm -q`` call, with the
        scriptlets dnf's output ``said`` failed (rpm records no scriptlet outcome, so a
        package whose ``%post`` failed reads as installed in rpm)."""
        failures = parse_scriptlet_failures(said)
        names = validate_package_names(item.name for item in closure)
        if not names:
            return ()
        self._dnf()
        result = self._run(["rpm", *self._rpm_root(), "-q", "--qf", RPM_STATE_FORMAT, "--", *names])
        check_rpm(result)
        return package_states(closure, result.stdout, failures)

    def _step_error(
        self, result: Completed, states: Sequence[PackageState], privileges: Privileges
    ) -> SystemStepError:
        user_prefix = ["sudo"] if privileges.ok and privileges.prefix else []
        return transaction_error(result, states, [*user_prefix, self._dnf_name(), *self._options])

    def _lock_path(self, held: LockHolder) -> str:
        """The file behind dnf's named locks (dnf prints only ``RPMDB``, ``metadata``...)."""
        if held.kind == "rpm":
            return held.lock
        persistdir = setopt_value(self._options, "persistdir") or "/var/lib/dnf"
        cachedir = setopt_value(self._options, "cachedir") or "/var/cache/dnf"
        logdir = setopt_value(self._options, "logdir") or "/var/log"
        where = {
            "RPMDB": os.path.join(persistdir, "rpmdb_lock.pid"),
            "metadata": os.path.join(cachedir, "metadata_lock.pid"),
            "cachedir": os.path.join(cachedir, "download_lock.pid"),
            "log": os.path.join(logdir, "log_lock.pid"),
        }.get(held.lock)
        return self._rooted(where) if where else held.lock


_DNF5_MESSAGE = (
    "This machine's dnf is DNF 5, which sysnative does not support yet, and DNF 4 (the "
    "`dnf-3` or `dnf4` command) is not installed."
)
_DNF5_HINT = (
    "Install DNF 4 next to DNF 5 (`dnf provides /usr/bin/dnf-3` names the package), or "
    "install without --system-native to take everything from the index."
)
