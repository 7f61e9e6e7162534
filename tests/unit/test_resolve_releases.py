"""Grouping an index listing into candidates, and remembering why releases were left out."""

from __future__ import annotations

from packaging.specifiers import SpecifierSet
from packaging.tags import parse_tag
from packaging.utils import NormalizedName
from packaging.version import Version

from sysnative.models import FileKind, IndexFile
from sysnative.plan.route import Kind, classify
from sysnative.resolve.releases import build_candidates, list_releases

NAME = NormalizedName("app")
TAGS = ["cp311-cp311-manylinux_2_17_x86_64", "py3-none-any"]
PRIORITY = {tag: i for i, text in enumerate(TAGS) for tag in parse_tag(text)}
PYTHON = Version("3.11.2")


def wheel(
    version: str, tag: str = "py3-none-any", *, python: str | None = None, yanked: str | None = None
) -> IndexFile:
    return IndexFile(
        NAME,
        Version(version),
        f"app-{version}-{tag}.whl",
        f"mem://app-{version}-{tag}.whl",
        FileKind.WHEEL,
        tags=frozenset(parse_tag(tag)),
        requires_python=SpecifierSet(python) if python is not None else None,
        yanked=yanked,
    )


def sdist(version: str, *, python: str | None = None) -> IndexFile:
    return IndexFile(
        NAME,
        Version(version),
        f"app-{version}.tar.gz",
        "mem://sdist",
        FileKind.SDIST,
        requires_python=SpecifierSet(python) if python is not None else None,
    )


FILES = (
    wheel("3.0", python=">=3.12"),
    sdist("3.0"),
    wheel("2.0", yanked="broken"),
    wheel("1.5", "cp312-cp312-manylinux_2_17_x86_64"),
    sdist("1.5"),
    sdist("1.2"),
    wheel("1.1", "cp312-cp312-manylinux_2_17_x86_64"),
    wheel("1.0"),
    wheel("1.0", "cp311-cp311-manylinux_2_17_x86_64"),
    wheel("1.0", yanked=""),
)


def test_candidates_and_excluded_releases() -> None:
    releases = list_releases(NAME, FILES, PRIORITY, PYTHON)

    assert [str(c.version) for c in releases.candidates] == ["1.0"]
    # Best tag first; the yanked duplicate is not among the files.
    assert [f.filename for f in releases.candidates[0].files] == [
        "app-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        "app-1.0-py3-none-any.whl",
    ]
    assert [(str(v), why) for v, why in releases.excluded] == [
        ("3.0", "requires Python >=3.12"),
        ("2.0", "is yanked (broken)"),
        (
            "1.5",
            "has no wheel for the target, only an sdist, which sysnative builds only with "
            "--allow-build",
        ),
        ("1.2", "has only an sdist, which sysnative builds only with --allow-build"),
        ("1.1", "has no wheel for the target"),
    ]


def test_build_candidates_is_the_candidates_of_the_listing() -> None:
    assert build_candidates(NAME, FILES, PRIORITY, PYTHON) == (
        list_releases(NAME, FILES, PRIORITY, PYTHON).candidates
    )


def test_sdist_only_project_keeps_its_versions_without_files() -> None:
    """No wheel anywhere: every version is a (native) candidate with no usable file, for the
    system to provide; nothing is left out."""
    releases = list_releases(NAME, (sdist("2.0"), sdist("1.0")), PRIORITY, PYTHON)

    assert [str(c.version) for c in releases.candidates] == ["2.0", "1.0"]
    assert [c.files for c in releases.candidates] == [(), ()]
    assert releases.excluded == ()
    assert classify(releases.candidates[0]).kind is Kind.NATIVE
    assert classify(releases.candidates[0]).wheel is None


def test_allow_build_makes_releases_without_a_wheel_candidates() -> None:
    """pip's order: the newest version that is left, its wheel when it has one for the
    target, else its sdist; an older wheel does not win over a newer sdist."""
    releases = list_releases(NAME, FILES, PRIORITY, PYTHON, allow_build=True)

    # 3.0's wheel requires Python >=3.12, its sdist does not say (the page has no
    # Requires-Python for it): a candidate, which its prepared metadata may still rule out.
    assert [str(c.version) for c in releases.candidates] == ["3.0", "1.5", "1.2", "1.0"]
    by_version = {str(c.version): c for c in releases.candidates}
    # 1.5: only a wheel for another Python, and an sdist: the sdist.
    assert [f.filename for f in by_version["1.5"].files] == ["app-1.5.tar.gz"]
    assert classify(by_version["1.5"]).kind is Kind.SOURCE
    assert classify(by_version["1.5"]).wheel == sdist("1.5")
    assert classify(by_version["1.5"]).reason.startswith("built from sdist")
    # 1.0 has wheels: they come first, and classify takes a wheel, never the sdist.
    assert classify(by_version["1.0"]).kind is Kind.PURE
    # Requires-Python, yanked files and releases without any usable file stay left out.
    assert [(str(v), why) for v, why in releases.excluded] == [
        ("2.0", "is yanked (broken)"),
        ("1.1", "has no wheel for the target"),
    ]


def test_allow_build_puts_the_sdist_after_the_wheels() -> None:
    files = (sdist("1.0"), wheel("1.0"))

    (candidate,) = list_releases(NAME, files, PRIORITY, PYTHON, allow_build=True).candidates

    assert [f.kind for f in candidate.files] == [FileKind.WHEEL, FileKind.SDIST]
    assert classify(candidate).kind is Kind.PURE
    (binary_only,) = list_releases(NAME, files, PRIORITY, PYTHON).candidates
    assert [f.kind for f in binary_only.files] == [FileKind.WHEEL]


def test_allow_build_sdist_only_project_builds_every_version() -> None:
    files = (sdist("2.0"), sdist("1.0", python=">=3.12"))

    releases = list_releases(NAME, files, PRIORITY, PYTHON, allow_build=True)

    assert [str(c.version) for c in releases.candidates] == ["2.0"]
    assert [f.filename for f in releases.candidates[0].files] == ["app-2.0.tar.gz"]
    assert releases.excluded == ((Version("1.0"), "requires Python >=3.12"),)
    assert build_candidates(NAME, files, PRIORITY, PYTHON, allow_build=True) == (
        releases.candidates
    )


def test_a_listing_is_computed_once_per_file_tuple_and_target() -> None:
    first = list_releases(NAME, FILES, PRIORITY, PYTHON)

    assert list_releases(NAME, FILES, PRIORITY, PYTHON) is first
    # Another target's priorities, another Python, another page: listed anew.
    other_target = list_releases(NAME, FILES, dict(PRIORITY), PYTHON)
    assert other_target is not first
    assert other_target == first
    newer_python = list_releases(NAME, FILES, PRIORITY, Version("3.12.0"))
    assert [str(c.version) for c in newer_python.candidates] == ["3.0", "1.0"]
    assert list_releases(NAME, FILES[1:], PRIORITY, PYTHON) is not first
    assert list_releases(NAME, list(FILES), PRIORITY, PYTHON) == first
    # Building allowed or not: two listings.
    assert list_releases(NAME, FILES, PRIORITY, PYTHON, allow_build=True) != first
    assert list_releases(NAME, FILES, PRIORITY, PYTHON) is first
