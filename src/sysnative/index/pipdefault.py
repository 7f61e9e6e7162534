"""pip's built-in default index URL, learned from the installed pip at run time.

When nothing on the command line, in the environment or in pip's configuration files sets
the index URL (see :mod:`sysnative.index.pipconfig`), sysnative uses the default of the pip
that will install: that URL is not written anywhere in sysnative. ``pip install --help``
prints it (the ``--index-url`` option's ``(default ...)``; ``pip index --help`` too, and
starts faster), so pip is asked once and the
answer is cached per interpreter and pip version: a pip that changes its default is
followed automatically, and a run with a warm cache starts no process for it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path

from sysnative.cache import atomic_write, default_cache_dir
from sysnative.errors import SysnativeError
from sysnative.runner import run

logger = logging.getLogger(__name__)

__all__ = [
    "default_index_url",
    "parse_index_url_help",
    "pip_default_index_url",
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
    """pip's built-in index URL from ``python -m pip index --help`` (``install --help`` for a
    pip that has no ``index`` command), cached per pip version.

    The cache key is the interpreter's path and its pip's version (found without starting
    the interpreter); a pip upgrade changes the key and pip is asked again. When the version
    cannot be told, pip is asked every time. Asked again while a first question for the same
    interpreter is still running (the session asks ahead), the caller waits for that answer. Raises
    :class:`SysnativeError` when pip does not run or its help has no default.
    """
    key = (os.path.abspath(python), None if cache_dir is None else os.fspath(cache_dir))
    with _asking_lock:
        asking = _asking.get(key)
        mine = asking is None
        if asking is None:
            asking = _asking[key] = Future()
    if not mine:
        return asking.result()
    try:
        url = _learn(python, cache_dir, environ)
    except BaseException as exc:
        asking.set_exception(exc)
        raise
    finally:
        with _asking_lock:
            del _asking[key]
    asking.set_result(url)
    return url


#: Questions to pip in flight, by interpreter and cache directory.
_asking: dict[tuple[str, str | None], Future[str]] = {}
_asking_lock = threading.Lock()


def _learn(
    python: str, cache_dir: str | os.PathLike[str] | None, environ: Mapping[str, str]
) -> str:
    key_file = _cache_file(python, cache_dir, environ)
    if key_file is not None:
        cached = _read_cached(key_file)
        if cached:
            logger.debug("pip default index URL from cache %s", key_file)
            return cached
    url = None
    for command in ("index", "install"):  # index --help starts faster (0.4 s against 0.7 s)
        completed = run([python, "-m", "pip", command, "--help"], timeout=60)
        url = parse_index_url_help(completed.stdout) if completed.ok else None
        if url:
            break
    if not url:
        raise SysnativeError(
            f"Could not learn pip's default index URL from {python}: "
            + (completed.describe() if not completed.ok else "its help text has no default."),
            "Pass --index-url, or set index-url in pip's configuration.",
        )
    logger.debug("pip default index URL %s learned from `pip %s --help`", url, command)
    if key_file is not None:
        try:
            atomic_write(key_file, json.dumps({"index_url": url}).encode())
        except OSError as exc:  # a read-only cache only costs speed
            logger.debug("cannot cache pip's default index URL: %s", exc)
    return url


def _cache_file(
    python: str, cache_dir: str | os.PathLike[str] | None, environ: Mapping[str, str]
) -> Path | None:
    """Where the default URL for this interpreter and pip version is cached (if anywhere)."""
    version = _pip_version(python)
    if version is None:
        return None
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir(environ)
    ident = f"{os.path.abspath(python)}\0{version}".encode()
    return root / "pip-default" / (hashlib.sha256(ident).hexdigest()[:32] + ".json")


def _pip_version(python: str) -> str | None:
    """The version of the pip that ``python`` runs, found without starting it."""
    if same_interpreter(python):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("pip")
        except PackageNotFoundError:
            return None
    prefix = Path(python).parent.parent
    for pattern in _SITE_PATTERNS:
        for dist_info in sorted(prefix.glob(f"{pattern}/pip-*.dist-info")):
            return dist_info.name[len("pip-") : -len(".dist-info")]
    return None


#: Where an interpreter's prefix keeps pip: a venv or a source build, then Debian's layout.
_SITE_PATTERNS = (
    "lib*/python3*/site-packages",
    "local/lib/python3*/dist-packages",
    "lib/python3/dist-packages",
)


def _read_cached(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url = data.get("index_url") if isinstance(data, dict) else None
    return url if isinstance(url, str) and url else None
