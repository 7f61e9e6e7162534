"""Pure parsers of what conda, mamba and micromamba print and write: ``--json`` answers,
``repodata.json`` and ``conda-meta`` records.

No process runs and no file is read here (:mod:`sysnative.providers.conda.provider` does
that); every function takes the text and returns frozen records. The three tools' ``--json``
output differs, and every parser reads all of them (sources in ``fixtures/conda/README.md``):

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

``ClosureItem.projects`` stays empty: dry-run and repodata records do not list a package's
files, and conda-forge metadata names no PyPI project. Once installed, the conda-meta record
lists the files (:func:`parse_conda_meta` reads the PyPI distributions a package installs from
its ``site-packages/*.dist-info`` directories).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name

from sysnative.models import ClosureItem
from sysnative.providers.conda.version import BUILD_RE, VERSION_RE, join_version_build

__all__ = [
    "PACKAGE_NAME_RE",
    "CondaFailure",
    "CondaRecord",
    "Transaction",
    "closure_from_transaction",
    "dist_info_projects",
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
]

#: Conda package names: lower-case letters, digits, ``_ . -``; never starting with ``-`` or
#: ``.`` (so no name can be read as an option).
PACKAGE_NAME_RE = re.compile(r"^[a-z0-9_][a-z0-9_.-]*$")


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
