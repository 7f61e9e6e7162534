"""Shared fixtures.

Every test runs with an empty sysnative cache in a temporary directory and with pip's
configuration (files and ``PIP_*`` variables) switched off, so neither the user's cache
nor the machine's pip settings can leak into a test.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

sys.path.insert(0, str(Path(__file__).parent))

from fakeindex import FakeIndex

_PIP_VARIABLES = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_NO_INDEX",
    "PIP_DEFAULT_TIMEOUT",
    "PIP_TIMEOUT",
    "PIP_CERT",
)


@pytest.fixture(autouse=True)
def sysnative_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A private cache directory (``SYSNATIVE_CACHE_DIR``), no pip configuration, and no
    sysnative configuration or mapping layer of this machine: the XDG config and data dirs
    point at empty directories and ``SYSNATIVE_*`` variables are removed."""
    for name in list(os.environ):
        if name.startswith("SYSNATIVE_"):
            monkeypatch.delenv(name)
    cache_dir = tmp_path_factory.mktemp("sysnative-cache")
    monkeypatch.setenv("SYSNATIVE_CACHE_DIR", str(cache_dir))
    xdg = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg / "config-home"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(xdg / "config-dirs"))
    monkeypatch.setenv("XDG_DATA_DIRS", str(xdg / "data-dirs"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for name in _PIP_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return cache_dir


@pytest.fixture(params=["html", "json"])
def fake_index_flavour(request: pytest.FixtureRequest) -> str:
    """Parametrizes a test over both page formats (PEP 503 HTML and PEP 691 JSON)."""
    flavour: str = request.param
    return flavour


@pytest.fixture(scope="session")
def fake_index_server() -> Iterator[HTTPServer]:
    """One threaded HTTP server on 127.0.0.1 for the session (FakeIndex clears it per test)."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_index(
    tmp_path_factory: pytest.TempPathFactory, fake_index_server: HTTPServer
) -> Iterator[FakeIndex]:
    """An empty :class:`FakeIndex` serving HTML pages."""
    wheels = tmp_path_factory.mktemp("wheels")
    with FakeIndex.start(wheels, server=fake_index_server, flavour="html") as index:
        yield index


@pytest.fixture
def fake_index_any(
    tmp_path_factory: pytest.TempPathFactory,
    fake_index_server: HTTPServer,
    fake_index_flavour: str,
) -> Iterator[FakeIndex]:
    """An empty :class:`FakeIndex` in each flavour (the test runs once per flavour)."""
    wheels = tmp_path_factory.mktemp("wheels")
    with FakeIndex.start(wheels, server=fake_index_server, flavour=fake_index_flavour) as index:
        yield index
