"""A lock as pylock.toml and back: what is written, what pip and packaging see in it, and the
refusal of every file that is not a lock this sysnative can use."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from lockworld import INDEX, MARKERS, document, dumped, make_lock, text_of
from packaging.pylock import Pylock

from sysnative.cli import main
from sysnative.lock.document import dumps, loads, to_document
from sysnative.lock.model import LockError
from sysnative.tomlcompat import loads_toml

# -- writing ---------------------------------------------------------------------------------


def test_the_written_file_reads_back_as_the_same_document() -> None:
    lock = make_lock()
    doc = to_document(lock)
    text = dumps(doc)

    assert loads_toml(text) == doc
    assert to_document(loads(text)) == doc


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
    assert requests.index == "https://127.0.0.1:8443/simple"
    (file,) = requests.wheels or ()
    assert file.name == "requests-2.31.0-py3-none-any.whl"
    assert file.url == "https://127.0.0.1:8443/files/requests-2.31.0-py3-none-any.whl"
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


# -- reading: malformed, foreign, unknown --------------------------------------------------------


def refused(text: str, *needles: str) -> LockError:
    with pytest.raises(LockError) as info:
        loads(text, "pylock.toml")
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
        lock = loads(dumped(doc))
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
