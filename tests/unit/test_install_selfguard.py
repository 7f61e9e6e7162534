"""The self-check (sysnative.install.selfguard): a plan must not break the running sysnative.

The pure half (``planned_changes``, ``check_self``) runs on hand-built values; the edge that
reads what sysnative needs (``running_sysnative``) runs on made-up ``.dist-info`` directories
in a temporary path, never on this interpreter's own ``sys.path``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from sysnative.errors import SelfChangeRefused, SysnativeError
from sysnative.install.selfguard import (
    SELF,
    Effect,
    Need,
    NeededDistribution,
    PlannedChange,
    RunningSysnative,
    check_self,
    planned_changes,
    refuse_self_changes,
    running_sysnative,
)
from sysnative.models import FileKind, IndexFile, Plan, PlannedPackage, Route

TOOL_SITE = "/tools/sysnative/lib/python3.11/site-packages"
SYSTEM_SITE = "/distro/lib/python3/dist-packages"
PROJECT_SITE = "/projects/app/.venv/lib/python3.11/site-packages"
SYS_PATH = ("/distro/lib/python3.11", TOOL_SITE, SYSTEM_SITE)


def need(text: str, by: str = "sysnative 1.0") -> Need:
    return Need(Requirement(text), by)


def running(*needed: NeededDistribution, sys_path: tuple[str, ...] = SYS_PATH) -> RunningSysnative:
    itself = NeededDistribution(SELF, Version("1.0"), TOOL_SITE)
    return RunningSysnative(
        Version("1.0"), {d.name: d for d in (itself, *needed)}, sys_path=sys_path
    )


def dist(name: str, version: str, location: str, *needs: Need) -> NeededDistribution:
    return NeededDistribution(canonicalize_name(name), Version(version), location, needs)


PACKAGING = dist("packaging", "26.4", TOOL_SITE, need("packaging>=25.0"))
DISTRO = dist("distro", "1.8.0", SYSTEM_SITE, need("distro>=1.6"))
RESOLVELIB = dist("resolvelib", "1.2.1", TOOL_SITE, need("resolvelib>=1.0.1,<2"))
RUNNING = running(PACKAGING, DISTRO, RESOLVELIB)


def change(name: str, version: str, *directories: str, source: str = "a wheel") -> PlannedChange:
    return PlannedChange(canonicalize_name(name), Version(version), directories, source)


# -- check_self --------------------------------------------------------------------------------


def test_a_downgrade_below_the_requirement_where_sysnative_loads_it_is_refused() -> None:
    downgrade = change("packaging", "24.2", TOOL_SITE)

    (conflict,) = check_self([downgrade], RUNNING)

    assert conflict.change == downgrade
    assert conflict.needed == PACKAGING
    assert conflict.effect is Effect.REPLACES
    assert conflict.directory == TOOL_SITE
    assert conflict.unmet == PACKAGING.needs


def test_a_change_that_still_satisfies_the_requirement_is_allowed() -> None:
    """Upgrades in place, as pip does: the requirement is the contract."""
    assert check_self([change("packaging", "27.0", TOOL_SITE)], RUNNING) == ()
    assert check_self([change("packaging", "25.0", TOOL_SITE)], RUNNING) == ()
    assert check_self([change("resolvelib", "1.0.1", TOOL_SITE)], RUNNING) == ()


def test_an_upper_bound_is_a_requirement_too() -> None:
    (conflict,) = check_self([change("resolvelib", "2.0", TOOL_SITE)], RUNNING)
    assert conflict.unmet == RESOLVELIB.needs


def test_a_prerelease_that_satisfies_the_specifier_is_allowed() -> None:
    """Whether a pre-release was *chosen* is the resolver's business; here the question is
    only whether it meets the requirement (as ``pip check`` asks it)."""
    assert check_self([change("packaging", "26.0rc1", TOOL_SITE)], RUNNING) == ()


def test_changes_elsewhere_do_not_matter() -> None:
    """The user's project venv, not on the running sys.path: none of sysnative's business."""
    changes = [change("packaging", "24.2", PROJECT_SITE), change("distro", "1.0", PROJECT_SITE)]
    assert check_self(changes, RUNNING) == ()


def test_distributions_sysnative_does_not_need_are_not_checked() -> None:
    assert check_self([change("requests", "2.0", TOOL_SITE)], RUNNING) == ()


def test_a_change_into_an_earlier_directory_shadows_the_loaded_copy() -> None:
    """distro loads from the system's site dir; a wheel in sysnative's own site-packages
    (earlier on sys.path) would hide it."""
    (conflict,) = check_self([change("distro", "1.0", TOOL_SITE)], RUNNING)

    assert conflict.effect is Effect.SHADOWS
    assert conflict.directory == TOOL_SITE
    assert "ahead of " + SYSTEM_SITE in conflict.describe()
    assert "hide it" in conflict.describe()


def test_a_change_into_a_later_directory_is_hidden_by_the_loaded_copy() -> None:
    assert check_self([change("packaging", "24.2", SYSTEM_SITE)], RUNNING) == ()


def test_a_system_package_replacing_a_dependency_in_the_system_site_dir() -> None:
    """sysnative in a venv that sees the system's site dir, importing distro from there."""
    downgrade = change("distro", "1.5.0", SYSTEM_SITE, source="apt package python3-distro 1.5.0-1")

    (conflict,) = check_self([downgrade], RUNNING)

    assert conflict.effect is Effect.REPLACES
    assert conflict.describe() == (
        f"distro 1.5.0 (apt package python3-distro 1.5.0-1) would go into {SYSTEM_SITE}, "
        "where the running sysnative loads distro 1.8.0 from: sysnative 1.0 requires "
        "distro>=1.6, which 1.5.0 does not satisfy"
    )


def test_any_of_several_system_dirs_counts() -> None:
    (conflict,) = check_self([change("distro", "1.5.0", "/distro/lib64", SYSTEM_SITE)], RUNNING)
    assert conflict.directory == SYSTEM_SITE


def test_replacing_sysnative_itself_is_refused_at_any_version() -> None:
    (conflict,) = check_self([change("sysnative", "2.0", TOOL_SITE)], RUNNING)

    assert conflict.unmet == ()
    assert conflict.describe().endswith("it would replace the running sysnative itself")


def test_every_unmet_requirement_is_named() -> None:
    """A transitive requirement counts as much as sysnative's own."""
    packaging = dist(
        "packaging",
        "26.4",
        TOOL_SITE,
        need("packaging>=25.0"),
        need("packaging>=22", by="resolvelib 1.2.1"),
        need("packaging<30", by="other 1.0"),
    )

    (conflict,) = check_self([change("packaging", "21.0", TOOL_SITE)], running(packaging))

    assert [n.by for n in conflict.unmet] == ["sysnative 1.0", "resolvelib 1.2.1"]
    assert conflict.describe().endswith(
        "sysnative 1.0 requires packaging>=25.0; resolvelib 1.2.1 requires packaging>=22, "
        "which 21.0 does not satisfy"
    )


def test_paths_are_compared_normalized() -> None:
    (conflict,) = check_self([change("packaging", "24.2", TOOL_SITE + "/./")], RUNNING)
    assert conflict.effect is Effect.REPLACES


def test_a_location_off_the_path_is_only_replaced_never_shadowed() -> None:
    egg = dist("packaging", "26.4", "/eggs/packaging.egg", need("packaging>=25.0"))
    assert check_self([change("packaging", "24.2", TOOL_SITE)], running(egg)) == ()


# -- planned_changes -------------------------------------------------------------------------


def wheel(name: str, version: str) -> IndexFile:
    filename = f"{name}-{version}-py3-none-any.whl"
    return IndexFile(
        canonicalize_name(name),
        Version(version),
        filename,
        f"http://127.0.0.1:1/{filename}",
        FileKind.WHEEL,
    )


def row(name: str, version: str, route: Route, **kwargs: object) -> PlannedPackage:
    return PlannedPackage(canonicalize_name(name), Version(version), route, "why", **kwargs)  # type: ignore[arg-type]


PLAN = Plan(
    packages=(
        row(
            "distro",
            "1.9.0",
            Route.SYSTEM,
            provider="apt",
            package="python3-distro",
            distro_version="1.9.0-1",
        ),
        row(
            "six",
            "1.16.0",
            Route.SYSTEM,
            provider="apt",
            package="python3-six",
            distro_version="1.16.0-4",
            already_installed=True,
        ),
        row("packaging", "24.2", Route.PYPI, file=wheel("packaging", "24.2")),
        row("idna", "3.6", Route.PYPI, file=wheel("idna", "3.6"), already_installed=True),
    ),
    provider="apt",
    target_python="/projects/app/.venv/bin/python",
)


def test_planned_changes_puts_wheels_in_purelib_and_packages_in_the_system_dirs() -> None:
    changes = planned_changes(PLAN, purelib=PROJECT_SITE, system_dirs=(SYSTEM_SITE,))

    assert changes == (
        change("distro", "1.9.0", SYSTEM_SITE, source="apt package python3-distro 1.9.0-1"),
        change(
            "packaging", "24.2", PROJECT_SITE, source="the wheel packaging-24.2-py3-none-any.whl"
        ),
    )


# -- the edge, on hand-made values -----------------------------------------------------------


def test_refuse_self_changes_raises_with_target_requirement_and_hint(tmp_path: Path) -> None:
    site = str(tmp_path)
    packaging = dist("packaging", "26.4", site, need("packaging>=25.0", "sysnative 0.1.0"))
    itself = dist("sysnative", "0.1.0", site)
    facts = RunningSysnative(
        Version("0.1.0"), {d.name: d for d in (packaging, itself)}, sys_path=(site,)
    )
    target = "/projects/my app/bin/python"

    with pytest.raises(SelfChangeRefused) as caught:
        refuse_self_changes(
            PLAN, target=target, purelib=site, system_dirs=(SYSTEM_SITE,), running=facts
        )

    error = caught.value
    assert isinstance(error, SysnativeError)
    assert error.exit_code == 1
    assert error.target == target
    assert [c.change.project for c in error.conflicts] == ["packaging"]
    assert "Nothing was changed." in error.message
    assert (
        f"packaging 24.2 (the wheel packaging-24.2-py3-none-any.whl) would go into {site}, "
        "where the running sysnative loads packaging 26.4 from: sysnative 0.1.0 requires "
        "packaging>=25.0, which 24.2 does not satisfy"
    ) in error.message
    assert error.hint is not None
    assert "pipx install sysnative" in error.hint
    assert "--python '/projects/my app/bin/python'" in error.hint
    assert "pipx upgrade" not in error.hint  # only said when sysnative itself would change


def test_refuse_self_changes_hint_for_sysnative_itself(tmp_path: Path) -> None:
    site = str(tmp_path)
    facts = RunningSysnative(
        Version("0.1.0"), {SELF: dist("sysnative", "0.1.0", site)}, sys_path=(site,)
    )
    plan = Plan((row("sysnative", "9.0", Route.PYPI, file=wheel("sysnative", "9.0")),), "apt", "x")

    with pytest.raises(SelfChangeRefused) as caught:
        refuse_self_changes(plan, target="x", purelib=site, system_dirs=(), running=facts)

    assert caught.value.hint is not None
    assert "pipx upgrade sysnative" in caught.value.hint


def test_refuse_self_changes_lets_a_satisfying_plan_through(tmp_path: Path) -> None:
    site = str(tmp_path)
    facts = RunningSysnative(
        Version("0.1.0"),
        {canonicalize_name("packaging"): dist("packaging", "23.0", site, need("packaging>=22"))},
        sys_path=(site,),
    )
    refuse_self_changes(PLAN, target="x", purelib=site, system_dirs=(), running=facts)


def test_refuse_self_changes_resolves_symlinks(tmp_path: Path) -> None:
    """A target probed through a link (``lib64`` -> ``lib``) is the same directory."""
    real = tmp_path / "lib"
    real.mkdir()
    (tmp_path / "lib64").symlink_to(real)
    facts = RunningSysnative(
        Version("0.1.0"),
        {
            canonicalize_name("packaging"): dist(
                "packaging", "26.4", str(real), need("packaging>=25")
            )
        },
        sys_path=(str(real),),
    )
    with pytest.raises(SelfChangeRefused):
        refuse_self_changes(
            PLAN, target="x", purelib=str(tmp_path / "lib64"), system_dirs=(), running=facts
        )


# -- running_sysnative on made-up metadata -----------------------------------------------------


def dist_info(site: Path, name: str, version: str, *requires: str) -> None:
    directory = site / f"{name.replace('-', '_')}-{version}.dist-info"
    directory.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    (directory / "METADATA").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_running_sysnative_follows_requirements_markers_and_extras(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    dist_info(
        first,
        "sysnative",
        "0.1.0",
        "packaging>=25.0",
        "tool-kit[fast]>=1",
        "never-here>=1; python_version < '3'",
        "only-for-tests; extra == 'test'",
        "not-installed>=1",
        "plain-user",
    )
    dist_info(first, "packaging", "26.4")
    dist_info(second, "packaging", "24.0")  # later on the path: not the one loaded
    dist_info(second, "tool-kit", "2.0", "packaging>=22", "speedups>=3; extra == 'fast'")
    dist_info(second, "speedups", "3.1")
    dist_info(second, "never-here", "1.0")
    dist_info(second, "only-for-tests", "1.0")
    dist_info(second, "plain-user", "1.0", "tool-kit>=2")  # tool-kit walked twice

    found = running_sysnative([str(first), str(second)])

    assert found is not None
    assert found.version == Version("0.1.0")
    assert found.sys_path == (str(first.resolve()), str(second.resolve()))
    by_name = found.distributions
    assert set(by_name) == {"sysnative", "packaging", "tool-kit", "speedups", "plain-user"}
    packaging = by_name[NormalizedName("packaging")]
    assert (packaging.version, packaging.location) == (Version("26.4"), str(first.resolve()))
    assert [n.describe() for n in packaging.needs] == [
        "sysnative 0.1.0 requires packaging>=25.0",
        "tool-kit 2.0 requires packaging>=22",
    ]
    assert by_name[NormalizedName("speedups")].location == str(second.resolve())
    assert [n.describe() for n in by_name[NormalizedName("tool-kit")].needs] == [
        "sysnative 0.1.0 requires tool-kit[fast]>=1",
        "plain-user 1.0 requires tool-kit>=2",
    ]
    assert by_name[SELF].needs == ()


def test_running_sysnative_without_metadata_is_none(tmp_path: Path) -> None:
    assert running_sysnative([str(tmp_path)]) is None
