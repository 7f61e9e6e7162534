"""pip-compatible index configuration: precedence, files, lists, and pip's default URL."""

from __future__ import annotations

import os
import stat
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sysnative.errors import SysnativeError, UsageError
from sysnative.index.pipconfig import DEFAULT_TIMEOUT, config_files, load_index_config
from sysnative.index.pipdefault import parse_index_url_help, pip_default_index_url

DEFAULT = "http://127.0.0.1:1/simple"

HELP = """
Package Index Options:
  -i, --index-url <url>       Base URL of the Python Package Index (default
                              http://127.0.0.1:1/simple). This should point to a
                              repository compliant with PEP 503.
  --extra-index-url <url>     Extra URLs of package indexes to use in addition
                              to --index-url. (default: none)
  --no-index                  Ignore package index.
"""


def _conf(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return str(path)


def _fake_python(root: Path, pip_version: str = "99.1") -> tuple[str, Path]:
    """A venv-shaped directory whose ``python`` prints pip's help and counts its runs."""
    (root / "lib" / "python3.99" / "site-packages" / f"pip-{pip_version}.dist-info").mkdir(
        parents=True
    )
    (root / "pyvenv.cfg").write_text("home = nowhere\n")
    counter = root / "runs"
    python = root / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f"#!/bin/sh\necho run >> '{counter}'\ncat <<'EOF'\n{HELP}\nEOF\n")
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    return str(python), counter


def _runs(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def test_parse_index_url_help() -> None:
    assert parse_index_url_help(HELP) == DEFAULT
    one_line = "  -i, --index-url <url>  Base URL (default http://127.0.0.1:2/x/). More.\n"
    assert parse_index_url_help(one_line) == "http://127.0.0.1:2/x/"
    assert parse_index_url_help("  --index-url <url>  Base URL.\n  --foo  (default 3)\n") is None
    assert parse_index_url_help("no such option") is None


def test_cli_beats_environment_beats_files(tmp_path: Path) -> None:
    low = _conf(tmp_path / "low.conf", "[global]\nindex-url = http://127.0.0.1:1/low\n")
    high = _conf(
        tmp_path / "high.conf",
        """\
        [global]
        index-url = http://127.0.0.1:1/high-global
        timeout = 30
        [install]
        index-url = http://127.0.0.1:1/high-install
        """,
    )
    env = {"PIP_DEFAULT_TIMEOUT": "45"}

    from_files = load_index_config(environ={}, files=[low, high])
    from_env = load_index_config(
        environ={**env, "PIP_INDEX_URL": "http://127.0.0.1:1/env"}, files=[low, high]
    )
    from_cli = load_index_config(
        cli_index_url="http://127.0.0.1:1/cli",
        environ={"PIP_INDEX_URL": "http://127.0.0.1:1/env"},
        files=[low, high],
    )

    assert from_files.index_url == "http://127.0.0.1:1/high-install"
    assert from_files.timeout == 30.0
    assert from_files.source_of("index-url") == high
    assert from_env.index_url == "http://127.0.0.1:1/env"
    assert from_env.timeout == 45.0
    assert from_env.source_of("timeout") == "environment variable PIP_DEFAULT_TIMEOUT"
    assert from_cli.index_url == "http://127.0.0.1:1/cli"
    assert from_cli.source_of("index-url") == "command line"


def test_lists_are_whitespace_separated_and_replaced(tmp_path: Path) -> None:
    conf = _conf(
        tmp_path / "pip.conf",
        """\
        [global]
        index-url = http://127.0.0.1:1/main
        extra-index-url =
            http://127.0.0.1:1/a
            http://127.0.0.1:1/b http://127.0.0.1:1/c
        find-links = /srv/wheels
        cert = /srv/ca.pem
        """,
    )

    config = load_index_config(environ={}, files=[conf])
    from_env = load_index_config(
        environ={"PIP_EXTRA_INDEX_URL": " http://127.0.0.1:1/x\thttp://127.0.0.1:1/y "},
        files=[conf],
    )
    from_cli = load_index_config(
        cli_extra_index_urls=["http://127.0.0.1:1/z"], environ={}, files=[conf]
    )

    assert config.extra_index_urls == (
        "http://127.0.0.1:1/a",
        "http://127.0.0.1:1/b",
        "http://127.0.0.1:1/c",
    )
    assert config.find_links == ("/srv/wheels",)
    assert config.cert == "/srv/ca.pem"
    assert config.timeout == DEFAULT_TIMEOUT
    assert config.index_urls == ("http://127.0.0.1:1/main", *config.extra_index_urls)
    assert from_env.extra_index_urls == ("http://127.0.0.1:1/x", "http://127.0.0.1:1/y")
    assert from_cli.extra_index_urls == ("http://127.0.0.1:1/z",)


def test_no_index(tmp_path: Path) -> None:
    conf = _conf(tmp_path / "pip.conf", "[global]\nindex-url = http://127.0.0.1:1/m\n")

    config = load_index_config(environ={"PIP_NO_INDEX": "yes"}, files=[conf])

    assert config.no_index
    assert config.index_urls == ()
    with pytest.raises(UsageError, match="no-index"):
        load_index_config(environ={"PIP_NO_INDEX": "perhaps"}, files=[conf])


def test_bad_values_and_files_are_usage_errors(tmp_path: Path) -> None:
    conf = _conf(tmp_path / "pip.conf", "[global]\nindex-url = http://127.0.0.1:1/m\n")
    broken = _conf(tmp_path / "broken.conf", "index-url = no section header\n")

    with pytest.raises(UsageError, match="timeout"):
        load_index_config(environ={"PIP_DEFAULT_TIMEOUT": "soon"}, files=[conf])
    with pytest.raises(UsageError, match=r"broken\.conf"):
        load_index_config(environ={}, files=[broken])


def test_config_file_order(tmp_path: Path) -> None:
    env = {
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "XDG_CONFIG_DIRS": str(tmp_path / "sys"),
    }

    files = config_files(env, site_prefix=str(tmp_path / "venv"))

    assert files == (
        str(tmp_path / "sys" / "pip" / "pip.conf"),
        os.path.join(os.sep, "etc", "pip.conf"),
        str(tmp_path / "home" / ".pip" / "pip.conf"),
        str(tmp_path / "xdg" / "pip" / "pip.conf"),
        str(tmp_path / "venv" / "pip.conf"),
    )


def test_pip_config_file_variable(tmp_path: Path) -> None:
    env_file = _conf(tmp_path / "env.conf", "[global]\nindex-url = http://127.0.0.1:1/e\n")
    env = {"HOME": str(tmp_path / "home"), "PIP_CONFIG_FILE": env_file}

    files = config_files(env, site_prefix=str(tmp_path / "venv"))

    # An existing PIP_CONFIG_FILE replaces the user files and comes last.
    assert files[-1] == env_file
    assert str(tmp_path / "home" / ".pip" / "pip.conf") not in files
    assert config_files({"PIP_CONFIG_FILE": os.devnull}) == ()


def test_files_from_pip_locations_are_read(tmp_path: Path) -> None:
    """End to end through config_files: user and site files, later files winning."""
    home = tmp_path / "home"
    _conf(home / ".pip" / "pip.conf", "[global]\nindex-url = http://127.0.0.1:1/legacy\n")
    _conf(
        home / ".config" / "pip" / "pip.conf",
        "[global]\nindex-url = http://127.0.0.1:1/user\nfind-links = /srv/a\n",
    )
    python, _counter = _fake_python(tmp_path / "venv")
    _conf(tmp_path / "venv" / "pip.conf", "[install]\nfind-links = /srv/site\n")
    env = {"HOME": str(home), "XDG_CONFIG_DIRS": str(tmp_path / "none")}

    config = load_index_config(environ=env, python=python, cache_dir=tmp_path / "cache")

    if os.path.exists(os.path.join(os.sep, "etc", "pip.conf")) and config.index_url != (
        "http://127.0.0.1:1/user"
    ):
        pytest.skip("the machine's global pip.conf is not overridden by user files here")
    assert config.index_url == "http://127.0.0.1:1/user"
    assert config.find_links == ("/srv/site",)
    assert config.source_of("find-links") == str(tmp_path / "venv" / "pip.conf")


def test_default_index_url_is_asked_from_pip_and_cached(tmp_path: Path) -> None:
    python, counter = _fake_python(tmp_path / "venv")
    cache = tmp_path / "cache"

    first = load_index_config(environ={}, python=python, cache_dir=cache, files=[])
    second = pip_default_index_url(python, cache_dir=cache)

    assert first.index_url == DEFAULT == second
    assert first.source_of("index-url") == "pip default"
    assert _runs(counter) == 1


def test_default_index_url_cache_is_keyed_by_pip_version(tmp_path: Path) -> None:
    python, counter = _fake_python(tmp_path / "venv", pip_version="1.0")
    cache = tmp_path / "cache"
    pip_default_index_url(python, cache_dir=cache)
    dist_info = next((tmp_path / "venv").rglob("pip-1.0.dist-info"))
    dist_info.rename(dist_info.with_name("pip-2.0.dist-info"))

    pip_default_index_url(python, cache_dir=cache)

    assert _runs(counter) == 2


def test_corrupt_default_cache_is_ignored(tmp_path: Path) -> None:
    python, counter = _fake_python(tmp_path / "venv")
    cache = tmp_path / "cache"
    pip_default_index_url(python, cache_dir=cache)
    for path in cache.rglob("*.json"):
        path.write_text("{not json")

    assert pip_default_index_url(python, cache_dir=cache) == DEFAULT
    assert _runs(counter) == 2


def test_default_index_url_failure(tmp_path: Path) -> None:
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    python.write_text("#!/bin/sh\necho 'No module named pip' >&2\nexit 1\n")
    python.chmod(0o755)

    with pytest.raises(SysnativeError, match="No module named pip") as info:
        pip_default_index_url(str(python), cache_dir=tmp_path / "cache")
    assert info.value.hint is not None
    assert "--index-url" in info.value.hint


def test_the_installed_pip_prints_its_default(tmp_path: Path) -> None:
    """The real ``pip install --help`` of the interpreter running the tests has a default."""
    url = pip_default_index_url(sys.executable, cache_dir=tmp_path / "cache")

    assert url.startswith(("https://", "http://"))
    assert pip_default_index_url(sys.executable, cache_dir=tmp_path / "cache") == url


def test_askers_at_the_same_time_share_one_question(tmp_path: Path) -> None:
    """The session asks ahead in the background; the index configuration, asking meanwhile,
    waits for that answer instead of starting pip a second time."""
    python, counter = _fake_python(tmp_path / "venv")
    slow = Path(python).read_text().replace("echo run", "sleep 0.5; echo run")
    Path(python).write_text(slow)
    cache = tmp_path / "cache"
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: pip_default_index_url(python, cache_dir=cache), range(4)))
    assert answers == [DEFAULT] * 4
    assert _runs(counter) == 1
