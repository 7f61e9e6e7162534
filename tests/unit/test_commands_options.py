"""The flags ``install`` and ``lock`` share, and how they go over the configuration layers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from sysnative.commands.options import (
    add_planning_arguments,
    effective_config,
    install_options,
    plan_request,
)
from sysnative.plan.route import Fallback


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_planning_arguments(parser)
    parser.add_argument("--break-system-packages", action="store_true")
    parser.add_argument("--lock-timeout", type=float, default=None)
    return parser.parse_args(argv)


def test_flags_not_given_are_none_so_the_layers_decide() -> None:
    args = _parse("numpy")
    assert args.requirements == ["numpy"]
    assert args.provider is None
    assert args.native_fallback is None
    assert args.unpackaged_native is None
    assert args.system_conflict is None
    assert args.allow_build is None
    assert args.requirement_files == []
    assert args.constraint_files == []


def test_repeatable_flags_collect_every_value() -> None:
    args = _parse(
        "-r", "a.txt", "--requirement", "b.txt", "-c", "c.txt", "--system", "numpy",
        "--system", "scipy", "--pypi", "attrs", "--extra-index-url", "https://127.0.0.1:8443/simple",
        "-vv", "-q",
    )  # fmt: skip
    assert args.requirement_files == ["a.txt", "b.txt"]
    assert args.constraint_files == ["c.txt"]
    assert args.system == ["numpy", "scipy"]
    assert args.pypi == ["attrs"]
    assert args.extra_index_url == ["https://127.0.0.1:8443/simple"]
    assert (args.verbose, args.quiet) == (2, 1)


def test_fallback_flags_take_only_known_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert _parse("--unpackaged-native", "error").unpackaged_native == "error"
    with pytest.raises(SystemExit) as exited:
        _parse("--system-conflict", "maybe")
    assert exited.value.code == 2
    assert "invalid choice: 'maybe'" in capsys.readouterr().err


def test_a_flag_goes_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYSNATIVE_PROVIDER", "dnf")
    monkeypatch.setenv("SYSNATIVE_LOCK_TIMEOUT", "30")
    assert effective_config(_parse()).provider == "dnf"
    assert effective_config(_parse("--provider", "apt")).provider == "apt"
    assert effective_config(_parse()).lock_timeout == 30
    assert effective_config(_parse("--lock-timeout", "5")).lock_timeout == 5


def test_plan_request_carries_the_flags_and_the_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SYSNATIVE_SYSTEM_CONFLICT", "wheel")
    args = _parse(
        "numpy>=1.24", "--system", "SciPy", "--pypi", "attrs", "-i", "https://127.0.0.1:8443/simple",
        "--unpackaged-native", "error", "--refresh", "--python", "/venv/bin/python",
    )  # fmt: skip
    request = plan_request(args, effective_config(args))
    assert [str(r) for r in request.requirements.requirements] == ["numpy>=1.24"]
    assert request.policy.unpackaged is Fallback.ERROR
    assert request.policy.conflict is Fallback.WHEEL
    assert request.policy.force_system == frozenset({"scipy"})
    assert request.policy.force_pypi == frozenset({"attrs"})
    assert request.index_url == "https://127.0.0.1:8443/simple"
    assert request.refresh is True
    assert request.python == "/venv/bin/python"
    assert request.project_dir == tmp_path


def test_install_options_from_flags_configuration_and_verbosity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SYSNATIVE_SUDO", "never")
    args = _parse("--break-system-packages", "--lock-timeout", "7")
    config = effective_config(args)
    options = install_options(args, config, verbose=1)
    assert options.break_system_packages is True
    assert options.lock_timeout == 7
    assert options.allow_sudo is False
    assert options.provider_output is sys.stderr
    assert install_options(_parse(), effective_config(_parse()), verbose=0).provider_output is None
