"""The Homebrew provider end to end, against a REPLAY of brew's output.

Homebrew does not run on the development machines. These tests put a tiny ``brew`` script on
``PATH`` that does nothing but replay: for an exact argv it prints one of the files in
``fixtures/brew/`` (recorded brew output, or output reconstructed from Homebrew's source where
no recording exists; ``fixtures/brew/README.md`` says which) with the exit status brew gives
there, and for any other argv it fails with status 99, so a command the provider was not
expected to run fails the test. The only output not from a fixture is ``brew --prefix``'s, a
directory made by the test. What is tested is the provider around the parsers (which
``tests/unit/test_brew_parse.py`` tests directly): the exact commands, the retry without
unknown names, caching, exit statuses, and the checks before and after an install.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.version import Version

from sysnative.errors import PrivilegeError, ProviderError, SystemStepError
from sysnative.models import ClosureItem, SystemPackage
from sysnative.protocols import Privileges
from sysnative.providers.brew.parse import Formula
from sysnative.providers.brew.provider import BrewProvider

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "brew"

INFO = ["info", "--json=v2", "--formula", "--"]
DRY_RUN = ["install", "--dry-run", "--formula", "--"]
LIST = ["list", "--versions", "--formula", "--"]

_REPLAY = """\
#!{python}
import json, os, sys
argv = sys.argv[1:]
record = {{"argv": argv, "auto_update": os.environ.get("HOMEBREW_NO_AUTO_UPDATE")}}
with open(os.environ["BREW_REPLAY_LOG"], "a") as log:
    log.write(json.dumps(record) + "\\n")
with open(os.environ["BREW_REPLAY_TABLE"]) as table:
    entries = json.load(table)
for entry in entries:
    if entry["argv"] == argv:
        for name, stream in (("stdout", sys.stdout), ("stderr", sys.stderr)):
            if entry.get(name):
                with open(entry[name], encoding="utf-8") as f:
                    stream.write(f.read())
        if entry.get("text"):
            sys.stdout.write(entry["text"])
        sys.exit(entry.get("returncode", 0))
sys.stderr.write("replay: nothing recorded for: " + " ".join(argv) + "\\n")
sys.exit(99)
"""


@dataclass
class Replay:
    root: Path
    env: dict[str, str]
    entries: list[dict[str, object]]

    def add(
        self,
        argv: list[str],
        stdout: str | None = None,
        stderr: str | None = None,
        returncode: int = 0,
        text: str | None = None,
    ) -> None:
        self.entries.append(
            {
                "argv": argv,
                "stdout": str(FIXTURES / stdout) if stdout else None,
                "stderr": str(FIXTURES / stderr) if stderr else None,
                "returncode": returncode,
                "text": text,
            }
        )
        (self.root / "table.json").write_text(json.dumps(self.entries), encoding="utf-8")

    def calls(self) -> list[list[str]]:
        log = self.root / "log.jsonl"
        if not log.exists():
            return []
        lines = log.read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines]
        # every brew command ran without auto-update
        assert all(r["auto_update"] == "1" for r in records)
        return [r["argv"] for r in records]

    def provider(self) -> BrewProvider:
        return BrewProvider(env=self.env)


@pytest.fixture
def replay(tmp_path: Path) -> Replay:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    brew = bin_dir / "brew"
    brew.write_text(_REPLAY.format(python=sys.executable), encoding="utf-8")
    brew.chmod(0o755)
    (tmp_path / "table.json").write_text("[]", encoding="utf-8")
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "BREW_REPLAY_TABLE": str(tmp_path / "table.json"),
        "BREW_REPLAY_LOG": str(tmp_path / "log.jsonl"),
    }
    return Replay(tmp_path, env, [])


def test_query_retries_without_the_unknown_name(replay: Replay) -> None:
    replay.add([*INFO, "wget", "java8"], stderr="unknown_formula.stderr", returncode=1)
    replay.add([*INFO, "wget"], stdout="info_wget.json")
    provider = replay.provider()
    assert BrewProvider.available(replay.env)
    assert provider.query(["wget", "java8"]) == {
        "wget": SystemPackage("wget", candidate="1.25.0", installed="1.25.0")
    }
    assert replay.calls() == [[*INFO, "wget", "java8"], [*INFO, "wget"]]
    # answered from the provider's cache the second time
    assert provider.query(["wget"]) == {"wget": SystemPackage("wget", "1.25.0", "1.25.0")}
    assert len(replay.calls()) == 2


def test_query_revision_in_the_version(replay: Replay) -> None:
    replay.add([*INFO, "aalib"], stdout="info_aalib.json")
    provider = replay.provider()
    assert provider.query(["aalib"]) == {
        "aalib": SystemPackage("aalib", candidate="1.4rc5_2", installed=None)
    }
    assert provider.to_pep440("1.4rc5_2") == Version("1.4rc5")


def test_query_keg_only_has_no_usable_version(replay: Replay) -> None:
    replay.add([*INFO, "sqlite"], stdout="info_keg_only.json")
    provider = replay.provider()
    assert provider.query(["sqlite"]) == {"sqlite": SystemPackage("sqlite", None, None)}
    assert "keg-only" in provider.unusable["sqlite"]


def test_unexplained_info_failure_asks_each_name(replay: Replay) -> None:
    replay.add([*INFO, "aalib", "wget"], returncode=1)  # an error that names no formula
    replay.add([*INFO, "aalib"], stdout="info_aalib.json")
    replay.add([*INFO, "wget"], stdout="info_wget.json")
    found = replay.provider().query(["aalib", "wget"])
    assert {name: p.candidate for name, p in found.items()} == {
        "aalib": "1.4rc5_2",
        "wget": "1.25.0",
    }
    assert replay.calls() == [[*INFO, "aalib", "wget"], [*INFO, "aalib"], [*INFO, "wget"]]


def test_simulate_reads_the_dry_run_and_the_versions(replay: Replay) -> None:
    replay.add([*DRY_RUN, "aalib"], stdout="dry_run_install_aalib.txt")
    replay.add([*INFO, "aalib"], stdout="info_aalib.json")
    assert replay.provider().simulate(["aalib"]) == (ClosureItem("aalib", "1.4rc5_2"),)
    assert replay.calls() == [[*DRY_RUN, "aalib"], [*INFO, "aalib"]]


def test_simulate_unknown_formula(replay: Replay) -> None:
    replay.add([*DRY_RUN, "java8"], stderr="unknown_formula.stderr", returncode=1)
    with pytest.raises(ProviderError, match="Homebrew has no formula java8"):
        replay.provider().simulate(["java8"])


def test_site_dirs_and_interpreter(replay: Replay) -> None:
    prefix = replay.root / "homebrew"
    replay.add(["--prefix"], text=f"{prefix}\n")
    provider = replay.provider()
    # the Python the planned formulae depend on (as brew info's ``dependencies`` name it)
    provider._note_pythons(Formula("numpy", "numpy", "2.1.0", dependencies=("python@3.13",)))
    assert provider.site_dirs() == (f"{prefix}/lib/python3.13/site-packages",)
    assert provider.interpreter() == f"{prefix}/opt/python@3.13/bin/python3.13"
    assert replay.calls() == [["--prefix"]]


def test_verify_reads_brew_list(replay: Replay) -> None:
    replay.add([*LIST, "aalib", "wget", "nothere"], stdout="list_versions.txt", returncode=1)
    provider = replay.provider()
    plan = [ClosureItem("aalib", "1.4rc5_2"), ClosureItem("wget", "1.25.0")]
    assert provider.verify([*plan, ClosureItem("nothere", "1.0")]) == (
        "nothere 1.0: not installed",
    )
    assert provider.verify(
        [
            ClosureItem("aalib", "1.4rc5_1"),
            ClosureItem("wget", "1.25.0"),
            ClosureItem("nothere", "1"),
        ]
    ) == (
        "aalib: installed at 1.4rc5_2, but the plan has 1.4rc5_1",
        "nothere 1: not installed",
    )


def test_install_then_verify(replay: Replay) -> None:
    replay.add(["install", "--formula", "--", "aalib", "wget"])
    replay.add([*LIST, "aalib", "wget"], stdout="list_versions.txt")
    provider = replay.provider()
    provider.install(
        [("aalib", "1.4rc5_2"), ("wget", "1.25.0")],
        [ClosureItem("aalib", "1.4rc5_2")],
        Privileges(ok=True),
    )
    assert replay.calls() == [
        ["install", "--formula", "--", "aalib", "wget"],
        [*LIST, "aalib", "wget"],
    ]


def test_install_that_did_not_give_the_plan(replay: Replay) -> None:
    replay.add(["install", "--formula", "--", "aalib", "wget"])
    replay.add([*LIST, "aalib", "wget"], stdout="list_versions.txt")
    with pytest.raises(SystemStepError) as caught:
        replay.provider().install(
            [("aalib", "1.4rc5_2"), ("wget", "1.26.0")],
            [ClosureItem("aalib", "1.4rc5_2")],
            Privileges(ok=True),
        )
    err = caught.value
    assert "wget: installed at 1.25.0, 1.24.5, but the plan has 1.26.0" in str(err)
    assert err.state == ("aalib: 1.4rc5_2", "wget: 1.25.0, 1.24.5")
    assert err.undo == ("brew uninstall --formula -- aalib wget",)


def test_install_refused_without_privileges(replay: Replay) -> None:
    with pytest.raises(PrivilegeError) as caught:
        replay.provider().install(
            [("aalib", "1.4rc5_2")],
            [ClosureItem("aalib", "1.4rc5_2")],
            Privileges(ok=False, why="Homebrew refuses to run as root"),
        )
    assert caught.value.command.endswith("brew install --formula -- aalib")
    assert replay.calls() == []


def test_check_install_sees_a_changed_formula(replay: Replay) -> None:
    replay.add([*INFO, "aalib"], stdout="info_aalib.json")
    with pytest.raises(ProviderError, match=r"the plan has 1\.4rc5_1, Homebrew now has 1\.4rc5_2"):
        replay.provider().check_install([("aalib", "1.4rc5_1")], [ClosureItem("aalib", "1.4rc5_1")])


def test_check_install_compares_a_fresh_dry_run(replay: Replay) -> None:
    replay.add([*INFO, "aalib"], stdout="info_aalib.json")
    replay.add([*DRY_RUN, "aalib"], stdout="dry_run_install_aalib.txt")
    provider = replay.provider()
    provider.check_install([("aalib", "1.4rc5_2")], [ClosureItem("aalib", "1.4rc5_2")])
    with pytest.raises(ProviderError, match="in the plan, but brew would not install it now"):
        provider.check_install(
            [("aalib", "1.4rc5_2")],
            [ClosureItem("aalib", "1.4rc5_2"), ClosureItem("gettext", "0.23")],
        )
    # never from the cache: brew info and the dry run were asked each time
    assert replay.calls().count([*INFO, "aalib"]) == 4
