"""Marker .dist-info for system packages (sysnative.install.standins).

``markers_needed`` is pure: plan rows, the shipped Debian mapping (or a tiny one written
here, to show that the data decides) and hand-built targets. ``write_markers`` and
``remove_markers`` run on a directory under ``tmp_path``; that the markers are seen by
``importlib.metadata`` and pip in a real venv is tested in
tests/integration/test_venv_doctor.py.
"""

from __future__ import annotations

import base64
import csv
import hashlib
from collections.abc import Mapping
from email.parser import HeaderParser
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from sysnative.errors import MarkerError
from sysnative.install.standins import (
    INSTALLER,
    MarkerDist,
    marker_location,
    markers_needed,
    remove_markers,
    write_markers,
)
from sysnative.mapping.files import load_builtin
from sysnative.mapping.parse import loads
from sysnative.mapping.table import MappingTable
from sysnative.models import PlannedPackage, Route
from sysnative.target import InstalledDistribution, TargetEnvironment

SITE = "/distro/lib/python3/dist-packages"
PURELIB = "/projects/app/.venv/lib/python3.11/site-packages"


def target(
    installed: Mapping[str, tuple[str, str]] = {},
    *,
    purelib: str = PURELIB,
    sys_path: tuple[str, ...] = (PURELIB, SITE),
) -> TargetEnvironment:
    """A target after the system step; ``installed`` maps name -> (version, installer)."""
    return TargetEnvironment(
        executable="/projects/app/.venv/bin/python",
        python_version="3.11",
        python_full_version="3.11.2",
        markers={},
        tags=(),
        sys_path=sys_path,
        prefix="/projects/app/.venv",
        base_prefix="/distro",
        purelib=purelib,
        installed={
            canonicalize_name(name): InstalledDistribution(
                canonicalize_name(name), Version(version), SITE, installer=installer
            )
            for name, (version, installer) in installed.items()
        },
    )


def row(name: str, version: str, package: str, route: Route = Route.SYSTEM) -> PlannedPackage:
    return PlannedPackage(
        name=canonicalize_name(name),
        version=Version(version),
        route=route,
        reason="native: only platform wheels",
        provider="apt",
        package=package,
        distro_version=f"{version}-1",
    )


@pytest.fixture(scope="module")
def debian() -> MappingTable:
    return load_builtin("debian")


def needed(
    rows: list[PlannedPackage], mapping: MappingTable, after: TargetEnvironment
) -> dict[str, MarkerDist]:
    return {m.name: m for m in markers_needed(rows, mapping, after)}


# --------------------------------------------------------------------------------------------
# markers_needed, with the shipped Debian data


def test_the_four_known_cases_from_the_debian_mapping(debian: MappingTable) -> None:
    rows = [
        row("opencv-python", "4.6.0", "python3-opencv"),
        row("h5py", "3.7.0", "python3-h5py"),
        row("psycopg2-binary", "2.9.5", "python3-psycopg2"),
        row("kiwisolver", "1.4.4", "python3-kiwisolver"),
    ]
    # What Debian 12's packages register (see scripts/debian_curated.json).
    after = target(
        {
            "h5py._debian_h5py_serial": ("3.7.0", ""),
            "psycopg2": ("2.9.5", ""),
            "kiwisolver": ("0.0.0", ""),
        }
    )
    found = needed(rows, debian, after)
    assert sorted(found) == ["h5py", "kiwisolver", "opencv-python", "psycopg2-binary"]
    assert found["opencv-python"].reason == "python3-opencv registers no distribution metadata"
    assert found["h5py"].reason == "python3-h5py registers it as h5py._debian_h5py_serial"
    assert found["psycopg2-binary"].reason == "python3-psycopg2 registers it as psycopg2"
    assert found["kiwisolver"].reason == "python3-kiwisolver registers version 0.0.0"
    kiwi = found["kiwisolver"]
    assert (kiwi.version, kiwi.package, kiwi.provider) == (
        Version("1.4.4"),
        "python3-kiwisolver",
        "apt",
    )


def test_no_marker_when_the_target_already_sees_the_truth(debian: MappingTable) -> None:
    rows = [row("numpy", "1.24.2", "python3-numpy"), row("kiwisolver", "1.4.4", "x")]
    after = target({"numpy": ("1.24.2", ""), "kiwisolver": ("1.4.4", INSTALLER)})
    assert markers_needed(rows, debian, after) == ()


def test_a_gap_the_mapping_does_not_explain_is_left_visible(debian: MappingTable) -> None:
    # numpy registers itself; not seeing it (a failed install?) or seeing another version
    # (a copy pip installed) must not be hidden behind a marker.
    rows = [row("numpy", "1.24.2", "python3-numpy"), row("scipy", "1.10.1", "python3-scipy")]
    after = target({"scipy": ("1.11.0", "pip")})
    assert markers_needed(rows, debian, after) == ()


def test_another_registered_name_counts_only_when_the_target_sees_it(
    debian: MappingTable,
) -> None:
    rows = [row("psycopg2-binary", "2.9.5", "python3-psycopg2")]
    assert markers_needed(rows, debian, target()) == ()  # python3-psycopg2 is not there
    (marker,) = markers_needed(rows, debian, target({"psycopg2": ("2.9.5", "")}))
    assert marker.name == "psycopg2-binary"


def test_kiwisolver_at_a_version_other_than_the_known_wrong_one_gets_no_marker(
    debian: MappingTable,
) -> None:
    after = target({"kiwisolver": ("1.3.0", "pip")})
    assert markers_needed([row("kiwisolver", "1.4.4", "python3-kiwisolver")], debian, after) == ()


def test_an_outdated_sysnative_marker_is_replaced(debian: MappingTable) -> None:
    after = target({"opencv-python": ("4.5.0", INSTALLER)})
    (marker,) = markers_needed([row("opencv-python", "4.6.0", "python3-opencv")], debian, after)
    assert marker.version == Version("4.6.0")
    assert "earlier sysnative marker" in marker.reason


def test_only_system_rows_count_and_each_project_once(debian: MappingTable) -> None:
    rows = [
        row("opencv-python", "4.6.0", "python3-opencv", Route.PYPI),
        row("h5py", "3.7.0", "python3-h5py"),
        row("h5py", "3.7.0", "python3-h5py"),
    ]
    after = target({"h5py._debian_h5py_serial": ("3.7.0", "")})
    assert [m.name for m in markers_needed(rows, debian, after)] == ["h5py"]


# --------------------------------------------------------------------------------------------
# The data decides: the same code over a tiny mapping of made-up projects


TINY = """{"name": "debian", "mappings": [
 {"id": "dep:pypi/nometa", "specs": ["python3-nometa"], "extra_metadata": {"dist_names": []}},
 {"id": "dep:pypi/renamed", "specs": ["python3-renamed"],
  "extra_metadata": {"dist_names": ["renamed-internal"]}},
 {"id": "dep:pypi/badver", "specs": ["python3-badver"],
  "extra_metadata": {"registers_version": "0.0.0.dev0"}},
 {"id": "dep:pypi/plain", "specs": ["python3-plain"]}
]}"""


def test_markers_follow_the_mapping_data_for_any_project() -> None:
    tiny = loads(TINY, origin="tiny.mapping.json")
    entry = tiny.lookup("badver")
    assert entry is not None
    assert entry.registers_version == "0.0.0.dev0"
    rows = [
        row("nometa", "1.0", "python3-nometa"),
        row("renamed", "2.0", "python3-renamed"),
        row("badver", "3.0", "python3-badver"),
        row("plain", "4.0", "python3-plain"),
    ]
    after = target({"renamed-internal": ("2.0", ""), "badver": ("0.0.0.dev0", "")})
    assert sorted(needed(rows, tiny, after)) == ["badver", "nometa", "renamed"]
    # The same targets with the facts removed from the mapping: no marker for a name the
    # mapping cannot explain; a registered version older than the package's is a
    # placeholder by sysversion's rule, with or without data (the plan used that rule).
    bare = loads(
        '{"name": "debian", "mappings": ['
        + ",".join(
            f'{{"id": "dep:pypi/{n}", "specs": ["python3-{n}"]}}'
            for n in ("nometa", "renamed", "badver", "plain")
        )
        + "]}",
        origin="bare.mapping.json",
    )
    assert [m.name for m in markers_needed(rows, bare, after)] == ["badver"]


def test_a_newer_registered_version_or_a_pip_copy_gets_no_marker() -> None:
    """regex registers 2022.10.31 for Debian's 0.1.20221031: the registered one is the truth
    (the plan used it), and an older copy a Python installer put there stays visible."""
    rows = [row("regex", "0.1.20221031", "python3-regex"), row("badver", "3.0", "python3-badver")]
    after = target({"regex": ("2022.10.31", ""), "badver": ("0.0.0.dev0", "pip")})
    assert markers_needed(rows, loads(TINY, origin="tiny.mapping.json"), after) == ()


# --------------------------------------------------------------------------------------------
# Where markers go


def test_markers_go_to_the_targets_purelib() -> None:
    assert marker_location(target(), (SITE,)) == PURELIB


def test_never_into_the_package_managers_site_dir() -> None:
    system = target(purelib=SITE)
    with pytest.raises(MarkerError, match="package manager owns"):
        marker_location(system, (SITE,))


def test_never_where_the_target_would_not_see_them() -> None:
    with pytest.raises(MarkerError, match="not have its purelib"):
        marker_location(target(sys_path=(SITE,)), (SITE,))


# --------------------------------------------------------------------------------------------
# Writing and removing


def marker(name: str = "opencv-python", version: str = "4.6.0") -> MarkerDist:
    return MarkerDist(
        canonicalize_name(name), Version(version), "python3-opencv", "apt", "test reason"
    )


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def test_a_marker_is_minimal_valid_metadata_with_a_matching_record(tmp_path: Path) -> None:
    (path,) = write_markers([marker()], tmp_path)
    assert path == tmp_path / "opencv_python-4.6.0.dist-info"
    assert sorted(p.name for p in path.iterdir()) == ["INSTALLER", "METADATA", "RECORD"]
    assert (path / "INSTALLER").read_text() == "sysnative\n"
    headers = HeaderParser().parsestr((path / "METADATA").read_text())
    assert headers["Metadata-Version"] == "2.1"
    assert headers["Name"] == "opencv-python"
    assert headers["Version"] == "4.6.0"
    assert "python3-opencv" in headers["Summary"]
    with (path / "RECORD").open(newline="") as fh:
        record = list(csv.reader(fh))
    assert sorted(r[0] for r in record) == [
        f"{path.name}/{n}" for n in ("INSTALLER", "METADATA", "RECORD")
    ]
    for name, digest, size in record:
        if not name.endswith("/RECORD"):
            data = (tmp_path / name).read_bytes()
            assert (digest, int(size)) == (_digest(data), len(data))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary leftovers
    assert oct((path / "METADATA").stat().st_mode & 0o044) == oct(0o044)  # readable by all
    assert path.stat().st_mode & 0o755 == 0o755


def test_an_older_sysnative_marker_is_replaced(tmp_path: Path) -> None:
    (old,) = write_markers([marker(version="4.5.0")], tmp_path)
    (new,) = write_markers([marker(version="4.6.0")], tmp_path)
    assert not old.exists()
    assert [p.name for p in tmp_path.iterdir()] == [new.name]
    (again,) = write_markers([marker(version="4.6.0")], tmp_path)  # idempotent
    assert again == new
    assert [p.name for p in tmp_path.iterdir()] == [new.name]


@pytest.mark.parametrize(
    ("existing", "installer"),
    [("opencv_python-4.8.0.dist-info", "pip"), ("opencv_python-4.6.0.egg-info", None)],
)
def test_another_installers_metadata_is_never_overwritten_and_nothing_is_written(
    tmp_path: Path, existing: str, installer: str | None
) -> None:
    foreign = tmp_path / existing
    foreign.mkdir()
    if installer is not None:
        (foreign / "INSTALLER").write_text(installer + "\n")
    others = [marker("h5py", "3.7.0"), marker()]
    with pytest.raises(MarkerError, match="will not write a marker for opencv-python"):
        write_markers(others, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]  # h5py was not written
    assert (installer is None) or (foreign / "INSTALLER").read_text() == installer + "\n"


def test_a_failed_write_leaves_no_trace_and_keeps_the_old_marker(tmp_path: Path) -> None:
    (old,) = write_markers([marker(version="4.5.0")], tmp_path)
    too_long = marker("x" * 250)  # its dist-info name is longer than a file name may be
    batch = [marker("h5py", "3.7.0"), marker(version="4.6.0"), too_long]
    with pytest.raises(MarkerError, match="Could not write marker metadata") as failure:
        write_markers(batch, tmp_path)
    assert "nothing was changed" in (failure.value.hint or "")
    assert [p.name for p in tmp_path.iterdir()] == [old.name]
    assert "Version: 4.5.0" in (old / "METADATA").read_text()


def test_remove_markers_removes_only_sysnative_markers(tmp_path: Path) -> None:
    written = write_markers([marker(), marker("h5py", "3.7.0")], tmp_path)
    foreign = tmp_path / "numpy-1.24.2.dist-info"
    foreign.mkdir()
    (foreign / "INSTALLER").write_text("pip\n")
    removed = remove_markers([*written, foreign, tmp_path / "gone-1.0.dist-info"])
    assert removed == written
    assert [p.name for p in tmp_path.iterdir()] == [foreign.name]
