"""The conda provider's parsers, over conda, mamba and micromamba output.

The files come from public recordings of the real tools, or are reconstructed from their
source where no recording exists; ``fixtures/conda/README.md`` says which is which.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packaging.version import Version

from sysnative.errors import ProviderError, ProviderUnavailable
from sysnative.models import ClosureItem
from sysnative.protocols import Privileges
from sysnative.providers.common import transaction_differences
from sysnative.providers.conda.names import (
    GRAMMAR,
    build_install_argv,
    install_specs,
    validate_distro_version,
    validate_package_names,
)
from sysnative.providers.conda.parse import (
    CondaRecord,
    Transaction,
    closure_from_transaction,
    dist_info_projects,
    load_json_documents,
    parse_conda_meta,
    parse_conda_meta_filename,
    parse_failure,
    parse_list_json,
    parse_search_json,
    parse_transaction,
    python_site_packages,
    record_from_json,
)
from sysnative.providers.conda.provider import CondaProvider
from sysnative.providers.conda.version import (
    conda_to_pep440,
    join_version_build,
    split_version_build,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "conda"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


# -- install --dry-run --json -------------------------------------------------------------------


def test_conda_dry_run_closure_with_upgrades() -> None:
    transaction = parse_transaction(fixture("conda_install_dry_run.json"))
    assert transaction is not None
    assert [r.name for r in transaction.link] == [
        "ca-certificates",
        "openssl",
        "python_abi",
        "certifi",
        "pandas",
    ]
    items, removals = closure_from_transaction(transaction)
    assert removals == ()
    by_name = {item.name: item for item in items}
    assert by_name["pandas"] == ClosureItem("pandas", "1.0.3=py37h0da4684_0", "linux-64", None)
    # UNLINK + LINK of one name: the LINK replaces what was installed
    assert by_name["openssl"] == ClosureItem(
        "openssl", "1.1.1e=h516909a_0", "linux-64", replaces="1.1.1d=h7b6447c_4"
    )
    assert by_name["certifi"].replaces == "2019.11.28=py37_0"
    assert by_name["certifi"].version == "2019.11.28=py37hc8dfbb8_1"
    assert by_name["ca-certificates"].replaces == "2020.1.1=0"
    assert by_name["python_abi"].replaces is None
    assert all(item.projects == () for item in items)


def test_mamba_dry_run_after_dry_run_exit_line() -> None:
    """mamba 0.x printed conda's JSON after conda's ``DryRunExit`` line."""
    transaction = parse_transaction(fixture("mamba_create_dry_run.txt"))
    assert transaction is not None
    items, removals = closure_from_transaction(transaction)
    assert items == (ClosureItem("zlib", "1.2.11=h01d97ff_1006", "osx-64"),)
    assert removals == ()


def test_micromamba_dry_run_records_have_build_and_subdir() -> None:
    transaction = parse_transaction(fixture("micromamba_install_dry_run.json"))
    assert transaction is not None
    assert transaction.link == (
        CondaRecord(
            "_libgcc_mutex",
            "0.1",
            "conda_forge",
            0,
            "linux-64",
            "https://example.org/conda-forge/linux-64",
        ),
    )
    items, _ = closure_from_transaction(transaction)
    assert items == (ClosureItem("_libgcc_mutex", "0.1=conda_forge", "linux-64"),)


def test_conda_43_actions_list() -> None:
    """conda 4.3 printed ``"actions"`` as a list of groups (conda issue #5825, entry verbatim)."""
    text = json.dumps(
        {
            "actions": [
                {
                    "LINK": [
                        {
                            "base_url": None,
                            "build_number": 0,
                            "build_string": "0",
                            "channel": "defaults",
                            "dist_name": "font-ttf-dejavu-sans-mono-2.37-0",
                            "name": "font-ttf-dejavu-sans-mono",
                            "platform": None,
                            "version": "2.37",
                            "with_features_depends": None,
                        }
                    ]
                }
            ]
        }
    )
    transaction = parse_transaction(text)
    assert transaction is not None
    items, _ = closure_from_transaction(transaction)
    assert items == (ClosureItem("font-ttf-dejavu-sans-mono", "2.37=0", None),)


def test_nothing_to_do() -> None:
    """Already installed: no ``actions``, a ``message`` (keys as micromamba's tests assert)."""
    text = json.dumps(
        {
            "dry_run": True,
            "message": "All requested packages already installed.",
            "prefix": "/opt/env",
            "success": True,
        }
    )
    transaction = parse_transaction(text)
    assert transaction == Transaction((), (), "All requested packages already installed.")
    assert parse_failure(text) is None


def test_removal_is_unlink_without_link() -> None:
    full = parse_transaction(fixture("conda_install_dry_run.json"))
    assert full is not None
    without_certifi = Transaction(
        tuple(r for r in full.link if r.name != "certifi"), full.unlink, full.message
    )
    items, removals = closure_from_transaction(without_certifi)
    assert [r.name for r in removals] == ["certifi"]
    assert removals[0].distro_version == "2019.11.28=py37_0"
    assert "certifi" not in {item.name for item in items}


# -- failures ----------------------------------------------------------------------------------


def test_conda_packages_not_found() -> None:
    text = fixture("conda_packages_not_found.json")
    assert parse_transaction(text) is None
    failure = parse_failure(text)
    assert failure is not None
    assert failure.kind == "PackagesNotFoundError"
    assert failure.missing == ("foobarfooo",)
    assert "foobarfooo" in "\n".join(failure.lines())


def test_micromamba_solver_problems() -> None:
    text = fixture("micromamba_solver_problems.json")
    assert parse_transaction(text) is None
    failure = parse_failure(text)
    assert failure is not None
    assert failure.kind == "solver_problems"
    assert failure.missing == ("foobarfooo",)
    assert failure.lines() == ("nothing provides requested foobarfooo",)


def test_unsatisfiable_names_nothing_missing() -> None:
    text = json.dumps(
        {"success": False, "solver_problems": ["package a-1.0-0 requires b <2, but none ..."]}
    )
    failure = parse_failure(text)
    assert failure is not None
    assert failure.missing == ()
    assert parse_failure("not json at all\n") is None


def test_load_json_documents_skips_text_and_reads_several() -> None:
    text = 'warning: something\n{"a": 1}\nnoise {"not": "at line start"}\n[1, 2]\n{broken\n'
    assert load_json_documents(text) == [{"a": 1}, [1, 2]]
    assert load_json_documents('{"progress": 0.5}\0{"success": true}') == [
        {"progress": 0.5},
        {"success": True},
    ]


# -- search, list, conda-meta --------------------------------------------------------------------


def test_conda_search() -> None:
    found = parse_search_json(fixture("conda_search.json"))
    assert list(found) == ["zstd"]
    records = found["zstd"]
    assert [r.distro_version for r in records] == [
        "1.3.3=h84994c4_0",
        "1.3.7=h0b5b093_0",
        "1.4.0=hf484d3e_1",
    ]
    # repodata's ``platform`` is the OS ("linux"); the subdir is ``subdir``
    assert all(r.subdir == "linux-64" for r in records)
    assert records[2].build_number == 1
    assert records[2].channel == "https://example.org/intel/linux-64"


def test_micromamba_search() -> None:
    found = parse_search_json(fixture("micromamba_search.json"))
    assert [r.distro_version for r in found["_libgcc_mutex"]] == ["0.1=conda_forge"]


def test_search_ignores_an_error_document() -> None:
    assert parse_search_json(fixture("conda_packages_not_found.json")) == {}


def test_conda_list() -> None:
    found = parse_list_json(fixture("conda_list.json"))
    assert found == {
        "zlib": CondaRecord("zlib", "1.2.11", "h7b6447c_3", 3, "linux-64", "pkgs/main"),
        "zstd": CondaRecord("zstd", "1.4.4", "h3b9ef0a_1", 1, "linux-64", "conda-forge"),
    }


def test_list_skips_pip_entries() -> None:
    text = json.dumps(
        [
            {"name": "six", "version": "1.16.0", "build_string": "pypi_0", "channel": "pypi"},
            {"name": "zlib", "version": "1.2.13", "build_string": "h0_0", "channel": "c"},
        ]
    )
    assert list(parse_list_json(text)) == ["zlib"]


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("libffi-3.4.2-h3422bc3_5.json", ("libffi", "3.4.2", "h3422bc3_5")),
        (
            "ca-certificates-2019.11.28-hecc5488_0.json",
            ("ca-certificates", "2019.11.28", "hecc5488_0"),
        ),
        ("_libgcc_mutex-0.1-conda_forge.json", ("_libgcc_mutex", "0.1", "conda_forge")),
        ("python-3.13.2-hfd29fff_1_cp313t.json", ("python", "3.13.2", "hfd29fff_1_cp313t")),
        ("history", None),
        ("libffi-3.4.2.json", None),
        ("Bad-1.0-0.json", None),
        ("x-1.0-0.txt", None),
    ],
)
def test_conda_meta_filename(filename: str, expected: tuple[str, str, str] | None) -> None:
    assert parse_conda_meta_filename(filename) == expected


def test_conda_meta_record() -> None:
    record = parse_conda_meta(fixture("prefix/conda-meta/libffi-3.4.2-h3422bc3_5.json"))
    assert record == CondaRecord(
        "libffi", "3.4.2", "h3422bc3_5", 5, "osx-arm64", "https://example.org/conda-forge/osx-arm64"
    )
    assert parse_conda_meta("{}") is None
    assert parse_conda_meta("not json") is None


def test_dist_info_projects() -> None:
    # paths from the pip record in conda's tests/data/env_metadata/envpy313tosx_whl
    files = [
        "lib/python3.13t/site-packages/pip-25.0.1.dist-info/AUTHORS.txt",
        "lib/python3.13t/site-packages/pip-25.0.1.dist-info/METADATA",
        "lib/python3.13t/site-packages/pip/__init__.py",
        "lib/python3.13t/site-packages/Typing_Extensions-4.0.dist-info/RECORD",
        "bin/pip",
    ]
    assert dist_info_projects(files) == ("pip", "typing-extensions")
    assert dist_info_projects(["include/ffi.h"]) == ()


def test_python_site_packages() -> None:
    # conda's free-threaded python 3.13.2 (build hfd29fff_1_cp313t) installs lib/python3.13t/
    assert python_site_packages("3.13.2", "hfd29fff_1_cp313t") == "lib/python3.13t/site-packages"
    assert python_site_packages("3.11.2", "hab00c5b_0_cpython") == "lib/python3.11/site-packages"
    assert python_site_packages("3.12.0", "x", "lib/python3.12/site-packages") == (
        "lib/python3.12/site-packages"
    )
    assert python_site_packages("3", "0") is None


def test_record_from_json_rejects_incomplete() -> None:
    assert record_from_json({"name": "a", "version": "1"}) is None
    assert record_from_json(["a"]) is None
    assert record_from_json({"name": "a", "version": "1", "build": "0", "build_number": True}) == (
        CondaRecord("a", "1", "0", None)
    )


# -- versions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conda", "pep440"),
    [
        ("1.26.4", "1.26.4"),
        ("1.26.4=py311h64a7726_0", "1.26.4"),
        ("2.1.0.post1", "2.1.0.post1"),
        ("1.0.0rc1", "1.0.0rc1"),
        ("3.0.0_dev", "3.0.0.dev0"),
        ("2019.11.28=py37hc8dfbb8_1", "2019.11.28"),
        ("3.7=1_cp37m", "3.7"),
        ("1!2.0", "1!2.0"),
        ("1.0+local", "1.0+local"),
        ("1.0.0_alpha", "1.0.0a0"),
        ("1.1.1e=h516909a_0", None),  # openssl: a letter after the release has no reading
        ("9e", None),
        ("0.4.1.r2", None),  # PEP 440 would read a post-release; conda orders it lower
        ("2.0.0.final", None),
        ("1-2", None),
        ("", None),
    ],
)
def test_conda_to_pep440(conda: str, pep440: str | None) -> None:
    expected = Version(pep440) if pep440 is not None else None
    assert conda_to_pep440(conda) == expected


def test_version_build_split_round_trips() -> None:
    assert split_version_build("1.26.4=py311h64a7726_0") == ("1.26.4", "py311h64a7726_0")
    assert split_version_build("1.26.4") == ("1.26.4", None)
    assert join_version_build("1.26.4", "py311h64a7726_0") == "1.26.4=py311h64a7726_0"
    assert join_version_build("1.26.4", None) == "1.26.4"


# -- validation and the command line -------------------------------------------------------------


def test_install_specs_and_argv() -> None:
    specs = install_specs([("numpy", "1.26.4=py311h64a7726_0"), ("zlib", "1.2.13")])
    assert specs == ["numpy==1.26.4[build=py311h64a7726_0]", "zlib==1.2.13"]
    argv = build_install_argv("micromamba", "/opt/env", specs, ("-c", "conda-forge"))
    assert argv == [
        "micromamba", "install", "--json", "--yes", "-p", "/opt/env", "-c", "conda-forge",
        "--", "numpy==1.26.4[build=py311h64a7726_0]", "zlib==1.2.13",
    ]  # fmt: skip
    dry = build_install_argv("conda", "/opt/env", specs, dry_run=True)
    assert dry[:3] == ["conda", "install", "--dry-run"]
    assert dry.index("--") == len(dry) - len(specs) - 1


@pytest.mark.parametrize(
    "name", ["-h", "--override-channels", ".hidden", "Numpy", "num py", "numpy=1", "a/b", ""]
)
def test_invalid_names_never_reach_conda(name: str) -> None:
    with pytest.raises(ProviderError, match="not a valid conda package name"):
        validate_package_names([name])


@pytest.mark.parametrize(
    "version",
    ["1.0*", ">=1.0", "1.0,<2", "1.0|2.0", "1.0=py 0", "1.0=a=b", "1.0-1", "=1.0", "1.0=", " 1.0"],
)
def test_invalid_versions_never_reach_conda(version: str) -> None:
    with pytest.raises(ProviderError, match="not a valid conda version"):
        validate_distro_version(version)


def test_one_name_at_two_versions() -> None:
    with pytest.raises(ProviderError, match="two versions"):
        GRAMMAR.pairs([("a", "1.0=0"), ("a", "2.0=0")])
    assert GRAMMAR.pairs([("a", "1.0=0"), ("a", "1.0=0")]) == (("a", "1.0=0"),)
    assert validate_package_names(["a", "b", "a"]) == ("a", "b")


def test_closure_differences() -> None:
    planned = [ClosureItem("a", "1.0=0"), ClosureItem("b", "2.0=0")]
    simulated = [ClosureItem("a", "1.0=1"), ClosureItem("c", "3.0=0")]
    assert transaction_differences(planned, simulated, "micromamba") == (
        "a: the plan has 1.0=0, micromamba would install 1.0=1",
        "b 2.0=0: in the plan, but micromamba would not install it now",
        "c 3.0=0: micromamba would install it, the plan does not",
    )
    assert transaction_differences(planned, list(reversed(planned)), "conda") == ()


# -- the provider on the recorded conda-meta records ---------------------------------------------


def _provider(prefix: Path, path: Path) -> CondaProvider:
    return CondaProvider(env={"CONDA_PREFIX": str(prefix), "PATH": str(path)})


def test_provider_reads_conda_meta(tmp_path: Path) -> None:
    provider = _provider(FIXTURES / "prefix", tmp_path)
    assert provider.installed_versions(["libffi", "python_abi", "numpy"]) == {
        "libffi": "3.4.2=h3422bc3_5",
        "python_abi": "3.13=5_cp313t",
    }
    assert (
        provider.verify(
            [ClosureItem("libffi", "3.4.2=h3422bc3_5"), ClosureItem("python_abi", "3.13=5_cp313t")]
        )
        == ()
    )
    assert provider.verify(
        [
            ClosureItem("libffi", "3.4.2=h3422bc3_6"),
            ClosureItem("numpy", "1.26.4=py311h64a7726_0"),
            ClosureItem("libffi", "3.4.2"),
        ]
    ) == (
        "libffi: installed at 3.4.2=h3422bc3_5, but the plan has 3.4.2=h3422bc3_6",
        "numpy 1.26.4=py311h64a7726_0: not installed",
    )
    records = provider.installed_records()
    assert set(records) == {"libffi", "python_abi"}
    # no python in this environment and nothing simulated: no site dir to name
    assert provider.site_dirs() == ()
    assert provider.interpreter() == str(FIXTURES / "prefix" / "bin" / "python")


def test_provider_without_tool_or_environment(tmp_path: Path) -> None:
    assert not CondaProvider.available({"CONDA_PREFIX": str(FIXTURES / "prefix"), "PATH": ""})
    assert not CondaProvider.available({"CONDA_PREFIX": str(tmp_path / "nope"), "PATH": ""})
    provider = _provider(FIXTURES / "prefix", tmp_path)
    with pytest.raises(ProviderUnavailable, match="micromamba, mamba or conda"):
        provider.query(["libffi"])
    with pytest.raises(ProviderUnavailable):
        provider.install_command([("libffi", "3.4.2=h3422bc3_5")], Privileges(ok=True))
    gone = _provider(tmp_path / "missing", tmp_path)
    with pytest.raises(ProviderUnavailable, match="not a directory"):
        _ = gone.prefix


def test_provider_validates_before_anything_runs(tmp_path: Path) -> None:
    provider = _provider(FIXTURES / "prefix", tmp_path)
    with pytest.raises(ProviderError, match="not a valid conda package name"):
        provider.query(["--help"])
    with pytest.raises(ProviderError, match="not a valid conda version"):
        provider.verify([ClosureItem("libffi", "3.4.2=h; rm -rf")])
    assert provider.to_pep440("3.4.2=h3422bc3_5") == Version("3.4.2")
