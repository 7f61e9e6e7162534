"""The mapping loader: the shipped Debian data, lookups both ways, and load-time validation.

Validation matters because package names from these files reach a privileged package
manager's command line; every refused file must say which file and which entry is wrong.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sysnative.errors import MappingError
from sysnative.mapping.files import load_builtin, load_file
from sysnative.mapping.parse import loads
from sysnative.mapping.table import MappingEntry, MappingTable, merge

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mapping"


@pytest.fixture(scope="module")
def debian() -> MappingTable:
    return load_builtin("debian")


# --- the shipped file --------------------------------------------------------------------


def test_builtin_debian_loads_and_describes_itself(debian: MappingTable) -> None:
    assert debian.ecosystem == "debian"
    assert debian.origins == ("built-in:debian",)
    assert len(debian) > 5000
    assert debian.provenance["entries"] == len(debian)
    assert debian.provenance["source"] == "dh-python cpython3_fallback"
    assert debian.provenance["generator"] == "scripts/generate_debian_mapping.py"


def test_builtin_is_cached(debian: MappingTable) -> None:
    assert load_builtin("debian") is debian


def test_unknown_builtin_ecosystem() -> None:
    with pytest.raises(MappingError, match="no mapping for the ecosystem 'nosuch'") as info:
        load_builtin("nosuch")
    assert info.value.hint is not None
    assert "debian" in info.value.hint


def test_builtin_ecosystem_name_cannot_escape_data_dir() -> None:
    with pytest.raises(MappingError, match="not a valid mapping ecosystem"):
        load_builtin("../errors")


@pytest.mark.parametrize(
    ("project", "package"),
    [
        ("psycopg2-binary", "python3-psycopg2"),
        ("opencv-python", "python3-opencv"),
        ("opencv-python-headless", "python3-opencv"),
        ("opencv-contrib-python", "python3-opencv"),
        ("Pillow", "python3-pil"),
        ("PyYAML", "python3-yaml"),
        ("h5py", "python3-h5py"),
        ("pygobject", "python3-gi"),
        ("PyGObject", "python3-gi"),
        ("pycairo", "python3-cairo"),
        ("kiwisolver", "python3-kiwisolver"),
        ("argon2-cffi", "python3-argon2"),
    ],
)
def test_known_traps(debian: MappingTable, project: str, package: str) -> None:
    entry = debian.lookup(project)
    assert entry is not None
    assert entry.preferred == package


@pytest.mark.parametrize(
    ("project", "package"),
    [
        ("numpy", "python3-numpy"),
        ("scipy", "python3-scipy"),
        ("pandas", "python3-pandas"),
        ("lxml", "python3-lxml"),
        ("cryptography", "python3-cryptography"),
        ("matplotlib", "python3-matplotlib"),
        ("netcdf4", "python3-netcdf4"),
        ("netCDF4", "python3-netcdf4"),
        ("cftime", "python3-cftime"),
        ("bottleneck", "python3-bottleneck"),
        ("numexpr", "python3-numexpr"),
        ("pywavelets", "python3-pywt"),
        ("scikit-image", "python3-skimage"),
        ("scikit_image", "python3-skimage"),
        ("statsmodels", "python3-statsmodels"),
        ("msgpack", "python3-msgpack"),
        ("psutil", "python3-psutil"),
        ("pyyaml", "python3-yaml"),
        ("zope.interface", "python3-zope.interface"),
        ("twisted", "python3-twisted"),
    ],
)
def test_common_native_projects(debian: MappingTable, project: str, package: str) -> None:
    """Packages checked with ``apt-cache policy`` on Debian 12 when the data was generated."""
    entry = debian.lookup(project)
    assert entry is not None
    assert entry.packages[0] == package
    assert entry.origin == "built-in:debian"


def test_unknown_project(debian: MappingTable) -> None:
    assert debian.lookup("surely-not-a-debian-project-xyz") is None
    assert "surely-not-a-debian-project-xyz" not in debian
    assert "NumPy" in debian


def test_aliases_and_dist_names(debian: MappingTable) -> None:
    binary = debian.lookup("psycopg2-binary")
    assert binary is not None
    assert binary.alias_of == "psycopg2"
    assert binary.dist_names == ("psycopg2",)
    assert binary.note

    opencv = debian.lookup("opencv-python")
    assert opencv is not None
    assert opencv.dist_names == ()  # registers no distribution metadata at all

    h5py = debian.lookup("h5py")
    assert h5py is not None
    assert h5py.dist_names is not None
    assert "h5py._debian_h5py_serial" in h5py.dist_names

    numpy = debian.lookup("numpy")
    assert numpy is not None
    assert numpy.dist_names is None  # registered under its own name
    assert numpy.alias_of is None


def test_argon2_cffi_bindings_has_no_debian_package(debian: MappingTable) -> None:
    entry = debian.lookup("argon2-cffi-bindings")
    assert entry is not None
    assert entry.packages == ()
    assert entry.preferred is None


@pytest.mark.parametrize(
    ("package", "project"),
    [
        ("python3-numpy", "numpy"),
        ("python3-psycopg2", "psycopg2"),
        ("python3-pil", "pillow"),
        ("python3-yaml", "pyyaml"),
        ("python3-opencv", "opencv-python"),
        ("python3-h5py", "h5py"),
        ("python3-h5py-serial", "h5py"),
        ("python3-simpy3", "simpy"),
        ("python3-xdg", "pyxdg"),
        ("python3-configobj", "configobj"),
    ],
)
def test_reverse_names_the_primary_project(
    debian: MappingTable, package: str, project: str
) -> None:
    assert debian.reverse(package) == project


def test_reverse_never_names_an_alias_or_the_interpreter(debian: MappingTable) -> None:
    assert debian.reverse("python3") is None  # argparse is in the standard library
    assert debian.reverse("no-such-package") is None
    aliases = {entry.project for entry in debian if entry.alias_of is not None}
    assert aliases
    for entry in debian:
        for package in entry.packages:
            assert debian.reverse(package) not in aliases


def test_every_package_has_at_most_one_primary(debian: MappingTable) -> None:
    claims: dict[str, str] = {}
    for entry in debian:
        for package in entry.primary_for:
            assert package not in claims, (package, claims.get(package), entry.project)
            claims[package] = entry.project


def test_provided_by_lists_co_providers_primary_first(debian: MappingTable) -> None:
    assert debian.provided_by("python3-configobj") == ("configobj", "validate")
    assert debian.provided_by("python3-psycopg2")[0] == "psycopg2"
    assert "psycopg2-binary" not in debian.provided_by("python3-psycopg2")
    assert debian.provided_by("no-such-package") == ()


def test_shipped_file_has_pep804_shape() -> None:
    path = Path(__file__).resolve().parents[2] / "src/sysnative/data/debian.mapping.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["schema_version"] == 1
    assert document["name"] == "debian"
    ids = [entry["id"] for entry in document["mappings"]]
    assert ids == sorted(ids)
    (apt,) = document["package_managers"]
    assert apt["name"] == "apt"
    assert apt["commands"]["install"]["requires_elevation"] is True
    assert apt["commands"]["install"]["command"].count("{}") == 1
    assert set(apt["specifier_syntax"]) == {"name_only", "exact_version", "version_ranges"}
    text = path.read_text(encoding="utf-8")
    # Shipped data names no host and no path of the machine that generated it.
    assert re.search(r"https?://", text) is None
    assert re.search(r'"/(root|tmp|home)/', text) is None


# --- files, merging ----------------------------------------------------------------------


def test_load_file_pep804_forms() -> None:
    table = load_file(FIXTURES / "override.mapping.json")
    assert table.ecosystem == "debian"
    native = table.lookup("example-native")
    assert native is not None
    assert native.packages == ("python3-example-native",)  # string shorthand
    assert native.origin.endswith("override.mapping.json")
    alias = table.lookup("example-native-alias")
    assert alias is not None
    assert alias.packages == ("python3-example-native",)  # specs_from
    assert alias.alias_of == "example-native"
    tables = table.lookup("example-tables")
    assert tables is not None
    assert tables.packages == ("python3-example-tables",)  # run-time part of the table form
    assert table.reverse("python3-example-native") == "example-native"


def test_layered_override_wins_per_id(debian: MappingTable) -> None:
    override = load_file(FIXTURES / "override.mapping.json")
    merged = MappingTable.layered(debian, override)
    numpy = merged.lookup("numpy")
    assert numpy is not None
    assert numpy.packages == ("python3-numpy-site",)
    assert numpy.note == "site build"
    assert merged.reverse("python3-numpy-site") == "numpy"
    assert merged.reverse("python3-numpy") is None  # only the replaced entry claimed it
    assert merged.lookup("scipy") == debian.lookup("scipy")
    assert len(merged) == len(debian) + 3
    assert merged.ecosystem == "debian"
    assert merged.provenance == debian.provenance
    assert merged.origins == ("built-in:debian", str(FIXTURES / "override.mapping.json"))
    assert merge(debian, override).lookup("numpy") == numpy
    assert debian.lookup("numpy") != numpy  # the base table is untouched


def test_layered_later_reverse_claim_wins() -> None:
    base = loads('{"mappings": [{"id": "dep:pypi/a", "specs": ["pkg-x"]}]}', origin="base")
    top = loads('{"mappings": [{"id": "dep:pypi/b", "specs": ["pkg-x"]}]}', origin="top")
    merged = MappingTable.layered(base, top)
    assert merged.reverse("pkg-x") == "b"
    assert set(merged.provided_by("pkg-x")) == {"a", "b"}


def test_entries_are_frozen(debian: MappingTable) -> None:
    entry = debian.lookup("numpy")
    assert isinstance(entry, MappingEntry)
    with pytest.raises(AttributeError):
        entry.packages = ("evil",)  # type: ignore[misc]


# --- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "fragments"),
    [
        ("invalid-json.mapping.json", ["invalid JSON at line "]),
        ("missing-mappings.mapping.json", ["missing the 'mappings' list"]),
        ("entry-without-id.mapping.json", ["entry #1:", "has no 'id'"]),
        ("bad-id-form.mapping.json", ["entry #0 (pypi:numpy)", "dep:pypi/<project>"]),
        ("noncanonical-id.mapping.json", ["entry #1 (dep:pypi/PyYAML)", "not canonical"]),
        ("specs-not-strings.mapping.json", ["entry #0 (dep:pypi/lxml)", "list of strings"]),
        ("duplicate-id.mapping.json", ["entry #2 (dep:pypi/lxml)", "duplicate id", "#0"]),
        ("unsafe-package.mapping.json", ["entry #1 (dep:pypi/evil)", "unsafe"]),
        ("conflicting-primary.mapping.json", ["entry #1", "python3-psycopg2", "entry #0"]),
    ],
)
def test_invalid_files_name_file_and_entry(fixture: str, fragments: list[str]) -> None:
    path = FIXTURES / fixture
    with pytest.raises(MappingError) as info:
        load_file(path)
    message = str(info.value)
    assert message.startswith(str(path) + ":")
    for fragment in fragments:
        assert fragment in message


def test_invalid_json_is_located_where_the_json_module_says() -> None:
    """The position is the json module's own (Python 3.13 reports a trailing comma where
    it stands, older versions where the next value was expected)."""
    path = FIXTURES / "invalid-json.mapping.json"
    with pytest.raises(json.JSONDecodeError) as parsed:
        json.loads(path.read_text(encoding="utf-8"))
    with pytest.raises(MappingError) as info:
        load_file(path)
    where = f"invalid JSON at line {parsed.value.lineno}, column {parsed.value.colno}"
    assert where in str(info.value)


def test_noncanonical_id_hint_gives_the_fix() -> None:
    with pytest.raises(MappingError) as info:
        load_file(FIXTURES / "noncanonical-id.mapping.json")
    assert info.value.hint is not None
    assert "dep:pypi/pyyaml" in info.value.hint


@pytest.mark.parametrize(
    "package",
    [
        "-oAPT::Get::Assume-Yes=1",  # leading dash: an option to apt
        "python3-foo;reboot",
        "python3-foo && reboot",
        "$(reboot)",
        "`reboot`",
        "python3-foo|bar",
        "python3-*",
        "python3-fo?",
        "python3-[ab]",
        "python3 foo",
        "python3-foo\n",
        "python3-foo\t",
        "Python3-Foo",
        "x",
        "",
        "../../etc/passwd",
        "python3-foo>bar",
    ],
)
def test_unsafe_package_names_are_refused(tmp_path: Path, package: str) -> None:
    path = tmp_path / "site.mapping.json"
    document = {"mappings": [{"id": "dep:pypi/foo", "specs": ["python3-ok", package]}]}
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(MappingError, match="unsafe or invalid package name") as info:
        load_file(path)
    assert str(info.value).startswith(f"{path}: entry #0 (dep:pypi/foo):")


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ([], "must be a JSON object"),
        ({"mappings": {}}, "'mappings' must be a list"),
        ({"mappings": ["dep:pypi/foo"]}, "entry #0: each entry must be an object"),
        ({"mappings": [{"id": 5, "specs": []}]}, "entry #0: 'id' must be a string"),
        ({"mappings": [{"id": "dep:pypi/foo"}]}, "needs 'specs'"),
        ({"mappings": [{"id": "dep:pypi/foo", "specs": 3}]}, "list of strings"),
        ({"mappings": [{"id": "dep:pypi/foo", "specs": {"test": []}}]}, "unknown categories"),
        ({"mappings": [{"id": "dep:pypi/-foo", "specs": []}]}, "not a valid project name"),
        ({"mappings": [{"id": "dep:pypi/foo", "specs_from": "dep:pypi/x"}]}, "not in this file"),
        (
            {"mappings": [{"id": "dep:pypi/foo", "specs": [], "extra_metadata": []}]},
            "'extra_metadata' must be an object",
        ),
        (
            {
                "mappings": [
                    {"id": "dep:pypi/foo", "specs": ["a1"], "extra_metadata": {"alias_of": "Bar"}}
                ]
            },
            "not a canonical project name",
        ),
        (
            {
                "mappings": [
                    {"id": "dep:pypi/foo", "specs": ["a1"], "extra_metadata": {"alias_of": "foo"}}
                ]
            },
            "alias of itself",
        ),
        (
            {
                "mappings": [
                    {
                        "id": "dep:pypi/foo",
                        "specs": ["a1"],
                        "extra_metadata": {"primary_for": ["b2"]},
                    }
                ]
            },
            "not in its specs",
        ),
        (
            {
                "mappings": [
                    {"id": "dep:pypi/foo", "specs": ["a1"], "extra_metadata": {"dist_names": "x"}}
                ]
            },
            "'extra_metadata.dist_names' must be a list of strings",
        ),
    ],
)
def test_shape_errors(document: object, fragment: str) -> None:
    with pytest.raises(MappingError) as info:
        loads(json.dumps(document), origin="site.mapping.json")
    assert str(info.value).startswith("site.mapping.json: ")
    assert fragment in str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.mapping.json"
    with pytest.raises(MappingError, match="cannot read the mapping file"):
        load_file(missing)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.mapping.json"
    path.write_bytes(b'{"mappings": [], "description": "caf\xe9"}')
    with pytest.raises(MappingError, match="not UTF-8"):
        load_file(path)


def test_ecosystem_from_file_name(tmp_path: Path) -> None:
    path = tmp_path / "ubuntu+24.04.mapping.json"
    path.write_text('{"mappings": []}', encoding="utf-8")
    assert load_file(path).ecosystem == "ubuntu+24.04"
