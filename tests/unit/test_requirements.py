from __future__ import annotations

from pathlib import Path

import pytest

from sysnative.errors import RequirementsError
from sysnative.requirements import collect, parse_args, parse_file


def test_file_with_comments_continuations_nesting_and_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NUMPY_MIN", "1.24")
    (tmp_path / "base.txt").write_text("requests[socks]; python_version > '3'  # web\n")
    (tmp_path / "c.txt").write_text("idna<4\n")
    (tmp_path / "req.txt").write_text(
        "# top comment\n"
        "numpy>=${NUMPY_MIN}\n"
        "-r base.txt\n"
        "scipy \\\n"
        "   >=1.10\n"
        "-c c.txt\n"
        "--extra-index-url http://127.0.0.1:1/simple\n"
        "-i http://127.0.0.1:2/simple\n"
        "attrs==23.1.0 --hash=sha256:aa --hash=sha256:bb\n"
    )
    result = parse_file(tmp_path / "req.txt")
    assert [str(r) for r in result.requirements] == [
        "numpy>=1.24",
        'requests[socks]; python_version > "3"',
        "scipy>=1.10",
        "attrs==23.1.0",
    ]
    assert result.requirements[1].source.endswith("base.txt:1")
    assert result.requirements[2].source.endswith("req.txt:4")
    assert result.requirements[3].hashes == ("sha256:aa", "sha256:bb")
    assert [str(c) for c in result.constraints] == ["idna<4"]
    assert result.index_url == "http://127.0.0.1:2/simple"
    assert result.extra_index_urls == ("http://127.0.0.1:1/simple",)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("numpy>=", "invalid requirement 'numpy>='"),
        ("-e .", "editable"),
        ("foo @ http://127.0.0.1/foo.whl", "direct URL"),
        ("./local/path.whl", "Direct paths"),
        ("--frobnicate", "unsupported option"),
        ("-r", "needs a value"),
    ],
)
def test_bad_lines_name_the_file_and_line(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(f"requests\n{text}\n")
    with pytest.raises(RequirementsError) as info:
        parse_file(path)
    message = f"{info.value.message} {info.value.hint}"
    assert fragment in message
    assert "bad.txt:2" in info.value.message


def test_include_loop_is_reported(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("-r b.txt\n")
    (tmp_path / "b.txt").write_text("-r a.txt\n")
    with pytest.raises(RequirementsError, match="loop"):
        parse_file(tmp_path / "a.txt")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RequirementsError, match="Could not read requirements file"):
        collect([], [str(tmp_path / "nope.txt")], [])


def test_constraints_cannot_have_extras(tmp_path: Path) -> None:
    (tmp_path / "c.txt").write_text("requests[socks]<3\n")
    with pytest.raises(RequirementsError, match="extras"):
        collect(["requests"], [], [str(tmp_path / "c.txt")])


def test_args() -> None:
    assert [r.source for r in parse_args(["numpy", "scipy>1"]).requirements] == [
        "command line",
        "command line",
    ]
