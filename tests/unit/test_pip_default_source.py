"""pip's default index URL read from pip's source text, with ``pip install --help`` as the
fallback when the text has an unexpected shape."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from sysnative.index import pipconfig, pipdefault
from sysnative.index.pipdefault import (
    parse_index_url_help,
    parse_pip_index_source,
    pip_default_index_url,
    pip_source_default_index_url,
)
from sysnative.runner import Completed, run

MADE_UP = "https://index.example.invalid/"

# The shape of pip 21 and later (black-formatted, annotated), with a made-up host.
CURRENT_INDEX_PY = '''\
import urllib.parse


class PackageIndex:
    """Represents a Package Index and provides easier access to endpoints"""

    __slots__ = ["url", "netloc", "simple_url", "pypi_url", "file_storage_domain"]

    def __init__(self, url: str, file_storage_domain: str) -> None:
        super().__init__()
        self.url = url
        self.netloc = urllib.parse.urlsplit(url).netloc
        self.simple_url = self._url_for_path("simple")
        self.pypi_url = self._url_for_path("pypi")
        self.file_storage_domain = file_storage_domain

    def _url_for_path(self, path: str) -> str:
        return urllib.parse.urljoin(self.url, path)


PyPI = PackageIndex("{url}", file_storage_domain="files.example.invalid")
TestPyPI = PackageIndex(
    "https://test.index.example.invalid/", file_storage_domain="test-files.example.invalid"
)
'''

# The shape of pip 18.1 to 20 (six, single quotes, type comments, a wrapped call).
OLDER_INDEX_PY = """\
from pip._vendor.six.moves.urllib import parse as urllib_parse


class PackageIndex(object):
    def __init__(self, url, file_storage_domain):
        # type: (str, str) -> None
        super(PackageIndex, self).__init__()
        self.url = url
        self.netloc = urllib_parse.urlsplit(url).netloc
        self.simple_url = self._url_for_path('simple')
        self.pypi_url = self._url_for_path('pypi')
        self.file_storage_domain = file_storage_domain

    def _url_for_path(self, path):
        # type: (str) -> str
        return urllib_parse.urljoin(self.url, path)


PyPI = PackageIndex(
    '{url}', file_storage_domain='files.example.invalid'
)
"""

CMDOPTIONS_PY = """\
from functools import partial
from optparse import Option

from pip._internal.models.index import PyPI

index_url = partial(
    Option,
    "-i",
    "--index-url",
    "--pypi-url",
    dest="index_url",
    metavar="URL",
    default=PyPI.simple_url,
    help="Base URL of the Python Package Index (default %default). ",
)
"""

HELP_URL = "http://127.0.0.1:1/from-help/simple"
HELP = f"""
Package Index Options:
  -i, --index-url <url>       Base URL of the Python Package Index (default
                              {HELP_URL}). This should point to a
                              repository compliant with PEP 503.
  --no-index                  Ignore package index.
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _fake_pip(
    site: Path,
    index_py: str,
    *,
    cmdoptions: str | None = CMDOPTIONS_PY,
    version: str = "99.0",
    cli_dir: bool = True,
) -> Path:
    """A ``pip`` package (only the files that matter) and its dist-info in ``site``."""
    pip_dir = site / "pip"
    _write(pip_dir / "__init__.py", f'__version__ = "{version}"\n')
    _write(pip_dir / "_internal" / "models" / "index.py", index_py)
    if cmdoptions is not None:
        where = pip_dir / "_internal" / ("cli" if cli_dir else "") / "cmdoptions.py"
        _write(where, cmdoptions)
    (site / f"pip-{version}.dist-info").mkdir(parents=True, exist_ok=True)
    return pip_dir


def _executable(path: Path) -> str:
    """A stand-in interpreter file; the tests make sure it is never started."""
    _write(path, "#!/bin/sh\nexit 99\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _fake_venv(root: Path, index_py: str, *, system_site: bool = False) -> str:
    """A venv-shaped prefix whose own site-packages holds a fake pip."""
    flag = "true" if system_site else "false"
    _write(
        root / "pyvenv.cfg", f"home = {root / 'nowhere'}\ninclude-system-site-packages = {flag}\n"
    )
    _fake_pip(root / "lib" / "python3.99" / "site-packages", index_py)
    return _executable(root / "bin" / "python")


@pytest.fixture
def no_subprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if sysnative.index.pipdefault starts a subprocess; and no PYTHONPATH/user site
    of the machine running the tests."""

    monkeypatch.setattr(pipdefault, "run", _no_run)
    _isolate_search_path(monkeypatch)


def _no_run(argv: Sequence[str], **kwargs: Any) -> Completed:
    pytest.fail(f"unexpected subprocess: {list(argv)}")


def _isolate_search_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.delenv("PYTHONHOME", raising=False)
    monkeypatch.setenv("PYTHONNOUSERSITE", "1")


# -- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize("template", [CURRENT_INDEX_PY, OLDER_INDEX_PY])
def test_parse_known_shapes(template: str) -> None:
    text = template.replace("{url}", MADE_UP)

    assert parse_pip_index_source(text) == "https://index.example.invalid/simple"


def test_parse_follows_urljoin() -> None:
    """The result is ``urljoin(base, "simple")``, exactly what pip computes."""
    with_path = CURRENT_INDEX_PY.replace("{url}", "http://index.example.invalid/mirror/base/")
    without_slash = CURRENT_INDEX_PY.replace("{url}", "https://index.example.invalid/mirror")

    assert parse_pip_index_source(with_path) == "http://index.example.invalid/mirror/base/simple"
    assert parse_pip_index_source(without_slash) == "https://index.example.invalid/simple"


def test_parse_without_url_for_path_simple_is_none() -> None:
    text = CURRENT_INDEX_PY.replace("{url}", MADE_UP)
    changed = text.replace(
        'self.simple_url = self._url_for_path("simple")',
        'self.simple_url = self._url_for_path("simple/v2")',
    )
    hand_written = text.replace(
        'self.simple_url = self._url_for_path("simple")', "self.simple_url = url + 'simple/'"
    )
    other_join = text.replace(
        "return urllib.parse.urljoin(self.url, path)", "return self.url.rstrip('/') + '/' + path"
    )

    assert parse_pip_index_source(changed) is None
    assert parse_pip_index_source(hand_written) is None
    assert parse_pip_index_source(other_join) is None


def test_parse_patched_or_rebound_pypi_is_none() -> None:
    text = CURRENT_INDEX_PY.replace("{url}", MADE_UP)
    rebound = text + 'PyPI = PackageIndex("https://other.example.invalid/", "x")\n'
    patched = text + 'PyPI.simple_url = "https://other.example.invalid/simple/"\n'
    from_env = text.replace(f'"{MADE_UP}"', 'os.environ.get("INDEX", "https://x.invalid/")')
    concatenated = text.replace(f'"{MADE_UP}"', f'"{MADE_UP}" "extra/"')
    url_rewritten = text.replace("self.url = url", "url = url.rstrip('/')\n        self.url = url")

    for variant in (rebound, patched, from_env, concatenated, url_rewritten):
        assert parse_pip_index_source(variant) is None


def test_parse_garbage_is_none() -> None:
    assert parse_pip_index_source("") is None
    assert parse_pip_index_source("PyPI = 3\n\x00\x01 not python at all") is None
    assert parse_pip_index_source(CMDOPTIONS_PY) is None


@pytest.mark.parametrize(
    "base",
    ["ftp://index.example.invalid/", "file:///srv/index/", "index.example.invalid/", "https:///"],
)
def test_parse_non_http_url_is_none(base: str) -> None:
    assert parse_pip_index_source(CURRENT_INDEX_PY.replace("{url}", base)) is None


def test_source_of_a_pip_directory(tmp_path: Path) -> None:
    current = _fake_pip(tmp_path / "a", CURRENT_INDEX_PY.replace("{url}", MADE_UP))
    pip18 = _fake_pip(tmp_path / "b", OLDER_INDEX_PY.replace("{url}", MADE_UP), cli_dir=False)

    assert pip_source_default_index_url(current) == "https://index.example.invalid/simple"
    assert pip_source_default_index_url(pip18) == "https://index.example.invalid/simple"


def test_source_needs_cmdoptions_to_use_the_pypi_default(tmp_path: Path) -> None:
    text = CURRENT_INDEX_PY.replace("{url}", MADE_UP)
    hand_patched = CMDOPTIONS_PY.replace(
        "default=PyPI.simple_url", 'default="https://mirror.example.invalid/simple/"'
    )
    no_import = CMDOPTIONS_PY.replace("from pip._internal.models.index import PyPI\n", "")

    assert pip_source_default_index_url(_fake_pip(tmp_path / "a", text, cmdoptions=None)) is None
    assert (
        pip_source_default_index_url(_fake_pip(tmp_path / "b", text, cmdoptions=hand_patched))
        is None
    )
    assert (
        pip_source_default_index_url(_fake_pip(tmp_path / "c", text, cmdoptions=no_import)) is None
    )
    assert pip_source_default_index_url(tmp_path / "missing" / "pip") is None


# -- finding the pip of an interpreter without starting it ----------------------------------


@pytest.mark.usefixtures("no_subprocess")
def test_fake_venv_is_read_without_a_subprocess(tmp_path: Path) -> None:
    python = _fake_venv(tmp_path / "venv", CURRENT_INDEX_PY.replace("{url}", MADE_UP))
    cache = tmp_path / "cache"

    first = pip_default_index_url(python, cache_dir=cache)
    second = pip_default_index_url(python, cache_dir=cache)

    assert first == second == "https://index.example.invalid/simple"
    assert list(cache.rglob("*.json"))  # the per-pip-version cache is still written


@pytest.mark.usefixtures("no_subprocess")
def test_config_default_comes_from_the_source(tmp_path: Path) -> None:
    python = _fake_venv(tmp_path / "venv", CURRENT_INDEX_PY.replace("{url}", MADE_UP))

    config = pipconfig.load_index_config(
        environ={}, python=python, cache_dir=tmp_path / "cache", files=[]
    )

    assert config.index_url == "https://index.example.invalid/simple"
    assert config.source_of("index-url") == "pip default"


@pytest.mark.usefixtures("no_subprocess")
def test_debian_system_layout(tmp_path: Path) -> None:
    """Outside a venv, ``/usr/local/lib/python3.X/dist-packages`` comes before
    ``lib/python3/dist-packages`` (Debian's site.py); the interpreter is a symlink."""
    prefix = tmp_path / "usr"
    _fake_pip(
        prefix / "lib" / "python3" / "dist-packages",
        CURRENT_INDEX_PY.replace("{url}", "https://debian.example.invalid/"),
    )
    real = _executable(prefix / "bin" / "python3.99")
    python = prefix / "bin" / "python3"
    python.symlink_to(os.path.basename(real))

    from_system = pip_default_index_url(str(python), cache_dir=tmp_path / "cache1")
    _fake_pip(
        prefix / "local" / "lib" / "python3.99" / "dist-packages",
        CURRENT_INDEX_PY.replace("{url}", "https://local.example.invalid/"),
    )
    from_local = pip_default_index_url(str(python), cache_dir=tmp_path / "cache2")

    assert from_system == "https://debian.example.invalid/simple"
    assert from_local == "https://local.example.invalid/simple"


@pytest.mark.usefixtures("no_subprocess")
def test_system_site_venv_without_its_own_pip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``--system-site-packages`` venv runs the user site's pip, else the base's."""
    base = tmp_path / "base"
    _fake_pip(
        base / "lib" / "python3.99" / "site-packages",
        CURRENT_INDEX_PY.replace("{url}", "https://base.example.invalid/"),
    )
    venv = tmp_path / "venv"
    _write(
        venv / "pyvenv.cfg",
        f"home = {base / 'bin'}\ninclude-system-site-packages = true\nversion = 3.99.1\n",
    )
    (venv / "lib" / "python3.99" / "site-packages").mkdir(parents=True)
    python = _executable(venv / "bin" / "python")

    from_base = pip_default_index_url(python, cache_dir=tmp_path / "cache1")
    user_base = tmp_path / "userbase"
    _fake_pip(
        user_base / "lib" / "python3.99" / "site-packages",
        CURRENT_INDEX_PY.replace("{url}", "https://user.example.invalid/"),
    )
    monkeypatch.delenv("PYTHONNOUSERSITE")
    monkeypatch.setenv("PYTHONUSERBASE", str(user_base))
    from_user = pip_default_index_url(python, cache_dir=tmp_path / "cache2")

    assert from_base == "https://base.example.invalid/simple"
    assert from_user == "https://user.example.invalid/simple"


def test_running_interpreter_pip_is_found_without_importing_it() -> None:
    already = "pip" in sys.modules

    pip_dir = pipdefault._pip_package_dir(sys.executable)

    if pip_dir is None:
        pytest.skip("the interpreter running the tests has no pip")
    assert (pip_dir / "_internal").is_dir()
    assert already or "pip" not in sys.modules


# -- the fallback ------------------------------------------------------------------------


def test_unparsable_source_falls_back_to_pip_help(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _isolate_search_path(monkeypatch)
    python = _fake_venv(tmp_path / "venv", "PyPI = build_index_from_settings()\n")
    calls: list[list[str]] = []

    def fake_run(argv: Sequence[str], **kwargs: Any) -> Completed:
        calls.append(list(argv))
        return Completed(tuple(argv), 0, HELP, "")

    monkeypatch.setattr(pipdefault, "run", fake_run)

    url = pip_default_index_url(python, cache_dir=tmp_path / "cache")

    assert url == HELP_URL
    assert calls == [[python, "-m", "pip", "install", "--help"]]


def test_python_path_makes_the_layout_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``PYTHONPATH`` set another pip may shadow the one in the venv: ask pip."""
    _isolate_search_path(monkeypatch)
    python = _fake_venv(tmp_path / "venv", CURRENT_INDEX_PY.replace("{url}", MADE_UP))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "elsewhere"))
    monkeypatch.setattr(pipdefault, "run", lambda argv, **kw: Completed(tuple(argv), 0, HELP, ""))

    assert pip_default_index_url(python, cache_dir=tmp_path / "cache") == HELP_URL


# -- the real pip -----------------------------------------------------------------------


def test_source_matches_the_real_pip_help(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Byte for byte what ``python -m pip install --help`` of the running interpreter
    prints (pip's configuration is switched off by the autouse fixture); and
    ``pip_default_index_url`` gets it from the source, without a subprocess."""
    for name in list(os.environ):
        if name.startswith("PIP_") and name != "PIP_CONFIG_FILE":
            monkeypatch.delenv(name)
    pip_dir = pipdefault._pip_package_dir(sys.executable)
    if pip_dir is None:
        pytest.skip("the interpreter running the tests has no pip")

    from_source = pip_source_default_index_url(pip_dir)
    completed = run([sys.executable, "-m", "pip", "install", "--help"], timeout=120)

    assert completed.ok, completed.describe()
    assert from_source is not None, f"the source in {pip_dir} has an unexpected shape"
    assert from_source == parse_index_url_help(completed.stdout)
    monkeypatch.setattr(pipdefault, "run", _no_run)
    assert pip_default_index_url(sys.executable, cache_dir=tmp_path / "cache") == from_source
