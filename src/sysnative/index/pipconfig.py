"""Index configuration read exactly the way pip reads it, without importing pip.

sysnative talks to the same indexes pip would: ``--index-url`` on the command line beats
``PIP_*`` environment variables, which beat pip's configuration files. When none of them
sets the index URL, pip's own built-in default is used; how that is learned is the job of
:mod:`sysnative.index.pipdefault`.
"""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sysnative.errors import UsageError
from sysnative.index.pipdefault import default_index_url, same_interpreter

#: pip's ``--default-timeout`` default, in seconds.
DEFAULT_TIMEOUT = 15.0

#: Config keys (pip option long names) that set each value; pip accepts every long alias.
_INDEX_URL_KEYS = ("index-url", "pypi-url")
_EXTRA_KEYS = ("extra-index-url",)
_FIND_LINKS_KEYS = ("find-links",)
_TIMEOUT_KEYS = ("default-timeout", "timeout")
_NO_INDEX_KEYS = ("no-index",)
_CERT_KEYS = ("cert",)

_TRUE = frozenset({"1", "y", "yes", "t", "true", "on"})
_FALSE = frozenset({"0", "n", "no", "f", "false", "off"})


@dataclass(frozen=True)
class IndexConfig:
    """Where packages come from, as pip would see it.

    ``sources`` maps each setting name to a description of where its value came from
    (``"command line"``, ``"environment variable PIP_INDEX_URL"``, a config file path, or
    ``"pip default"``); it is a tuple of pairs so the value stays hashable and frozen.
    """

    index_url: str
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    sources: tuple[tuple[str, str], ...] = ()
    #: pip's ``--no-index``: ignore ``index_url`` and ``extra_index_urls``.
    no_index: bool = False
    #: pip's ``--cert``: a CA bundle for TLS verification.
    cert: str | None = None

    @property
    def index_urls(self) -> tuple[str, ...]:
        """The indexes to query, main index first (none with ``--no-index``)."""
        if self.no_index:
            return ()
        return (self.index_url, *self.extra_index_urls)

    def source_of(self, setting: str) -> str | None:
        """Where ``setting`` (``"index-url"``, ``"timeout"``, ...) was set, if known."""
        return dict(self.sources).get(setting)


@dataclass(frozen=True)
class _Setting:
    """One raw value and where it came from."""

    value: str
    source: str


def config_files(environ: Mapping[str, str], *, site_prefix: str | None = None) -> tuple[str, ...]:
    """pip's configuration files, lowest priority first (files need not exist).

    Mirrors pip: global files (``$XDG_CONFIG_DIRS``/pip/pip.conf then /etc/pip.conf), user
    files (legacy ~/.pip/pip.conf then ``$XDG_CONFIG_HOME``/pip/pip.conf), the site file
    (``<prefix>/pip.conf``), and ``PIP_CONFIG_FILE`` last. ``PIP_CONFIG_FILE=os.devnull``
    disables all files; an existing ``PIP_CONFIG_FILE`` replaces the user files.
    """
    env_file = environ.get("PIP_CONFIG_FILE")
    if env_file == os.devnull:
        return ()
    home = environ.get("HOME") or os.path.expanduser("~")
    xdg_dirs = environ.get("XDG_CONFIG_DIRS") or os.path.join(os.sep, "etc", "xdg")
    files = [os.path.join(d, "pip", "pip.conf") for d in xdg_dirs.split(os.pathsep) if d]
    files.append(os.path.join(os.sep, "etc", "pip.conf"))
    if not (env_file and os.path.exists(env_file)):
        files.append(os.path.join(home, ".pip", "pip.conf"))
        xdg_home = environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
        files.append(os.path.join(xdg_home, "pip", "pip.conf"))
    if site_prefix:
        files.append(os.path.join(site_prefix, "pip.conf"))
    if env_file:
        files.append(env_file)
    return tuple(files)


def _read_config_file(path: str, section_order: Sequence[str]) -> dict[str, _Setting]:
    """The settings of one file, ``[install]`` overriding ``[global]``; bad files raise."""
    parser = configparser.RawConfigParser()
    try:
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh, source=path)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise UsageError(
            f"The pip configuration file {path} cannot be read: {exc}",
            "Fix or remove the file, or set PIP_CONFIG_FILE to another file.",
        ) from exc
    found: dict[str, _Setting] = {}
    for section in section_order:
        if not parser.has_section(section):
            continue
        for key, value in parser.items(section):
            if value.strip():  # pip ignores empty values
                found[_normalize_key(key)] = _Setting(value, path)
    return found


def _normalize_key(key: str) -> str:
    return key.strip().lower().replace("_", "-")


def _environ_settings(environ: Mapping[str, str]) -> dict[str, _Setting]:
    """``PIP_FOO_BAR=x`` is the setting ``foo-bar``, as in pip."""
    found: dict[str, _Setting] = {}
    for var, value in environ.items():
        if var.startswith("PIP_") and var != "PIP_CONFIG_FILE" and value.strip():
            found[_normalize_key(var[4:])] = _Setting(value, f"environment variable {var}")
    return found


def _pick(settings: Mapping[str, _Setting], keys: Iterable[str]) -> _Setting | None:
    for key in keys:
        if key in settings:
            return settings[key]
    return None


def _parse_bool(setting: _Setting, name: str) -> bool:
    value = setting.value.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise UsageError(
        f"{setting.value!r} is not a valid value for {name} ({setting.source}).",
        "Use one of yes/no, true/false, on/off, 1/0.",
    )


def _parse_timeout(setting: _Setting) -> float:
    try:
        value = float(setting.value.strip())
    except ValueError:
        value = -1.0
    if value <= 0:
        raise UsageError(
            f"{setting.value!r} is not a valid timeout ({setting.source}).",
            "Set default-timeout to a positive number of seconds.",
        )
    return value


def load_index_config(
    *,
    cli_index_url: str | None = None,
    cli_extra_index_urls: Sequence[str] = (),
    cli_find_links: Sequence[str] = (),
    cli_no_index: bool = False,
    environ: Mapping[str, str] = os.environ,
    python: str = sys.executable,
    cache_dir: str | os.PathLike[str] | None = None,
    files: Sequence[str] | None = None,
) -> IndexConfig:
    """Assemble the index configuration with pip's precedence.

    Command line > ``PIP_*`` environment variables > config files (later files win;
    ``[install]`` beats ``[global]``). Like pip, command-line lists *replace* the configured
    lists rather than adding to them. When nothing sets the index URL, pip's own default
    is used (see :func:`sysnative.index.pipdefault.default_index_url`). ``files`` replaces pip's
    list of configuration files (lowest priority first), for tests.
    """
    if files is None:
        files = config_files(environ, site_prefix=_site_prefix(python, environ))
    settings: dict[str, _Setting] = {}
    for path in files:
        settings.update(_read_config_file(path, ("global", "install")))
    settings.update(_environ_settings(environ))
    sources: list[tuple[str, str]] = []

    index_setting = _pick(settings, _INDEX_URL_KEYS)
    if cli_index_url:
        index_url, index_source = cli_index_url, "command line"
    elif index_setting is not None:
        index_url, index_source = index_setting.value.strip(), index_setting.source
    else:
        index_url = default_index_url(python, cache_dir, environ)
        index_source = "pip default"
    sources.append(("index-url", index_source))

    extras = _list_value("extra-index-url", cli_extra_index_urls, settings, _EXTRA_KEYS, sources)
    find_links = _list_value("find-links", cli_find_links, settings, _FIND_LINKS_KEYS, sources)

    timeout = DEFAULT_TIMEOUT
    timeout_setting = _pick(settings, _TIMEOUT_KEYS)
    if timeout_setting is not None:
        timeout = _parse_timeout(timeout_setting)
        sources.append(("timeout", timeout_setting.source))

    no_index = cli_no_index
    no_index_setting = _pick(settings, _NO_INDEX_KEYS)
    if cli_no_index:
        sources.append(("no-index", "command line"))
    elif no_index_setting is not None:
        no_index = _parse_bool(no_index_setting, "no-index")
        sources.append(("no-index", no_index_setting.source))

    cert_setting = _pick(settings, _CERT_KEYS)
    cert = cert_setting.value.strip() if cert_setting is not None else None
    if cert_setting is not None:
        sources.append(("cert", cert_setting.source))

    return IndexConfig(
        index_url=index_url,
        extra_index_urls=extras,
        find_links=find_links,
        timeout=timeout,
        sources=tuple(sources),
        no_index=no_index,
        cert=cert,
    )


def _list_value(
    name: str,
    cli_values: Sequence[str],
    settings: Mapping[str, _Setting],
    keys: Iterable[str],
    sources: list[tuple[str, str]],
) -> tuple[str, ...]:
    """A whitespace-separated list setting; command-line values replace configured ones."""
    if cli_values:
        sources.append((name, "command line"))
        return tuple(cli_values)
    setting = _pick(settings, keys)
    if setting is None:
        return ()
    sources.append((name, setting.source))
    return tuple(setting.value.split())


def _site_prefix(python: str, environ: Mapping[str, str]) -> str | None:
    """The prefix whose ``pip.conf`` is pip's "site" file for ``python``.

    For the running interpreter that is ``sys.prefix``. For another interpreter, a venv is
    recognised by its ``pyvenv.cfg``; failing that, ``$VIRTUAL_ENV``.
    """
    if same_interpreter(python):
        return sys.prefix
    prefix = Path(python).parent.parent
    if (prefix / "pyvenv.cfg").is_file():
        return str(prefix)
    return environ.get("VIRTUAL_ENV") or None
