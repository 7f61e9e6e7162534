"""The conda provider: the active conda environment, through micromamba, mamba or conda.

Target: the environment in ``$CONDA_PREFIX`` (the provider's ``env`` first, then the
process environment). Every command names it with ``-p PREFIX``, so nothing ever lands in
another environment. No root is needed: the environment must be writable by the user.

Tools. ``micromamba`` is preferred, then ``mamba``, then ``conda`` (the first found on
``PATH``): all three take the same ``install --dry-run --json --yes -p PREFIX -- SPEC...``
command line, and the libmamba-based ones solve much faster. Their ``--json`` output differs,
and every parser here reads all of them (sources in ``fixtures/conda/README.md``):

* conda (and mamba 1.x, which prints conda's JSON): ``{"actions": {"LINK": [...], "UNLINK":
  [...], "FETCH": [...], "PREFIX": ...}, "dry_run": true, "success": true}``. LINK and UNLINK
  entries are ``PackageRecord.dist_fields_dump()``: ``name``, ``version``, ``build_string``,
  ``build_number``, ``channel`` (a name), ``platform`` (the subdir); FETCH entries are whole
  repodata records (``build``, ``subdir``, ``depends`` ...). conda 4.3 printed ``"actions"``
  as a list of such dicts. Errors: ``{"exception_name": "PackagesNotFoundError", "packages":
  [...], "message": ...}``.
* micromamba and mamba 2.x (libmamba): the same envelope, but every LINK/UNLINK/FETCH entry is
  libmamba's ``PackageInfo`` JSON, which has ``build`` AND ``build_string``, ``subdir`` and a
  ``channel`` URL. Nothing to do: no ``actions`` key. Errors: ``{"success": false,
  "solver_problems": ["nothing provides requested foo", ...]}``.
* ``conda search --json`` maps each name to a list of repodata records; ``micromamba search
  --json`` (``repoquery search``) puts them under ``result.pkgs``.

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

``--`` ends option parsing before the specs (argparse in conda and mamba 1.x, CLI11 in
micromamba and mamba 2.x both honour it), and names are validated so none can start with
``-`` anyway; versions and builds are validated before they are glued into a spec.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from packaging.utils import canonicalize_name
from packaging.version import Version

from sysnative.errors import PrivilegeError, ProviderError, ProviderUnavailable, SystemStepError
from sysnative.models import ClosureItem, SystemPackage
from sysnative.protocols import Privileges
from sysnative.providers.common import checked_transaction, transaction_differences, user_name
from sysnative.providers.conda.version import (
    BUILD_RE,
    VERSION_RE,
    conda_to_pep440,
    join_version_build,
    split_version_build,
)
from sysnative.runner import CommandNotFound, Completed, run

__all__ = [
    "TOOLS",
    "CondaFailure",
    "CondaProvider",
    "CondaRecord",
    "Transaction",
    "build_install_argv",
    "closure_differences",
    "closure_from_transaction",
    "dist_info_projects",
    "install_specs",
    "load_json_documents",
    "parse_conda_meta",
    "parse_conda_meta_filename",
    "parse_failure",
    "parse_list_json",
    "parse_repodata_json",
    "parse_search_json",
    "parse_transaction",
    "python_site_packages",
    "record_from_json",
    "validate_distro_version",
    "validate_install_packages",
    "validate_package_names",
]

#: Conda package names: lower-case letters, digits, ``_ . -``; never starting with ``-`` or
#: ``.`` (so no name can be read as an option).
PACKAGE_NAME_RE = re.compile(r"^[a-z0-9_][a-z0-9_.-]*$")

#: The tools, in order of preference (the libmamba-based ones solve faster).
TOOLS = ("micromamba", "mamba", "conda")

_UNAVAILABLE_MESSAGE = (
    "The conda provider needs an active conda environment ($CONDA_PREFIX) and one of "
    "micromamba, mamba or conda on PATH ({missing})."
)
_UNAVAILABLE_HINT = (
    "Activate the environment to install into (`conda activate ENV`, `micromamba activate "
    "ENV`), or choose another provider."
)


# --------------------------------------------------------------------------------------------
# Records and pure parsers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CondaRecord:
    """One conda package (a build of a version), as any of the tools or files report it."""

    name: str
    version: str
    build: str
    build_number: int | None = None
    #: ``linux-64``, ``noarch`` ... (``subdir``, or ``platform`` in conda's LINK entries).
    subdir: str | None = None
    channel: str | None = None
    #: PyPI distributions the package installs, from the ``*.dist-info`` directories in its
    #: file list (only conda-meta records carry one).
    projects: tuple[str, ...] = ()

    @property
    def distro_version(self) -> str:
        """``VERSION=BUILD``: how the provider reports this record."""
        return join_version_build(self.version, self.build)


@dataclass(frozen=True)
class Transaction:
    """A dry run's transaction: what would be linked and unlinked."""

    link: tuple[CondaRecord, ...] = ()
    unlink: tuple[CondaRecord, ...] = ()
    #: conda's message when nothing is to be done ("All requested packages already
    #: installed.").
    message: str = ""


@dataclass(frozen=True)
class CondaFailure:
    """A failed solve, as the tool reported it in JSON."""

    #: ``PackagesNotFoundError``, ``UnsatisfiableError``, ... (conda's exception name), or
    #: ``"solver_problems"`` for libmamba's report.
    kind: str
    message: str
    #: Names the tool said it cannot find at all.
    missing: tuple[str, ...] = ()
    #: libmamba's solver problems, verbatim.
    problems: tuple[str, ...] = ()

    def lines(self) -> tuple[str, ...]:
        """What to quote to the user."""
        if self.problems:
            return self.problems
        return tuple(line.strip() for line in self.message.splitlines() if line.strip())


def load_json_documents(text: str) -> list[Any]:
    """Every JSON value that starts a line of ``text``, in order.

    The tools' stdout is not always one clean document: conda can print ``DryRunExit: Dry
    run. Exiting.`` first, mamba 0.x printed two documents (mamba issue #207), and a failing
    plugin may print text around them. conda's ``--json`` download progress separates its
    objects with NUL bytes; they are read as line breaks.
    """
    text = text.replace("\0", "\n")
    decoder = json.JSONDecoder()
    found: list[Any] = []
    pos = 0
    for match in re.finditer(r"^[ \t]*([\[{])", text, flags=re.MULTILINE):
        start = match.start(1)
        if start < pos:
            continue
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            continue
        found.append(value)
        pos = end
    return found


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def record_from_json(obj: object) -> CondaRecord | None:
    """A :class:`CondaRecord` from any of the tools' record dicts; ``None`` when it is not one.

    The build is ``build`` (repodata, conda-meta, conda's FETCH, libmamba) or
    ``build_string`` (conda's LINK/UNLINK and ``list --json``); the subdir is ``subdir`` or,
    in conda's ``dist_fields_dump``, ``platform`` (which in repodata is the OS name, so
    ``subdir`` wins when both are there).
    """
    if not isinstance(obj, dict):
        return None
    name = _str(obj.get("name"))
    version = _str(obj.get("version"))
    build = _str(obj.get("build")) or _str(obj.get("build_string"))
    if name is None or version is None or build is None:
        return None
    number = obj.get("build_number")
    subdir = _str(obj.get("subdir"))
    if subdir is None and "build_string" in obj:
        subdir = _str(obj.get("platform"))
    return CondaRecord(
        name=name,
        version=version,
        build=build,
        build_number=number if isinstance(number, int) and not isinstance(number, bool) else None,
        subdir=subdir,
        channel=_str(obj.get("channel")),
    )


def _records(values: object) -> tuple[CondaRecord, ...]:
    if not isinstance(values, list):
        return ()
    return tuple(r for r in map(record_from_json, values) if r is not None)


def _action_groups(document: dict[str, Any]) -> list[dict[str, Any]]:
    actions = document.get("actions")
    if isinstance(actions, dict):
        return [actions]
    if isinstance(actions, list):  # conda 4.3
        return [group for group in actions if isinstance(group, dict)]
    return []


def _transaction_document(text: str) -> dict[str, Any] | None:
    documents = [d for d in load_json_documents(text) if isinstance(d, dict)]
    for document in documents:
        if "actions" in document:
            return document
    for document in documents:
        if document.get("success") is True:
            return document
    return None


def parse_transaction(text: str) -> Transaction | None:
    """The transaction in a ``install --dry-run --json`` output; ``None`` when the output
    holds no successful transaction (see :func:`parse_failure`).

    conda's, mamba's and micromamba's shapes are all read (module docstring). The order of
    LINK entries is the tool's (conda's is the link order).
    """
    document = _transaction_document(text)
    if document is None:
        return None
    link: list[CondaRecord] = []
    unlink: list[CondaRecord] = []
    for group in _action_groups(document):
        link += _records(group.get("LINK"))
        unlink += _records(group.get("UNLINK"))
    message = document.get("message")
    return Transaction(tuple(link), tuple(unlink), message if isinstance(message, str) else "")


_NOTHING_PROVIDES_RE = re.compile(r"nothing provides requested (\S+)")


def _spec_name(spec: str) -> str:
    """The package name at the start of a MatchSpec (``numpy==1.0=py_0`` -> ``numpy``)."""
    return re.split(r"[\s=<>!~\[]", spec.split("::")[-1], maxsplit=1)[0]


def parse_failure(text: str) -> CondaFailure | None:
    """The error in a failed command's JSON output; ``None`` when there is none.

    conda: ``exception_name``, ``message``, and for ``PackagesNotFoundError`` the missing specs
    in ``packages``. libmamba: ``success: false`` with ``solver_problems``; a problem
    ``nothing provides requested NAME`` (libsolv's wording) names a missing package.
    """
    for document in load_json_documents(text):
        if not isinstance(document, dict):
            continue
        kind = _str(document.get("exception_name"))
        if kind is not None:
            message = _str(document.get("message")) or _str(document.get("error")) or kind
            missing: tuple[str, ...] = ()
            if kind == "PackagesNotFoundError":
                packages = document.get("packages")
                if isinstance(packages, list):
                    missing = tuple(_spec_name(p) for p in packages if isinstance(p, str))
            return CondaFailure(kind, message, missing)
        problems = document.get("solver_problems")
        if document.get("success") is False or problems is not None:
            lines: tuple[str, ...] = ()
            if isinstance(problems, list):
                lines = tuple(p.strip() for p in problems if isinstance(p, str) and p.strip())
            elif isinstance(problems, str) and problems.strip():
                lines = (problems.strip(),)
            missing = tuple(
                dict.fromkeys(
                    _spec_name(m.group(1)) for m in map(_NOTHING_PROVIDES_RE.search, lines) if m
                )
            )
            return CondaFailure("solver_problems", "\n".join(lines), missing, lines)
    return None


def closure_from_transaction(
    transaction: Transaction,
) -> tuple[tuple[ClosureItem, ...], tuple[CondaRecord, ...]]:
    """The install closure (LINK entries; an UNLINK of the same name is what it replaces),
    and the removals (UNLINK entries whose name is not linked again)."""
    unlinked: dict[str, CondaRecord] = {}
    for record in transaction.unlink:
        unlinked.setdefault(record.name, record)
    linked = {record.name for record in transaction.link}
    items = tuple(
        ClosureItem(
            name=record.name,
            version=record.distro_version,
            architecture=record.subdir,
            replaces=unlinked[record.name].distro_version if record.name in unlinked else None,
        )
        for record in transaction.link
    )
    removals = tuple(r for r in transaction.unlink if r.name not in linked)
    return items, removals


def _group_by_name(records: Iterable[CondaRecord]) -> dict[str, list[CondaRecord]]:
    grouped: dict[str, list[CondaRecord]] = {}
    for record in records:
        grouped.setdefault(record.name, []).append(record)
    return grouped


def parse_search_json(text: str) -> dict[str, list[CondaRecord]]:
    """Records by name from ``conda search --json`` (``{name: [record, ...]}``) or
    ``micromamba search --json`` / ``repoquery search --json`` (``result.pkgs``)."""
    records: list[CondaRecord] = []
    for document in load_json_documents(text):
        if not isinstance(document, dict):
            continue
        result = document.get("result")
        if isinstance(result, dict) and "pkgs" in result:
            records += _records(result.get("pkgs"))
            continue
        if "exception_name" in document:
            continue
        for value in document.values():
            records += _records(value)
    return _group_by_name(records)


def parse_repodata_json(text: str) -> dict[str, list[CondaRecord]]:
    """Records by name from a channel's ``repodata.json`` (``packages`` and
    ``packages.conda``)."""
    document = json.loads(text)
    records: list[CondaRecord] = []
    if isinstance(document, dict):
        for key in ("packages", "packages.conda"):
            table = document.get(key)
            if isinstance(table, dict):
                records += _records(list(table.values()))
    return _group_by_name(records)


def parse_list_json(text: str) -> dict[str, CondaRecord]:
    """Installed records by name from ``conda list --json`` / ``micromamba list --json``
    (a list of ``dist_fields_dump`` dicts); pip-installed entries (channel ``pypi``) are
    skipped: they are not conda packages."""
    found: dict[str, CondaRecord] = {}
    for document in load_json_documents(text):
        if not isinstance(document, list):
            continue
        for entry in document:
            record = record_from_json(entry)
            if record is None or record.channel == "pypi":
                continue
            found.setdefault(record.name, record)
    return found


def parse_conda_meta_filename(filename: str) -> tuple[str, str, str] | None:
    """``("numpy", "1.26.4", "py311h64a7726_0")`` from ``numpy-1.26.4-py311h64a7726_0.json``.

    Version and build contain no ``-`` (conda's package spec); the name may.
    """
    if not filename.endswith(".json"):
        return None
    parts = filename[: -len(".json")].rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return None
    name, version, build = parts
    if not (
        PACKAGE_NAME_RE.fullmatch(name)
        and VERSION_RE.fullmatch(version)
        and BUILD_RE.fullmatch(build)
    ):
        return None
    return name, version, build


_DIST_INFO_RE = re.compile(r"(?:^|/)site-packages/([^/]+)-[^/-]+\.dist-info/")


def dist_info_projects(files: Iterable[str]) -> tuple[str, ...]:
    """Normalized names of the PyPI distributions a file list installs (its
    ``site-packages/NAME-VERSION.dist-info/`` directories), in order."""
    names: dict[str, None] = {}
    for path in files:
        if not isinstance(path, str):
            continue
        m = _DIST_INFO_RE.search(path)
        if m:
            names[canonicalize_name(m.group(1))] = None
    return tuple(names)


def parse_conda_meta(text: str) -> CondaRecord | None:
    """The record in one ``conda-meta/*.json`` file, with the PyPI projects its files
    install."""
    try:
        document = json.loads(text)
    except ValueError:
        return None
    record = record_from_json(document)
    if record is None:
        return None
    files = document.get("files") if isinstance(document, dict) else None
    projects = dist_info_projects(files) if isinstance(files, list) else ()
    return CondaRecord(
        record.name,
        record.version,
        record.build,
        record.build_number,
        record.subdir,
        record.channel,
        projects,
    )


_FREE_THREADED_BUILD_RE = re.compile(r"_cp\d+t$")


def python_site_packages(version: str, build: str, declared: str | None = None) -> str | None:
    """The site-packages directory (relative to the prefix) of a conda ``python`` record.

    ``declared`` is the record's ``python_site_packages_path`` when it has one (CEP 17). Else
    ``lib/pythonX.Y/site-packages``, with ``pythonX.Yt`` for the free-threaded builds
    (``*_cp313t``). ``None`` when the version has no ``X.Y``.
    """
    if declared:
        return declared
    m = re.match(r"^(\d+)\.(\d+)", version)
    if not m:
        return None
    suffix = "t" if _FREE_THREADED_BUILD_RE.search(build) else ""
    return f"lib/python{m.group(1)}.{m.group(2)}{suffix}/site-packages"


# --------------------------------------------------------------------------------------------
# Validation and command lines
# --------------------------------------------------------------------------------------------


def validate_package_names(packages: Iterable[str]) -> tuple[str, ...]:
    """The names, de-duplicated in order; :class:`ProviderError` for any invalid one."""
    names: list[str] = []
    for name in packages:
        if not isinstance(name, str) or not PACKAGE_NAME_RE.fullmatch(name):
            raise ProviderError(
                f"{name!r} is not a valid conda package name, so it was not passed to conda.",
                "conda package names use only lower-case letters, digits and '_', '.', '-', "
                "and start with a letter, digit or '_'. Check the mapping entry that produced "
                "this name.",
            )
        if name not in names:
            names.append(name)
    return tuple(names)


def validate_distro_version(version: str) -> str:
    """``version`` unchanged when it is ``VERSION`` or ``VERSION=BUILD`` in conda's grammar;
    :class:`ProviderError` otherwise (it is glued into a MatchSpec)."""
    ok = isinstance(version, str)
    if ok:
        conda_version, build = split_version_build(version)
        ok = bool(VERSION_RE.fullmatch(conda_version)) and (
            build is None or bool(BUILD_RE.fullmatch(build))
        )
    if not ok:
        raise ProviderError(
            f"{version!r} is not a valid conda version (VERSION or VERSION=BUILD), so it was "
            "not passed to conda.",
            "conda versions and builds use letters, digits and '.', '_', '+', '!' only "
            "(`1.26.4=py311h64a7726_0`). Check the plan that produced this version.",
        )
    return version


def validate_install_packages(
    packages: Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    """The ``(name, VERSION=BUILD)`` pairs, checked and de-duplicated in order;
    :class:`ProviderError` for an invalid one or a name asked at two versions."""
    pairs: dict[str, str] = {}
    for name, version in packages:
        validate_package_names([name])
        validate_distro_version(version)
        if pairs.get(name, version) != version:
            raise ProviderError(
                f"{name} is asked for at two versions ({pairs[name]} and {version}).",
                "A transaction installs one version of each package; check the plan.",
            )
        pairs[name] = version
    return tuple(pairs.items())


def install_specs(packages: Sequence[tuple[str, str]]) -> list[str]:
    """Exact MatchSpecs: ``name==VERSION[build=BUILD]`` (``name==VERSION`` without a build).

    Not conda's shorthand ``name==VERSION=BUILD``: strict MatchSpec parsers (rattler's, which
    its solver uses) reject a build glued on with ``=`` after ``==``, while the bracket form
    is accepted by conda, libmamba and rattler alike, strict or not, and means exactly this
    version and this build (``tests/integration/test_conda_channel.py`` checks it with
    rattler's parser and solver).
    """
    specs = []
    for name, distro_version in validate_install_packages(packages):
        version, build = split_version_build(distro_version)
        specs.append(f"{name}=={version}" + (f"[build={build}]" if build else ""))
    return specs


def build_install_argv(
    tool: str,
    prefix: str,
    specs: Sequence[str],
    options: Sequence[str] = (),
    *,
    dry_run: bool = False,
) -> list[str]:
    """``TOOL install [--dry-run] --json --yes -p PREFIX [OPTIONS] -- SPEC...``: the same for
    conda, mamba and micromamba. ``--json`` makes the answer (or the error) parseable;
    ``--yes`` keeps anything from waiting for an answer."""
    return [
        tool,
        "install",
        *(["--dry-run"] if dry_run else []),
        "--json",
        "--yes",
        "-p",
        prefix,
        *options,
        "--",
        *specs,
    ]


def closure_differences(
    planned: Sequence[ClosureItem], simulated: Sequence[ClosureItem], tool: str = "conda"
) -> tuple[str, ...]:
    """How the tool's simulated transaction differs from the plan's, one line per package
    (compared by name and ``VERSION=BUILD``); ``()`` when they are the same set."""
    return transaction_differences(planned, simulated, tool)


# --------------------------------------------------------------------------------------------
# The provider
# --------------------------------------------------------------------------------------------


def _path_of(env: Mapping[str, str] | None) -> str | None:
    if env and "PATH" in env:
        return env["PATH"]
    return os.environ.get("PATH")


def _prefix_of(env: Mapping[str, str] | None) -> str | None:
    prefix = (env or {}).get("CONDA_PREFIX") or os.environ.get("CONDA_PREFIX")
    return prefix or None


def _find_tool(env: Mapping[str, str] | None) -> str | None:
    path = _path_of(env)
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


class CondaProvider:
    """:class:`sysnative.protocols.Provider` for the active conda environment."""

    name = "conda"
    ecosystem = "conda-forge"

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        cache_dir: Path | None = None,
        options: Sequence[str] = (),
    ) -> None:
        #: Extra environment for every command; ``CONDA_PREFIX`` here names the target.
        self._env: dict[str, str] = dict(env) if env else {}
        #: Unused: dry runs are cached in memory only, since the channels' repodata can change
        #: without anything in the environment changing.
        self._cache_dir = cache_dir
        #: Extra options for ``install`` (``-c conda-forge``, ``--override-channels`` ...).
        self._options = tuple(options)
        for option in self._options:
            if not isinstance(option, str) or "\0" in option:
                raise ProviderError(f"{option!r} is not a valid option for conda.")
        self._tool: str | None = None
        self._dry_runs: dict[tuple[str, ...], _DryRun] = {}
        #: The ``python`` a simulation would link, for site dirs before python is installed.
        self._python_seen: CondaRecord | None = None
        self._lock = threading.Lock()

    # -- availability ---------------------------------------------------------------------

    @staticmethod
    def available(env: Mapping[str, str] | None = None) -> bool:
        """Whether a conda environment is active (``$CONDA_PREFIX`` is a directory) and
        micromamba, mamba or conda is on ``PATH``."""
        prefix = _prefix_of(env)
        return prefix is not None and os.path.isdir(prefix) and _find_tool(env) is not None

    @property
    def prefix(self) -> Path:
        """The target environment; :class:`ProviderUnavailable` when none is active."""
        prefix = _prefix_of(self._env)
        if prefix is None or not os.path.isdir(prefix):
            raise ProviderUnavailable(
                _UNAVAILABLE_MESSAGE.format(
                    missing="no environment is active"
                    if prefix is None
                    else f"$CONDA_PREFIX {prefix} is not a directory"
                ),
                _UNAVAILABLE_HINT,
            )
        return Path(prefix)

    @property
    def tool(self) -> str:
        """The tool in use (``micromamba``, ``mamba`` or ``conda``)."""
        with self._lock:
            if self._tool is None:
                self._tool = _find_tool(self._env)
            if self._tool is None:
                raise ProviderUnavailable(
                    _UNAVAILABLE_MESSAGE.format(missing="none of them was found"),
                    _UNAVAILABLE_HINT,
                )
            return self._tool

    def _run(
        self, argv: Sequence[str], *, timeout: float | None = 600, echo: TextIO | None = None
    ) -> Completed:
        try:
            return run(argv, env=self._env or None, input="", timeout=timeout, echo=echo)
        except CommandNotFound as exc:
            raise ProviderUnavailable(
                _UNAVAILABLE_MESSAGE.format(missing=f"{exc.program} was not found"),
                _UNAVAILABLE_HINT,
            ) from exc

    # -- the environment's own records ----------------------------------------------------

    def _meta_dir(self) -> Path:
        return self.prefix / "conda-meta"

    def _meta_listing(self) -> dict[str, list[tuple[str, str]]]:
        """Installed ``(version, build)`` by name, from the conda-meta file names."""
        found: dict[str, list[tuple[str, str]]] = {}
        try:
            names = sorted(os.listdir(self._meta_dir()))
        except FileNotFoundError:
            return found
        for filename in names:
            parsed = parse_conda_meta_filename(filename)
            if parsed is not None:
                found.setdefault(parsed[0], []).append((parsed[1], parsed[2]))
        return found

    def _state(self) -> str:
        """A digest that changes whenever the environment's packages change."""
        digest = hashlib.sha256(str(self.prefix).encode())
        meta = self._meta_dir()
        try:
            for filename in sorted(os.listdir(meta)):
                st = os.stat(meta / filename)
                digest.update(f"{filename}:{st.st_size}:{st.st_mtime_ns}".encode())
        except FileNotFoundError:
            pass
        return digest.hexdigest()

    def installed_versions(self, packages: Sequence[str]) -> dict[str, str]:
        """``VERSION=BUILD`` of every installed package among ``packages`` (conda-meta)."""
        names = validate_package_names(packages)
        listing = self._meta_listing()
        return {name: join_version_build(*listing[name][0]) for name in names if name in listing}

    def installed_records(self) -> dict[str, CondaRecord]:
        """Every installed package's conda-meta record (with the PyPI projects it installs)."""
        found: dict[str, CondaRecord] = {}
        meta = self._meta_dir()
        for name, builds in self._meta_listing().items():
            version, build = builds[0]
            path = meta / f"{name}-{version}-{build}.json"
            try:
                record = parse_conda_meta(path.read_text(encoding="utf-8"))
            except OSError:
                continue
            if record is not None:
                found[name] = record
        return found

    # -- dry runs --------------------------------------------------------------------------

    def _dry_run(self, specs: Sequence[str], *, cached: bool = True) -> _DryRun:
        argv = build_install_argv(self.tool, str(self.prefix), specs, self._options, dry_run=True)
        key = (self._state(), *argv)
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
        tool = self.tool
        lines = answer.failure.lines() if answer.failure else ()
        if not lines:
            tail = (answer.result.stderr or answer.result.stdout).strip().splitlines()[-5:]
            lines = tuple(line.strip() for line in tail if line.strip())
        quoted = "\n".join("    " + line for line in lines)
        command = shlex.join(
            build_install_argv(tool, str(self.prefix), specs, self._options, dry_run=True)
        )
        if answer.failure is not None and answer.failure.missing:
            hint = (
                f"{', '.join(answer.failure.missing)} is not in the environment's channels. "
                "Check the name in the mapping, or the channels (`conda config --show "
                "channels`)."
            )
        else:
            hint = f"Run `{command}` to see {tool}'s full explanation."
        return ProviderError(
            f"{tool} cannot install {', '.join(specs)} into {self.prefix} "
            f"(exit status {answer.result.returncode}):\n{quoted}",
            hint,
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
        listing = self._meta_listing()
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
        answer = self._dry_run(names)
        if answer.transaction is None:
            raise self._solve_error(names, answer)
        items, removals = closure_from_transaction(answer.transaction)
        if removals:
            raise ProviderError(
                f"Installing {', '.join(names)} with {self.tool} would remove "
                f"{', '.join(f'{r.name} {r.distro_version}' for r in removals)}.",
                "sysnative does not remove packages from the environment. Resolve the "
                "conflict yourself, or take these projects from the index instead.",
            )
        return items

    def to_pep440(self, distro_version: str) -> Version | None:
        return conda_to_pep440(distro_version)

    def site_dirs(self) -> tuple[str, ...]:
        """The environment's site-packages: from its ``python`` record (conda-meta), else
        from the ``python`` a simulation would link; ``()`` when the environment has no
        Python and none was simulated."""
        listing = self._meta_listing()
        record: CondaRecord | None = None
        declared: str | None = None
        if "python" in listing:
            version, build = listing["python"][0]
            record = CondaRecord("python", version, build)
            path = self._meta_dir() / f"python-{version}-{build}.json"
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                document = None
            if isinstance(document, dict):
                declared = _str(document.get("python_site_packages_path"))
        else:
            record = self._python_seen
        if record is None:
            return ()
        relative = python_site_packages(record.version, record.build, declared)
        return (str(self.prefix / relative),) if relative else ()

    def interpreter(self) -> str:
        """The environment's ``bin/python``."""
        return str(self.prefix / "bin" / "python")

    def prepare(self) -> bool:
        """Find the tool and read the environment (both cheap). True unless a dry run for the
        environment's current state is already cached."""
        if not self.available(self._env):
            return False
        _ = self.tool
        state = self._state()
        with self._lock:
            return not any(key[0] == state for key in self._dry_runs)

    # -- execution side ---------------------------------------------------------------------

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

    def install_command(
        self,
        packages: Sequence[tuple[str, str]],
        privileges: Privileges,
        *,
        lock_timeout: float = 120.0,
    ) -> list[str]:
        """``TOOL install --json --yes -p PREFIX [OPTIONS] -- name==VERSION[build=BUILD] ...``.

        ``lock_timeout`` is not used: conda has no option for it.
        """
        specs = install_specs(packages)
        return [
            *(privileges.prefix if privileges.ok else ()),
            *build_install_argv(self.tool, str(self.prefix), specs, self._options),
        ]

    def check_install(
        self, packages: Sequence[tuple[str, str]], closure: Sequence[ClosureItem]
    ) -> None:
        """Dry-run the exact specs (never from the cache) and compare with the plan:
        :class:`ProviderError` when the tool cannot install them, would remove something, or
        would link other packages or builds than ``closure``."""
        pairs = _checked_transaction(packages, closure)
        if not pairs:
            return
        specs = install_specs(pairs)
        answer = self._dry_run(specs, cached=False)
        if answer.transaction is None:
            raise self._solve_error(specs, answer)
        items, removals = closure_from_transaction(answer.transaction)
        if removals:
            raise ProviderError(
                f"Installing {', '.join(specs)} with {self.tool} would now remove "
                f"{', '.join(f'{r.name} {r.distro_version}' for r in removals)}.",
                "sysnative does not remove packages from the environment; nothing was changed.",
            )
        differences = closure_differences(closure, items, self.tool)
        if differences:
            raise ProviderError(
                f"{self.tool} would now install something other than the plan:\n"
                + "\n".join("    " + line for line in differences),
                "The channels or the environment changed since the plan was made. Nothing "
                "was changed; make the plan again.",
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
        """Run :meth:`install_command`, then check conda-meta for every planned package.

        The tool's exit status alone is not trusted: every package of the closure (and every
        requested one) must have its exact ``NAME-VERSION-BUILD.json`` record afterwards.
        """
        pairs = _checked_transaction(packages, closure)
        if not pairs:
            return
        argv = self.install_command(pairs, privileges, lock_timeout=lock_timeout)
        if not privileges.ok:
            command = shlex.join(argv)
            raise PrivilegeError(
                f"Installing into the conda environment is not possible: {privileges.why}. "
                "Nothing was changed.",
                f"Run this command as the environment's owner, then run sysnative again:\n"
                f"    {command}",
                command=command,
            )
        result = self._run(argv, timeout=None, echo=None if quiet else sys.stderr)
        planned = {item.name for item in closure}
        targets = (*closure, *(ClosureItem(n, v) for n, v in pairs if n not in planned))
        problems = self.verify(targets)
        if result.ok and not problems:
            return
        raise self._step_error(result, targets, problems)

    def recovery(self) -> tuple[str, tuple[str, ...]]:
        """See :meth:`sysnative.protocols.Provider.recovery`."""
        return (
            "conda links each package into the environment whole; `conda list` (or the "
            "micromamba or mamba equivalent) shows what the environment has now.",
            (),
        )

    def verify(self, closure: Sequence[ClosureItem]) -> tuple[str, ...]:
        """One line per package whose exact ``conda-meta/NAME-VERSION-BUILD.json`` record is
        missing or says otherwise; ``()`` when every one is installed as planned."""
        _validate_closure(closure)
        listing = self._meta_listing()
        meta = self._meta_dir()
        out: list[str] = []
        for item in closure:
            version, build = split_version_build(item.version)
            ok = False
            if build is not None:
                path = meta / f"{item.name}-{version}-{build}.json"
                try:
                    record = parse_conda_meta(path.read_text(encoding="utf-8"))
                except OSError:
                    record = None
                ok = record is not None and (record.name, record.version, record.build) == (
                    item.name,
                    version,
                    build,
                )
            else:
                ok = any(v == version for v, _b in listing.get(item.name, []))
            if ok:
                continue
            present = [join_version_build(v, b) for v, b in listing.get(item.name, [])]
            if present:
                out.append(
                    f"{item.name}: installed at {', '.join(present)}, but the plan has "
                    f"{item.version}"
                )
            else:
                out.append(f"{item.name} {item.version}: not installed")
        return tuple(out)

    def _step_error(
        self, result: Completed, targets: Sequence[ClosureItem], problems: Sequence[str]
    ) -> SystemStepError:
        tool = self.tool
        prefix = str(self.prefix)
        listing = self._meta_listing()
        state = tuple(
            f"{item.name}: "
            + (
                ", ".join(join_version_build(v, b) for v, b in listing[item.name])
                if item.name in listing
                else "not installed"
            )
            for item in targets
        )
        new = [i.name for i in targets if i.replaces is None and i.name in listing]
        restore = install_specs(
            [
                (i.name, i.replaces)
                for i in targets
                if i.replaces is not None
                and i.name in listing
                and join_version_build(*listing[i.name][0]) != i.replaces
            ]
        )
        undo: list[str] = []
        if new:
            undo.append(shlex.join([tool, "remove", "--yes", "-p", prefix, "--", *new]))
        if restore:
            undo.append(shlex.join([tool, "install", "--yes", "-p", prefix, "--", *restore]))
        failure = parse_failure(result.stdout + "\n" + result.stderr)
        head = (
            f"{tool} reported success, but conda-meta does not record every package of the "
            "transaction at the planned build."
            if result.ok
            else f"The {tool} transaction failed ({tool} exited with status {result.returncode})."
        )
        parts = [head]
        quoted = failure.lines() if failure else ()
        if not quoted:
            tail = (result.stderr or result.stdout).strip().splitlines()[-10:]
            quoted = tuple(line.rstrip() for line in tail if line.strip())
        if quoted:
            parts.append(f"{tool} said:\n" + "\n".join("    " + line for line in quoted))
        parts.append("Not as planned:\n" + "\n".join("    " + line for line in problems))
        hints = []
        if undo:
            hints.append("To undo what this run installed, run: " + " && ".join(undo))
        else:
            hints.append(f"Nothing was installed. Fix what {tool} reports above and try again.")
        return SystemStepError(
            "\n".join(parts), "\n".join(hints), state=state, undo=tuple(undo), retry=()
        )

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


def _validate_closure(closure: Sequence[ClosureItem]) -> None:
    validate_package_names(item.name for item in closure)
    for item in closure:
        validate_distro_version(item.version)
        if item.replaces is not None:
            validate_distro_version(item.replaces)


def _checked_transaction(
    packages: Sequence[tuple[str, str]], closure: Sequence[ClosureItem]
) -> tuple[tuple[str, str], ...]:
    return checked_transaction(
        packages,
        closure,
        validate_packages=validate_install_packages,
        validate_closure=_validate_closure,
        things="conda packages",
        thing="package",
    )
