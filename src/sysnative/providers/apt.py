"""The apt provider: Debian and derivatives, through ``apt-cache``, ``apt-get`` and ``dpkg-query``.

Every command goes through :func:`sysnative.runner.run` with an argv list, and every package
name is checked against Debian's package-name grammar first. The grammar check matters for more
than shell safety: apt treats an argument that is not an exact package name as a regular
expression or glob (``python3-nump.`` would "install" every ``python3-numpy*`` package), and an
argument starting with ``-`` as an option. So, on top of validation:

* ``--`` ends option parsing before the names. apt's command-line parser (``apt-cache``,
  ``apt-get``) and dpkg-query all honour it: ``apt-cache policy -- -h`` prints nothing instead
  of the help text.
* ``-o APT::Cmd::Pattern-Only=true`` turns off apt's regex/glob fallback for names (apt 2.0
  and later; older apt ignores unknown options, so the checks below still apply there).
* ``query`` only reads policy blocks whose header is exactly a requested name.

The text parsers are pure module-level functions so they can be tested on recorded output.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shlex
import shutil
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from packaging.version import Version

from sysnative.cache import atomic_write
from sysnative.errors import ProviderError, ProviderUnavailable
from sysnative.models import ClosureItem, SystemPackage
from sysnative.providers.debversion import debian_to_pep440
from sysnative.runner import CommandNotFound, Completed, run

__all__ = [
    "INTERPRETER",
    "SITE_DIRS",
    "AptProvider",
    "parse_apt_errors",
    "parse_dpkg_query",
    "parse_policy",
    "parse_removals",
    "parse_simulation",
    "parse_unmet_dependencies",
    "validate_package_names",
]

#: Debian Policy 5.6.1: lower case letters, digits, ``+ - .``; at least two characters;
#: starts with a letter or digit.
PACKAGE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")

#: Where Debian's ``python3-*`` packages install modules, for every Python 3 version.
INTERPRETER = "/usr/bin/python3"
SITE_DIRS = ("/usr/lib/python3/dist-packages",)

#: The tools every operation needs; checked up front so a missing one is explained once.
TOOLS = ("apt-cache", "apt-get", "dpkg-query")

#: Disable apt's regex/glob interpretation of package arguments (see module docstring).
_PATTERN_ONLY = ("-o", "APT::Cmd::Pattern-Only=true")

_UNAVAILABLE_MESSAGE = (
    "apt was not found on this machine (missing: {missing}). sysnative --provider apt needs "
    "Debian or a derivative such as Ubuntu, where apt-cache, apt-get and dpkg-query are part "
    "of the base system."
)
_UNAVAILABLE_HINT = (
    "Run sysnative on a Debian-based system, choose the provider that matches this "
    "distribution, or install without --system-native to take everything from the index."
)


# --------------------------------------------------------------------------------------------
# Pure parsers
# --------------------------------------------------------------------------------------------

_POLICY_HEADER_RE = re.compile(r"^(\S+):$")
_POLICY_FIELD_RE = re.compile(r"^\s+(Installed|Candidate):\s*(\S+)\s*$")


def _none_if_absent(value: str) -> str | None:
    return None if value == "(none)" else value


def parse_policy(text: str) -> dict[str, SystemPackage]:
    """Read ``apt-cache policy`` output: one :class:`SystemPackage` per block.

    A block starts with an unindented ``name:`` header (``name:arch:`` for foreign
    architectures, kept verbatim) followed by indented ``Installed:``/``Candidate:`` lines;
    ``(none)`` reads as ``None``. The version table is not needed. When a name appears twice
    the first block wins. ``architecture`` is left ``None``: the policy output does not say it.
    """
    found: dict[str, SystemPackage] = {}
    current: str | None = None
    fields: dict[str, str | None] = {}

    def flush() -> None:
        if current is not None and current not in found:
            found[current] = SystemPackage(
                name=current,
                candidate=fields.get("Candidate"),
                installed=fields.get("Installed"),
            )

    for line in text.splitlines():
        header = _POLICY_HEADER_RE.match(line)
        if header:
            flush()
            current = header.group(1)
            fields = {}
            continue
        field = _POLICY_FIELD_RE.match(line)
        if field and current is not None and field.group(1) not in fields:
            fields[field.group(1)] = _none_if_absent(field.group(2))
    flush()
    return found


#: ``Inst NAME[:ARCH] [OLDVER] (NEWVER RELEASE... [ARCH])`` with an optional trailing ``[]``.
_INST_RE = re.compile(
    r"^Inst (?P<name>[^\s\[]+)"
    r"(?: \[(?P<old>[^\]]*)\])?"
    r" \((?P<version>\S+)(?P<release>[^\[\)]*)(?:\[(?P<arch>[^\]]+)\])?\)"
)
_REMV_RE = re.compile(r"^Remv (?P<name>\S+)")


def parse_simulation(text: str) -> tuple[ClosureItem, ...]:
    """The ``Inst`` lines of ``apt-get install -s`` output, in apt's order.

    ``Conf`` lines repeat the same packages and are skipped. A foreign-architecture name
    (``libfoo:i386``) is split into name and architecture. ``replaces`` is the bracketed
    version installed now, present only for upgrades (and downgrades).
    """
    items: list[ClosureItem] = []
    for line in text.splitlines():
        m = _INST_RE.match(line)
        if not m:
            continue
        name, _, qualifier = m.group("name").partition(":")
        items.append(
            ClosureItem(
                name=name,
                version=m.group("version"),
                architecture=m.group("arch") or qualifier or None,
                replaces=m.group("old") or None,
            )
        )
    return tuple(items)


def parse_removals(text: str) -> tuple[str, ...]:
    """Names on ``Remv`` lines: packages the simulated install would remove."""
    return tuple(m.group("name") for m in map(_REMV_RE.match, text.splitlines()) if m)


def parse_apt_errors(text: str) -> tuple[str, ...]:
    """apt's ``E:`` lines, verbatim, in order."""
    return tuple(line.strip() for line in text.splitlines() if line.startswith("E:"))


def parse_unmet_dependencies(text: str) -> tuple[str, ...]:
    """The explanation lines under "The following packages have unmet dependencies:".

    They are the part of a failed simulation that names the culprit
    (`` d : Depends: nothere but it is not installable``).
    """
    lines = text.splitlines()
    out: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("The following packages have unmet dependencies"):
            for follow in lines[i + 1 :]:
                if not follow.startswith(" ") or not follow.strip():
                    break
                out.append(follow.strip())
            break
    return tuple(out)


def parse_dpkg_query(text: str) -> dict[str, str]:
    """Read ``${Package}\\t${Status}\\t${Version}`` lines; keep only installed packages.

    dpkg also knows packages that are removed but keep their configuration files
    (``deinstall ok config-files``) or are half-installed; only a status whose last word is
    ``installed`` means the files are on disk.
    """
    versions: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 3:
            continue
        name, status, version = (p.strip() for p in parts)
        if status.split()[-1:] == ["installed"] and version:
            versions.setdefault(name, version)
    return versions


def validate_package_names(packages: Iterable[str]) -> tuple[str, ...]:
    """The names, de-duplicated in order; :class:`ProviderError` for any invalid one.

    Runs before any command, so a hostile or mistyped name never reaches apt.
    """
    names: list[str] = []
    for name in packages:
        if not isinstance(name, str) or not PACKAGE_NAME_RE.fullmatch(name):
            raise ProviderError(
                f"{name!r} is not a valid Debian package name, so it was not passed to apt.",
                "Debian package names use only lower-case letters, digits and '+', '-', '.', "
                "start with a letter or digit and are at least two characters long. Check the "
                "mapping entry that produced this name.",
            )
        if name not in names:
            names.append(name)
    return tuple(names)


# --------------------------------------------------------------------------------------------
# The provider
# --------------------------------------------------------------------------------------------


class AptProvider:
    """:class:`sysnative.providers.base.Provider` for apt-based systems."""

    name = "apt"
    ecosystem = "debian"

    def __init__(
        self, *, env: Mapping[str, str] | None = None, cache_dir: Path | None = None
    ) -> None:
        #: Extra environment for every command (``APT_CONFIG`` for an isolated apt in tests).
        self._env: dict[str, str] = dict(env) if env else {}
        #: Where to keep apt's binary package cache when the system's apt config disables it.
        self._cache_dir = cache_dir
        self._options: tuple[str, ...] | None = None
        #: dpkg's status file, apt's lists dir and config dir (for the simulation cache key).
        self._state_paths: tuple[str, ...] = ()
        self._architecture: str | None = None
        self._architecture_known = False
        #: Guards the lazily probed settings above: planning may query from two threads.
        self._lock = threading.Lock()

    # -- availability -------------------------------------------------------------------

    @staticmethod
    def available(env: Mapping[str, str] | None = None) -> bool:
        """Whether apt-cache, apt-get and dpkg-query are on ``PATH`` (``env``'s, if given)."""
        return not _missing_tools(env)

    def _require_tools(self) -> None:
        missing = _missing_tools(self._env)
        if missing:
            raise ProviderUnavailable(
                _UNAVAILABLE_MESSAGE.format(missing=", ".join(missing)), _UNAVAILABLE_HINT
            )

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
            if self._options is None:
                self._options = self._probe_options()
            return self._options

    def _probe_options(self) -> tuple[str, ...]:
        options = list(_PATTERN_ONLY)
        if self._cache_dir is not None:
            probe = self._run(
                [
                    "apt-config", "shell",
                    "PKGCACHE", "Dir::Cache::pkgcache",
                    "STATUS", "Dir::State::status/f",
                    "LISTS", "Dir::State::lists/d",
                    "ETC", "Dir::Etc/d",
                ]
            )  # fmt: skip
            values = _parse_apt_config_shell(probe.stdout) if probe.ok else {}
            self._state_paths = tuple(
                values[k] for k in ("STATUS", "LISTS", "ETC") if values.get(k)
            )
            if probe.ok and not values.get("PKGCACHE"):
                where = self._private_dir()
                options += [
                    "-o",
                    f"Dir::Cache::pkgcache={where / 'pkgcache.bin'}",
                    "-o",
                    f"Dir::Cache::srcpkgcache={where / 'srcpkgcache.bin'}",
                ]
        return tuple(options)

    def _private_dir(self) -> Path:
        assert self._cache_dir is not None
        apt_config = self._env.get("APT_CONFIG", os.environ.get("APT_CONFIG", ""))
        key = hashlib.sha256(apt_config.encode()).hexdigest()
        where = self._cache_dir / "apt" / key[:16]
        where.mkdir(parents=True, exist_ok=True)
        return where

    def _simulation_key(self, argv: Sequence[str]) -> str | None:
        """A key that changes whenever apt's answer could: the command, dpkg's status file,
        the package lists and apt's configuration files (their names, sizes and mtimes)."""
        if self._cache_dir is None or not self._state_paths:
            return None
        digest = hashlib.sha256("\0".join(argv).encode())
        for root in self._state_paths:
            try:
                if os.path.isfile(root):
                    st = os.stat(root)
                    digest.update(f"{root}:{st.st_size}:{st.st_mtime_ns}".encode())
                    continue
                for dirpath, _dirs, files in sorted(os.walk(root)):
                    for name in sorted(files):
                        st = os.stat(os.path.join(dirpath, name))
                        digest.update(f"{dirpath}/{name}:{st.st_size}:{st.st_mtime_ns}".encode())
            except OSError:
                return None
        return digest.hexdigest()

    def _run(self, argv: Sequence[str]) -> Completed:
        try:
            return run(argv, env=self._env or None)
        except CommandNotFound as exc:
            raise ProviderUnavailable(
                _UNAVAILABLE_MESSAGE.format(missing=exc.program), _UNAVAILABLE_HINT
            ) from exc

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
        result = self._run(["apt-cache", *self._apt_options(), "policy", "--", *names])
        if not result.ok:
            raise ProviderError(
                "apt-cache could not report package versions: " + result.describe(),
                "Run `apt-get update` (as root) and try again; apt's own message is above.",
            )
        blocks = parse_policy(result.stdout)
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
        argv = [
            "apt-get",
            *self._apt_options(),
            "install",
            "-s",
            "--no-install-recommends",
            "-y",
            "--",
            *names,
        ]
        # The simulation is the slowest part of planning (0.5-1 s: apt solves the whole
        # dependency problem). Its answer only depends on the inputs in the key, so an
        # unchanged system answers from the cache.
        key = self._simulation_key(argv)
        cached = self._private_dir() / f"simulate-{key}.txt" if key else None
        if cached is not None and cached.is_file():
            stdout = cached.read_text(encoding="utf-8")
        else:
            result = self._run(argv)
            if not result.ok:
                raise _simulation_error(names, result)
            stdout = result.stdout
            if cached is not None:
                atomic_write(cached, stdout.encode("utf-8"))
        removals = parse_removals(stdout)
        if removals:
            raise ProviderError(
                f"Installing {', '.join(names)} with apt would remove {', '.join(removals)}.",
                "sysnative does not remove system packages. Resolve the conflict with apt "
                "yourself, or take these projects from the index instead.",
            )
        return parse_simulation(stdout)

    def to_pep440(self, distro_version: str) -> Version | None:
        return debian_to_pep440(distro_version)

    def site_dirs(self) -> tuple[str, ...]:
        return SITE_DIRS

    def interpreter(self) -> str:
        """Debian's ``python3``: the one its ``python3-*`` packages are built for."""
        return INTERPRETER

    def prepare(self) -> None:
        """Build apt's binary package cache if it is missing or stale (0.5 s on Debian 12).

        ``apt-cache policy`` without names reads every package list and writes the cache, and
        prints only the sources' priorities.
        """
        if not _missing_tools(self._env):
            self._run(["apt-cache", *self._apt_options(), "policy"])

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
        if result.returncode not in (0, 1):
            raise ProviderError(
                "dpkg-query could not report installed packages: " + result.describe(),
                "Check that the dpkg database is not damaged (`dpkg --audit`).",
            )
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


def _missing_tools(env: Mapping[str, str] | None) -> tuple[str, ...]:
    path = env.get("PATH") if env else None
    return tuple(tool for tool in TOOLS if shutil.which(tool, path=path) is None)


def _simulation_error(names: Sequence[str], result: Completed) -> ProviderError:
    """Turn a failed ``apt-get install -s`` into a message that quotes apt."""
    output = result.stderr + "\n" + result.stdout
    errors = parse_apt_errors(result.stderr) + parse_apt_errors(result.stdout)
    unmet = parse_unmet_dependencies(result.stdout)
    detail = list(unmet) + list(errors)
    if not detail:
        tail = output.strip().splitlines()[-5:]
        detail = [line.strip() for line in tail if line.strip()]
    quoted = "\n".join("    " + line for line in detail)
    message = (
        f"apt cannot install {', '.join(names)} "
        f"(`apt-get install -s` exited with status {result.returncode}):\n{quoted}"
    )
    if "Unable to locate package" in output:
        hint = (
            "The package is not in apt's lists. Check the name in the mapping, or refresh "
            "the lists with `apt-get update` (as root) and try again."
        )
    elif "could not get lock" in output.lower():
        hint = "Another package manager holds apt's lock; wait for it to finish and try again."
    elif unmet or "held broken packages" in output:
        hint = (
            "apt cannot satisfy the dependencies of these packages on this system. Run "
            "`apt-get install -s --no-install-recommends " + " ".join(names) + "` to see "
            "apt's full explanation, or take these projects from the index instead."
        )
    else:
        hint = (
            "Run `apt-get install -s --no-install-recommends "
            + " ".join(names)
            + "` to see apt's full explanation."
        )
    return ProviderError(message, hint)


def _parse_apt_config_shell(text: str) -> dict[str, str]:
    """``NAME='value'`` lines from ``apt-config shell`` (values are shell-quoted)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            parts = shlex.split(value) if value else []
            out[name.strip()] = parts[0] if parts else ""
    return out
