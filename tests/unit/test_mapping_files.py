"""Mapping layers (built-in < system data < site < user < pyproject.toml < --mapping),
per-ecosystem package grammars, the ``default_specs`` rule and ``route: "pypi"`` entries."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from sysnative.errors import MappingError
from sysnative.mapping.files import load_layers, load_pyproject
from sysnative.mapping.parse import loads
from sysnative.models import Route
from sysnative.plan.route import Classification, Decision, Kind, RoutePolicy, Unroutable, decide


def write_mapping(path: Path, entries: list[dict[str, Any]], **top: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"mappings": entries, **top}), encoding="utf-8")
    return path


def entry(project: str, *packages: str, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"id": f"dep:pypi/{project}", "specs": list(packages)}
    if extra:
        item["extra_metadata"] = extra
    return item


def data_dir(index: int = 0) -> Path:
    return Path(os.environ["XDG_DATA_DIRS"].split(os.pathsep)[index])


def site_dir() -> Path:
    return Path(os.environ["XDG_CONFIG_DIRS"].split(os.pathsep)[0]) / "sysnative"


def user_dir() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "sysnative"


def test_without_overrides_the_built_in_table_is_used() -> None:
    table = load_layers("debian")
    found = table.lookup("numpy")
    assert found is not None
    assert found.packages[0] == "python3-numpy"
    assert found.layer == "built-in"


def test_each_layer_overrides_the_one_below(tmp_path: Path) -> None:
    pep804 = data_dir() / "external-packaging-metadata-mappings" / "debian.mapping.json"
    write_mapping(pep804, [entry("numpy", "python3-numpy-data"), entry("foo", "python3-foo")])
    write_mapping(site_dir() / "debian.mapping.json", [entry("numpy", "python3-numpy-site")])
    write_mapping(user_dir() / "debian.mapping.json", [entry("bar", "python3-bar-user")])
    (tmp_path / "pyproject.toml").write_text(
        '[tool.sysnative.mapping.debian]\nbar = "python3-bar-project"\nbaz = false\n',
        encoding="utf-8",
    )
    cli_file = write_mapping(tmp_path / "cli.json", [entry("baz", "python3-baz-cli")])

    table = load_layers("debian", project_dir=tmp_path)
    layers = {name: table.lookup(name) for name in ("numpy", "foo", "bar", "baz", "six")}
    assert {k: (v.packages, v.layer) for k, v in layers.items() if v} == {
        "numpy": (("python3-numpy-site",), "site config"),
        "foo": (("python3-foo",), "system data"),
        "bar": (("python3-bar-project",), "pyproject.toml"),
        "baz": ((), "pyproject.toml"),
        "six": (("python3-six",), "built-in"),
    }
    baz = table.lookup("baz")
    assert baz is not None
    assert baz.pypi_only

    table = load_layers("debian", project_dir=tmp_path, files=[str(cli_file)])
    top = table.lookup("baz")
    assert top is not None
    assert (top.packages, top.layer, top.pypi_only) == (("python3-baz-cli",), "--mapping", False)


def test_first_xdg_data_dir_is_the_most_important(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for directory, package in ((first, "python3-first"), (second, "python3-second")):
        path = directory / "external-packaging-metadata-mappings" / "debian.mapping.json"
        write_mapping(path, [entry("numpy", package)])
    monkeypatch.setenv("XDG_DATA_DIRS", f"{first}{os.pathsep}{second}")
    found = load_layers("debian").lookup("numpy")
    assert found is not None
    assert found.packages == ("python3-first",)


def test_a_layer_for_another_ecosystem_is_not_read() -> None:
    write_mapping(site_dir() / "fedora.mapping.json", [entry("numpy", "python3-numpy-rpm")])
    found = load_layers("debian").lookup("numpy")
    assert found is not None
    assert found.packages == ("python3-numpy",)


def test_a_mapping_file_for_another_ecosystem_is_refused(tmp_path: Path) -> None:
    path = write_mapping(tmp_path / "x.json", [entry("numpy", "python3-numpy")], name="fedora")
    with pytest.raises(MappingError, match="'fedora', but the provider uses 'debian'"):
        load_layers("debian", files=[str(path)])


def test_a_config_named_mapping_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="cannot read the mapping file"):
        load_layers("debian", site_files=[str(tmp_path / "missing.json")])


def test_bad_data_in_a_layer_names_the_file_and_entry() -> None:
    path = write_mapping(user_dir() / "debian.mapping.json", [entry("numpy", "python3-numpy;x")])
    with pytest.raises(MappingError) as info:
        load_layers("debian")
    assert str(info.value).startswith(f"{path}: entry #0 (dep:pypi/numpy):")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[tool.sysnative.mapping.debian]\nPillow = ["python3-pil"]\n', ("python3-pil",)),
        (
            '[tool.sysnative.mapping.debian]\nh5py = { specs = ["python3-h5py"], '
            'dist-names = ["h5py._debian_h5py_serial"] }\n',
            ("python3-h5py",),
        ),
    ],
)
def test_pyproject_forms(tmp_path: Path, text: str, expected: tuple[str, ...]) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(text, encoding="utf-8")
    table = load_pyproject(path, "debian")
    assert table is not None
    (only,) = list(table)
    assert only.packages == expected
    assert only.layer == "pyproject.toml"
    assert str(path) in only.origin


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[tool.sysnative.mapping.debian]\nnumpy = 3\n", "numpy: the value must be"),
        ('[tool.sysnative.mapping.debian]\nnumpy = "-oAPT::x"\n', "unsafe or invalid package"),
        ("[tool.sysnative.mapping.debian\n", "not valid TOML"),
        ('[tool.sysnative]\nmapping = "x"\n', "must be a table of ecosystems"),
    ],
)
def test_pyproject_errors_name_the_file(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as info:
        load_pyproject(path, "debian")
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_pyproject_without_a_section_for_the_ecosystem(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.sysnative.mapping.fedora]\nnumpy = "python3-numpy"\n', "utf-8")
    assert load_pyproject(path, "debian") is None
    assert load_pyproject(tmp_path / "absent.toml", "debian") is None


@pytest.mark.parametrize(
    ("ecosystem", "package", "ok"),
    [
        ("fedora", "python3dist(numpy)", True),
        ("fedora", "python3-PyYAML", True),
        ("debian", "python3dist(numpy)", False),
        ("debian", "python3-PyYAML", False),
        ("homebrew", "python@3.12", True),
        ("debian", "python@3.12", False),
        ("conda-forge", "_libgcc_mutex", True),
        ("arch", "python-pyqt5", True),
        ("fedora", "python3dist(numpy) ; reboot", False),
        ("homebrew", "-v", False),
        ("conda-forge", "numpy*", False),
    ],
)
def test_package_grammar_is_the_ecosystems(ecosystem: str, package: str, ok: bool) -> None:
    document = json.dumps({"name": ecosystem, "mappings": [entry("foo", package)]})
    if ok:
        found = loads(document).lookup("foo")
        assert found is not None
        assert found.packages == (package,)
    else:
        with pytest.raises(MappingError, match="unsafe or invalid package name"):
            loads(document)


def test_default_specs_rule_maps_projects_without_an_entry() -> None:
    document = json.dumps(
        {
            "name": "fedora",
            "extra_metadata": {"default_specs": ["python3dist({name})"]},
            "mappings": [entry("psycopg2-binary", "python3-psycopg2", alias_of="psycopg2")],
        }
    )
    table = loads(document, origin="fedora.mapping.json")
    ruled = table.lookup("Zope.Interface")
    assert ruled is not None
    assert ruled.packages == ("python3dist(zope-interface)",)
    assert ruled.layer == "rule"
    explicit = table.lookup("psycopg2-binary")
    assert explicit is not None
    assert explicit.packages == ("python3-psycopg2",)
    # The rule is not an entry: iteration and membership see only the explicit ones.
    assert "zope-interface" not in table
    assert len(table) == 1


@pytest.mark.parametrize(
    "template", ["python3dist(numpy)", "python3dist({name}) x", "-{name}", "{name};"]
)
def test_unsafe_rules_are_refused(template: str) -> None:
    document = json.dumps(
        {"name": "fedora", "extra_metadata": {"default_specs": [template]}, "mappings": []}
    )
    with pytest.raises(MappingError, match="not a package-name template"):
        loads(document)


def test_rule_of_the_highest_layer_wins(tmp_path: Path) -> None:
    write_mapping(
        user_dir() / "fedora.mapping.json",
        [],
        name="fedora",
        extra_metadata={"default_specs": ["python3-{name}"]},
    )
    ruled = load_layers("fedora").lookup("attrs")
    assert ruled is not None
    assert ruled.packages == ("python3-attrs",)


def test_route_must_be_pypi() -> None:
    document = json.dumps({"mappings": [entry("foo", "python3-foo", route="system")]})
    with pytest.raises(MappingError, match="route 'system' is not understood"):
        loads(document)


def _classification(kind: Kind, wheel: bool) -> Classification:
    from packaging.utils import NormalizedName
    from packaging.version import Version

    from sysnative.models import FileKind, IndexFile

    file = IndexFile(
        NormalizedName("foo"),
        Version("1.0"),
        "foo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        "http://127.0.0.1/foo.whl",
        FileKind.WHEEL,
    )
    return Classification(kind, file if wheel else None, "has compiled code")


def test_pypi_only_entry_routes_a_native_project_to_the_index() -> None:
    table = loads(
        json.dumps({"mappings": [entry("foo", route="pypi")]}), origin="user.mapping.json"
    )
    decision = decide(
        "foo",  # type: ignore[arg-type]
        _classification(Kind.NATIVE, wheel=True),
        table.lookup("foo"),
        RoutePolicy(),
    )
    assert isinstance(decision, Decision)
    assert decision.route is Route.PYPI
    assert decision.native_wheel
    assert "always comes from the index" in decision.reason


def test_pypi_only_entry_without_a_wheel_is_unroutable() -> None:
    table = loads(json.dumps({"mappings": [entry("foo", route="pypi")]}), origin="u.json")
    result = decide(
        "foo",  # type: ignore[arg-type]
        _classification(Kind.NATIVE, wheel=False),
        table.lookup("foo"),
        RoutePolicy(),
    )
    assert isinstance(result, Unroutable)
    assert "always comes from the index" in result.why
