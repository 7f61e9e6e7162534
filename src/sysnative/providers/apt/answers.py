"""apt's answers kept in sysnative's cache directory, keyed by the system state they came from.

The simulation is the slowest part of planning (0.3-0.8 s for ``apt-get install -s``), and
its answer depends only on the command and on the system state: dpkg's status file, apt's
package lists and its configuration files. :func:`state_digest` reads that state from the
files' names, sizes and modification times; a simulation asked against the same digest is
answered from a file here, and a state marker records that apt answered against a state
(its binary package cache is built then, so guessing ahead is wasted work).

Each apt configuration (``APT_CONFIG``) gets a directory of its own, which also holds apt's
binary package cache when the system's configuration switches it off.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from sysnative.cache import atomic_write, mark_used, prune
from sysnative.providers.apt.parse import parse_apt_config_shell

__all__ = [
    "CONFIG_PROBE",
    "answered_before",
    "binary_cache_options",
    "cached_simulation",
    "private_dir",
    "read_config",
    "remember_state",
    "state_digest",
    "state_marker",
    "store_simulation",
]


#: ``apt-config shell``: where apt keeps its binary package cache (empty: it keeps none) and
#: the files of the system state (dpkg's status file, the lists dir, the config dir).
CONFIG_PROBE = (
    "apt-config", "shell",
    "PKGCACHE", "Dir::Cache::pkgcache",
    "STATUS", "Dir::State::status/f",
    "LISTS", "Dir::State::lists/d",
    "ETC", "Dir::Etc/d",
)  # fmt: skip


def read_config(text: str) -> tuple[tuple[str, ...], str]:
    """The state paths and the binary package cache from :data:`CONFIG_PROBE`'s output."""
    values = parse_apt_config_shell(text)
    paths = tuple(values[k] for k in ("STATUS", "LISTS", "ETC") if values.get(k))
    return paths, values.get("PKGCACHE", "")


def binary_cache_options(where: Path) -> list[str]:
    """apt's ``-o`` options that keep its binary caches in ``where``."""
    return [
        "-o",
        f"Dir::Cache::pkgcache={where / 'pkgcache.bin'}",
        "-o",
        f"Dir::Cache::srcpkgcache={where / 'srcpkgcache.bin'}",
    ]


def private_dir(cache_dir: Path, env: Mapping[str, str]) -> Path:
    """The directory of ``env``'s apt configuration under ``cache_dir`` (created)."""
    apt_config = env.get("APT_CONFIG", os.environ.get("APT_CONFIG", ""))
    key = hashlib.sha256(apt_config.encode()).hexdigest()
    where = cache_dir / "apt" / key[:16]
    where.mkdir(parents=True, exist_ok=True)
    return where


def state_digest(paths: Sequence[str]) -> str | None:
    """A digest that changes whenever apt's answers could: the names, sizes and mtimes of
    dpkg's status file, the package lists and apt's configuration files (``paths``, files or
    directories). ``None`` when one cannot be read."""
    digest = hashlib.sha256()
    for root in paths:
        try:
            if os.path.isfile(root):
                st = os.stat(root)
                digest.update(f"{root}:{st.st_size}:{st.st_mtime_ns}".encode())
                continue
            for dirpath, _dirs, files in sorted(os.walk(root)):
                for name in sorted(files):
                    st = os.stat(os.path.join(dirpath, name))
                    digest.update(f"{dirpath}/{name}:{st.st_size}:{st.st_mtime_ns}".encode())
        except OSError:
            return None
    return digest.hexdigest()


def state_marker(where: Path, state: str) -> Path:
    """A file that exists once apt answered against system state ``state``: its binary
    package cache is built, and every simulation asked since is cached."""
    return where / f"state-{state}"


def remember_state(where: Path, state: str) -> None:
    marker = state_marker(where, state)
    if marker.exists():
        mark_used(marker)
    else:
        atomic_write(marker, b"")


def answered_before(where: Path) -> bool:
    """Whether apt answered from ``where`` on this machine before (against any system
    state). When it never did, the helper is needed for certain."""
    try:
        return any(p.name.startswith("state-") for p in where.iterdir())
    except OSError:
        return True


def _simulation_file(where: Path, state: str, argv: Sequence[str]) -> Path:
    key = hashlib.sha256("\0".join([state, *argv]).encode()).hexdigest()
    return where / f"simulate-{key}.txt"


def cached_simulation(where: Path, state: str, argv: Sequence[str]) -> str | None:
    """The output of ``argv`` against system state ``state``, when it was kept."""
    cached = _simulation_file(where, state, argv)
    if not cached.is_file():
        return None
    stdout = cached.read_text(encoding="utf-8")
    mark_used(cached)
    return stdout


def store_simulation(where: Path, state: str, argv: Sequence[str], stdout: str) -> None:
    """Keep the output of ``argv`` against ``state``; prune the simulations (and state
    markers) of system states long gone."""
    cached = _simulation_file(where, state, argv)
    atomic_write(cached, stdout.encode("utf-8"))
    for pattern in ("simulate-*.txt", "state-*"):
        prune(cached.parent, pattern)
