"""DnfProvider's query side against the real dnf and rpm, and repositories built by the test.

The repository is built once per module (``rpmbuild`` and ``createrepo_c``); every test gets
its own empty install root (:class:`rpmrepo.RpmWorld`), so what one test installs never shows
in another. Tests that need packages already installed record them with ``rpm -i`` into the
world's install root, which needs root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

import sysnative.providers.base as base_module
import sysnative.providers.dnf.provider as dnf_module
from rpmrepo import LocalRpmRepo, RpmWorld, require_rpm_tools
from sysnative.errors import ProviderError, ProviderUnavailable
from sysnative.models import ClosureItem, SystemPackage
from sysnative.protocols import Provider
from sysnative.providers.dnf.command import find_dnf
from sysnative.runner import Completed
from sysnative.runner import run as real_run

pytestmark = pytest.mark.rpm


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> LocalRpmRepo:
    """Fedora-like packages: numpy with its epoch, foo -> bar, two versions of bar, a
    snapshot, a broken package, and python3-libs providing ``python(abi) = 3.12``."""
    require_rpm_tools()
    repo = LocalRpmRepo(tmp_path_factory.mktemp("dnf-provider-repo"))
    repo.add("python3-libs", "3.12.4", "1.fc40", provides=["python(abi) = 3.12"])
    repo.add("python3.11-libs", "3.11.9", "1.fc40", provides=["python(abi) = 3.11"])
    repo.add("python3-numpy", "1.26.4", "7.fc40", epoch=1, python_project="numpy")
    repo.add(
        "python3-foo", "1.2", "3.fc40", python_project="foo", requires=["python3dist(bar) >= 2"]
    )
    repo.add("python3-bar", "3.0.0~rc1", "1.fc41", python_project="bar", python_version="3~rc1")
    repo.add("python3-bar", "2.0", "1.fc40", python_project="bar")
    repo.add(
        "python3-snap", "1.2.3^20240101git1234abc", "1.fc40", python_project="snap",
        python_version="1.2.3",
    )  # fmt: skip
    repo.add(
        "python3-zope-interface", "6.2", "1.fc40", python_project="zope.interface",
        python_version="6.2",
    )  # fmt: skip
    repo.add("python3-broken", "1.0", "1.fc40", requires=["not-in-the-repo"])
    repo.publish()
    return repo


@pytest.fixture(scope="module")
def obsoleting(tmp_path_factory: pytest.TempPathFactory, repo: LocalRpmRepo) -> LocalRpmRepo:
    """A second repository whose python3-newbar obsoletes python3-bar < 4."""
    extra = LocalRpmRepo(tmp_path_factory.mktemp("dnf-provider-obsoleting"))
    extra.add("python3-newbar", "4.0", "1.fc41", python_project="newbar",
              obsoletes=["python3-bar < 4"])  # fmt: skip
    extra.publish()
    return extra


@pytest.fixture
def world(tmp_path: Path, repo: LocalRpmRepo) -> RpmWorld:
    return RpmWorld(tmp_path / "world", [repo])


@pytest.fixture
def as_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("recording installed packages with rpm -i needs root")


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """Every argv the provider runs, while still running it for real."""
    seen: list[tuple[str, ...]] = []

    def counting_run(argv: Sequence[str], **kwargs: Any) -> Completed:
        seen.append(tuple(argv))
        return real_run(argv, **kwargs)

    monkeypatch.setattr(base_module, "run", counting_run)
    return seen


def provider(world: RpmWorld) -> dnf_module.DnfProvider:
    return dnf_module.DnfProvider(options=world.options)


def install_state(world: RpmWorld, repo: LocalRpmRepo, *packages: tuple[str, str]) -> None:
    """Record ``(name, evr)`` packages as installed in the world."""
    world.mark_installed(*(repo.rpm_file(name, evr) for name, evr in packages))


# -- query -----------------------------------------------------------------------------------


def test_query_available_by_provide_and_by_name(world: RpmWorld) -> None:
    found = provider(world).query(
        ["python3dist(foo)", "python3-bar", "python3dist(numpy)", "nothing-here",
         "python3dist(nothing)", "python3dist(zope-interface)"]
    )  # fmt: skip
    assert found == {
        "python3dist(foo)": SystemPackage("python3-foo", "1.2-3.fc40", None, "noarch"),
        "python3-bar": SystemPackage("python3-bar", "3.0.0~rc1-1.fc41", None, "noarch"),
        "python3dist(numpy)": SystemPackage("python3-numpy", "1:1.26.4-7.fc40", None, "noarch"),
        "python3dist(zope-interface)": SystemPackage(
            "python3-zope-interface", "6.2-1.fc40", None, "noarch"
        ),
    }


@pytest.mark.usefixtures("as_root")
def test_query_installed(world: RpmWorld, repo: LocalRpmRepo) -> None:
    install_state(world, repo, ("python3-bar", "2.0-1.fc40"), ("python3-libs", "3.12.4-1.fc40"))
    found = provider(world).query(["python3dist(bar)", "python3-libs", "python3dist(foo)"])
    assert found == {
        "python3dist(bar)": SystemPackage(
            "python3-bar", candidate="3.0.0~rc1-1.fc41", installed="2.0-1.fc40",
            architecture="noarch",
        ),
        "python3-libs": SystemPackage("python3-libs", "3.12.4-1.fc40", "3.12.4-1.fc40", "noarch"),
        "python3dist(foo)": SystemPackage("python3-foo", "1.2-3.fc40", None, "noarch"),
    }  # fmt: skip


def test_query_is_one_dnf_and_one_rpm_call(world: RpmWorld, calls: list[tuple[str, ...]]) -> None:
    specs = ["python3dist(foo)", "python3-bar"] + [f"python3dist(missing{i})" for i in range(28)]
    found = provider(world).query(specs)
    assert set(found) == {"python3dist(foo)", "python3-bar"}
    command, _ = find_dnf(None)
    assert command is not None
    assert [argv[0] for argv in calls] == [command.name, "rpm"]
    dnf_argv, rpm_argv = calls
    assert [a for a in dnf_argv if a.startswith("--whatprovides=")] == [
        f"--whatprovides={spec}" for spec in specs
    ]
    assert dnf_argv[-1] == "--"
    assert rpm_argv[:3] == ("rpm", "--root", str(world.installroot))
    assert rpm_argv[rpm_argv.index("--") + 1 :] == tuple(specs)


def test_query_empty_runs_nothing(world: RpmWorld, calls: list[tuple[str, ...]]) -> None:
    assert provider(world).query([]) == {}
    assert provider(world).simulate([]) == ()
    assert calls == []


@pytest.mark.parametrize("bad", ["python3-*", "-rf", "a b", "x;rm", "python3dist(foo[bar])", "a,b"])
@pytest.mark.parametrize("operation", ["query", "simulate"])
def test_invalid_specs_rejected_before_running(
    world: RpmWorld, calls: list[tuple[str, ...]], bad: str, operation: str
) -> None:
    with pytest.raises(ProviderError) as info:
        getattr(provider(world), operation)(["python3-foo", bad])
    assert repr(bad) in info.value.message
    assert not isinstance(info.value, ProviderUnavailable)
    assert calls == []


def test_to_pep440(world: RpmWorld) -> None:
    p = provider(world)
    found = p.query(["python3dist(numpy)", "python3dist(bar)", "python3dist(snap)"])
    versions = {spec: p.to_pep440(pkg.candidate or "") for spec, pkg in found.items()}
    assert versions == {
        "python3dist(numpy)": Version("1.26.4"),  # 1:1.26.4-7.fc40: the rpm epoch is dropped
        "python3dist(bar)": Version("3.0.0rc1"),
        "python3dist(snap)": Version("1.2.3+20240101git1234abc"),
    }
    assert p.to_pep440("2:1.24.1-1.fc39") == Version("1.24.1")
    assert p.to_pep440("not-a-version") is None


# -- simulate --------------------------------------------------------------------------------


def test_simulate_closure_with_projects(world: RpmWorld) -> None:
    closure = provider(world).simulate(["python3dist(foo)"])
    assert closure == (
        ClosureItem("python3-bar", "3.0.0~rc1-1.fc41", "noarch", None, ("bar",)),
        ClosureItem("python3-foo", "1.2-3.fc40", "noarch", None, ("foo",)),
        ClosureItem("python3-libs", "3.12.4-1.fc40", "noarch", None, ()),
    )
    assert provider(world).simulate(["python3dist(zope-interface)", "python3-numpy"]) == (
        ClosureItem("python3-libs", "3.12.4-1.fc40", "noarch", None, ()),
        ClosureItem("python3-numpy", "1:1.26.4-7.fc40", "noarch", None, ("numpy",)),
        ClosureItem("python3-zope-interface", "6.2-1.fc40", "noarch", None, ("zope-interface",)),
    )
    assert world.installed() == {}  # nothing was installed


@pytest.mark.usefixtures("as_root")
def test_simulate_upgrade_replaces(world: RpmWorld, repo: LocalRpmRepo) -> None:
    install_state(world, repo, ("python3-bar", "2.0-1.fc40"), ("python3-libs", "3.12.4-1.fc40"))
    before = world.installed()
    closure = provider(world).simulate(["python3-foo", "python3-bar"])
    assert closure == (
        ClosureItem("python3-bar", "3.0.0~rc1-1.fc41", "noarch", "2.0-1.fc40", ("bar",)),
        ClosureItem("python3-foo", "1.2-3.fc40", "noarch", None, ("foo",)),
    )
    assert world.installed() == before


@pytest.mark.usefixtures("as_root")
def test_simulate_already_installed_is_empty(world: RpmWorld, repo: LocalRpmRepo) -> None:
    install_state(world, repo, ("python3-numpy", "1:1.26.4-7.fc40"),
                  ("python3-libs", "3.12.4-1.fc40"))  # fmt: skip
    assert provider(world).simulate(["python3dist(numpy)"]) == ()


def test_simulate_unknown_package(world: RpmWorld) -> None:
    with pytest.raises(ProviderError) as info:
        provider(world).simulate(["python3-foo", "nothing-here"])
    assert "No match for argument: nothing-here" in info.value.message
    assert "Error: Unable to find a match: nothing-here" in info.value.message
    assert info.value.hint
    assert "dnf makecache --refresh" in info.value.hint


def test_simulate_unsatisfiable_quotes_dnf(world: RpmWorld) -> None:
    with pytest.raises(ProviderError) as info:
        provider(world).simulate(["python3-broken"])
    assert (
        "- nothing provides not-in-the-repo needed by python3-broken-1.0-1.fc40.noarch"
        in info.value.message
    )
    assert info.value.hint
    assert "install --assumeno python3-broken" in info.value.hint


@pytest.mark.usefixtures("as_root")
def test_simulate_refuses_removals(
    tmp_path: Path, repo: LocalRpmRepo, obsoleting: LocalRpmRepo
) -> None:
    world = RpmWorld(tmp_path / "world", [repo, obsoleting])
    install_state(world, repo, ("python3-bar", "2.0-1.fc40"), ("python3-libs", "3.12.4-1.fc40"))
    with pytest.raises(ProviderError, match=r"would remove python3-bar-2\.0-1\.fc40\.noarch"):
        provider(world).simulate(["python3-newbar"])


def _let_others_in(path: Path, top: Path) -> None:
    """Let other users traverse the directories from ``top`` down to ``path`` (pytest makes
    its base temporary directory private)."""
    for directory in [path, *path.parents]:
        directory.chmod(directory.stat().st_mode | 0o011)
        if directory == top:
            break


_AS_CHILD = """
import dataclasses, json, sys
from sysnative.providers.dnf.provider import DnfProvider
options = json.loads(sys.argv[1])
p = DnfProvider(options=options)
print(json.dumps({
    "closure": [dataclasses.asdict(c) for c in p.simulate(["python3dist(foo)"])],
    "query": {k: dataclasses.asdict(v) for k, v in p.query(["python3dist(bar)"]).items()},
}))
"""


@pytest.fixture
def nobody_world(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, repo: LocalRpmRepo
) -> RpmWorld:
    """A world the user ``nobody`` can use: its directories belong to nobody, and the
    repository's are readable."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv (util-linux) to run the provider as nobody")
    top = tmp_path_factory.getbasetemp().parent
    world = RpmWorld(tmp_path / "world", [repo])
    _let_others_in(world.root, top)
    _let_others_in(repo.repo_dir, top)
    for dirpath, _dirs, files in os.walk(world.root):
        for name in [dirpath, *(os.path.join(dirpath, f) for f in files)]:
            os.chown(name, 65534, 65534)
    return world


def test_simulate_and_query_without_root(nobody_world: RpmWorld) -> None:
    """The plan is made without root: DNF 4 alone refuses ``install --assumeno`` then."""
    out = subprocess.run(
        [
            "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
            sys.executable, "-c", _AS_CHILD, json.dumps(nobody_world.options),
        ],
        capture_output=True, text=True, check=False, cwd="/",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert [(c["name"], c["version"], c["projects"]) for c in answer["closure"]] == [
        ("python3-bar", "3.0.0~rc1-1.fc41", ["bar"]),
        ("python3-foo", "1.2-3.fc40", ["foo"]),
        ("python3-libs", "3.12.4-1.fc40", []),
    ]
    assert answer["query"]["python3dist(bar)"]["candidate"] == "3.0.0~rc1-1.fc41"


# -- site dirs, interpreter, availability --------------------------------------------------


def test_site_dirs_with_installroot_from_the_available_python(world: RpmWorld) -> None:
    p = provider(world)
    root = str(world.installroot)
    assert p.site_dirs() == (
        f"{root}/usr/lib/python3.12/site-packages",
        f"{root}/usr/lib64/python3.12/site-packages",
    )
    assert p.interpreter() == f"{root}/usr/bin/python3"


@pytest.mark.usefixtures("as_root")
def test_site_dirs_with_installroot_from_the_installed_python(
    world: RpmWorld, repo: LocalRpmRepo
) -> None:
    install_state(world, repo, ("python3.11-libs", "3.11.9-1.fc40"))
    assert provider(world).site_dirs() == (
        f"{world.installroot}/usr/lib/python3.11/site-packages",
        f"{world.installroot}/usr/lib64/python3.11/site-packages",
    )


def test_site_dirs_without_installroot_ask_the_interpreter() -> None:
    p = dnf_module.DnfProvider()
    if not os.path.isfile(dnf_module.INTERPRETER):
        pytest.skip("no system python3 to ask")
    version = subprocess.run(
        [dnf_module.INTERPRETER, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert p.interpreter() == dnf_module.INTERPRETER
    assert p.site_dirs() == (
        f"/usr/lib/python{version}/site-packages",
        f"/usr/lib64/python{version}/site-packages",
    )


def test_protocol_basics(world: RpmWorld) -> None:
    p: Provider = provider(world)  # mypy checks the structural match
    assert (p.name, p.ecosystem) == ("dnf", "fedora")
    assert dnf_module.DnfProvider.available()
    assert p.prepare() is True
    assert (world.installroot / "var" / "cache" / "dnf").is_dir()


def test_options_must_be_options() -> None:
    with pytest.raises(ProviderError, match="'remove' is not a dnf option"):
        dnf_module.DnfProvider(options=["--releasever=40", "remove"])


@pytest.mark.parametrize("operation", ["query", "simulate"])
def test_missing_dnf_is_unavailable(
    world: RpmWorld,
    calls: list[tuple[str, ...]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert not dnf_module.DnfProvider.available()
    with pytest.raises(ProviderUnavailable) as info:
        getattr(provider(world), operation)(["python3-foo"])
    assert "dnf was not found on this machine" in info.value.message
    assert "Fedora" in info.value.message
    assert info.value.hint
    assert calls == []
    assert provider(world).prepare() is False


def test_dnf5_alone_is_named(tmp_path: Path, calls: list[tuple[str, ...]]) -> None:
    """A ``dnf`` that is not DNF 4's Python script (DNF 5 is a compiled program)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "dnf"
    fake.write_bytes(b"\x7fELF not really\n")
    fake.chmod(0o755)
    env = {"PATH": str(bin_dir)}
    assert not dnf_module.DnfProvider.available(env)
    with pytest.raises(ProviderUnavailable) as info:
        dnf_module.DnfProvider(env=env).query(["python3-foo"])
    assert "DNF 5" in info.value.message
    assert info.value.hint
    assert "dnf-3" in info.value.hint
    assert calls == []
