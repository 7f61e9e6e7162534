"""The pure parts of the trial import: which modules a wheel ships, and what the import
script's output says (including an interpreter that dies mid-import)."""

from __future__ import annotations

import json
from pathlib import Path

from sysnative.install.trialimport import ImportFailure, NativeWheel, judge, top_level_modules

WHEEL = NativeWheel("pyarrow", "26.0.1", Path("pyarrow-26.0.1-cp311-cp311-linux_x86_64.whl"))


def test_top_level_modules_from_member_names() -> None:
    names = [
        "pyarrow/__init__.py",
        "pyarrow/lib.cpython-311-x86_64-linux-gnu.so",
        "_cffi_backend.cpython-311-x86_64-linux-gnu.so",
        "six.py",
        "tests/test_x.py",
        "README.txt",
        "pyarrow-26.0.1.dist-info/METADATA",
        "pyarrow-26.0.1.data/scripts/tool",
        "not-an-identifier/x.py",
    ]
    assert top_level_modules(names) == ("pyarrow", "_cffi_backend", "six")


def test_top_level_txt_narrows_to_what_it_names() -> None:
    names = ["yaml/__init__.py", "_yaml/__init__.py", "PyYAML-6.0.dist-info/top_level.txt"]
    assert top_level_modules(names, ["_yaml", "yaml"]) == ("yaml", "_yaml")
    assert top_level_modules(names, ["yaml"]) == ("yaml",)
    # a top_level.txt naming nothing the wheel ships is ignored
    assert top_level_modules(names, ["other"]) == ("yaml", "_yaml")


def _lines(*events: dict[str, object]) -> str:
    return "\n".join(json.dumps(e) for e in events) + "\n"


def test_judge_reports_each_failing_module() -> None:
    owners = {"pyarrow": WHEEL, "pyarrow_hotfix": WHEEL}
    output = _lines(
        {"start": "pyarrow"},
        {"module": "pyarrow", "error": "ImportError: pyarrow requires NumPy 2.0 or newer"},
        {"start": "pyarrow_hotfix"},
        {"module": "pyarrow_hotfix", "error": None},
    )
    error = "ImportError: pyarrow requires NumPy 2.0 or newer"
    assert judge("noise from an import\n" + output, 0, owners) == (
        ImportFailure("pyarrow", "26.0.1", "pyarrow", error),
    )


def test_judge_blames_the_module_being_imported_when_the_interpreter_dies() -> None:
    owners = {"fine": WHEEL, "crashy": WHEEL}
    output = _lines({"start": "fine"}, {"module": "fine", "error": None}, {"start": "crashy"})
    assert judge(output, -11, owners) == (
        ImportFailure("pyarrow", "26.0.1", "crashy", "the interpreter died with signal 11"),
    )
    assert judge(_lines({"start": "fine"}, {"module": "fine", "error": None}), 0, owners) == ()


def test_modules_named_after_the_project_are_the_ones_tried() -> None:
    """duckdb's wheel also ships adbc_driver_duckdb, which imports a dependency of an
    optional extra only: importing it would fail although ``import duckdb`` works."""
    names = [
        "duckdb/__init__.py",
        "duckdb/duckdb.cpython-311-x86_64-linux-gnu.so",
        "adbc_driver_duckdb/__init__.py",
        "duckdb-2.0.1.dist-info/METADATA",
    ]
    assert top_level_modules(names, project="duckdb") == ("duckdb",)
    assert top_level_modules(names) == ("duckdb", "adbc_driver_duckdb")
    # No module named after the project: every one is tried.
    bindings = ["_argon2_cffi_bindings/__init__.py", "other/__init__.py"]
    assert top_level_modules(bindings, project="argon2-cffi-bindings") == ("_argon2_cffi_bindings",)
    assert top_level_modules(["PIL/__init__.py"], project="pillow") == ("PIL",)
