"""``sysnative.cli.main``: the one place where an error becomes a message and an exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from sysnative.cli import build_parser, main


def test_a_usage_error_is_two_lines_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["map"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "error: Give project names to look up, or --check FILE.\n"
        "hint: For example: sysnative map numpy Pillow\n"
    )


def test_other_errors_exit_with_their_own_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "pylock.toml"
    assert main(["export", str(missing), "--format", "shell"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: Cannot read the lock file {missing}: No such file")
    assert "hint: Make one with `sysnative lock REQ... -o pylock.toml`." in err
    assert "Traceback" not in err


def test_verbose_adds_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lock", "-v", "-o", "locked.toml", "numpy"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "error: 'locked.toml' is not a lock file name PEP 751 allows." in err


def test_no_command_prints_the_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert capsys.readouterr().out.startswith("usage: sysnative")


def test_every_command_has_a_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    for command in ("install", "venv", "doctor", "lock", "export", "map", "config", "cache"):
        assert f"    {command} " in out
