"""The target checks (sysnative.checks.preflight) on hand-built TargetEnvironment values.

The provider's interpreter and site dir are deliberately not Debian's, so a fix that names a
hard-coded ``python3`` instead of the provider's interpreter fails these tests.
"""

from __future__ import annotations

from dataclasses import replace

from sysnative.checks.preflight import (
    CHECKS,
    EXTERNALLY_MANAGED,
    PYTHON_VERSION,
    SITE_DIR_NOT_SEEN,
    Problem,
    check_target,
)
from sysnative.errors import SysnativeError, TargetRefused
from sysnative.target import TargetEnvironment

SYSTEM_PYTHON = "/distro/bin/python3"
SITE_DIRS = ("/distro/lib/python3/dist-packages",)
VENV = "/projects/app/.venv"


def environment(
    executable: str,
    version: str = "3.11",
    *,
    prefix: str = "/distro",
    base_prefix: str | None = None,
    sys_path: tuple[str, ...] = (),
    include_system: bool | None = None,
    externally_managed: bool = False,
) -> TargetEnvironment:
    return TargetEnvironment(
        executable=executable,
        python_version=version,
        python_full_version=f"{version}.2",
        markers={},
        tags=(),
        sys_path=(f"{prefix}/lib/python{version}", *sys_path),
        prefix=prefix,
        base_prefix=prefix if base_prefix is None else base_prefix,
        purelib=f"{prefix}/lib/python{version}/site-packages",
        include_system_site_packages=include_system,
        externally_managed=externally_managed,
    )


SYSTEM = environment(SYSTEM_PYTHON, sys_path=SITE_DIRS, externally_managed=True)
GOOD_VENV = environment(
    f"{VENV}/bin/python",
    prefix=VENV,
    base_prefix="/distro",
    sys_path=SITE_DIRS,
    include_system=True,
)
ISOLATED_VENV = environment(
    f"{VENV}/bin/python", prefix=VENV, base_prefix="/distro", include_system=False
)
PYENV = environment(
    "/toolchains/pyenv/versions/3.12.1/bin/python3", "3.12", prefix="/toolchains/pyenv/3.12"
)


def check(target: TargetEnvironment, *, allow_break: bool = False) -> tuple[Problem, ...]:
    return check_target(target, SYSTEM, SITE_DIRS, break_system_packages=allow_break)


def test_a_venv_made_from_the_system_python_with_its_site_packages_passes() -> None:
    assert check(GOOD_VENV) == ()


def test_a_venv_without_system_site_packages_is_refused_with_the_command_to_recreate_it() -> None:
    (problem,) = check(ISOLATED_VENV)
    assert problem.code == SITE_DIR_NOT_SEEN
    assert SITE_DIRS[0] in problem.message
    assert "without --system-site-packages" in problem.message
    assert problem.fix == f"sysnative venv --clear {VENV}"
    assert problem.alternatives == (
        f"{SYSTEM_PYTHON} -m venv --clear --system-site-packages {VENV}",
    )


def test_a_pyenv_python_of_another_version_gets_both_problems_and_a_new_venv() -> None:
    problems = check(PYENV)
    assert [p.code for p in problems] == [SITE_DIR_NOT_SEEN, PYTHON_VERSION]
    seen, version = problems
    assert "pyenv or uv-managed" in seen.message
    assert "3.12" in version.message
    assert "3.11" in version.message
    assert version.fix == "sysnative venv .venv"
    assert version.alternatives == (f"{SYSTEM_PYTHON} -m venv --system-site-packages .venv",)


def test_a_version_mismatch_is_found_even_when_the_site_dir_is_on_the_path() -> None:
    # /usr/bin/python3.12 next to Debian's 3.11, with the shared dist-packages dir on its path.
    other = environment("/distro/bin/python3.12", "3.12", sys_path=SITE_DIRS)
    (problem,) = check(other)
    assert problem.code == PYTHON_VERSION


def test_a_venv_from_another_base_python_is_explained_as_such() -> None:
    pyenv_venv = environment(
        f"{VENV}/bin/python", prefix=VENV, base_prefix="/toolchains/pyenv/3.11", include_system=True
    )
    (problem,) = check(pyenv_venv)
    assert problem.code == SITE_DIR_NOT_SEEN
    assert "/toolchains/pyenv/3.11" in problem.message
    assert SYSTEM_PYTHON in problem.message


def test_the_externally_managed_system_python_needs_the_flag() -> None:
    (problem,) = check(SYSTEM)
    assert problem.code == EXTERNALLY_MANAGED
    assert "PEP 668" in problem.message
    assert problem.fix == "sysnative venv .venv"
    assert any("--break-system-packages" in alt for alt in problem.alternatives)
    assert check(SYSTEM, allow_break=True) == ()


def test_without_a_probe_of_the_provider_python_the_version_is_not_judged() -> None:
    problems = check_target(
        PYENV, None, SITE_DIRS, break_system_packages=False, interpreter=SYSTEM_PYTHON
    )
    assert [p.code for p in problems] == [SITE_DIR_NOT_SEEN]
    assert problems[0].alternatives == (f"{SYSTEM_PYTHON} -m venv --system-site-packages .venv",)


def test_paths_in_fixes_are_quoted_for_the_shell() -> None:
    spaced = replace(ISOLATED_VENV, prefix="/projects/my app/.venv")
    (problem,) = check(spaced)
    assert problem.fix == "sysnative venv --clear '/projects/my app/.venv'"


def test_every_problem_code_is_a_listed_check() -> None:
    codes = {p.code for t in (SYSTEM, ISOLATED_VENV, PYENV) for p in check(t)}
    assert codes == {code for code, _ in CHECKS}


def test_target_refused_renders_one_paragraph_per_problem_each_with_its_fix() -> None:
    problems = check(PYENV)
    error = TargetRefused(PYENV.executable, problems)
    assert isinstance(error, SysnativeError)
    head, *paragraphs = error.message.split("\n\n")
    assert PYENV.executable in head
    assert len(paragraphs) == len(problems) == 2
    for paragraph, problem in zip(paragraphs, problems):
        assert paragraph.startswith(problem.message)
        assert f"fix: {problem.fix}" in paragraph
        assert all(alt in paragraph for alt in problem.alternatives)
    assert error.hint is not None
    assert "doctor" in error.hint
