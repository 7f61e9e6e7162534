"""Lock files on plain data: Plan -> pylock.toml -> Lock -> Plan, validation, refusals."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from packaging.pylock import Pylock
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from sysnative.cli import main
from sysnative.install import standins
from sysnative.lock import lockfile
from sysnative.lock.lockfile import Lock, LockError, LockMachine, LockMismatch
from sysnative.mapping.table import MappingEntry, MappingTable
from sysnative.models import ClosureItem, FileKind, IndexFile, Plan, PlannedPackage, Route
from sysnative.target import TargetEnvironment
from sysnative.tomlcompat import loads_toml

SECRET = "hunter2"
INDEX = f"https://alice:{SECRET}@index.example.invalid/simple"
FILES = f"https://alice:{SECRET}@index.example.invalid/files"
MARKERS = {
    "implementation_name": "cpython",
    "implementation_version": "3.11.2",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "6.1.0-18-amd64",
    "platform_system": "Linux",
    "platform_version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)",
    "python_full_version": "3.11.2",
    "python_version": "3.11",
    "sys_platform": "linux",
}
MACHINE = LockMachine("apt", "debian", "12", "amd64")


def target(
    *, markers: Mapping[str, str] | None = None, installed: Mapping[str, str] | None = None
) -> TargetEnvironment:
    env = {**MARKERS, **(markers or {})}
    return TargetEnvironment.from_json(
        {
            "executable": "venv/bin/python",
            "version": env["python_version"],
            "full_version": env["python_full_version"],
            "markers": env,
            "tags": ["py3-none-any"],
            "sys_path": ["venv/lib/python3.11/site-packages", "/usr/lib/python3/dist-packages"],
            "prefix": "venv",
            "base_prefix": "/usr",
            "purelib": "venv/lib/python3.11/site-packages",
            "distributions": [
                {"name": name, "version": version, "location": "venv/lib/python3.11/site-packages"}
                for name, version in (installed or {}).items()
            ],
        }
    )


def n(name: str) -> NormalizedName:
    return canonicalize_name(name)


def wheel(name: str, version: str, *, sha256: str | None = "a", size: int | None = 10) -> IndexFile:
    filename = f"{name}-{version}-py3-none-any.whl"
    return IndexFile(
        project=n(name),
        version=Version(version),
        filename=filename,
        url=f"{FILES}/{filename}",
        kind=FileKind.WHEEL,
        sha256=None if sha256 is None else sha256 * 64,
        size=size,
    )


def plan() -> Plan:
    """numpy asked for by name (with a library in the transaction), beniget coming as its
    dependency, pyyaml already installed, opencv registering no metadata, and two wheels."""
    rows = (
        PlannedPackage(
            n("requests"),
            Version("2.31.0"),
            Route.PYPI,
            "pure wheel",
            ("<user>",),
            file=wheel("requests", "2.31.0"),
        ),
        PlannedPackage(
            n("numpy"),
            Version("1.24.2"),
            Route.SYSTEM,
            "native: only platform wheels",
            ("<user>",),
            provider="apt",
            package="python3-numpy",
            distro_version="1:1.24.2-1+deb12u1",
            requested=True,
        ),
        PlannedPackage(
            n("idna"),
            Version("3.6"),
            Route.PYPI,
            "pure wheel",
            ("requests",),
            file=wheel("idna", "3.6", sha256="b"),
        ),
        PlannedPackage(
            n("beniget"),
            Version("0.4.1"),
            Route.SYSTEM,
            "comes with the system packages (dependency)",
            provider="apt",
            package="python3-beniget",
            distro_version="0.4.1-3",
        ),
        PlannedPackage(
            n("pyyaml"),
            Version("6.0"),
            Route.SYSTEM,
            "already installed by the system",
            ("<user>",),
            provider="apt",
            package="python3-yaml",
            distro_version="6.0-3+b2",
            already_installed=True,
        ),
        PlannedPackage(
            n("opencv-python"),
            Version("4.6.0"),
            Route.SYSTEM,
            "native",
            ("<user>",),
            provider="apt",
            package="python3-opencv",
            distro_version="4.6.0+dfsg-12",
            requested=True,
        ),
    )
    closure = (
        ClosureItem("python3-numpy", "1:1.24.2-1+deb12u1", "amd64"),
        ClosureItem("libblas3", "3.11.0-2", "amd64", replaces="3.10.0-1"),
        ClosureItem("python3-beniget", "0.4.1-3", "all"),
        ClosureItem("python3-opencv", "4.6.0+dfsg-12", "amd64"),
    )
    return Plan(rows, "apt", "venv/bin/python", closure, notes=("a note",))


def mapping() -> MappingTable:
    def entry(project: str, package: str, **kwargs: Any) -> MappingEntry:
        return MappingEntry(n(project), (package,), None, None, None, None, "test", **kwargs)

    return MappingTable(
        "debian",
        [
            entry("numpy", "python3-numpy"),
            replace(entry("opencv-python", "python3-opencv"), dist_names=()),
            entry("pyyaml", "python3-yaml", registers_version="0.0.0"),
        ],
    )


def make_lock(p: Plan | None = None) -> Lock:
    p = p or plan()
    return lockfile.lock_from_plan(
        p,
        machine=MACHINE,
        target=lockfile.target_facts(target()),
        mapping=mapping(),
        indexes={r.file.url: INDEX for r in p.pypi if r.file is not None},
        requirements=["numpy", "requests", "pyyaml", "opencv-python"],
        constraints=["idna<4"],
    )


def text_of(lock: Lock) -> str:
    return lockfile.dumps(lockfile.to_document(lock))


def document() -> dict[str, Any]:
    return loads_toml(text_of(make_lock()))


def dumped(doc: Mapping[str, Any]) -> str:
    return lockfile.dumps(doc)


# -- writing ---------------------------------------------------------------------------------


def test_the_written_file_reads_back_as_the_same_document() -> None:
    lock = make_lock()
    doc = lockfile.to_document(lock)
    text = lockfile.dumps(doc)

    assert loads_toml(text) == doc
    assert lockfile.to_document(lockfile.loads(text)) == doc


def test_the_file_is_valid_pep_751() -> None:
    pylock = Pylock.from_dict(document())
    pylock.validate()
    assert str(pylock.lock_version) == "1.0"
    assert pylock.created_by == "sysnative"
    assert str(pylock.requires_python) == "==3.11.*"
    assert [str(m) for m in pylock.environments or ()] == [
        'implementation_name == "cpython" and python_version == "3.11" and '
        'sys_platform == "linux" and platform_machine == "x86_64"'
    ]
    assert [(p.name, str(p.version)) for p in pylock.packages] == [
        ("idna", "3.6"),
        ("requests", "2.31.0"),
    ]
    requests = pylock.packages[1]
    assert requests.index == "https://index.example.invalid/simple"
    (file,) = requests.wheels or ()
    assert file.name == "requests-2.31.0-py3-none-any.whl"
    assert file.url == "https://index.example.invalid/files/requests-2.31.0-py3-none-any.whl"
    assert file.size == 10
    assert file.hashes == {"sha256": "a" * 64}


def test_pip_selects_exactly_the_wheels_for_the_target() -> None:
    """What pip does with the file (packaging's PEP 751 selection): the tool tables do not
    matter, and the environment check accepts the target."""
    if not hasattr(Pylock, "select"):
        pytest.skip("Pylock.select needs packaging 26.1 or newer")
    pylock = Pylock.from_dict(document())
    chosen = list(pylock.select(environment=MARKERS))  # type: ignore[arg-type]
    assert [(p.name, w.filename) for p, w in chosen] == [  # type: ignore[union-attr]
        ("idna", "idna-3.6-py3-none-any.whl"),
        ("requests", "requests-2.31.0-py3-none-any.whl"),
    ]


def test_the_system_side_is_in_the_tool_table() -> None:
    tool = document()["tool"]["sysnative"]
    assert tool["format"] == 1
    assert tool["machine"] == {
        "provider": "apt",
        "distro-id": "debian",
        "distro-version": "12",
        "architecture": "amd64",
    }
    assert tool["target"]["python-version"] == "3.11"
    assert tool["target"]["markers"] == MARKERS
    assert tool["requirements"] == ["numpy", "requests", "pyyaml", "opencv-python"]
    rows = {row["project"]: row for row in tool["system"]}
    assert list(rows) == ["beniget", "numpy", "opencv-python", "pyyaml"]
    assert rows["numpy"] == {
        "project": "numpy",
        "version": "1.24.2",
        "package": "python3-numpy",
        "distro-version": "1:1.24.2-1+deb12u1",
        "architecture": "amd64",
        "requested": True,
        "installed": False,
        "reason": "native: only platform wheels",
        "required-by": ["<user>"],
    }
    assert rows["beniget"]["requested"] is False
    assert rows["pyyaml"]["installed"] is True
    assert "architecture" not in rows["pyyaml"]  # not in the transaction
    assert rows["pyyaml"]["registers-version"] == "0.0.0"
    assert rows["opencv-python"]["dist-names"] == []
    assert tool["closure"] == [
        {"package": "libblas3", "version": "3.11.0-2", "architecture": "amd64",
         "replaces": "3.10.0-1"},
        {"package": "python3-beniget", "version": "0.4.1-3", "architecture": "all"},
        {"package": "python3-numpy", "version": "1:1.24.2-1+deb12u1", "architecture": "amd64"},
        {"package": "python3-opencv", "version": "4.6.0+dfsg-12", "architecture": "amd64"},
    ]  # fmt: skip


def test_no_credentials_reach_the_file() -> None:
    text = text_of(make_lock())
    assert SECRET not in text
    assert "alice" not in text


def test_output_is_deterministic_whatever_the_plan_order() -> None:
    p = plan()
    shuffled = replace(
        p,
        packages=tuple(reversed(p.packages)),
        system_closure=tuple(reversed(p.system_closure)),
    )
    assert text_of(make_lock(shuffled)) == text_of(make_lock(p))


def test_a_file_without_sha256_or_size_cannot_be_locked() -> None:
    p = plan()
    rows = tuple(
        replace(r, file=replace(r.file, size=None)) if r.file is not None else r for r in p.packages
    )
    with pytest.raises(ValueError, match="sha256 and size"):
        make_lock(replace(p, packages=rows))


@pytest.mark.parametrize(
    "value",
    [
        'quote " and backslash \\ and newline \n tab \t',
        "control \x01 \x7f and unicode é ✓",
        "",
        "=3.11.*",
    ],
)
def test_strings_are_escaped(value: str) -> None:
    doc = {"a": value, "odd key.x": [value], "t": {"hashes": {"sha256": value}}}
    assert loads_toml(dumped(doc)) == doc


def test_credentials_are_put_back_from_pip_configuration() -> None:
    url = "https://index.example.invalid/files/x.whl"
    assert lockfile.strip_credentials("https://u:p@index.example.invalid/f") == (
        "https://index.example.invalid/f"
    )
    assert lockfile.with_credentials(url, [INDEX]) == (
        f"https://alice:{SECRET}@index.example.invalid/files/x.whl"
    )
    assert lockfile.with_credentials(url, ["https://b:c@other.example.invalid/simple"]) == url
    assert lockfile.with_credentials(url, ["http://b:c@index.example.invalid/simple"]) == url


# -- reading: malformed, foreign, unknown --------------------------------------------------------


def refused(text: str, *needles: str) -> LockError:
    with pytest.raises(LockError) as info:
        lockfile.loads(text, "pylock.toml")
    for needle in needles:
        assert needle in info.value.message + "\n" + (info.value.hint or "")
    return info.value


def test_not_toml_is_refused() -> None:
    refused("lock-version = [", "pylock.toml is not valid TOML")


def test_a_lock_from_another_tool_points_to_pip() -> None:
    doc = document()
    del doc["tool"]
    doc["created-by"] = "pip"
    error = refused(
        dumped(doc),
        "pylock.toml was not written by sysnative (created-by = 'pip')",
        "pip install --no-deps -r pylock.toml",
    )
    assert type(error) is LockError


@pytest.mark.parametrize(
    ("version", "needle"),
    [
        ("2.0", "has lock-version 2.0; this sysnative reads PEP 751 lock files of version 1.x"),
        ("0.9", "has lock-version 0.9"),
        ("one", "has no valid lock-version ('one')"),
    ],
)
def test_unknown_lock_versions_are_refused(version: str, needle: str) -> None:
    doc = document()
    doc["lock-version"] = version
    refused(dumped(doc), needle)


def test_a_newer_minor_lock_version_is_read_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    doc = document()
    doc["lock-version"] = "1.1"
    with caplog.at_level(logging.WARNING):
        lock = lockfile.loads(dumped(doc))
    assert lock.wheels
    assert "newer than the 1.0" in caplog.text


def test_an_invalid_pep_751_document_is_refused() -> None:
    doc = document()
    doc["packages"][0]["wheels"][0]["name"] = "idna-3.7-py3-none-any.whl"
    refused(dumped(doc), "is not a valid PEP 751 lock file", "not consistent with package version")


def test_an_unknown_tool_format_is_refused() -> None:
    doc = document()
    doc["tool"]["sysnative"]["format"] = 2
    refused(dumped(doc), "[tool.sysnative] has format 2; this sysnative reads format 1")


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d["tool"]["sysnative"].pop("machine"), "[tool.sysnative.machine] is missing"),
        (
            lambda d: d["tool"]["sysnative"]["system"][0].update(requested="yes"),
            "tool.sysnative.system[0].requested must be true or false",
        ),
        (
            lambda d: d["tool"]["sysnative"]["system"][1].pop("distro-version"),
            "the system package python3-numpy (numpy) has no distro-version",
        ),
        (
            lambda d: d["packages"][0]["wheels"][0]["hashes"].update(sha256="xyz"),
            "packages[0].wheels[0].hashes.sha256 of idna is not a sha256",
        ),
        (
            lambda d: d["packages"][0]["wheels"].append(dict(d["packages"][0]["wheels"][0])),
            "packages[0] (idna) has 2 wheels",
        ),
        (
            lambda d: d["tool"]["sysnative"]["system"][0].update(project="idna"),
            "lists idna twice",
        ),
        (
            lambda d: d["tool"]["sysnative"]["target"].update({"python-version": 311}),
            "tool.sysnative.target.python-version must be a non-empty string",
        ),
    ],
)
def test_damaged_tool_tables_are_refused(edit: Any, needle: str) -> None:
    doc = document()
    edit(doc)
    refused(dumped(doc), needle, "Write the lock again with `sysnative lock")


# -- does this machine match? ------------------------------------------------------------------


def test_the_same_machine_matches() -> None:
    assert lockfile.machine_differences(make_lock(), MACHINE, target()) == ()


def test_each_difference_says_both_sides() -> None:
    here = LockMachine("dnf", "ubuntu", "24.04", "arm64")
    found = lockfile.machine_differences(make_lock(), here, target())
    assert [d.describe() for d in found] == [
        "package manager: the lock says apt, here it is dnf",
        "distribution: the lock says debian 12, here it is ubuntu 24.04",
        "architecture: the lock says amd64, here it is arm64",
    ]


def test_another_python_is_one_difference() -> None:
    other = target(markers={"python_version": "3.12", "python_full_version": "3.12.1"})
    found = lockfile.machine_differences(make_lock(), MACHINE, other)
    assert [d.describe() for d in found] == [
        "Python (the target venv/bin/python): the lock says CPython 3.11, here it is CPython 3.12"
    ]


def test_the_environments_marker_is_checked() -> None:
    other = target(markers={"platform_machine": "aarch64"})
    (found,) = lockfile.machine_differences(make_lock(), replace(MACHINE), other)
    assert found.what == "environment (PEP 751 environments)"
    assert "platform_machine = 'aarch64'" in found.here


def test_a_kernel_update_is_no_difference() -> None:
    other = target(markers={"platform_release": "6.9", "platform_version": "#2"})
    assert lockfile.machine_differences(make_lock(), MACHINE, other) == ()


def test_the_refusal_says_what_to_do() -> None:
    lock = make_lock()
    here = LockMachine("apt", "debian", "13", "amd64")
    error = lockfile.mismatch_error(
        lock, "ci/pylock.toml", lockfile.machine_differences(lock, here, target())
    )
    assert isinstance(error, LockMismatch)
    assert error.message == (
        "ci/pylock.toml was made for another machine, so its exact versions cannot be "
        "installed here. Nothing was changed.\n"
        "    distribution: the lock says debian 12, here it is debian 13"
    )
    assert error.hint is not None
    assert (
        "sysnative lock numpy requests pyyaml opencv-python -o ci/pylock.toml "
        "-c CONSTRAINTS-FILE" in error.hint
    )
    assert "pip install --no-deps -r ci/pylock.toml" in error.hint


def test_projects_without_a_package_must_be_there_already() -> None:
    p = plan()
    rows = (*p.packages, replace(p.packages[4], name=n("six"), package=None, distro_version=None))
    lock = make_lock(replace(p, packages=rows))
    assert lockfile.missing_system_projects(lock, target(installed={"six": "6.0"})) == ()
    (line,) = lockfile.missing_system_projects(lock, target())
    assert line.startswith("six 6.0 (already on the system when the lock was made")


# -- Lock -> Plan --------------------------------------------------------------------------------


def by_name(p: Plan) -> dict[str, PlannedPackage]:
    return {r.name: r for r in p.packages}


def test_a_fresh_machine_installs_everything_of_the_lock() -> None:
    p = lockfile.locked_plan(make_lock(), installed={}, target=target())
    rows = by_name(p)
    assert [(r.name, r.route.value) for r in p.packages] == [
        ("beniget", "system"),
        ("numpy", "system"),
        ("opencv-python", "system"),
        ("pyyaml", "system"),
        ("idna", "pypi"),
        ("requests", "pypi"),
    ]
    assert {name: r.requested for name, r in rows.items() if r.route is Route.SYSTEM} == {
        "beniget": False,  # comes with numpy
        "numpy": True,
        "opencv-python": True,
        "pyyaml": True,  # installed when locked: nothing else pulls it in
    }
    assert not any(r.already_installed for r in p.packages)
    assert [(c.name, c.version, c.replaces) for c in p.system_closure] == [
        ("libblas3", "3.11.0-2", None),
        ("python3-beniget", "0.4.1-3", None),
        ("python3-numpy", "1:1.24.2-1+deb12u1", None),
        ("python3-opencv", "4.6.0+dfsg-12", None),
        ("python3-yaml", "6.0-3+b2", None),
    ]
    requests = rows["requests"].file
    assert requests is not None
    assert requests.sha256 == "a" * 64
    assert requests.size == 10
    assert requests.url == "https://index.example.invalid/files/requests-2.31.0-py3-none-any.whl"
    assert p.notes == ("a note",)


def test_what_is_installed_at_the_locked_version_stays() -> None:
    installed = {
        "python3-numpy": "1:1.24.2-1+deb12u1",
        "libblas3": "3.10.0-1",  # another version: upgraded to the locked one
        "python3-yaml": "6.0-3+b2",
        "python3-opencv": "4.6.0+dfsg-12",
        "python3-beniget": "0.4.1-3",
    }
    p = lockfile.locked_plan(
        make_lock(), installed=installed, target=target(installed={"idna": "3.6"})
    )
    rows = by_name(p)
    assert all(r.already_installed for r in p.system)
    assert rows["idna"].already_installed
    assert not rows["requests"].already_installed
    assert p.system_closure == (ClosureItem("libblas3", "3.11.0-2", "amd64", "3.10.0-1"),)


def test_missing_dependencies_alone_are_asked_for_by_name() -> None:
    installed = {
        "python3-numpy": "1:1.24.2-1+deb12u1",
        "python3-yaml": "6.0-3+b2",
        "python3-opencv": "4.6.0+dfsg-12",
        "libblas3": "3.11.0-2",
    }
    p = lockfile.locked_plan(make_lock(), installed=installed, target=target())
    assert [(r.name, r.requested) for r in p.system if not r.already_installed] == [
        ("beniget", True)
    ]
    assert [c.name for c in p.system_closure] == ["python3-beniget"]


def test_download_urls_can_be_replaced() -> None:
    lock = make_lock()
    url = lock.wheels[1].url
    p = lockfile.locked_plan(lock, installed={}, target=target(), urls={url: url + "?x"})
    file = by_name(p)["requests"].file
    assert file is not None
    assert file.url == url + "?x"


def test_the_lock_carries_the_marker_facts() -> None:
    """The marker step decides from the lock's mapping as it would from the real one (pyyaml
    registers the placeholder 0.0.0 here)."""
    lock = lockfile.loads(text_of(make_lock()))
    table = lockfile.lock_mapping(lock, "debian")
    p = lockfile.locked_plan(lock, installed={}, target=target())
    after = target(installed={"pyyaml": "0.0.0"})
    from_lock = standins.markers_needed(p.system, table, after)
    from_mapping = standins.markers_needed(p.system, mapping(), after)
    assert from_lock == from_mapping
    assert [(m.name, str(m.version)) for m in from_lock] == [
        ("opencv-python", "4.6.0"),
        ("pyyaml", "6.0"),
    ]


# -- the command line, before anything is probed ---------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_install_lock_refuses_a_malformed_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pylock.toml"
    path.write_text('lock-version = "1.0"\ncreated-by = "x"\npackages = []\n', encoding="utf-8")
    code, err = run_cli(capsys, "install", "--lock", str(path))
    assert code == 1
    assert f"error: {path} was not written by sysnative" in err
    assert "hint: To install only its packages from the index, use pip 26.1" in err


def test_install_lock_refuses_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run_cli(capsys, "install", "--lock", str(tmp_path / "pylock.toml"))
    assert code == 1
    assert "error: Cannot read the lock file" in err


def test_install_lock_takes_no_requirements(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pylock.toml"
    path.write_text(text_of(make_lock()), encoding="utf-8")
    code, err = run_cli(capsys, "install", "--lock", str(path), "numpy", "-i", INDEX)
    assert code == 2
    assert "error: --lock installs exactly what the lock records; requirements, --index-url" in err


def test_lock_names_follow_pep_751(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli(capsys, "lock", "numpy", "-o", str(tmp_path / "requirements.lock"))
    assert code == 2
    assert "is not a lock file name PEP 751 allows" in err
    assert not os.listdir(tmp_path)
