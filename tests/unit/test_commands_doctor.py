"""``sysnative doctor``'s pure parts: the checks from what was asked, and the two reports."""

from __future__ import annotations

import json

from memory import target

from sysnative.commands.doctor import (
    DOCTOR_VERSION,
    Diagnosis,
    IndexStatus,
    ProviderStatus,
    evaluate,
    render_text,
    to_json,
)

SITE = "/usr/lib/python3/dist-packages"


def _apt(python: str = "3.11.2") -> ProviderStatus:
    return ProviderStatus("apt", True, "/usr/bin/python3", target(python), (SITE,))


def _diagnosis(provider: ProviderStatus, index: IndexStatus | None = None) -> Diagnosis:
    venv = target()
    return Diagnosis(
        interpreter="python3",
        target=venv,
        target_error=None,
        provider=provider,
        checks=evaluate(venv, provider, break_system_packages=False),
        index=index or IndexStatus(index_url="https://127.0.0.1:8443/simple"),
    )


def test_a_venv_of_the_systems_python_that_sees_its_site_dir_passes_every_check() -> None:
    checks = evaluate(target(), _apt(), break_system_packages=False)
    assert [c.status for c in checks] == ["ok", "ok", "ok"]
    assert _diagnosis(_apt()).usable


def test_another_python_version_is_a_problem_with_its_fix() -> None:
    checks = {c.code: c for c in evaluate(target(), _apt("3.12.1"), break_system_packages=False)}
    version = checks["python-version"]
    assert version.status == "problem"
    assert version.problem is not None
    assert "built for Python 3.12" in version.problem.message
    assert version.problem.fix == "sysnative venv --clear /venv"
    assert checks["site-dir-not-seen"].status == "ok"
    assert not _diagnosis(_apt("3.12.1")).usable


def test_what_could_not_be_asked_is_not_checked() -> None:
    assert {c.status for c in evaluate(None, _apt(), break_system_packages=False)} == {
        "not checked"
    }
    without_provider = ProviderStatus(None, tools_present=False, error="no package manager")
    statuses = {
        c.code: c.status for c in evaluate(target(), without_provider, break_system_packages=False)
    }
    assert statuses == {
        "site-dir-not-seen": "not checked",
        "python-version": "not checked",
        "externally-managed": "ok",
    }
    assert not _diagnosis(without_provider).usable


def test_the_text_report_shows_each_check_the_facts_and_the_verdict() -> None:
    text = render_text(
        _diagnosis(
            _apt("3.12.1"),
            IndexStatus(
                index_url="https://127.0.0.1:8443/simple",
                sources=(("index-url", "environment PIP_INDEX_URL"),),
            ),
        )
    )
    lines = text.splitlines()
    assert lines[0] == "Checks"
    assert (
        "  problem      the target runs the Python version the system's packages are built for"
        in lines
    )
    assert "               fix: sysnative venv --clear /venv" in lines
    assert "  sees the provider's site dir  yes (/usr/lib/python3/dist-packages)" in lines
    assert "  interpreter    /usr/bin/python3 (Python 3.12.1)" in lines
    assert "  index-url        https://127.0.0.1:8443/simple  (environment PIP_INDEX_URL)" in lines
    assert "  extra-index-url  (none)" in lines
    assert lines[-1] == "Usable for `sysnative install --system-native`: no"


def test_the_text_report_of_a_target_that_could_not_be_asked() -> None:
    diagnosis = Diagnosis(
        interpreter="/nowhere/python",
        target=None,
        target_error="/nowhere/python was not found",
        provider=_apt(),
        checks=evaluate(None, _apt(), break_system_packages=False),
        index=IndexStatus(error="not asked"),
    )
    text = render_text(diagnosis)
    assert "  interpreter  /nowhere/python\n  error        /nowhere/python was not found" in text
    assert "Index configuration (pip's)\n  error  not asked" in text
    assert text.endswith("Usable for `sysnative install --system-native`: no")


def test_the_json_report_has_the_same_facts_and_is_versioned() -> None:
    document = to_json(_diagnosis(_apt("3.12.1")))
    assert json.loads(json.dumps(document)) == document
    assert document["doctor_version"] == DOCTOR_VERSION
    assert document["usable"] is False
    assert [c["status"] for c in document["checks"]] == ["ok", "problem", "ok"]
    assert document["checks"][1]["fix"] == "sysnative venv --clear /venv"
    assert document["target"]["is_venv"] is True
    assert document["target"]["sees_provider_site_dirs"] is True
    assert document["provider"] == {
        "name": "apt",
        "tools_present": True,
        "interpreter": "/usr/bin/python3",
        "interpreter_version": "3.12.1",
        "site_dirs": [SITE],
        "error": None,
    }
    assert document["index"]["index_url"] == "https://127.0.0.1:8443/simple"
