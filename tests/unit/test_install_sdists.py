"""``--allow-build``'s pure parts: reading pip's report, pip's index options, the index that
lets the resolver build, and how the plan shows built rows.

pip itself runs in tests/integration/test_sdists.py and the CLI tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest
from memory import MemoryApt, MemoryIndex, target
from packaging.utils import NormalizedName
from packaging.version import Version

from sysnative.commands import report
from sysnative.index.metadata import parse_core_metadata
from sysnative.index.pipconfig import IndexConfig
from sysnative.install.sdists import (
    BuildingIndex,
    SdistBuilder,
    metadata_from_report,
    pip_index_options,
    system_first,
)
from sysnative.mapping.files import load_builtin
from sysnative.models import CoreMetadata, FileKind, IndexFile, Plan, PlannedPackage, Route
from sysnative.plan.route import RoutePolicy
from sysnative.resolve.provider import SysnativeProvider


def _report(metadata: dict[str, object]) -> str:
    return json.dumps(
        {
            "version": "1",
            "pip_version": "23.0.1",
            "install": [{"download_info": {"url": "file:///x"}, "metadata": metadata}],
        }
    )


def test_metadata_from_report_reads_what_the_resolver_needs() -> None:
    text = _report(
        {
            "metadata_version": "2.1",
            "name": "Tiny-Pure",
            "version": "1.0",
            "requires_dist": ['idna>=3; python_version >= "3.8"', 'rich; extra == "fancy"'],
            "requires_python": ">=3.8",
            "provides_extra": ["fancy"],
        }
    )

    meta = parse_core_metadata(metadata_from_report(text))

    assert (meta.name, meta.version) == ("tiny-pure", Version("1.0"))
    assert [str(r) for r in meta.requires_dist] == [
        'idna>=3; python_version >= "3.8"',
        'rich; extra == "fancy"',
    ]
    assert str(meta.requires_python) == ">=3.8"
    assert meta.provides_extra == frozenset({"fancy"})


def test_metadata_from_report_tolerates_output_before_the_json() -> None:
    text = "WARNING: something pip says\n" + _report({"name": "a", "version": "2"})

    meta = parse_core_metadata(metadata_from_report(text))

    assert (meta.name, meta.version, meta.requires_dist) == ("a", Version("2"), ())


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "no JSON report"),
        ("not json", "no JSON report"),
        (json.dumps({"install": []}), "exactly one"),
        (json.dumps({"install": [{}, {}]}), "exactly one"),
        (_report({"version": "1.0"}), "no valid 'name'"),
        (_report({"name": "a\nRequires-Dist: evil", "version": "1.0"}), "no valid 'name'"),
    ],
)
def test_metadata_from_report_refuses_what_is_no_single_report(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        metadata_from_report(text)


def test_pip_index_options_mirror_the_index_configuration() -> None:
    config = IndexConfig(
        index_url="https://user:secret@127.0.0.1:9/simple",
        extra_index_urls=("http://127.0.0.1:8080/simple",),
        find_links=("/srv/wheels",),
        timeout=30.0,
        cert="/etc/ssl/ca.pem",
    )

    assert pip_index_options(config) == [
        "--index-url",
        "https://user:secret@127.0.0.1:9/simple",
        "--extra-index-url",
        "http://127.0.0.1:8080/simple",
        "--find-links",
        "/srv/wheels",
        "--trusted-host",
        "127.0.0.1:8080",
        "--timeout",
        "30",
        "--cert",
        "/etc/ssl/ca.pem",
    ]


def test_pip_index_options_without_an_index() -> None:
    config = IndexConfig(index_url="https://127.0.0.1:9/simple", no_index=True)

    assert pip_index_options(config)[:1] == ["--no-index"]
    assert "--index-url" not in pip_index_options(config)


class _Builder(SdistBuilder):
    """Prepared metadata from a table, no pip."""

    def __init__(self, known: dict[str, CoreMetadata]) -> None:
        self.asked: list[str] = []
        self._table = known

    def metadata(self, file: IndexFile) -> CoreMetadata:
        self.asked.append(file.filename)
        return self._table[file.filename]


class _Recording(MemoryIndex):
    def __init__(self) -> None:
        super().__init__(
            {"app": {"1.0": {"tag": "sdist", "requires": ["dep"]}, "0.9": {}}, "dep": {"1.0": {}}}
        )
        self.prefetched: list[str] = []

    def prefetch_metadata(self, files: Iterable[IndexFile]) -> None:
        self.prefetched.extend(f.filename for f in files)


def test_building_index_lets_the_resolver_build_and_prepares_sdists_only() -> None:
    inner = _Recording()
    sdist = next(f for f in inner.get_files(NormalizedName("app")) if f.kind is FileKind.SDIST)
    prepared = CoreMetadata(NormalizedName("app"), Version("1.0"))
    builder = _Builder({sdist.filename: prepared})
    index = BuildingIndex(inner, builder)

    assert SysnativeProvider(index, target())._allow_build is True
    assert SysnativeProvider(inner, target())._allow_build is False
    assert SysnativeProvider(inner, target(), allow_build=True)._allow_build is True
    assert index.get_metadata(sdist) is prepared
    wheel = next(f for f in inner.get_files(NormalizedName("app")) if f.kind is FileKind.WHEEL)
    assert index.get_metadata(wheel).version == Version("0.9")
    assert builder.asked == [sdist.filename]
    index.prefetch_metadata([sdist, wheel])
    assert inner.prefetched == [wheel.filename]  # preparing runs a build: never ahead


def _row(name: str, filename: str, kind: FileKind, **kwargs: object) -> PlannedPackage:
    file = IndexFile(NormalizedName(name), Version("1.0"), filename, f"mem://{filename}", kind)
    return PlannedPackage(
        NormalizedName(name),
        Version("1.0"),
        Route.PYPI,
        "built from sdist (no wheel for the target)" if kind is FileKind.SDIST else "pure wheel",
        file=file,
        **kwargs,  # type: ignore[arg-type]
    )


def test_the_plan_shows_and_counts_rows_built_from_sdists() -> None:
    plan = Plan(
        (
            _row("tiny", "tiny-1.0.tar.gz", FileKind.SDIST),
            _row("idna", "idna-1.0-py3-none-any.whl", FileKind.WHEEL),
        ),
        provider="apt",
        target_python="python3",
    )

    table = report.render_table(plan)
    (tiny,) = [line for line in table.splitlines() if line.startswith("tiny")]
    assert "pypi (build)" in tiny
    assert "tiny-1.0.tar.gz" in tiny
    assert "built from sdist" in tiny
    assert report.summary(plan) == (
        "Would install: 0 from apt, 2 wheels from the index (1 of them built from its sdist)."
    )
    assert "no wheel was built" in report.dry_run_suffix(plan)
    assert any("tiny 1.0" in note and "sdist" in note for note in report.notes(plan))
    packages = {p["name"]: p for p in report.to_json(plan)["packages"]}
    assert packages["tiny"]["built_from_sdist"] is True
    assert packages["idna"]["built_from_sdist"] is False
    assert report.to_json(plan)["notes"] == list(report.notes(plan))


def test_a_plan_without_builds_says_so_as_before() -> None:
    plan = Plan(
        (_row("idna", "idna-1.0-py3-none-any.whl", FileKind.WHEEL),),
        provider="apt",
        target_python="python3",
    )

    assert report.dry_run_suffix(plan) == " (dry run: nothing was changed)"
    assert report.notes(plan) == ()
    assert report.summary(plan) == "Would install: 0 from apt, 1 wheel from the index."


def test_system_first_names_what_the_routing_sends_to_the_system() -> None:
    apt = MemoryApt({"python3-lxml": {"candidate": "4.9.2-1+b1"}})
    mapping = load_builtin("debian")
    name = NormalizedName

    first = system_first(mapping, apt, RoutePolicy())
    assert first(name("lxml")) is True
    assert first(name("lxml")) is True
    assert apt.queries == [("python3-lxml",)]  # asked once
    assert first(name("pyyaml")) is False  # mapped, but apt has no python3-yaml here
    assert first(name("zzfake-unmapped")) is False
    assert (
        system_first(mapping, apt, RoutePolicy(force_pypi=frozenset({name("lxml")})))(name("lxml"))
        is False
    )
    # Installed from the system: an index release replaces it only when needed, built.
    assert (
        system_first(mapping, apt, RoutePolicy(), installed=[name("lxml")])(name("lxml")) is False
    )


def test_building_index_prepares_nothing_for_what_the_system_provides() -> None:
    inner = _Recording()
    sdist = next(f for f in inner.get_files(NormalizedName("app")) if f.kind is FileKind.SDIST)
    builder = _Builder({})
    index = BuildingIndex(inner, builder, from_system=lambda project: project == "app")

    meta = index.get_metadata(sdist)

    assert (meta.name, meta.version, meta.requires_dist) == ("app", Version("1.0"), ())
    assert builder.asked == []
