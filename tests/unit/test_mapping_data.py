"""The shipped mapping data: schema, known traps, provenance, fixtures, deterministic generators.

Every ``src/sysnative/data/*.mapping.json`` must validate against the shipped JSON Schema and
load with sysnative's loader; the package names that are easy to get wrong (psycopg2-binary,
opencv, Pillow, PyYAML, pygobject, pycairo, h5py, torch on conda-forge, ...) must come out
right in every ecosystem that has the package. The generator scripts are not part of the
package, so they are loaded from their paths; none of these tests needs the network.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from packaging.utils import canonicalize_name
from packaging.version import Version

from sysnative.mapping.files import load_builtin

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "src" / "sysnative" / "data"
SCRIPTS = ROOT / "scripts"
SCHEMA = DATA / "external-mapping.schema.json"
TOP = ROOT / "fixtures" / "coverage" / "top500_native.json"
SHIPPED = sorted(DATA.glob("*.mapping.json"))
ECOSYSTEMS = ("debian", "ubuntu", "fedora", "conda-forge", "homebrew", "arch")
MANAGERS = {
    "debian": ["apt"],
    "ubuntu": ["apt"],
    "fedora": ["dnf"],
    "conda-forge": ["conda", "mamba", "micromamba"],
    "homebrew": ["brew"],
    "arch": ["pacman"],
}
#: A machine path or a registry host: never written into a file the project ships.
LEAK_RE = re.compile(
    r"(?<![\w:.])/(?:tmp|root|work|home)/|pypi\.org|pythonhosted\.org|deb\.debian\.org"
    r"|anaconda\.org|conda\.anaconda|formulae\.brew\.sh|archlinux\.org|fedoraproject\.org"
)


def load_script(name: str) -> Any:
    """Import ``scripts/<name>.py`` (its siblings importable, as when run from scripts/)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def read(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


# --------------------------------------------------------------------------------------------
# Schema


def test_every_ecosystem_ships_a_file() -> None:
    assert sorted(p.name[: -len(".mapping.json")] for p in SHIPPED) == sorted(ECOSYSTEMS)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_file_validates_and_loads(path: Path, validator: Draft202012Validator) -> None:
    document = read(path)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert errors == []
    ecosystem = path.name[: -len(".mapping.json")]
    assert document["name"] == ecosystem
    assert document["$schema"] == "external-mapping.schema.json"
    table = load_builtin(ecosystem)
    assert len(table) == len(document["mappings"])
    ids = [entry["id"] for entry in document["mappings"]]
    assert ids == sorted(ids)


def _minimal(name: str, specs: Any, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": "dep:pypi/foo", "specs": specs}
    if extra:
        entry["extra_metadata"] = extra
    return {"name": name, "mappings": [entry]}


@pytest.mark.parametrize(
    ("document", "valid"),
    [
        (_minimal("debian", ["python3-foo"]), True),
        (_minimal("debian", ["Python3-Foo"]), False),
        (_minimal("debian", ["-o"]), False),
        (_minimal("ubuntu", "python3-foo bar"), False),
        (_minimal("fedora", ["python3dist(foo)", "python3-foo"]), True),
        (_minimal("fedora", ["python3dist(Foo Bar)"]), False),
        (_minimal("conda-forge", ["typing_extensions"]), True),
        (_minimal("conda-forge", ["PyTorch"]), False),
        (_minimal("homebrew", ["python@3.12"]), True),
        (_minimal("homebrew", ["brew;rm"]), False),
        (_minimal("arch", ["python-typing_extensions"]), True),
        (_minimal("arch", ["python typing"]), False),
        (_minimal("debian", {"run": ["python3-foo"], "build": "python3-foo-dev"}), True),
        (_minimal("debian", {"runtime": ["python3-foo"]}), False),
        (_minimal("debian", [], route="pypi"), True),
        (_minimal("debian", [], route="system"), False),
        (_minimal("debian", ["python3-foo"], alias_of="bar", primary_for=["python3-foo"]), False),
        (_minimal("debian", ["python3-foo"], alias_of="Not Canonical"), False),
        (_minimal("debian", ["python3-foo"], dist_names="foo"), False),
        ({"name": "debian", "mappings": [{"id": "dep:pypi/Foo", "specs": []}]}, False),
        ({"name": "debian", "mappings": [{"id": "dep:pypi/foo"}]}, False),
        ({"name": "debian", "mappings": [{"id": "dep:pypi/foo", "specs": [], "x": 1}]}, False),
        ({"name": "debian", "mappings": [], "provenance": {"source": "x"}}, False),
        ({"name": "fedora", "mappings": [], "extra_metadata": {"default_specs": ["foo"]}}, False),
        (
            {
                "name": "fedora",
                "mappings": [],
                "extra_metadata": {"default_specs": ["python3dist({name})"]},
            },
            True,
        ),
    ],
)
def test_schema_accepts_and_refuses(
    document: dict[str, Any], valid: bool, validator: Draft202012Validator
) -> None:
    assert validator.is_valid(document) is valid


def test_schema_checks_package_manager_commands(validator: Draft202012Validator) -> None:
    document = read(DATA / "fedora.mapping.json")
    assert validator.is_valid(document)
    document["package_managers"][0]["commands"]["install"]["command"] = ["dnf", "install"]
    assert not validator.is_valid(document)  # the '{}' placeholder must appear exactly once


# --------------------------------------------------------------------------------------------
# Known traps

TRAPS = [
    *[
        (eco, name, package)
        for eco in ("debian", "ubuntu")
        for name, package in [
            ("psycopg2-binary", "python3-psycopg2"),
            ("opencv-python", "python3-opencv"),
            ("opencv-python-headless", "python3-opencv"),
            ("Pillow", "python3-pil"),
            ("PyYAML", "python3-yaml"),
            ("pygobject", "python3-gi"),
            ("pycairo", "python3-cairo"),
            ("h5py", "python3-h5py"),
            ("setuptools", "python3-setuptools"),
            ("zope.interface", "python3-zope.interface"),
            ("scikit-learn", "python3-sklearn"),
        ]
    ],
    ("fedora", "psycopg2-binary", "python3-psycopg2"),
    ("fedora", "opencv-python", "python3-opencv"),
    ("fedora", "opencv-python-headless", "python3-opencv"),
    ("conda-forge", "torch", "pytorch"),
    ("conda-forge", "opencv-python", "opencv"),
    ("conda-forge", "opencv-python-headless", "opencv"),
    ("conda-forge", "psycopg2-binary", "psycopg2"),
    ("conda-forge", "Pillow", "pillow"),
    ("conda-forge", "PyYAML", "pyyaml"),
    ("conda-forge", "tables", "pytables"),
    ("conda-forge", "h5py", "h5py"),
    ("conda-forge", "msgpack", "msgpack-python"),
    ("conda-forge", "typing-extensions", "typing_extensions"),
    ("conda-forge", "brotli", "brotli-python"),
    ("homebrew", "Pillow", "pillow"),
    ("homebrew", "PyYAML", "pyyaml"),
    ("homebrew", "pygobject", "pygobject3"),
    ("homebrew", "pycairo", "py3cairo"),
    ("homebrew", "opencv-python", "opencv"),
    ("arch", "Pillow", "python-pillow"),
    ("arch", "PyYAML", "python-yaml"),
    ("arch", "pygobject", "python-gobject"),
    ("arch", "pycairo", "python-cairo"),
    ("arch", "opencv-python", "python-opencv"),
    ("arch", "psycopg2-binary", "python-psycopg2"),
    ("arch", "torch", "python-pytorch"),
    ("arch", "tables", "python-pytables"),
]


@pytest.mark.parametrize(("ecosystem", "project", "package"), TRAPS)
def test_trap(ecosystem: str, project: str, package: str) -> None:
    entry = load_builtin(ecosystem).lookup(project)
    assert entry is not None, f"{project} is not mapped on {ecosystem}"
    assert entry.packages[0] == package


@pytest.mark.parametrize("ecosystem", ["debian", "ubuntu", "conda-forge", "fedora", "arch"])
def test_psycopg2_binary_is_an_alias(ecosystem: str) -> None:
    table = load_builtin(ecosystem)
    entry = table.lookup("psycopg2-binary")
    assert entry is not None
    assert entry.alias_of == "psycopg2"
    assert table.reverse(entry.packages[0]) != "psycopg2-binary"


def test_debian_has_no_argon2_cffi_bindings_package() -> None:
    for ecosystem in ("debian", "ubuntu"):
        entry = load_builtin(ecosystem).lookup("argon2-cffi-bindings")
        assert entry is not None
        assert entry.packages == ()


def test_fedora_rule_and_exceptions() -> None:
    document = read(DATA / "fedora.mapping.json")
    assert document["extra_metadata"]["default_specs"] == ["python3dist({name})"]
    table = load_builtin("fedora")
    for name in ("psycopg2-binary", "opencv-python", "opencv-python-headless"):
        assert name in table  # an explicit exception, not the rule
    exceptions = {e["id"][len("dep:pypi/") :]: e for e in document["mappings"]}
    assert all(e["extra_metadata"]["note"] for e in exceptions.values())
    opencv = table.lookup("opencv-python")
    assert opencv is not None
    assert opencv.dist_names == ("opencv",)
    assert table.reverse("python3-opencv") == "opencv-python"
    for project, provide in [
        ("numpy", "python3dist(numpy)"),
        ("Pillow", "python3dist(pillow)"),
        ("zope.interface", "python3dist(zope-interface)"),
        ("ruamel.yaml.clib", "python3dist(ruamel-yaml-clib)"),
    ]:
        assert project not in table
        entry = table.lookup(project)
        assert entry is not None
        assert entry.packages == (provide,)
    pywin32 = table.lookup("pywin32")
    assert pywin32 is not None
    assert pywin32.packages == ()


def test_conda_forge_reverse_direction() -> None:
    table = load_builtin("conda-forge")
    assert table.reverse("opencv") == "opencv-python"
    assert table.reverse("psycopg2") == "psycopg2"
    assert table.reverse("pyqt") == "pyqt5"
    assert table.reverse("pytorch") == "torch"


def test_curated_ecosystems_do_not_guess() -> None:
    """Homebrew and Arch map only what was established; the convention is not a rule."""
    for ecosystem in ("homebrew", "arch"):
        document = read(DATA / f"{ecosystem}.mapping.json")
        assert "default_specs" not in document["extra_metadata"]
        assert document["extra_metadata"]["convention"]
        assert all(e["extra_metadata"]["note"] for e in document["mappings"])
        assert load_builtin(ecosystem).lookup("some-project-nobody-packages") is None
    # Homebrew's pytorch formula keeps torch in a private virtualenv: not mapped.
    assert load_builtin("homebrew").lookup("torch") is None


# --------------------------------------------------------------------------------------------
# Provenance and package managers


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_provenance(path: Path) -> None:
    document = read(path)
    ecosystem = document["name"]
    provenance = document["provenance"]
    assert provenance["source"]
    assert provenance["source_version"]
    datetime.date.fromisoformat(provenance["generated"])
    assert provenance["generator"].startswith("scripts/generate_")
    assert provenance["entries"] == len(document["mappings"])
    assert [m["name"] for m in document["package_managers"]] == MANAGERS[ecosystem]
    assert LEAK_RE.search(path.read_text(encoding="utf-8")) is None


def test_ubuntu_says_it_is_derived_from_debian() -> None:
    ubuntu, debian = read(DATA / "ubuntu.mapping.json"), read(DATA / "debian.mapping.json")
    assert "DERIVED FROM SYSNATIVE'S DEBIAN MAPPING" in ubuntu["description"]
    assert "not reachable" in ubuntu["provenance"]["derivation"]
    assert ubuntu["provenance"]["derived_from"]["generated"] == debian["provenance"]["generated"]
    assert ubuntu["mappings"] == debian["mappings"]


def test_conda_forge_cites_its_source() -> None:
    source = read(DATA / "conda-forge.mapping.json")["provenance"]["source_distribution"]
    assert source["name"] == "conda-pypi"
    assert source["license"] == "MIT"
    assert source["file"] == "conda_pypi/grayskull_pypi_mapping.json"
    assert re.fullmatch(r"[0-9a-f]{64}", source["file_sha256"])
    Version(source["version"])


def test_package_manager_commands() -> None:
    dnf = read(DATA / "fedora.mapping.json")["package_managers"][0]["commands"]
    assert dnf["install"]["command"] == ["dnf", "install", "-y", "{}"]
    assert dnf["query"]["command"] == ["rpm", "-q", "--whatprovides", "{}"]
    for path in SHIPPED:
        for manager in read(path)["package_managers"]:
            for command in manager["commands"].values():
                assert command["command"].count("{}") == 1


# --------------------------------------------------------------------------------------------
# The coverage fixture


def test_top500_fixture() -> None:
    text = TOP.read_text(encoding="utf-8")
    assert LEAK_RE.search(text) is None
    document = json.loads(text)
    provenance = document["provenance"]
    for key in ("ranking", "ranking_date", "native_rule", "index", "generated", "generator"):
        assert provenance[key]
    datetime.date.fromisoformat(provenance["ranking_date"])
    datetime.date.fromisoformat(provenance["generated"])
    counts = provenance["counts"]
    assert counts["ranked"] == 500 == provenance["ranks"][1]
    assert counts["native"] + counts["pure"] + counts["not_found"] == 500
    projects = document["projects"]
    assert len(projects) == counts["native"] > 0
    ranks = [p["rank"] for p in projects]
    assert ranks == sorted(ranks)
    assert len(set(ranks)) == len(ranks)
    assert all(1 <= r <= 500 for r in ranks)
    names = [p["name"] for p in projects]
    assert len(set(names)) == len(names)
    assert all(canonicalize_name(n) == n for n in names)
    for project in projects:
        Version(project["version"])
        assert project["platform_wheels"] > 0 or project["sdist"]
    assert {"numpy", "cryptography", "pyyaml"} <= set(names)


# --------------------------------------------------------------------------------------------
# Generators are deterministic


@pytest.fixture
def no_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


@pytest.mark.usefixtures("no_epoch")
@pytest.mark.parametrize(
    ("script", "argv", "output"),
    [
        ("generate_curated_mapping", ["homebrew"], "homebrew.mapping.json"),
        ("generate_curated_mapping", ["arch"], "arch.mapping.json"),
        ("generate_fedora_mapping", [], "fedora.mapping.json"),
        ("generate_ubuntu_mapping", [], "ubuntu.mapping.json"),
    ],
)
def test_committed_file_matches_regeneration(
    script: str, argv: list[str], output: str, tmp_path: Path
) -> None:
    """The inputs are in the repository, so the shipped file must be their regeneration."""
    module = load_script(script)
    assert module.main([*argv, "--check"]) == 0
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert module.main([*argv, "--date", "2024-01-02", "--output", str(first)]) == 0
    assert module.main([*argv, "--date", "2024-01-02", "--output", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    assert read(first)["provenance"]["generated"] == "2024-01-02"
    # Only the date differs from the shipped file.
    shipped = read(DATA / output)
    regenerated = read(first)
    shipped["provenance"].pop("generated")
    regenerated["provenance"].pop("generated")
    assert regenerated == shipped


@pytest.mark.usefixtures("no_epoch")
def test_check_detects_a_stale_file(tmp_path: Path) -> None:
    module = load_script("generate_curated_mapping")
    out = tmp_path / "arch.mapping.json"
    assert module.main(["arch", "--date", "2024-01-02", "--output", str(out)]) == 0
    assert module.main(["arch", "--check", "--output", str(out)]) == 0
    out.write_text(out.read_text(encoding="utf-8").replace("python-yaml", "python-pyyaml"))
    assert module.main(["arch", "--check", "--output", str(out)]) == 1


@pytest.mark.usefixtures("no_epoch")
def test_curated_input_is_checked(tmp_path: Path) -> None:
    module = load_script("generate_curated_mapping")
    bad = tmp_path / "bad.json"
    entry = {"name": "foo", "specs": ["python-foo"]}  # no note
    bad.write_text(json.dumps({"convention": "x", "entries": [entry]}), encoding="utf-8")
    out = tmp_path / "o.json"
    argv = ["arch", "--curated", str(bad), "--date", "2024-01-02", "--output", str(out)]
    assert module.main(argv) == 2
    entry.update(note="n", specs=["python foo"])  # not a package name
    bad.write_text(json.dumps({"convention": "x", "entries": [entry]}), encoding="utf-8")
    assert module.main(argv) == 2
    two = [
        {"name": "foo", "specs": ["python-foo"], "note": "n"},
        {"name": "bar", "specs": ["python-foo"], "note": "n"},
    ]
    bad.write_text(json.dumps({"convention": "x", "entries": two}), encoding="utf-8")
    assert module.main(argv) == 0  # a shared package gets one primary, named like it
    document = read(out)
    bar = next(e for e in document["mappings"] if e["id"] == "dep:pypi/bar")
    assert bar["extra_metadata"]["primary_for"] == []


def _fake_conda_pypi(path: Path, table: dict[str, Any]) -> Path:
    wheel = path / "conda_pypi-9.9-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(
            "conda_pypi-9.9.dist-info/METADATA",
            "Metadata-Version: 2.4\nName: conda-pypi\nVersion: 9.9\nLicense-Expression: MIT\n",
        )
        archive.writestr("conda_pypi/grayskull_pypi_mapping.json", json.dumps(table))
    return wheel


@pytest.mark.usefixtures("no_epoch")
def test_conda_forge_generator(tmp_path: Path) -> None:
    module = load_script("generate_conda_forge_mapping")
    row = {"import_name": "x", "mapping_source": "regro-bot"}
    table = {
        "msgpack": {"pypi_name": "msgpack", "conda_name": "msgpack-python", **row},
        "torch": {"pypi_name": "torch", "conda_name": "torch-wrong", **row},
        "a" * 60: {"pypi_name": "a" * 60, "conda_name": "junk", **row},
        "pyqt5": {
            "pypi_name": "pyqt5",
            "conda_name": "pyqt",
            "delimiter_min": "5.0.0",
            "delimiter_max": "6.0.0",
            **row,
        },
        "pyqt4": {"pypi_name": "pyqt4", "conda_name": "pyqt", **row},
        "opencv-python": {"pypi_name": "opencv-python", "conda_name": "opencv", **row},
        "opencv-python-headless": {
            "pypi_name": "opencv-python-headless",
            "conda_name": "opencv",
            **row,
        },
    }
    wheel = _fake_conda_pypi(tmp_path, table)
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    for out in (first, second):
        assert module.main([str(wheel), "--date", "2024-01-02", "--output", str(out)]) == 0
    assert first.read_bytes() == second.read_bytes()
    document = read(first)
    provenance = document["provenance"]
    assert provenance["source_distribution"]["version"] == "9.9"
    assert provenance["source_distribution"]["license"] == "MIT"
    assert provenance["source_skipped"] == [
        {"name": "a" * 60, "reason": "not a real PyPI project name"}
    ]
    entries = {e["id"][len("dep:pypi/") :]: e for e in document["mappings"]}
    assert entries["msgpack"]["specs"] == ["msgpack-python"]
    assert entries["torch"]["specs"] == ["pytorch"]  # the overlay wins ...
    assert entries["torch"]["extra_metadata"]["source_specs"] == ["torch-wrong"]  # ... visibly
    assert entries["pyqt5"]["extra_metadata"]["conda_version_range"] == ">=5.0.0,<6.0.0"
    assert entries["pyqt4"]["extra_metadata"]["primary_for"] == []
    assert entries["pillow"]["specs"] == ["pillow"]  # added by the overlay
    assert module.main([str(wheel), "--check", "--output", str(first)]) == 0
    assert module.main([str(tmp_path / "missing.whl"), "--output", str(first)]) == 2


# --------------------------------------------------------------------------------------------
# build_top_native and mapping_coverage (pure parts)


def test_build_top_native_is_deterministic(tmp_path: Path) -> None:
    module = load_script("build_top_native")
    ranking = tmp_path / "ranking.tsv"
    ranking.write_text(
        "name\tversion\tmonth\trank_among_15000_most_downloaded\tsummary\n"
        "NumPy\t2\t2026-01\t2\tx\n"
        "six\t1\t2026-01\t1\tx\n"
        "unranked\t1\t2026-01\t\tx\n"
        "far\t1\t2026-01\t900\tx\n",
        encoding="utf-8",
    )
    ranked = module.read_ranking(ranking, 2)
    assert [(r.rank, r.name) for r in ranked] == [(1, "six"), (2, "numpy")]

    def info(filename: str, version: str, platforms: set[str], yanked: bool = False) -> Any:
        return module.FileInfo(
            filename, Version(version), bool(platforms), frozenset(platforms), yanked
        )

    six = [info("six-1.0-py3-none-any.whl", "1.0", {"any"})]
    numpy = [
        info("numpy-2.0.tar.gz", "2.0", set()),
        info("numpy-2.0-cp312-cp312-manylinux_2_17_x86_64.whl", "2.0", {"manylinux_2_17_x86_64"}),
        info("numpy-3.0rc1-py3-none-any.whl", "3.0rc1", {"any"}),  # pre-release: ignored
        info("numpy-2.1-py3-none-any.whl", "2.1", {"any"}, yanked=True),  # yanked: ignored
    ]
    verdicts = {"six": module.classify(six), "numpy": module.classify(numpy)}
    assert verdicts["six"].status == "pure"
    assert verdicts["numpy"].status == "native"
    assert verdicts["numpy"].version == "2.0"
    assert module.classify([]).status == "not-found"
    first = module.render(module.build_document(ranked, verdicts, "2024-01-02", "2024-01-01"))
    second = module.render(module.build_document(ranked, verdicts, "2024-01-02", "2024-01-01"))
    assert first == second
    document = json.loads(first)
    assert [p["name"] for p in document["projects"]] == ["numpy"]
    assert document["provenance"]["counts"] == {
        "ranked": 2,
        "native": 1,
        "pure": 1,
        "not_found": 0,
    }
    assert LEAK_RE.search(first) is None


def test_mapping_coverage_parsers_and_checks() -> None:
    module = load_script("mapping_coverage")
    shipped = module.parse_contents(
        [
            "python3-yaml: /usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA",
            "python3-zope.interface: /usr/lib/python3/dist-packages/"
            "zope.interface-5.5.2.egg-info/PKG-INFO",
            "python3-h5py-serial: /usr/lib/python3/dist-packages/"
            "h5py._debian_h5py_serial-3.7.0.dist-info/METADATA",
            "python3-psycopg2: /usr/lib/python3/dist-packages/psycopg2-2.9.5.egg-info",
            "unrelated: /usr/share/doc/foo",
        ]
    )
    assert shipped == {
        "pyyaml": {"python3-yaml"},
        "zope-interface": {"python3-zope.interface"},
        "h5py-debian-h5py-serial": {"python3-h5py-serial"},
        "psycopg2": {"python3-psycopg2"},
    }
    real, virtual = module.parse_available(
        "Package: python3-yaml\nProvides: python3-pyyaml (= 6.0)\n\n"
        "Package: python3-h5py\n\nPackage: python3-psycopg2\n"
    )
    assert real == {"python3-yaml", "python3-h5py", "python3-psycopg2"}
    assert virtual == {"python3-pyyaml"}
    debian = load_builtin("debian")
    checks = {
        c.project: c
        for c in module.check_debian(
            debian,
            [canonicalize_name(n) for n in ("PyYAML", "h5py", "psycopg2-binary", "numpy")],
            shipped,
            real,
            virtual,
        )
    }
    assert checks["pyyaml"].verified
    assert checks["pyyaml"].exists
    assert checks["h5py"].verified  # through dist_names and the -serial alternative
    assert checks["psycopg2-binary"].verified  # through dist_names: psycopg2
    assert not checks["numpy"].verified  # not in this tiny Contents list
    assert not checks["numpy"].exists
    assert checks["numpy"].packaged_by == []
    coverage = module.measure(
        load_builtin("fedora"), "fedora", ["numpy", "pywin32", "opencv-python"]
    )
    assert (coverage.by_rule, coverage.not_shipped, coverage.explicit) == (
        ["numpy"],
        ["pywin32"],
        ["opencv-python"],
    )
