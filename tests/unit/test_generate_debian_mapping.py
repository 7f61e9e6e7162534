"""scripts/generate_debian_mapping.py on a tiny fallback table: deterministic, and --check works.

The script is not part of the package, so it is loaded from its path; it only needs the
inputs given on the command line (no dpkg, no network) when ``--source-version`` is passed.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from sysnative.mapping.files import load_file

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "mapping"
FALLBACK = FIXTURES / "cpython3_fallback_tiny"
CURATED = FIXTURES / "curated_tiny.json"

Main = Callable[[Sequence[str]], int]


@pytest.fixture(scope="module")
def generator() -> Any:
    if str(ROOT / "scripts") not in sys.path:  # it imports the generators' shared helpers
        sys.path.insert(0, str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location(
        "generate_debian_mapping", ROOT / "scripts" / "generate_debian_mapping.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run(generator: Any, monkeypatch: pytest.MonkeyPatch) -> Main:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)

    def main(extra: Sequence[str]) -> int:
        argv = [str(FALLBACK), "--curated", str(CURATED), "--source-version", "1.2.3", *extra]
        result: int = generator.main(argv)
        return result

    return main


def test_two_runs_give_the_same_bytes(run: Main, tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert run(["--date", "2024-01-02", "--output", str(first)]) == 0
    assert run(["--date", "2024-01-02", "--output", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes().endswith(b"}\n")


def test_output_content(run: Main, tmp_path: Path) -> None:
    out = tmp_path / "debian.mapping.json"
    assert run(["--date", "2024-01-02", "--output", str(out)]) == 0
    document = json.loads(out.read_text(encoding="utf-8"))
    provenance = document["provenance"]
    assert provenance["source_version"] == "1.2.3"
    assert provenance["generated"] == "2024-01-02"
    assert provenance["fallback_lines"] == 11
    assert provenance["fallback_skipped"][0]["line"] == "_pycbf python3-pycbf"
    ids = [entry["id"] for entry in document["mappings"]]
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids)) == provenance["entries"]

    table = load_file(out)
    simpy = table.lookup("SimPy")
    assert simpy is not None
    assert simpy.packages == ("python3-simpy3", "python3-simpy")  # canonical spelling first
    numpy = table.lookup("numpy")
    assert numpy is not None
    assert numpy.version_rule == "PEP386 s/^/1:/"
    assert table.lookup("2ping") is not None
    binary = table.lookup("psycopg2-binary")
    assert binary is not None
    assert binary.alias_of == "psycopg2"
    assert table.reverse("python3-psycopg2") == "psycopg2"
    assert table.reverse("python3-pil") == "pillow"
    assert table.reverse("python3-configobj") == "configobj"  # named like the package
    assert table.provided_by("python3-configobj") == ("configobj", "validate")
    assert table.reverse("python3") is None
    argparse = table.lookup("argparse")
    assert argparse is not None
    assert argparse.packages == ("python3",)


def test_source_date_epoch(run: Main, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    out = tmp_path / "out.json"
    assert run(["--output", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["provenance"]["generated"] == "2023-11-14"


def test_check_detects_drift(run: Main, tmp_path: Path) -> None:
    out = tmp_path / "debian.mapping.json"
    assert run(["--date", "2024-01-02", "--output", str(out)]) == 0
    # Without --date, --check reuses the committed date, so an unchanged file passes.
    assert run(["--check", "--output", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    out.write_text(text.replace('"python3-numpy"', '"python3-numpy-old"'), encoding="utf-8")
    assert run(["--check", "--output", str(out)]) == 1
    assert out.read_text(encoding="utf-8") != text  # --check never writes


def test_check_on_missing_output(run: Main, tmp_path: Path) -> None:
    assert run(["--check", "--output", str(tmp_path / "absent.json")]) == 1


def test_bad_input_is_an_error(run: Main, generator: Any, tmp_path: Path) -> None:
    bad = tmp_path / "fallback"
    bad.write_text("numpy python3-numpy\n!!! nonsense\n", encoding="utf-8")
    argv = [str(bad), "--curated", str(CURATED), "--source-version", "1", "--date", "2024-01-02"]
    assert generator.main([*argv, "--output", str(tmp_path / "o.json")]) == 2
    assert run(["--date", "not-a-date", "--output", str(tmp_path / "o.json")]) == 2


def test_shipped_file_is_up_to_date_with_installed_dh_python(generator: Any) -> None:
    """Only meaningful where dh-python is installed (the data source); skipped elsewhere."""
    fallback = Path(generator.DEFAULT_FALLBACK)
    if not fallback.exists():
        pytest.skip("dh-python's cpython3_fallback is not installed")
    shipped = json.loads(Path(generator.DEFAULT_OUTPUT).read_text(encoding="utf-8"))
    version = shipped["provenance"]["source_version"]
    if generator.dh_python_version() != version:
        pytest.skip("the installed dh-python differs from the one the data came from")
    assert generator.main(["--check"]) == 0
