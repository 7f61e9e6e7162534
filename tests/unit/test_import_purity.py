"""The planning core is pure by its imports: no module it reaches runs a process, opens a
socket, starts a thread or touches files.

The imports are read with :mod:`ast` (nothing is imported), following ``sysnative``'s own
modules transitively, lazy imports inside functions included; third-party packages are
allowed only from a short list. An edge module (the probe, the index client, a provider)
that sneaks into the core through one import line fails this test with the chain that
reached it.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

import sysnative

SRC = Path(sysnative.__file__).parent

#: The core: values, seams and the pure stages of a run.
CORE = (
    "sysnative.models",
    "sysnative.target",
    "sysnative.protocols",
    "sysnative.errors",
    "sysnative.plan",
    "sysnative.plan.route",
    "sysnative.plan.route",
    "sysnative.plan.sequential",
    "sysnative.plan.state",
    "sysnative.plan.fixed",
    "sysnative.plan.assemble",
    "sysnative.plan.sysversion",
    "sysnative.resolve",
    "sysnative.resolve.model",
    "sysnative.resolve.provider",
    "sysnative.resolve.resolver",
    "sysnative.resolve.releases",
    "sysnative.checks.preflight",
    "sysnative.checks.postflight",
    "sysnative.mapping.table",
    "sysnative.mapping.parse",
    "sysnative.lock.model",
    "sysnative.lock.document",
    "sysnative.lock.from_plan",
    "sysnative.lock.replay",
    "sysnative.lock.credentials",
    "sysnative.index.pages",
    "sysnative.index.metadata",
    "sysnative.index.urls",
    "sysnative.index.fetch",
)

#: Standard-library modules that do I/O, run processes or start threads.
FORBIDDEN = frozenset(
    {
        "asyncio", "concurrent", "ctypes", "fcntl", "ftplib", "glob", "http", "io",
        "mmap", "multiprocessing", "os", "pathlib", "pwd", "select", "selectors",
        "shutil", "signal", "socket", "socketserver", "ssl", "subprocess", "tempfile",
        "threading", "_thread", "urllib.request", "zipfile", "importlib.metadata",
        "importlib.resources", "urllib3", "distro", "platformdirs",
    }
)  # fmt: skip

#: Third-party packages the core may use: they compute (TOML text in, TOML text out), they do
#: not reach the machine.
ALLOWED_THIRD_PARTY = frozenset({"packaging", "resolvelib", "tomli", "tomli_w"})


def _module_file(name: str) -> Path | None:
    parts = name.split(".")[1:]
    package = SRC.joinpath(*parts, "__init__.py")
    if package.exists():
        return package
    module = SRC.joinpath(*parts[:-1], parts[-1] + ".py") if parts else None
    return module if module is not None and module.exists() else None


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, except what sits under ``if TYPE_CHECKING:`` (never imported at run time)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in _runtime_nodes_of(child))
            continue
        yield node
        yield from _runtime_nodes(node)


def _runtime_nodes_of(node: ast.AST) -> Iterator[ast.AST]:
    yield node
    yield from _runtime_nodes(node)


def _imports(name: str) -> Iterator[str]:
    path = _module_file(name)
    assert path is not None, f"{name} is not a module of sysnative"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            for alias in node.names:  # ``from sysnative.plan import route`` names a module
                if base.startswith("sysnative") and _module_file(f"{base}.{alias.name}"):
                    yield f"{base}.{alias.name}"


def _is_forbidden(module: str) -> bool:
    top = module.split(".")[0]
    if module in FORBIDDEN or top in FORBIDDEN:
        return True
    return any(module.startswith(f"{f}.") for f in FORBIDDEN)


def _is_stdlib(module: str) -> bool:
    top = module.split(".")[0]
    if top == "tomllib":  # the standard library's from 3.11; tomlcompat imports it only there
        return True
    names: frozenset[str] | None = getattr(sys, "stdlib_module_names", None)
    if names is not None:  # Python 3.10 and newer
        return top in names
    spec = importlib.util.find_spec(top)
    if spec is None or spec.origin is None:
        return False
    if spec.origin in ("built-in", "frozen"):
        return True
    stdlib = sysconfig.get_paths()["stdlib"]
    return spec.origin.startswith(stdlib) and "-packages" not in spec.origin


def impurities(root: str) -> list[str]:
    """Every chain from ``root`` to a forbidden or unlisted module, as ``a -> b -> c``."""
    found: list[str] = []
    seen: set[str] = set()
    stack: list[tuple[str, tuple[str, ...]]] = [(root, (root,))]
    while stack:
        name, chain = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        for imported in _imports(name):
            if imported == "__future__" or imported == "sysnative":
                continue
            if imported.startswith("sysnative."):
                stack.append((imported, (*chain, imported)))
            elif _is_forbidden(imported):
                found.append(" -> ".join((*chain, imported)))
            elif not _is_stdlib(imported) and imported.split(".")[0] not in ALLOWED_THIRD_PARTY:
                found.append(" -> ".join((*chain, imported)) + " (third-party)")
    return sorted(found)


@pytest.mark.parametrize("module", CORE)
def test_core_module_is_pure_by_imports(module: str) -> None:
    assert impurities(module) == []


def test_the_walk_finds_an_edge_module() -> None:
    """The check itself can fail: the probe runs the target interpreter."""
    assert any(chain.endswith("subprocess") for chain in impurities("sysnative.probe"))
