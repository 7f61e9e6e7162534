"""The apt provider: Debian and derivatives, through ``apt-cache``, ``apt-get`` and ``dpkg-query``.

Every command goes through the provider's one subprocess seam (:mod:`sysnative.providers.base`)
with an argv list, and every package name is checked against Debian's package-name grammar
first (:mod:`.names`). On top of validation:

* ``--`` ends option parsing before the names. apt's command-line parser (``apt-cache``,
  ``apt-get``) and dpkg-query all honour it: ``apt-cache policy -- -h`` prints nothing instead
  of the help text.
* ``-o APT::Cmd::Pattern-Only=true`` turns off apt's regex/glob fallback for names (apt 2.0
  and later; older apt ignores unknown options, so the checks below still apply there).
* ``query`` only reads policy blocks whose header is exactly a requested name.

What apt prints is read by the pure parsers of :mod:`.parse`; answers are kept by system
state in :mod:`.answers`; the python3-apt helper process is :mod:`.session`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.version import Version

from sysnative.errors import (
    PackageManagerLocked,
    ProviderError,
    ProviderUnavailable,
    SystemStepError,
)
from sysnative.models import ClosureItem, SystemPackage
from sysnative.protocols import Privileges
from sysnative.providers.apt import answers
from sysnative.providers.apt.messages import (
    check_dpkg_query,
    lock_error,
    simulation_error,
    transaction_error,
)
from sysnative.providers.apt.names import GRAMMAR, validate_package_names
from sysnative.providers.apt.parse import (
    DPKG_STATE_FORMAT,
    PackageState,
    package_states,
    parse_dpkg_query,
    parse_policy,
    parse_removals,
    parse_simulation,
)
from sysnative.providers.apt.session import AptSession
from sysnative.providers.apt.version import debian_to_pep440
from sysnative.providers.base import PackageManagerProvider
from sysnative.runner import Completed

logger = logging.getLogger(__name__)

__all__ = [
    "INTERPRETER",
    "SITE_DIRS",
    "AptProvider",
]

#: Where Debian's ``python3-*`` packages install modules, for every Python 3 version.
INTERPRETER = "/usr/bin/python3"
SITE_DIRS = ("/usr/lib/python3/dist-packages",)

#: The tools every operation needs; checked up front so a missing one is explained once.
TOOLS = ("apt-cache", "apt-get", "dpkg-query")

#: Disable apt's regex/glob interpretation of package arguments (see module docstring).
_PATTERN_ONLY_SETTING = ("APT::Cmd::Pattern-Only", "true")
_PATTERN_ONLY = ("-o", "=".join(_PATTERN_ONLY_SETTING))


class AptProvider(PackageManagerProvider[PackageState]):
    """:class:`sysnative.protocols.Provider` for apt-based systems."""

    name = "apt"
    ecosystem = "debian"
    grammar = GRAMMAR
    recovery_advice = (
        "`dpkg --audit` lists packages dpkg left unfinished, and `dpkg --configure -a` "
        "(as root) finishes configuring them.",
        ("dpkg --configure -a",),
    )
    unavailable_message = (
        "apt was not found on this machine (missing: {missing}). sysnative --provider apt "
        "needs Debian or a derivative such as Ubuntu, where apt-cache, apt-get and dpkg-query "
        "are part of the base system."
    )
    unavailable_hint = (
        "Run sysnative on a Debian-based system, choose the provider that matches this "
        "distribution, or install without --system-native to take everything from the index."
    )
    changed_since_plan = (
        "The package lists or the installed packages changed since the plan was made (an "
        "`apt-get update`, or another install). Nothing was changed; make the plan again."
    )
    #: ``DPkg::Lock::Timeout`` makes apt itself wait for dpkg's lock.
    tool_waits_for_lock = True

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        cache_dir: Path | None = None,
        python_apt: bool = True,
    ) -> None:
        super().__init__(env=env, cache_dir=cache_dir)
        #: Whether to try the python3-apt helper (:mod:`sysnative.providers.apt.session`)
        #: before apt's commands.
        self._python_apt = python_apt
        #: The ``-o`` options of every apt-cache / apt-get call, once probed.
        self._apt_settings: tuple[str, ...] | None = None
        #: dpkg's status file, apt's lists dir and config dir (for the simulation cache key).
        self._state_paths: tuple[str, ...] = ()
        self._architecture: str | None = None
        self._architecture_known = False
        #: The python3-apt helper session, once started.
        self._session: AptSession | None = None
        #: Ubuntu and its derivatives have a mapping of their own; everything else apt-based
        #: reads Debian's.
        self.ecosystem = _ecosystem()

    @classmethod
    def _missing_tools(cls, env: Mapping[str, str] | None) -> tuple[str, ...]:
        path = env.get("PATH") if env else None
        return tuple(tool for tool in TOOLS if shutil.which(tool, path=path) is None)

    # -- apt's settings, its answers kept by system state, the helper ----------------------

    def _apt_options(self) -> tuple[str, ...]:
        """``-o`` options for every apt-cache / apt-get call.

        Pattern-only matching always. And when the system's apt configuration switches off the
        binary package cache (container images do, with ``Dir::Cache::pkgcache ""``), every apt
        call re-parses all package lists (0.4 s for ``apt-cache policy`` on Debian 12 instead
        of 0.02 s): then keep that cache in sysnative's cache dir. apt checks it against the
        lists itself and rebuilds it when they change; it is keyed by ``APT_CONFIG`` so two
        configurations never share one.
        """
        with self._lock:
            if self._apt_settings is None:
                self._apt_settings = self._probe_options()
            return self._apt_settings

    def _probe_options(self) -> tuple[str, ...]:
        options = list(_PATTERN_ONLY)
        if self._cache_dir is not None:
            probe = self._run(answers.CONFIG_PROBE)
            self._state_paths, pkgcache = (
                answers.read_config(probe.stdout) if probe.ok else ((), "")
            )
            if probe.ok and not pkgcache:
                options += answers.binary_cache_options(self._private_dir())
        return tuple(options)

    def _private_dir(self) -> Path:
        assert self._cache_dir is not None
        return answers.private_dir(self._cache_dir, self._env)

    def _state_digest(self) -> str | None:
        """See :func:`.answers.state_digest`; ``None`` without a cache dir."""
        if self._cache_dir is None or not self._state_paths:
            return None
        return answers.state_digest(self._state_paths)

    def _remember_state(self, state: str | None) -> None:
        if state is not None:
            answers.remember_state(self._private_dir(), state)

    def _answered_before(self) -> bool:
        """Whether apt answered from sysnative's cache dir on this machine before."""
        if self._cache_dir is None:
            return True
        try:
            where = self._private_dir()
        except OSError:
            return True
        return answers.answered_before(where)

    def _session_for(self, *, start: bool) -> AptSession | None:
        """The python3-apt helper session: started now if ``start``, else only if running."""
        with self._lock:
            if self._session is None and start and self._python_apt:
                self._session = AptSession(INTERPRETER, self._helper_settings(), self._env or None)
            return self._session

    def _helper_settings(self) -> list[tuple[str, str]]:
        """What the helper sets in apt's configuration: what every apt command here gets
        (see :meth:`_apt_options`), and ``--no-install-recommends``.

        The binary caches in sysnative's cache dir are ``KEY?=VALUE`` settings, which the
        helper applies only where apt's own configuration leaves the key empty: the same
        test :meth:`_apt_options` makes with ``apt-config``, made by the helper itself, so
        it can start without waiting for ``apt-config``. One difference: the helper does
        not create the source package cache. Writing it costs a cold run 0.1-0.15 s on the
        critical path, and it only pays off when dpkg's status changes while the lists do
        not, that is after an install, whose own apt-get check writes it; an existing one
        is used (and kept up to date) as apt-get would.
        """
        settings = [_PATTERN_ONLY_SETTING]
        if self._cache_dir is not None:
            where = self._private_dir()
            source = where / "srcpkgcache.bin"
            settings += [
                ("Dir::Cache::pkgcache?", str(where / "pkgcache.bin")),
                ("Dir::Cache::srcpkgcache?", str(source) if source.exists() else ""),
            ]
        settings.append(("APT::Install-Recommends", "false"))
        return settings

    def _helper_simulation(self, names: Sequence[str]) -> str | None:
        """``apt-get install -s`` output lines from the helper, or ``None``.

        Only with apt 2.x, the apt whose install command the helper's marking is tested
        against; another apt may choose differently, so its own command answers there.
        """
        session = self._session_for(start=True)
        if session is None:
            return None
        version = session.apt_version()
        if not version.startswith("2."):
            if version:
                logger.debug("apt %s: simulating with apt-get itself", version)
            return None
        return session.ask("simulate", names)

    def _simulation_argv(self, specs: Sequence[str]) -> list[str]:
        """``apt-get install -s`` (changes nothing, takes no lock) of ``specs``."""
        return [
            "apt-get", *self._apt_options(), "install", "-s", "--no-install-recommends", "-y",
            "--", *specs,
        ]  # fmt: skip

    def _close_session(self) -> None:
        with self._lock:
            session, self._session = self._session, None
            self._python_apt = False  # the system is changing: only apt's commands from now
        if session is not None:
            session.close()

    # -- Provider protocol ------------------------------------------------------------------

    def query(self, packages: Sequence[str]) -> dict[str, SystemPackage]:
        """Installed and candidate versions from ONE ``apt-cache policy`` call.

        Unknown names are absent. A purely virtual package is present with ``candidate``
        ``None``. Blocks apt prints for any name other than the requested ones (regex or
        virtual-package answers on old apt) are ignored.
        """
        names = validate_package_names(packages)
        if not names:
            return {}
        self._require_tools()
        # A running helper has apt's cache open already (or is building it, which
        # apt-cache would have to do too); apt-cache answers otherwise, in 20 ms.
        session = self._session_for(start=False)
        text = session.ask("policy", names) if session is not None else None
        if text is None:
            result = self._run(["apt-cache", *self._apt_options(), "policy", "--", *names])
            if not result.ok:
                raise ProviderError(
                    "apt-cache could not report package versions: " + result.describe(),
                    "Run `apt-get update` (as root) and try again; apt's own message is above.",
                )
            text = result.stdout
        self._remember_state(self._state_digest())
        blocks = parse_policy(text)
        architecture = self.native_architecture()
        return {
            name: dataclasses.replace(blocks[name], architecture=architecture)
            for name in names
            if name in blocks
        }

    def simulate(self, packages: Sequence[str]) -> tuple[ClosureItem, ...]:
        """What ``apt-get install`` would install or upgrade, from a simulation (``-s``).

        ``--no-install-recommends``: the closure must be exactly what the install step
        installs, and recommended packages are optional extras the user did not ask for; the
        install step passes the same flag. Simulation takes no dpkg lock (not even as root),
        so a running apt or unattended-upgrades does not block planning. Packages already
        installed at the candidate version are not listed. A simulation that would remove
        packages is refused: sysnative must not take away what the system already has.
        """
        names = validate_package_names(packages)
        if not names:
            return ()
        self._require_tools()
        argv = self._simulation_argv(names)
        # The simulation is the slowest part of planning; an unchanged system answers from
        # the cache (.answers), otherwise the python3-apt helper from its open cache (tens of
        # ms), apt-get if it cannot.
        state = self._state_digest()
        stdout = None
        if state is not None:
            stdout = answers.cached_simulation(self._private_dir(), state, argv)
        if stdout is None:
            stdout = self._helper_simulation(names)
            if stdout is None:
                result = self._run(argv)
                if not result.ok:
                    raise simulation_error(names, result)
                stdout = result.stdout
            if state is not None:
                answers.store_simulation(self._private_dir(), state, argv, stdout)
        self._remember_state(state)
        removals = parse_removals(stdout)
        if removals:
            raise self._removal_error(names, removals)
        return parse_simulation(stdout)

    def to_pep440(self, distro_version: str) -> Version | None:
        return debian_to_pep440(distro_version)

    def site_dirs(self) -> tuple[str, ...]:
        return SITE_DIRS

    def interpreter(self) -> str:
        """Debian's ``python3``: the one its ``python3-*`` packages are built for."""
        return INTERPRETER

    def prepare(self) -> bool:
        """Open apt's cache, building its binary package cache if it is missing or stale
        (0.5 s on Debian 12), so that the questions after this one are quick.

        The python3-apt helper opens the cache and keeps it open; without it, ``apt-cache
        policy`` without names reads every package list, writes the binary cache, and prints
        only the sources' priorities. Returns False, doing nothing, when apt already answered
        against exactly this system state (its cache is built and the simulations asked so
        far are cached, so guessing ahead would mostly burn CPU), True otherwise.
        """
        if self._missing_tools(self._env):
            return False
        if not self._answered_before():
            self._session_for(start=True)  # cold for certain: no need to wait for apt-config
        try:
            options = self._apt_options()
            state = self._state_digest()
            if state is not None and answers.state_marker(self._private_dir(), state).exists():
                return False
            session = self._session_for(start=True)
            # Asked by every simulation: ask now, while apt's cache is being opened.
            self.native_architecture()
            if session is None or not session.apt_version():
                self._run(["apt-cache", *options, "policy"])
            return True
        except BaseException:
            # Nobody may ask the helper anything for a while: share its CPU again now.
            started = self._session_for(start=False)
            if started is not None:
                started.release_cpu()
            raise

    # -- execution side (the steps are in .base) ----------------------------------------------

    def _install_argv(
        self, pairs: Sequence[tuple[str, str]], closure: Sequence[ClosureItem], lock_timeout: float
    ) -> list[str]:
        """``env DEBIAN_FRONTEND=noninteractive apt-get ... install -- pkg=ver ...`` (behind
        ``sudo -n`` when that is how root is reached).

        One transaction, exact versions, nothing that can stop for a question: ``-y``,
        debconf's noninteractive frontend, and ``--force-confdef --force-confold`` so dpkg
        keeps a locally changed configuration file instead of asking. ``--no-install-
        recommends`` matches the simulation the plan came from; ``--no-remove`` makes apt abort
        rather than remove anything. ``DPkg::Lock::Timeout`` bounds the wait for another
        package manager. ``env`` carries the variables through sudo (which resets the
        environment) and makes the printed command complete; an ``APT_CONFIG`` given to the
        provider is part of it. The binary-cache options of the query side are left out: as
        root, apt would write them into the user's cache directory.
        """
        seconds = max(0, math.ceil(lock_timeout))
        variables = ["DEBIAN_FRONTEND=noninteractive"]
        if "APT_CONFIG" in self._env:
            variables.append(f"APT_CONFIG={self._env['APT_CONFIG']}")
        return [
            "env",
            *variables,
            "apt-get", *_PATTERN_ONLY, "-o", f"DPkg::Lock::Timeout={seconds}",
            "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
            "install", "-y", "--no-install-recommends", "--no-remove",
            "--", *(f"{name}={version}" for name, version in pairs),
        ]  # fmt: skip

    def _simulate_exact(
        self, pairs: Sequence[tuple[str, str]], closure: Sequence[ClosureItem]
    ) -> tuple[list[str], tuple[ClosureItem, ...], tuple[str, ...]]:
        """``apt-get install -s`` of ``pkg=version``, never from the simulation cache."""
        self._require_tools()
        specs = [f"{name}={version}" for name, version in pairs]
        result = self._run(self._simulation_argv(specs))
        if not result.ok:
            raise simulation_error(specs, result)
        return specs, parse_simulation(result.stdout), parse_removals(result.stdout)

    def _before_install(self) -> None:
        self._close_session()

    def _lock_error(self, said: str, lock_timeout: float) -> PackageManagerLocked | None:
        return lock_error(said, lock_timeout)

    def _refused_root(self, said: str) -> str | None:
        return "apt could not open dpkg's lock files" if "are you root?" in said else None

    def _package_states(
        self, closure: Sequence[ClosureItem], said: str = ""
    ) -> tuple[PackageState, ...]:
        """dpkg's record of every package in ``closure``, from ONE ``dpkg-query`` call.

        A configuration can make apt exit 0 with packages left unpacked, and a failing
        postinst leaves its package half-configured next to others that did install: dpkg
        is asked whatever apt said.
        """
        names = validate_package_names(item.name for item in closure)
        if not names:
            return ()
        self._require_tools()
        result = self._run(["dpkg-query", "-W", "-f", DPKG_STATE_FORMAT, "--", *names])
        check_dpkg_query(result)
        return package_states(closure, result.stdout)

    def _audit(self) -> tuple[str, ...]:
        """``dpkg --audit``: every package of the system in an unfinished state, in dpkg's
        words. Empty when all is well or when dpkg cannot be asked."""
        try:
            result = self._run(["dpkg", "--audit"])
        except ProviderUnavailable:
            return ()
        return tuple(line.rstrip() for line in result.stdout.splitlines() if line.strip())

    def _step_error(
        self, result: Completed, states: Sequence[PackageState], privileges: Privileges
    ) -> SystemStepError:
        return transaction_error(result, states, self._audit(), self._env, privileges)

    # -- extras ----------------------------------------------------------------------------------

    def installed_versions(self, packages: Sequence[str]) -> dict[str, str]:
        """Installed versions from ONE ``dpkg-query`` call; names not installed are absent.

        dpkg-query exits 1 when some names are unknown but still prints the known ones, so
        status 1 is not a failure here; only 2 and above (dpkg's "fatal") are.
        """
        names = validate_package_names(packages)
        if not names:
            return {}
        self._require_tools()
        result = self._run(
            ["dpkg-query", "-W", "-f", "${Package}\t${Status}\t${Version}\n", "--", *names]
        )
        check_dpkg_query(result)
        found = parse_dpkg_query(result.stdout)
        return {name: found[name] for name in names if name in found}

    def native_architecture(self) -> str | None:
        """``dpkg --print-architecture``, asked once per provider; ``None`` if it fails."""
        with self._lock:
            if not self._architecture_known:
                self._architecture_known = True
                try:
                    result = self._run(["dpkg", "--print-architecture"])
                except ProviderUnavailable:
                    return None
                arch = result.stdout.strip()
                self._architecture = arch if result.ok and arch else None
            return self._architecture


def _ecosystem() -> str:
    from sysnative.machine import linux_distribution

    distro = linux_distribution()
    return "ubuntu" if "ubuntu" in (distro.id(), *distro.like().split()) else "debian"
