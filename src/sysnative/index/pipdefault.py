"""pip's built-in default index URL, learned without importing pip.

When nothing on the command line, in the environment or in pip's configuration files sets
the index URL (see :mod:`sysnative.index.pipconfig`), sysnative uses the default of the pip that
will install: that URL is not written anywhere in sysnative. It is read from the installed
pip's source text (``pip/_internal/models/index.py`` and ``cmdoptions.py``, located without
starting the interpreter and never imported); when that text cannot be found or has an
unexpected shape, ``python -m pip install --help`` is run and its text parsed instead. The
answer is cached per interpreter and pip version, so a pip that changes its default is
followed automatically.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import sys
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path

from sysnative.errors import SysnativeError
from sysnative.runner import run

logger = logging.getLogger(__name__)

__all__ = [
    "default_index_url",
    "parse_index_url_help",
    "parse_pip_index_source",
    "pip_default_index_url",
    "pip_source_default_index_url",
    "same_interpreter",
]


def same_interpreter(python: str) -> bool:
    """Whether ``python`` is the interpreter running sysnative (same file, same directory,
    so a venv's ``python`` symlink to its base interpreter is not taken for the base)."""
    try:
        return (
            os.path.samefile(python, sys.executable)
            and Path(python).parent == Path(sys.executable).parent
        )
    except OSError:
        return False


# -- pip's default index URL -------------------------------------------------------------

_DEFAULT_RE = re.compile(r"\(default:?\s+(\S+?)\)")


def parse_index_url_help(help_text: str) -> str | None:
    """The default printed for ``--index-url`` in ``pip install --help``, or ``None``.

    The help text wraps lines anywhere between words, so the option's paragraph is taken
    up to the next option and its whitespace collapsed before looking for ``(default X)``.
    """
    match = re.search(r"--index-url\b", help_text)
    if match is None:
        return None
    rest = help_text[match.end() :]
    next_option = re.search(r"\n\s*(?:-\w,\s*)?--[a-z]", rest)
    paragraph = rest[: next_option.start()] if next_option else rest
    found = _DEFAULT_RE.search(" ".join(paragraph.split()))
    return found.group(1) if found else None


def default_index_url(
    python: str, cache_dir: str | os.PathLike[str] | None, environ: Mapping[str, str]
) -> str:
    """The target's pip's default; for a target without pip, the default of the pip that
    runs sysnative (the one the wheel step then installs with, through ``pip --python``)."""
    try:
        return pip_default_index_url(python, cache_dir=cache_dir, environ=environ)
    except SysnativeError:
        if same_interpreter(python):
            raise
        logger.debug("%s has no usable pip; asking the pip of %s", python, sys.executable)
        return pip_default_index_url(sys.executable, cache_dir=cache_dir, environ=environ)


def pip_default_index_url(
    python: str = sys.executable,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> str:
    """pip's built-in index URL, read from pip's source and cached per pip version.

    The pip that ``python`` runs is located without starting ``python`` and its
    ``models/index.py`` is read (see :func:`pip_source_default_index_url`). When that pip
    cannot be located or its text has an unexpected shape, ``python -m pip install --help``
    is asked instead, which costs a few tenths of a second. Either answer is stored in the
    cache directory under a key made of the interpreter path and pip's version; a pip
    upgrade changes the key and the question is asked again.
    """
    key_file = _default_url_cache_file(python, cache_dir, environ)
    if key_file is not None:
        cached = _read_cached_default(key_file)
        if cached:
            logger.debug("pip default index URL from cache %s", key_file)
            return cached
    url = _default_from_source(python)
    if url is None:
        url = _default_from_help(python)
    if key_file is not None:
        _write_cached_default(key_file, url)
    return url


def _default_from_source(python: str) -> str | None:
    """pip's default read from the source text of the pip ``python`` runs, or ``None``."""
    pip_dir = _pip_package_dir(python)
    if pip_dir is None:
        logger.debug("pip's source for %s not found; asking pip", python)
        return None
    url = pip_source_default_index_url(pip_dir)
    if url is not None:
        logger.debug("pip default index URL %s read from the source in %s", url, pip_dir)
    return url


def _default_from_help(python: str) -> str:
    """pip's default from ``python -m pip install --help`` (a subprocess; slow)."""
    completed = run([python, "-m", "pip", "install", "--help"], timeout=60)
    url = parse_index_url_help(completed.stdout) if completed.ok else None
    if not url:
        raise SysnativeError(
            f"Could not learn pip's default index URL from {python}: "
            + (completed.describe() if not completed.ok else "its help text has no default."),
            "Pass --index-url, or set index-url in pip's configuration.",
        )
    logger.debug("pip default index URL %s learned from `pip install --help`", url)
    return url


def _default_url_cache_file(
    python: str, cache_dir: str | os.PathLike[str] | None, environ: Mapping[str, str]
) -> Path | None:
    """Where the default URL for this interpreter and pip version is cached (if anywhere)."""
    version = _pip_version(python)
    if version is None:
        return None
    if cache_dir is None:
        from sysnative.cache import default_cache_dir

        cache_dir = default_cache_dir(environ)
    ident = f"{os.path.abspath(python)}\0{version}".encode()
    return Path(cache_dir) / "pip-default" / (hashlib.sha256(ident).hexdigest()[:32] + ".json")


def _pip_version(python: str) -> str | None:
    """The version of the pip that ``python`` runs, found without starting it."""
    if same_interpreter(python):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("pip")
        except PackageNotFoundError:
            return None
    prefix = Path(python).parent.parent
    for dist_info in sorted(prefix.glob("lib*/python3*/site-packages/pip-*.dist-info")):
        return dist_info.name[len("pip-") : -len(".dist-info")]
    return None


def _read_cached_default(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url = data.get("index_url") if isinstance(data, dict) else None
    return url if isinstance(url, str) and url else None


def _write_cached_default(path: Path, url: str) -> None:
    from sysnative.cache import atomic_write

    try:
        atomic_write(path, json.dumps({"index_url": url}).encode())
    except OSError as exc:  # a read-only cache only costs speed
        logger.debug("cannot cache pip's default index URL: %s", exc)


# -- pip's default index URL from pip's source text ----------------------------------------
#
# From pip 18.1 on (checked against 18.1, 19.3, 20.3, 21.3, 23.0, 24.0 and 26.3; pip 10 to
# 18.0 had a class ``Index`` with ``url_to_path`` instead, which is left to the fallback),
# ``pip/_internal/models/index.py`` holds
#
#     class PackageIndex:
#         def __init__(self, url, file_storage_domain):
#             self.url = url
#             self.simple_url = self._url_for_path("simple")
#         def _url_for_path(self, path):
#             return urllib.parse.urljoin(self.url, path)
#
#     PyPI = PackageIndex("<base url>", file_storage_domain="<host>")
#
# and ``cmdoptions.py`` gives ``--index-url`` the default ``PyPI.simple_url``, which is what
# ``pip install --help`` prints. The text is only trusted when every one of those pieces is
# found exactly in that shape; anything else (a patched or a future pip) means "ask pip".

_Q = r"""(?P<q>["'])"""
_PYPI_RE = re.compile(
    r"^PyPI(?:[ \t]*:[ \t]*PackageIndex)?[ \t]*=[ \t]*PackageIndex\(\s*"
    + _Q
    + r"""(?P<url>[^"'\\\s]+)(?P=q)\s*[,)]""",
    re.MULTILINE,
)
_PYPI_BINDING_RE = re.compile(r"^PyPI\b[^=\n]*=(?!=)|\bPyPI\.\w+\s*=(?!=)", re.MULTILINE)
_CLASS_RE = re.compile(r"^class[ \t]+PackageIndex\b", re.MULTILINE)
_INIT_RE = re.compile(r"\bdef[ \t]+__init__\(\s*self\s*,\s*url\b")
_SELF_URL_RE = re.compile(r"^[ \t]+self\.url[ \t]*=[ \t]*url[ \t]*$", re.MULTILINE)
_SELF_URL_BINDING_RE = re.compile(r"\bself\.url\s*=(?!=)|^[ \t]+url\s*[:=]", re.MULTILINE)
_SIMPLE_RE = re.compile(
    r"^[ \t]+self\.simple_url[ \t]*=[ \t]*self\._url_for_path\(\s*"
    + _Q
    + r"simple(?P=q)\s*\)[ \t]*$",
    re.MULTILINE,
)
_SIMPLE_BINDING_RE = re.compile(r"\bsimple_url\s*=(?!=)|\bdef\s+simple_url\b")
_URL_FOR_PATH_RE = re.compile(
    r"^[ \t]+def[ \t]+_url_for_path\(\s*self\s*,\s*path\b[^)\n]*\)[^:\n]*:[ \t]*\n"
    r"(?:[ \t]*#[^\n]*\n)*"  # pip < 21 wrote type comments here
    r"[ \t]+return[ \t]+(?:urllib\.parse|urllib_parse)\.urljoin\(\s*self\.url\s*,\s*path\s*\)"
    r"[ \t]*$",
    re.MULTILINE,
)
_URL_FOR_PATH_DEF_RE = re.compile(r"\bdef\s+_url_for_path\b")
_CMD_IMPORT_RE = re.compile(
    r"^from[ \t]+pip\._internal\.models\.index[ \t]+import[ \t]+[^\n]*\bPyPI\b", re.MULTILINE
)
_CMD_DEFAULT_RE = re.compile(
    r"""["']--index-url["'][^)]*?\bdefault\s*=\s*PyPI\.simple_url\s*[,)]"""
)


def parse_pip_index_source(index_py: str) -> str | None:
    """``PyPI.simple_url`` as computed by pip from ``pip/_internal/models/index.py``.

    Returns ``None`` unless the text has exactly the shape pip 18.1 and later use (see the
    comment above) and the base URL is an absolute http(s) URL.
    """
    found = _PYPI_RE.search(index_py)
    if (
        found is None
        or len(_PYPI_BINDING_RE.findall(index_py)) != 1
        or not _CLASS_RE.search(index_py)
        or not _INIT_RE.search(index_py)
        or not _SELF_URL_RE.search(index_py)
        or len(_SELF_URL_BINDING_RE.findall(index_py)) != 1
        or not _SIMPLE_RE.search(index_py)
        or len(_SIMPLE_BINDING_RE.findall(index_py)) != 1
        or not _URL_FOR_PATH_RE.search(index_py)
        or len(_URL_FOR_PATH_DEF_RE.findall(index_py)) != 1
    ):
        return None
    base = found.group("url")
    if not _is_http_url(base):
        return None
    simple_url = urllib.parse.urljoin(base, "simple")
    return simple_url if _is_http_url(simple_url) else None


def _cmdoptions_use_pypi_default(cmdoptions_py: str) -> bool:
    """Whether ``--index-url`` defaults to ``PyPI.simple_url`` imported from models.index."""
    return bool(_CMD_IMPORT_RE.search(cmdoptions_py) and _CMD_DEFAULT_RE.search(cmdoptions_py))


def _is_http_url(url: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def pip_source_default_index_url(pip_dir: str | os.PathLike[str]) -> str | None:
    """pip's default index URL read from the pip package directory ``pip_dir``, or ``None``.

    Reads ``_internal/models/index.py`` and ``cmdoptions.py`` (``_internal/cli/`` from
    pip 19 on, ``_internal/`` before); nothing of pip is imported or run.
    """
    internal = Path(pip_dir) / "_internal"
    index_py = _read_source(internal / "models" / "index.py")
    if index_py is None:
        return None
    url = parse_pip_index_source(index_py)
    if url is None:
        logger.debug("pip's models/index.py in %s has an unexpected shape", pip_dir)
        return None
    for cmdoptions in (internal / "cli" / "cmdoptions.py", internal / "cmdoptions.py"):
        text = _read_source(cmdoptions)
        if text is not None:
            if _cmdoptions_use_pypi_default(text):
                return url
            logger.debug("%s does not default --index-url to PyPI.simple_url", cmdoptions)
            return None
    logger.debug("pip's cmdoptions.py not found in %s", pip_dir)
    return None


def _read_source(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _pip_package_dir(python: str) -> Path | None:
    """The directory of the ``pip`` package that ``python -m pip`` would run, or ``None``
    when it cannot be told without starting ``python``."""
    if same_interpreter(python):
        return _running_pip_dir()
    if os.environ.get("PYTHONPATH") or os.environ.get("PYTHONHOME"):
        return None  # the search path is no longer the one worked out below
    for site_dir in _foreign_site_dirs(python):
        if (site_dir / "pip" / "__init__.py").is_file():
            return site_dir / "pip"
    return None


def _running_pip_dir() -> Path | None:
    """The pip package of the running interpreter; ``find_spec`` of a top-level package
    searches ``sys.path`` without executing the package."""
    try:
        spec = importlib.util.find_spec("pip")
    except (ImportError, ValueError):
        return None
    locations = spec.submodule_search_locations if spec is not None else None
    if not locations:
        return None
    return Path(next(iter(locations)))


def _foreign_site_dirs(python: str) -> list[Path]:
    """The directories another interpreter searches for third-party packages, in its order.

    A venv (``pyvenv.cfg`` next to ``bin/``) searches its own ``site-packages``, then, with
    ``include-system-site-packages``, the user site and the base interpreter's directories.
    An interpreter outside a venv searches the user site, then its prefix's directories
    (Debian's ``dist-packages`` layout included). Empty when the layout is not understood.
    """
    exe = Path(os.path.abspath(python))
    cfg = _read_pyvenv_cfg(exe)
    if cfg is not None:
        prefix = exe.parent.parent
        own = sorted(prefix.glob("lib*/python3*/site-packages"))
        version = _pyvenv_version(cfg) or _version_of_site_dirs(own)
        if cfg.get("include-system-site-packages", "true").lower() != "true":
            return own
        home = cfg.get("home")
        if version is None or not home or not os.path.isabs(home):
            return own
        return [*own, *_user_site_dirs(version), *_prefix_site_dirs(Path(home).parent, version)]
    real = Path(os.path.realpath(exe))
    match = re.fullmatch(r"python(3\.\d+)", real.name)
    if match is None:
        return []
    version = match.group(1)
    return [*_user_site_dirs(version), *_prefix_site_dirs(real.parent.parent, version)]


def _read_pyvenv_cfg(exe: Path) -> dict[str, str] | None:
    """The ``pyvenv.cfg`` of the venv ``exe`` belongs to (looked up as ``site`` does)."""
    for cfg in (exe.parent / "pyvenv.cfg", exe.parent.parent / "pyvenv.cfg"):
        try:
            text = cfg.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        values: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip().lower()] = value.strip()
        return values
    return None


def _pyvenv_version(cfg: Mapping[str, str]) -> str | None:
    """``3.X`` from ``version_info`` (Python 3.11+) or ``version`` in ``pyvenv.cfg``."""
    for key in ("version_info", "version"):
        match = re.match(r"(3\.\d+)\.", cfg.get(key, ""))
        if match:
            return match.group(1)
    return None


def _version_of_site_dirs(site_dirs: Sequence[Path]) -> str | None:
    versions = {d.parent.name[len("python") :] for d in site_dirs}
    return versions.pop() if len(versions) == 1 else None


def _user_site_dirs(version: str) -> list[Path]:
    """The user site of Python ``version`` unless ``PYTHONNOUSERSITE`` switches it off."""
    if os.environ.get("PYTHONNOUSERSITE"):
        return []
    base = os.environ.get("PYTHONUSERBASE") or os.path.expanduser(os.path.join("~", ".local"))
    return [Path(base) / "lib" / f"python{version}" / "site-packages"]


def _prefix_site_dirs(prefix: Path, version: str) -> list[Path]:
    """An installation prefix's package directories in ``site``'s order: Debian's
    ``dist-packages`` layout when ``lib/python3/dist-packages`` exists, else
    ``lib64``/``lib`` ``site-packages``."""
    if (prefix / "lib" / "python3" / "dist-packages").is_dir():
        return [
            prefix / "local" / "lib" / f"python{version}" / "dist-packages",
            prefix / "lib" / "python3" / "dist-packages",
            prefix / "lib" / f"python{version}" / "dist-packages",
        ]
    return [prefix / libdir / f"python{version}" / "site-packages" for libdir in ("lib64", "lib")]
