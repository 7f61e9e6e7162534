"""The python3-apt helper gives the answers apt-get and apt-cache give, or declines.

Every scenario runs twice against the same local repository: once through the helper
session and once through apt's own commands (``python_apt=False``), and the answers must be
equal. A separate check proves the helper really answered (a decline would make the
comparison pass by asking apt-get both times).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import sysnative.providers.apt.provider as apt_module
from aptrepo import LocalAptRepo, local_apt_repo  # noqa: F401
from sysnative.errors import ProviderError, SysnativeError
from sysnative.models import ClosureItem
from sysnative.providers.apt.parse import parse_simulation
from sysnative.providers.apt.session import HELPER, AptSession

pytestmark = pytest.mark.apt


def _python_apt_available() -> bool:
    done = subprocess.run(
        [apt_module.INTERPRETER, "-I", "-c", "import apt_pkg"], capture_output=True, check=False
    )
    return done.returncode == 0


needs_python_apt = pytest.mark.skipif(
    not _python_apt_available(), reason="python3-apt is not installed (CI installs it)"
)

#: Requests the scenario repository answers, each a different path through apt's marking.
REQUESTS = [
    ["app"],  # app -> lib-mid (>= 2) -> lib-base, which is installed
    ["chain-top"],  # a chain of new packages
    ["app", "lib-mid"],  # a requested dependency
    ["uses-virtual"],  # a dependency on a virtual package one package provides
    ["uses-alt"],  # "alt-missing | alt-real": the first alternative does not exist
    ["needs-new-base"],  # upgrades the installed lib-base
    ["pre"],  # Pre-Depends
    ["lib-base"],  # installed and upgradable on its own
    ["tool", "app", "pre"],
    ["installed-current"],  # already installed at the candidate: nothing to do
    ["core"],  # upgrading core upgrades the installed plugin, which nothing requested needs
]


@pytest.fixture
def world(local_apt_repo: LocalAptRepo) -> LocalAptRepo:  # noqa: F811
    repo = local_apt_repo
    repo.add("lib-base", "1.0-1")
    repo.add("lib-base", "2.0-1")
    repo.add("lib-mid", "2.1-1", depends=["lib-base"])
    repo.add("app", "1.0-1", depends=["lib-mid (>= 2)"])
    repo.add("chain-low", "1.0-1")
    repo.add("chain-mid", "1.0-1", depends=["chain-low"])
    repo.add("chain-top", "1.0-1", depends=["chain-mid", "lib-mid"])
    repo.add("provider-real", "1.0-1", provides=["virtual-thing"])
    repo.add("uses-virtual", "1.0-1", depends=["virtual-thing"])
    repo.add("alt-real", "1.0-1")
    repo.add("uses-alt", "1.0-1", depends=["alt-missing | alt-real"])
    repo.add("needs-new-base", "1.0-1", depends=["lib-base (>= 2.0)"])
    repo.add("early", "1.0-1")
    build_pre = repo.add("pre", "1.0-1")
    _add_pre_depends(build_pre, "early")
    repo.add("tool", "3:1.0~rc1+dfsg-1", depends=["lib-base"])
    repo.add("installed-current", "1.0-1")
    repo.add("broken", "1.0-1", depends=["not-in-the-repo"])
    repo.add("conflicting", "1.0-1", conflicts=["installed-current"])
    repo.add("needs-held-new", "1.0-1", depends=["held-lib (>= 2)"])
    repo.add("held-lib", "2.0-1")
    repo.add("core", "1.0-1")
    repo.add("core", "2.0-1")
    repo.add("plugin", "1.0-1", depends=["core (= 1.0-1)"])
    repo.add("plugin", "2.0-1", depends=["core (= 2.0-1)"])
    repo.publish()
    repo.mark_installed("lib-base", "1.0-1")
    repo.mark_installed("installed-current", "1.0-1")
    repo.mark_installed("held-lib", "1.0-1", held=True)
    repo.mark_installed("core", "1.0-1")
    repo.mark_installed("plugin", "1.0-1", depends=["core (= 1.0-1)"])
    return repo


def _add_pre_depends(deb: Path, target: str) -> None:
    """Rewrite a built package's control with ``Pre-Depends`` (build_deb has no such knob)."""
    work = deb.parent / (deb.stem + ".x")
    subprocess.run(["dpkg-deb", "-R", str(deb), str(work)], check=True)
    control = work / "DEBIAN" / "control"
    text = control.read_text(encoding="utf-8")
    control.write_text(text.replace("Description:", f"Pre-Depends: {target}\nDescription:", 1))
    subprocess.run(
        ["dpkg-deb", "--build", "--root-owner-group", "-Znone", str(work), str(deb)],
        check=True,
        capture_output=True,
    )
    subprocess.run(["rm", "-rf", str(work)], check=True)


def _by_name(closure: tuple[ClosureItem, ...]) -> list[ClosureItem]:
    return sorted(closure, key=lambda item: item.name)


def _session(repo: LocalAptRepo) -> AptSession:
    return AptSession(apt_module.INTERPRETER, [("APT::Install-Recommends", "false")], repo.env)


@needs_python_apt
@pytest.mark.parametrize("names", REQUESTS, ids=[" ".join(r) for r in REQUESTS])
def test_simulation_matches_apt_get(world: LocalAptRepo, names: list[str]) -> None:
    fast = apt_module.AptProvider(env=world.env).simulate(names)
    slow = apt_module.AptProvider(env=world.env, python_apt=False).simulate(names)
    assert _by_name(fast) == _by_name(slow)
    # And the helper answered it itself.
    session = _session(world)
    assert session.ask("simulate", names) is not None
    session.close()


@needs_python_apt
def test_the_requests_cover_upgrades_and_new_packages(world: LocalAptRepo) -> None:
    closure = apt_module.AptProvider(env=world.env).simulate(["needs-new-base"])
    by_name = {item.name: item for item in closure}
    assert by_name["lib-base"].version == "2.0-1"
    assert by_name["lib-base"].replaces == "1.0-1"
    assert by_name["needs-new-base"].replaces is None
    assert apt_module.AptProvider(env=world.env).simulate(["installed-current"]) == ()
    # A change found only by looking beyond the request's own relations (a reverse one).
    upgraded = apt_module.AptProvider(env=world.env).simulate(["core"])
    assert sorted((i.name, i.version, i.replaces) for i in upgraded) == [
        ("core", "2.0-1", "1.0-1"),
        ("plugin", "2.0-1", "1.0-1"),
    ]


@needs_python_apt
def test_dependencies_come_first(world: LocalAptRepo) -> None:
    names = [i.name for i in apt_module.AptProvider(env=world.env).simulate(["chain-top"])]
    assert sorted(names) == ["chain-low", "chain-mid", "chain-top", "lib-mid"]
    assert names.index("chain-low") < names.index("chain-mid") < names.index("chain-top")
    assert names.index("lib-mid") < names.index("chain-top")
    names = [i.name for i in apt_module.AptProvider(env=world.env).simulate(["pre"])]
    assert names == ["early", "pre"]


@needs_python_apt
def test_query_matches_apt_cache(world: LocalAptRepo) -> None:
    names = ["lib-base", "app", "virtual-thing", "installed-current", "not-there", "held-lib"]
    session = _session(world)
    assert session.ask("policy", names) is not None
    session.close()
    provider = apt_module.AptProvider(env=world.env)
    provider.prepare()  # starts the helper, so query goes through it
    assert provider.query(names) == apt_module.AptProvider(env=world.env, python_apt=False).query(
        names
    )


@needs_python_apt
@pytest.mark.parametrize(
    ("names", "why"),
    [
        (["not-in-the-repo-at-all"], "does not know"),
        (["virtual-thing"], "no installation candidate"),
        (["broken"], "broken"),
        (["conflicting"], "removes"),
        (["needs-held-new"], "Unable to correct problems"),  # apt's resolver gives up
        (["held-lib"], "held-lib is held"),  # apt-get refuses to change a held package
    ],
)
def test_what_the_helper_declines_apt_get_answers(
    world: LocalAptRepo, names: list[str], why: str
) -> None:
    done = subprocess.run(
        [apt_module.INTERPRETER, "-I", str(HELPER), "APT::Install-Recommends=false"],
        input=json.dumps({"op": "simulate", "names": names}) + "\n",
        capture_output=True,
        text=True,
        env={**_environ(), **world.env},
        check=True,
    )
    hello, reply = (json.loads(line) for line in done.stdout.splitlines())
    assert hello["ok"] is True
    assert reply["ok"] is False
    assert why in reply["why"]
    # The provider then asks apt-get, whose answer (or error) is the same as without the helper.
    outcomes: list[tuple[str, object]] = []
    for python_apt in (True, False):
        provider = apt_module.AptProvider(env=world.env, python_apt=python_apt)
        try:
            outcomes.append(("ok", _by_name(provider.simulate(names))))
        except ProviderError as exc:
            outcomes.append(("error", exc.message))
    assert outcomes[0] == outcomes[1]


def _environ() -> dict[str, str]:
    return dict(os.environ)


def test_without_python_apt_the_provider_uses_apt_itself(
    world: LocalAptRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No interpreter to run the helper with: apt-cache and apt-get answer everything.
    monkeypatch.setattr(apt_module, "INTERPRETER", "/nonexistent/python3")
    provider = apt_module.AptProvider(env=world.env)
    assert provider.prepare() is True
    closure = provider.simulate(["app"])
    assert {i.name for i in closure} == {"app", "lib-mid"}
    assert provider.query(["app"])["app"].candidate == "1.0-1"


def test_a_helper_without_apt_pkg_says_so() -> None:
    # The running interpreter with site directories switched off cannot import apt_pkg.
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(HELPER)],
        input="",
        capture_output=True,
        text=True,
        check=True,
    )
    hello = json.loads(done.stdout.splitlines()[0])
    assert hello["ok"] is False
    assert "python3-apt is not installed" in hello["why"]


@needs_python_apt
def test_malformed_requests_get_an_error_not_a_crash(world: LocalAptRepo) -> None:
    done = subprocess.run(
        [apt_module.INTERPRETER, "-I", str(HELPER)],
        input='not json\n{"op": "simulate"}\n{"op": "dance", "names": []}\n'
        '{"op": "policy", "names": ["app"]}\n',
        capture_output=True,
        text=True,
        env={**_environ(), **world.env},
        check=True,
    )
    replies = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["ok"] for r in replies] == [True, False, False, False, True]
    assert "Candidate: 1.0-1" in replies[-1]["text"]


@needs_python_apt
def test_a_dead_helper_falls_back(world: LocalAptRepo) -> None:
    provider = apt_module.AptProvider(env=world.env)
    session = provider._session_for(start=True)
    assert session is not None
    assert session.apt_version().startswith("2.")
    session.close()  # as if it had died
    assert session.ask("simulate", ["app"]) is None
    assert {i.name for i in provider.simulate(["app"])} == {"app", "lib-mid"}


def _open_helper(repo: LocalAptRepo, *settings: str) -> dict[str, object]:
    done = subprocess.run(
        [apt_module.INTERPRETER, "-I", str(HELPER), *settings],
        input="",
        capture_output=True,
        text=True,
        env={**_environ(), **repo.env},
        check=True,
    )
    hello: dict[str, object] = json.loads(done.stdout.splitlines()[0])
    return hello


@needs_python_apt
def test_a_fallback_setting_applies_only_where_apt_has_none(
    world: LocalAptRepo, tmp_path: Path
) -> None:
    ours = tmp_path / "ours.bin"
    # This configuration keeps no binary cache (as container images do): ours is used.
    assert _open_helper(world, f"Dir::Cache::pkgcache?={ours}")["ok"] is True
    assert ours.is_file()
    ours.unlink()
    # One that keeps its own: the fallback is ignored, apt's own setting wins.
    theirs = tmp_path / "theirs.bin"
    with world.config_path.open("a", encoding="utf-8") as conf:
        conf.write(f'Dir::Cache::pkgcache "{theirs}";\n')
    assert _open_helper(world, f"Dir::Cache::pkgcache?={ours}")["ok"] is True
    assert theirs.is_file()
    assert not ours.exists()


@needs_python_apt
@pytest.mark.parametrize("argument", ["no-equals-sign", "=value", "?=value"])
def test_the_helper_refuses_malformed_settings(world: LocalAptRepo, argument: str) -> None:
    done = subprocess.run(
        [apt_module.INTERPRETER, "-I", str(HELPER), argument],
        input="",
        capture_output=True,
        text=True,
        env={**_environ(), **world.env},
        check=False,
    )
    assert done.returncode == 2
    assert "KEY=VALUE" in json.loads(done.stdout)["why"]


def _watch_apt_config(
    provider: apt_module.AptProvider, monkeypatch: pytest.MonkeyPatch
) -> list[bool]:
    """Record, at each apt-config call, whether the helper had been started already."""
    seen: list[bool] = []
    real = provider._probe_options

    def probe() -> tuple[str, ...]:
        seen.append(provider._session is not None)
        return real()

    monkeypatch.setattr(provider, "_probe_options", probe)
    return seen


@needs_python_apt
def test_a_cold_cache_dir_starts_the_helper_without_waiting_for_apt_config(
    world: LocalAptRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cold = apt_module.AptProvider(env=world.env, cache_dir=tmp_path)
    seen = _watch_apt_config(cold, monkeypatch)
    assert cold.prepare() is True
    assert seen == [True]
    cold.simulate(["app"])  # apt answered against this state: the next run is warm

    warm = apt_module.AptProvider(env=world.env, cache_dir=tmp_path)
    seen = _watch_apt_config(warm, monkeypatch)
    assert warm.prepare() is False
    assert seen == [False]
    assert warm._session is None  # a warm run needs no helper at all


@needs_python_apt
@pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs per-thread CPU affinity and two CPUs or more",
)
def test_a_failing_prepare_gives_the_helpers_cpu_back(
    world: LocalAptRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    allowed = os.sched_getaffinity(0)
    provider = apt_module.AptProvider(env=world.env, cache_dir=tmp_path)

    def broken() -> tuple[str, ...]:
        # The helper was started (cold cache dir) and holds a CPU of its own by now.
        assert os.sched_getaffinity(0) != allowed
        raise SysnativeError("apt-config did not finish")

    monkeypatch.setattr(provider, "_probe_options", broken)
    with pytest.raises(SysnativeError, match="apt-config"):
        provider.prepare()

    assert os.sched_getaffinity(0) == allowed


@needs_python_apt
def test_questions_asked_back_to_back_see_no_earlier_marks(world: LocalAptRepo) -> None:
    """Pipelined: the helper reads the next question before it had an idle moment to forget
    the last simulation's marks, so it must forget them before the next simulation."""
    questions = [
        {"op": "simulate", "names": ["chain-top"]},
        {"op": "policy", "names": ["lib-base", "chain-low"]},
        {"op": "simulate", "names": ["needs-new-base"]},
        {"op": "simulate", "names": ["chain-top"]},
    ]
    done = subprocess.run(
        [apt_module.INTERPRETER, "-I", str(HELPER), "APT::Install-Recommends=false"],
        input="".join(json.dumps(q) + "\n" for q in questions),
        capture_output=True,
        text=True,
        env={**_environ(), **world.env},
        check=True,
    )
    _hello, first, policy, second, again = (json.loads(x) for x in done.stdout.splitlines())

    apt_get = apt_module.AptProvider(env=world.env, python_apt=False)
    parse = parse_simulation
    assert first["ok"] is True
    assert second["ok"] is True
    assert _by_name(parse(second["text"])) == _by_name(apt_get.simulate(["needs-new-base"]))
    assert again["text"] == first["text"]
    assert _by_name(parse(first["text"])) == _by_name(apt_get.simulate(["chain-top"]))
    # Marks do not change what is installed or what apt's candidate is.
    assert "chain-low:\n  Installed: (none)\n  Candidate: 1.0-1\n" in policy["text"]
