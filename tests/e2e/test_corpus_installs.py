"""Whole requirement sets installed for real, then imported, checked and installed again.

For each set (the shared corpus, ``../shared/corpus`` next to the repository, and
``benchmarks/sets``; the corpus copy wins a name both have, as in ``benchmarks/bench.py``),
inside a throwaway Debian root (tests/debroot.py), never on the host: a venv made with
``sysnative venv``, then ``sysnative install --system-native --python VENV/bin/python -r
SET``, which must succeed; every top-level requirement whose marker holds for the venv's
Python must then import there; ``pip check`` must be clean, but for the gaps in the
distribution's own metadata that the install reports and what was there before it; and the
same install run again must do nothing: it says so, and neither the root's dpkg status nor
what the venv's Python sees as installed changes. A failure quotes the command and its whole
output.

The sets of :data:`SETS` plan in the default mode. Those of :data:`FALLBACK_SETS` stop with
an explanation in the default mode (the system's versions refuse their requirements); they
are installed with ``--native-fallback wheel``, as a user who read that explanation would.
One copy of the root serves the whole module, each set in a venv of its own, in the order of
:data:`SETS`: the largest set first, from the fresh root, and the later ones find some of
their system packages already installed, as on a user's machine. The index is pip's default
inside the root (no host is named here). Skips (with the reason) where the root cannot be
built, and a corpus set when the corpus is absent.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if TYPE_CHECKING:
    from debroot import DebRoot

pytestmark = pytest.mark.e2e
#: The root's fixtures (``debroot``).
pytest_plugins = ("debroot",)

#: The corpus shared between checkouts, and the repository's own sets.
CORPUS_DIR = Path(__file__).resolve().parents[3] / "shared" / "corpus"
SETS_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "sets"

#: The sets installed in the default mode, by file stem; jupyter_datasci is the largest (most
#: packages planned).
SETS = (
    "jupyter_datasci",
    "arrow_numpy_mix",
    "dask_distributed",
    "flask_legacy_pins",
    "nlp_classic",
    "scrapy_lxml_crypto",
    "skimage_default",
    "xarray_io",
)
#: The sets whose requirements the system's versions refuse (the default mode explains why):
#: installed with the wheel fallback, ``--native-fallback wheel`` (none needs a build).
FALLBACK_SETS = (
    "async_web_api",
    "geo_vector",
    "plotting_old_matplotlib_user",
    "teaching_pinned_2024",
)
FALLBACK_OPTIONS = ("--native-fallback", "wheel")

#: The import name of every top-level requirement of :data:`SETS`, by canonical project
#: name. A set that gains a requirement needs its entry here (the test says which).
IMPORT_NAMES: dict[str, str | None] = {
    "attrs": "attrs",
    "beautifulsoup4": "bs4",
    "bottleneck": "bottleneck",
    "cftime": "cftime",
    "click": "click",
    "cloudpickle": "cloudpickle",
    "cryptography": "cryptography",
    "cssselect": "cssselect",
    "dask": "dask",
    "duckdb": "duckdb",
    "fastparquet": "fastparquet",
    "h5netcdf": "h5netcdf",
    "h5py": "h5py",
    "httpx": "httpx",
    "imageio": "imageio",
    "ipywidgets": "ipywidgets",
    "itemadapter": "itemadapter",
    "itemloaders": "itemloaders",
    "jinja2": "jinja2",
    "jupyterlab": "jupyterlab",
    "lazy-loader": "lazy_loader",
    "lxml": "lxml",
    "matplotlib": "matplotlib",
    "msgpack": "msgpack",
    "nbconvert": "nbconvert",
    "netcdf4": "netCDF4",
    "networkx": "networkx",
    "notebook": "notebook",
    "numexpr": "numexpr",
    "numpy": "numpy",
    "openpyxl": "openpyxl",
    "packaging": "packaging",
    "pandas": "pandas",
    "parsel": "parsel",
    "patsy": "patsy",
    "pillow": "PIL",
    "plotly": "plotly",
    "pooch": "pooch",
    "protego": "protego",
    "psutil": "psutil",
    "pyarrow": "pyarrow",
    "pydispatcher": "pydispatch",
    "pyopenssl": "OpenSSL",
    "pywavelets": "pywt",
    "pyyaml": "yaml",
    "queuelib": "queuelib",
    "requests": "requests",
    "rich": "rich",
    "scikit-image": "skimage",
    "scikit-learn": "sklearn",
    "scipy": "scipy",
    "seaborn": "seaborn",
    "service-identity": "service_identity",
    "setuptools": "setuptools",
    "sortedcontainers": "sortedcontainers",
    "sqlalchemy": "sqlalchemy",
    "statsmodels": "statsmodels",
    "tblib": "tblib",
    "tifffile": "tifffile",
    "tldextract": "tldextract",
    "toolz": "toolz",
    "tornado": "tornado",
    "twisted": "twisted",
    "w3lib": "w3lib",
    "xarray": "xarray",
    "zarr": "zarr",
    "zict": "zict",
    "zope-interface": "zope.interface",
    # flask_legacy_pins
    "flask": "flask",
    "flask-mail": "flask_mail",
    "flask-sqlalchemy": "flask_sqlalchemy",
    "flask-login": "flask_login",
    "flask-wtf": "flask_wtf",
    "itsdangerous": "itsdangerous",
    "markupsafe": "markupsafe",
    "werkzeug": "werkzeug",
    "psycopg2-binary": "psycopg2",
    "python-dotenv": "dotenv",
    "langdetect": "langdetect",
    # nlp_classic
    "nltk": "nltk",
    "regex": "regex",
    "gensim": "gensim",
    "spacy-lookups-data": "spacy_lookups_data",
    "textblob": "textblob",
    "tqdm": "tqdm",
    # async_web_api
    "fastapi": "fastapi",
    "uvicorn": "uvicorn",
    "pydantic": "pydantic",
    "asyncpg": "asyncpg",
    "orjson": "orjson",
    "redis": "redis",
    "celery": "celery",
    "python-multipart": "python_multipart",
    # geo_vector
    "geopandas": "geopandas",
    "shapely": "shapely",
    "pyproj": "pyproj",
    "fiona": "fiona",
    "pyogrio": "pyogrio",
    "rtree": "rtree",
    "folium": "folium",
    "mapclassify": "mapclassify",
    "contextily": "contextily",
    # plotting_old_matplotlib_user, teaching_pinned_2024
    "kiwisolver": "kiwisolver",
    "sympy": "sympy",
    "jupyter": None,  # a metapackage: nothing to import
}

#: The PEP 508 marker environment of the Python running it (standard library only).
MARKER_ENVIRONMENT = """
import json, os, platform, sys
def full(info):
    text = "%d.%d.%d" % tuple(info[:3])
    return text if info[3] == "final" else text + info[3][0] + str(info[4])
print(json.dumps({
    "implementation_name": sys.implementation.name,
    "implementation_version": full(sys.implementation.version),
    "os_name": os.name,
    "platform_machine": platform.machine(),
    "platform_release": platform.release(),
    "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}))
"""

#: Imports each module named in ``sys.argv``; prints ``{module: error}`` for those that fail.
IMPORT_ALL = """
import importlib, json, sys, traceback
failed = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except BaseException:
        failed[name] = traceback.format_exc()
print(json.dumps(failed))
"""

#: What the venv's Python sees as installed (a pip freeze that needs no pip).
FREEZE = (
    "import importlib.metadata as m; "
    "print(sorted((d.metadata['Name'], d.version) for d in m.distributions()))"
)


def set_file(name: str) -> Path:
    """The set's file: the corpus copy, else the repository's; skip when neither exists."""
    for directory in (CORPUS_DIR, SETS_DIR):
        if (directory / f"{name}.txt").is_file():
            return directory / f"{name}.txt"
    pytest.skip(f"{name}.txt is in neither benchmarks/sets nor the shared corpus {CORPUS_DIR}")


def top_level(text: str) -> list[Requirement]:
    """The requirements of a requirements file made of requirement lines and comments."""
    requirements = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            assert not line.startswith("-"), f"option lines are not supported here: {line}"
            requirements.append(Requirement(line))
    return requirements


def checked(
    command: Sequence[str], done: subprocess.CompletedProcess[str], *, tracebacks: bool = False
) -> subprocess.CompletedProcess[str]:
    """``done``, which must have exited 0 (without a traceback unless ``tracebacks``); else
    the command and its whole output are the message."""
    message = (
        f"$ {' '.join(command)}\nexit status {done.returncode}\n"
        f"--- stdout\n{done.stdout}--- stderr\n{done.stderr}"
    )
    assert done.returncode == 0, message
    assert tracebacks or "Traceback" not in done.stdout + done.stderr, message
    return done


def run(root: DebRoot, *argv: str, tracebacks: bool = False) -> subprocess.CompletedProcess[str]:
    """``argv`` in the root, checked."""
    return checked(argv, root.run(argv, timeout=1800), tracebacks=tracebacks)


def sysnative(root: DebRoot, *args: str) -> subprocess.CompletedProcess[str]:
    """The root's ``sysnative`` command, checked."""
    return checked(("sysnative", *args), root.sysnative(*args))


def pip_check(root: DebRoot, python: str) -> subprocess.CompletedProcess[str]:
    return root.run((python, "-m", "pip", "check"), timeout=600)


def complaints_of(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stdout.splitlines() if line.strip()]


def pip_check_is_clean_but_for_what_sysnative_reported(
    root: DebRoot, python: str, reported: str, before: Sequence[str]
) -> None:
    """``pip check`` in the venv. A system package whose metadata asks for what the
    distribution does not install with it (Debian's python3-azure asks for pydash) is not
    for sysnative to fix: the install reports each such gap as a warning, and those, and
    the complaints already there ``before`` the install (an earlier set in the same root),
    may be in pip check's answer; nothing else."""
    done = pip_check(root, python)
    if done.returncode == 0:
        return
    command = (python, "-m", "pip", "check")
    warned = set()
    for line in reported.splitlines():
        text = line.removeprefix("warning: ").strip()
        if " requires " in text:
            warned.add(canonicalize_name(text.split()[0]))
    complaints = complaints_of(done)
    unexplained = [
        c for c in complaints if c not in before and canonicalize_name(c.split()[0]) not in warned
    ]
    message = (
        f"$ {' '.join(command)}\n{done.stdout}{done.stderr}\n"
        f"not reported by sysnative: {unexplained}\n--- sysnative's stderr\n{reported}"
    )
    assert complaints, message
    assert not unexplained, message


@pytest.mark.parametrize(
    ("name", "options"),
    [(name, ()) for name in SETS] + [(name, FALLBACK_OPTIONS) for name in FALLBACK_SETS],
)
def test_a_set_installs_imports_checks_and_reruns_as_a_no_op(
    debroot: DebRoot, name: str, options: tuple[str, ...]
) -> None:
    source = set_file(name)
    requirements = top_level(source.read_text("utf-8"))
    unknown = sorted(
        {r.name for r in requirements if canonicalize_name(r.name) not in IMPORT_NAMES}
    )
    assert not unknown, f"IMPORT_NAMES needs the import name of {unknown}"
    inside = f"{debroot.home}/{source.name}"
    debroot.host_path(inside).write_text(source.read_text("utf-8"), "utf-8")
    venv = f"{debroot.home}/venv-{name}"
    python = f"{venv}/bin/python"
    sysnative(debroot, "venv", venv)
    install = ("install", "--system-native", *options, "--python", python, "-r", inside)
    before = complaints_of(pip_check(debroot, python))

    first = sysnative(debroot, *install)

    environment = json.loads(run(debroot, python, "-c", MARKER_ENVIRONMENT).stdout)
    modules = dict.fromkeys(
        module
        for r in requirements
        if r.marker is None or r.marker.evaluate(environment)
        if (module := IMPORT_NAMES[canonicalize_name(r.name)]) is not None
    )
    imported = run(debroot, python, "-c", IMPORT_ALL, *modules, tracebacks=True)
    failed: dict[str, str] = json.loads(imported.stdout)
    assert not failed, "\n".join(f"import {m} failed:\n{error}" for m, error in failed.items())
    pip_check_is_clean_but_for_what_sysnative_reported(debroot, python, first.stderr, before)

    status = debroot.dpkg_status()
    freeze = run(debroot, python, "-c", FREEZE).stdout
    again = sysnative(debroot, *install)

    assert "Nothing to do" in again.stdout, (
        f"the second run did something:\n{again.stdout}{again.stderr}"
    )
    assert debroot.dpkg_status() == status, "the second run changed the root's dpkg status"
    assert run(debroot, python, "-c", FREEZE).stdout == freeze, again.stdout
