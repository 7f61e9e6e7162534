"""Where mapping tables come from: the built-in data, files given with ``--mapping``, the
PEP 804 directories of each layer, and a project's ``pyproject.toml``."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from sysnative.errors import MappingError
from sysnative.mapping.parse import loads
from sysnative.mapping.table import BUILTIN_PREFIX, ECOSYSTEM_RE, ID_PREFIX, MappingTable


@functools.cache
def load_builtin(ecosystem: str) -> MappingTable:
    """The mapping shipped in ``sysnative/data/{ecosystem}.mapping.json`` (cached).

    Raises :class:`MappingError` for an unknown ecosystem, naming the ones that exist.
    """
    if not ECOSYSTEM_RE.fullmatch(ecosystem):
        raise MappingError(f"{ecosystem!r} is not a valid mapping ecosystem name.")
    data_dir = resources.files("sysnative") / "data"
    resource = data_dir / f"{ecosystem}.mapping.json"
    try:
        text = resource.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        known = sorted(
            item.name[: -len(".mapping.json")]
            for item in data_dir.iterdir()
            if item.name.endswith(".mapping.json")
        )
        raise MappingError(
            f"sysnative ships no mapping for the ecosystem {ecosystem!r}.",
            f"Built-in mappings: {', '.join(known) or 'none'}.",
        ) from None
    return loads(text, origin=f"{BUILTIN_PREFIX}{ecosystem}", ecosystem=ecosystem)


def load_file(
    path: str | os.PathLike[str], *, ecosystem: str | None = None, layer: str = "--mapping"
) -> MappingTable:
    """Read and validate one mapping file; every problem names the file and the entry.

    With ``ecosystem``, a file whose ``name`` says another ecosystem is refused: its package
    names mean nothing to this provider.
    """
    where = os.fspath(path)
    try:
        data = Path(where).read_bytes()
    except OSError as exc:
        raise MappingError(
            f"{where}: cannot read the mapping file: {exc.strerror or exc}.",
            "Check the path given for the mapping file.",
        ) from exc
    return loads(data, origin=where, ecosystem=ecosystem, layer=layer, strict_name=True)


# --------------------------------------------------------------------------------------------
# Layers

#: The layers, lowest first; a later layer's entry replaces an earlier one with the same id.
LAYERS: tuple[str, ...] = (
    "built-in",
    "system data",  # $XDG_DATA_DIRS/external-packaging-metadata-mappings/ (PEP 804)
    "site config",
    "user config",
    "pyproject.toml",
    "--mapping",
)
_PEP804_DIR = "external-packaging-metadata-mappings"


def layer_files(
    ecosystem: str,
    *,
    site_files: Iterable[str] = (),
    user_files: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
) -> list[tuple[str, Path]]:
    """The mapping files of the system-data, site and user layers that exist, lowest first.

    ``$XDG_DATA_DIRS`` lists directories most important first (default ``/usr/local/share``
    then ``/usr/share``), so the last one is the lowest layer. The site and user config dirs
    are platformdirs' (``/etc/xdg/sysnative``, ``~/.config/sysnative`` on Linux); each may hold
    ``{ecosystem}.mapping.json``, and ``site_files``/``user_files`` (named in the matching
    ``config.toml``) come after it.
    """
    import platformdirs

    environ = os.environ if env is None else env
    name = f"{ecosystem}.mapping.json"
    found: list[tuple[str, Path]] = []
    data_dirs = environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share"
    for directory in reversed([d for d in data_dirs.split(os.pathsep) if d]):
        found.append(("system data", Path(directory) / _PEP804_DIR / name))
    site_dir = Path(platformdirs.site_config_dir("sysnative"))
    found.append(("site config", site_dir / name))
    found.extend(("site config", Path(f)) for f in site_files)
    found.append(("user config", Path(platformdirs.user_config_dir("sysnative")) / name))
    found.extend(("user config", Path(f)) for f in user_files)
    named = {Path(f) for f in (*site_files, *user_files)}
    # A file named in config.toml must exist; a conventional location may be absent.
    return [(layer, path) for layer, path in found if path in named or path.is_file()]


def load_layers(
    ecosystem: str,
    *,
    files: Iterable[str] = (),
    site_files: Iterable[str] = (),
    user_files: Iterable[str] = (),
    project_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> MappingTable:
    """The built-in table with every override layer of :data:`LAYERS` stacked on it.

    ``files`` are ``--mapping FILE`` arguments (the top layer); ``project_dir`` is where a
    ``pyproject.toml`` with ``[tool.sysnative.mapping.<ecosystem>]`` may be.
    """
    tables = [load_builtin(ecosystem)]
    for layer, path in layer_files(
        ecosystem, site_files=site_files, user_files=user_files, env=env
    ):
        tables.append(load_file(path, ecosystem=ecosystem, layer=layer))
    if project_dir is not None:
        project = load_pyproject(project_dir / "pyproject.toml", ecosystem)
        if project is not None:
            tables.append(project)
    tables.extend(load_file(f, ecosystem=ecosystem, layer="--mapping") for f in files)
    return tables[0] if len(tables) == 1 else MappingTable.layered(*tables)


def load_pyproject(path: Path, ecosystem: str) -> MappingTable | None:
    """``[tool.sysnative.mapping.<ecosystem>]`` of a ``pyproject.toml``, or ``None``.

    Each key is a project; its value is a package name, a list of them (preferred first),
    ``false`` for "never from the system", or a table with ``specs`` and the
    ``extra_metadata`` keys spelled with dashes or underscores (``dist-names``, ``note``)::

        [tool.sysnative.mapping.debian]
        pillow = "python3-pil"
        tensorflow = false
        h5py = { specs = ["python3-h5py"], dist-names = ["h5py._debian_h5py_serial"] }
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise MappingError(f"{path}: cannot read it: {exc.strerror or exc}.") from exc
    from sysnative.tomlcompat import TOMLDecodeError, loads_toml

    try:
        document = loads_toml(raw.decode("utf-8"))
    except (UnicodeDecodeError, TOMLDecodeError) as exc:
        raise MappingError(f"{path}: not valid TOML: {exc}.") from None
    tool = document.get("tool", {}).get("sysnative", {})
    section = tool.get("mapping", {}) if isinstance(tool, dict) else {}
    if not isinstance(section, dict):
        raise MappingError(f"{path}: [tool.sysnative.mapping] must be a table of ecosystems.")
    table = section.get(ecosystem)
    if table is None:
        return None
    origin = f"{path} [tool.sysnative.mapping.{ecosystem}]"
    if not isinstance(table, dict):
        raise MappingError(f"{origin}: must be a table of project = package entries.")
    entries = []
    for project, value in table.items():
        canonical = canonicalize_name(project)
        where = f"{origin}: {project}"
        entry: dict[str, Any] = {"id": ID_PREFIX + canonical}
        if value is False:
            entry["specs"] = []
            entry["extra_metadata"] = {"route": "pypi"}
        elif isinstance(value, (str, list)):
            entry["specs"] = value
        elif isinstance(value, dict):
            extra = {k.replace("-", "_"): v for k, v in value.items() if k != "specs"}
            entry["specs"] = value.get("specs", [])
            if extra:
                entry["extra_metadata"] = extra
        else:
            raise MappingError(
                f"{where}: the value must be a package name, a list of them, false, or a table.",
                'For example: pillow = "python3-pil", or tensorflow = false (never the system).',
            )
        entries.append(entry)
    document_text = json.dumps({"name": ecosystem, "mappings": entries})
    return loads(document_text, origin=origin, ecosystem=ecosystem, layer="pyproject.toml")
