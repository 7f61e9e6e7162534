"""envcheck: pip-check semantics over a probed target, system packages included."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from memory import target
from packaging.utils import canonicalize_name
from packaging.version import Version

from sysnative.checks.postflight import Unmet, distro_gaps, new_problems, old_problems, unmet
from sysnative.target import TargetEnvironment

#: The target's sys.path in these tests: its own site dir, then the system's.
SYS_PATH = ["venv-site", "dist-packages"]


def _dist(name: str, version: str, *requires: str, location: str = "venv-site") -> dict[str, Any]:
    return {"name": name, "version": version, "location": location, "requires": list(requires)}


def _env(*dists: Mapping[str, Any], python: str = "3.11.2") -> TargetEnvironment:
    """A probed target (see memory.target) whose sys.path is :data:`SYS_PATH`."""
    probed = target(python, installed=list(dists))
    return dataclasses.replace(probed, sys_path=tuple(SYS_PATH))


def _pairs(problems: Sequence[Unmet]) -> list[tuple[str, str, str | None]]:
    return [(u.dist, u.requirement, None if u.found is None else str(u.found)) for u in problems]


def test_a_consistent_environment_has_no_problems() -> None:
    env = _env(
        _dist("requests", "2.31.0", "urllib3<3,>=1.21.1", "idna<4,>=2.5", "certifi>=2017.4.17"),
        _dist("urllib3", "2.0.7"),
        _dist("idna", "3.6", location="dist-packages"),  # from the system: counts the same
        _dist("certifi", "2024.2.2"),
    )
    assert unmet(env) == ()


def test_missing_and_wrong_versions_are_reported_with_what_was_found() -> None:
    env = _env(
        _dist("requests", "2.31.0", "urllib3<3,>=1.21.1", "idna<4,>=2.5", "charset-normalizer"),
        _dist("urllib3", "3.0.0"),
        _dist("IDNA", "3.6"),
    )
    assert _pairs(unmet(env)) == [
        ("requests", "urllib3<3,>=1.21.1", "3.0.0"),
        ("requests", "charset-normalizer", None),
    ]


def test_names_are_compared_normalized() -> None:
    env = _env(_dist("app", "1.0", "Zope.Interface>=5"), _dist("zope-interface", "6.1"))
    assert unmet(env) == ()


def test_markers_are_evaluated_for_the_target_interpreter() -> None:
    dists = (
        _dist(
            "app",
            "1.0",
            'tomli>=1.1; python_version < "3.11"',
            'exceptiongroup; python_version < "3.11"',
            'typing-extensions>=4.6; python_version >= "3.11"',
        ),
        _dist("typing-extensions", "4.1"),
    )
    # On 3.11 the backports are not needed, typing-extensions is too old.
    assert _pairs(unmet(_env(*dists, python="3.11.2"))) == [
        ("app", 'typing-extensions>=4.6; python_version >= "3.11"', "4.1"),
    ]
    # On 3.9 the same metadata asks for the backports instead.
    assert [u.required for u in unmet(_env(*dists, python="3.9.18"))] == [
        "tomli",
        "exceptiongroup",
    ]


def test_requirements_of_extras_are_skipped() -> None:
    env = _env(
        _dist(
            "requests",
            "2.31.0",
            'PySocks!=1.5.7,>=1.5.6; extra == "socks"',
            'chardet<6,>=3.0.2; extra == "use-chardet-on-py3"',
            'win-inet-pton; sys_platform == "win32" and extra == "socks"',
        )
    )
    assert unmet(env) == ()


def test_prereleases_installed_satisfy_a_plain_specifier() -> None:
    env = _env(_dist("app", "1.0", "lib>=2"), _dist("lib", "3.0rc1"))
    assert unmet(env) == ()


def test_unparsable_metadata_is_not_the_environments_problem() -> None:
    env = _env(
        _dist("app", "1.0", "not a requirement !!", 'lib; made_up_marker == "x"', "lib2>=1"),
        _dist("lib2", "1.0"),
    )
    assert unmet(env) == ()


def test_a_required_distribution_with_an_invalid_version_fails_only_versioned_requirements() -> (
    None
):
    env = _env(
        _dist("app", "1.0", "odd", "odd>=1"),
        _dist("odd", "not-a-version"),
    )
    assert _pairs(unmet(env)) == [("app", "odd>=1", None)]


def test_only_the_first_distribution_on_sys_path_counts() -> None:
    # The venv's copy (first on sys.path) shadows the system's newer one.
    env = _env(
        _dist("app", "1.0", "numpy>=1.24"),
        _dist("numpy", "1.21.0", location="venv-site"),
        _dist("numpy", "1.24.2", location="dist-packages"),
    )
    assert _pairs(unmet(env)) == [("app", "numpy>=1.24", "1.21.0")]


def test_describe_says_what_is_wrong() -> None:
    missing = Unmet(canonicalize_name("app"), 'lib>=2; python_version >= "3"', None)
    assert missing.describe() == "app requires lib>=2, which is not installed"
    wrong = Unmet(canonicalize_name("app"), "Lib_Two>=2", Version("1.0"))
    assert wrong.describe() == "app requires Lib_Two>=2, but lib-two 1.0 is installed"


def test_new_problems_are_failures_old_ones_are_warnings() -> None:
    before = unmet(
        _env(
            _dist("distro-tool", "1.0", "lib<1"),  # broken by the system already
            _dist("lib", "1.5"),
            _dist("app", "1.0", "helper"),
            _dist("helper", "1.0"),
        )
    )
    after = unmet(
        _env(
            _dist("distro-tool", "1.0", "lib<1"),
            _dist("lib", "2.0"),  # changed, but the problem is the same one
            _dist("app", "1.0", "helper"),
            _dist("new-thing", "0.1", "lib<2"),  # this run's doing
        )
    )
    assert _pairs(new_problems(before, after)) == [
        ("app", "helper", None),
        ("new-thing", "lib<2", "2.0"),
    ]
    assert _pairs(old_problems(before, after)) == [("distro-tool", "lib<1", "2.0")]
    assert new_problems(after, after) == ()


def test_distributions_off_the_targets_sys_path_do_not_count() -> None:
    # A probe may list a directory the target does not import from (e.g. one the probing
    # script added for itself): its distributions neither need nor provide anything.
    env = _env(
        _dist("app", "1.0", "lib>=2"),
        _dist("lib", "3.0", location="probe-only"),
        _dist("stray", "1.0", "missing", location="probe-only"),
    )
    assert _pairs(unmet(env)) == [("app", "lib>=2", None)]


def test_the_distributions_own_gaps_are_told_apart_from_the_runs() -> None:
    """Debian's python3-azure asks for pydash, which Debian does not package: the
    distribution's gap. A wheel this run installed that breaks a system package, or a
    problem of a distribution in the venv, is the run's."""
    env = _env(
        _dist("azure-ai-ml", "1.4.0", "pydash<6", location="dist-packages"),
        _dist("pynacl", "1.5.0", "cffi>=1.4.1", location="dist-packages"),
        _dist("gensim", "4.2.0", "smart-open>=1.8.1", location="dist-packages"),
        _dist("smart-open", "7.0", location="venv-site"),
        _dist("app", "1.0", "missing", location="venv-site"),
    )
    problems = [
        Unmet(canonicalize_name("azure-ai-ml"), "pydash<6", None),
        Unmet(canonicalize_name("pynacl"), "cffi>=1.4.1", None),
        Unmet(canonicalize_name("gensim"), "smart-open<2", Version("7.0")),
        Unmet(canonicalize_name("app"), "missing", None),
    ]
    ours, theirs = distro_gaps(problems, env, ["dist-packages/"], [canonicalize_name("smart-open")])
    assert [u.dist for u in theirs] == ["azure-ai-ml", "pynacl"]
    assert [u.dist for u in ours] == ["gensim", "app"]
