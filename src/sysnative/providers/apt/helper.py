"""Answer apt questions from one python-apt cache that stays open: run by Debian's python3.

    /usr/bin/python3 -I helper.py [KEY=VALUE ...]

This file is a standalone script, not a module sysnative imports: the system interpreter runs
it, because ``apt_pkg`` (the ``python3-apt`` package) exists only there. It uses nothing but
the standard library and ``apt_pkg``, and runs on every Python 3 that Debian 11 and later
ship. Each ``KEY=VALUE`` argument is set in apt's configuration, as ``-o`` does for apt-get;
a ``KEY?=VALUE`` argument only where apt's configuration leaves the key empty.

Why: ``apt-get install -s`` re-opens apt's caches and re-computes the state of every package
on each call, then orders and logs a simulated dpkg run: 0.3-0.8 s per question on Debian 12.
Here the cache is opened (or built) once, while sysnative is still reading the index, and a
simulation is a mark-and-resolve on the open dependency cache (tens of milliseconds).

Protocol: one JSON object per line in each direction. First the script writes
``{"ok": true, "apt": VERSION}`` once the cache is open, or ``{"ok": false, "why": ...}`` and
exits. Then, for each request ``{"op": "policy" | "simulate", "names": [...]}``, it answers
``{"ok": true, "text": ...}`` where the text has the lines of ``apt-cache policy`` (the
``Installed:``/``Candidate:`` part) or of ``apt-get install -s`` (``Inst``/``Remv`` lines)
that sysnative's parsers read, or ``{"ok": false, "why": ...}``: the caller then asks apt's
own command, which gives the authoritative answer and apt's own error text. The script
declines whatever it does not reproduce exactly (unknown or virtual names, broken results,
held packages, removals): being fast only counts where it is also the same answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # type-checked against python3-apt's own stubs (apt_pkg-stubs)
    import apt_pkg
else:
    #: Set when ``apt_pkg`` is imported (it only exists for the system interpreter).
    apt_pkg: ModuleType | None = None


class Decline(Exception):
    """This question is for apt-get itself."""


def send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def policy_text(cache: Any, depcache: Any, names: list[str]) -> str:
    """``apt-cache policy`` blocks (without the version table) for the names apt knows."""
    lines = []
    for name in names:
        try:
            pkg = cache[name]
        except KeyError:
            continue  # apt-cache policy prints nothing for an unknown name
        installed = pkg.current_ver.ver_str if pkg.current_ver else "(none)"
        candidate = depcache.get_candidate_ver(pkg) if pkg.has_versions else None
        lines += [
            f"{name}:",
            f"  Installed: {installed}",
            f"  Candidate: {candidate.ver_str if candidate else '(none)'}",
        ]
    return "\n".join(lines) + "\n" if lines else ""


def simulate_text(cache: Any, depcache: Any, names: list[str]) -> str:
    """The ``Inst`` lines ``apt-get install -s --no-install-recommends NAMES`` prints.

    The marking follows apt-get's own install command: every requested package is marked
    without its dependencies first (so one request's choices are known when another's
    dependencies are picked), then each that is left broken is marked again with automatic
    installation, and the problem resolver runs, the requested packages protected, when
    something is still broken (on an unbroken cache it changes nothing and costs 60 ms).
    ``depcache`` must be fresh (no marks): the caller forgets a simulation's marks when no
    question is waiting, and before the next simulation at the latest.
    """
    packages = []
    for name in names:
        try:
            pkg = cache[name]
        except KeyError:
            raise Decline(f"apt does not know {name}") from None
        if not pkg.has_versions or depcache.get_candidate_ver(pkg) is None:
            raise Decline(f"{name} has no installation candidate")
        packages.append(pkg)
    resolver = apt_pkg.ProblemResolver(depcache)
    # python3-apt's stubs lack ActionGroup's context manager methods, which it has.
    with apt_pkg.ActionGroup(depcache):  # type: ignore[attr-defined]
        for pkg in packages:
            resolver.clear(pkg)
            resolver.protect(pkg)
            depcache.mark_install(pkg, False, True)
        for pkg in packages:
            if depcache.is_inst_broken(pkg):
                depcache.mark_install(pkg, True, True)
    if depcache.broken_count:
        resolver.resolve(True)
    if depcache.broken_count:
        raise Decline("the request leaves broken packages")
    if depcache.del_count:
        raise Decline("the request removes packages")
    if not depcache.inst_count:
        return ""
    changed = marked_near(depcache, packages)
    if len(changed) != depcache.inst_count:  # the marks reach further: look at every package
        changed = {pkg.id: pkg for pkg in cache.packages if is_marked(depcache, pkg)}
    for pkg in changed.values():
        if pkg.selected_state == apt_pkg.SELSTATE_HOLD:
            raise Decline(f"{pkg.name} is held")
    lines = []
    for pkg in dependencies_first(depcache, packages, changed):
        version = depcache.get_candidate_ver(pkg)
        old = f" [{pkg.current_ver.ver_str}]" if pkg.current_ver else ""
        lines.append(f"Inst {pkg.name}{old} ({version.ver_str} [{version.arch}])")
    return "\n".join(lines) + "\n"


def is_marked(depcache: Any, pkg: Any) -> bool:
    """Whether ``pkg`` is marked to be installed, upgraded or downgraded."""
    return not depcache.marked_keep(pkg) and (
        depcache.marked_install(pkg)
        or depcache.marked_upgrade(pkg)
        or depcache.marked_downgrade(pkg)
    )


def marked_near(depcache: Any, requested: list[Any]) -> dict[int, Any]:
    """The marked packages reachable from the requested ones through marked packages'
    relations (of every kind): nearly always all of them, found without walking the tens of
    thousands of packages apt knows (20 ms on Debian 12). The caller compares the count with
    apt's own and looks at every package when they differ."""
    found: dict[int, Any] = {}
    todo = [pkg for pkg in requested if is_marked(depcache, pkg)]
    while todo:
        pkg = todo.pop()
        if pkg.id in found:
            continue
        found[pkg.id] = pkg
        for alternatives in depcache.get_candidate_ver(pkg).depends_list.values():
            for dependencies in alternatives:
                for dependency in dependencies:
                    for version in dependency.all_targets():
                        target = version.parent_pkg
                        if target.id not in found and is_marked(depcache, target):
                            todo.append(target)
    return found


def dependencies_first(depcache: Any, requested: list[Any], changed: dict[int, Any]) -> list[Any]:
    """The changed packages, each after those it (pre-)depends on, requested ones last.

    apt-get's ``Inst`` lines come in dpkg's unpack order, which puts dependencies first;
    this is that property (not apt's exact order, which weighs more than dependencies).
    """
    out: list[Any] = []
    done: set[int] = set()

    def visit(pkg: Any) -> None:
        if pkg.id in done:
            return
        done.add(pkg.id)
        depends = depcache.get_candidate_ver(pkg).depends_list
        for kind in ("PreDepends", "Depends"):
            for alternatives in depends.get(kind, []):
                for dep in alternatives:
                    chosen = [v.parent_pkg for v in dep.all_targets() if v.parent_pkg.id in changed]
                    if chosen:
                        visit(chosen[0])
                        break
        out.append(pkg)

    ordered = sorted(changed.values(), key=lambda p: p.name)
    for pkg in [p for p in requested if p.id in changed] + ordered:
        visit(pkg)
    return out


#: Seconds without a question after a simulation before its marks are cleaned up.
IDLE_BEFORE_CLEANUP = 0.02
#: What :meth:`LineReader.next` returns when no line came in time.
IDLE = object()


class LineReader:
    """Lines from a file descriptor, with a timeout (``select`` on the descriptor itself,
    so no line can hide in a buffer it does not see)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""
        self._eof = False

    def next(self, timeout: float | None) -> Any:
        """The next line (text), ``None`` at the end, or :data:`IDLE` after ``timeout``."""
        while b"\n" not in self._buffer and not self._eof:
            ready, _, _ = select.select([self._fd], [], [], timeout)
            if not ready:
                return IDLE
            chunk = os.read(self._fd, 65536)
            self._buffer += chunk
            self._eof = not chunk
        if not self._buffer:
            return None
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode("utf-8", errors="replace")


def answer(cache: Any, depcache: Any, request: dict[str, Any]) -> dict[str, Any]:
    names = request.get("names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return {"ok": False, "why": "malformed request"}
    try:
        if request.get("op") == "policy":
            return {"ok": True, "text": policy_text(cache, depcache, names)}
        if request.get("op") == "simulate":
            return {"ok": True, "text": simulate_text(cache, depcache, names)}
    except Decline as exc:
        return {"ok": False, "why": str(exc)}
    except SystemError as exc:  # apt's own errors
        return {"ok": False, "why": str(exc).strip()}
    return {"ok": False, "why": "unknown operation"}


def main(argv: list[str]) -> int:
    global apt_pkg
    try:
        import apt_pkg as module
    except ImportError as exc:
        send({"ok": False, "why": f"python3-apt is not installed ({exc})"})
        return 0
    apt_pkg = module
    settings: list[list[str]] = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key in ("", "?"):
            send({"ok": False, "why": f"not KEY=VALUE or KEY?=VALUE: {arg}"})
            return 2
        settings.append([key, value])
    try:
        apt_pkg.init_config()
        for key, value in settings:
            if key.endswith("?"):
                key = key[:-1]
                if apt_pkg.config.find(key):
                    continue
            apt_pkg.config.set(key, value)
        apt_pkg.init_system()
        cache = apt_pkg.Cache(None)
        depcache = apt_pkg.DepCache(cache)
    except SystemError as exc:
        send({"ok": False, "why": str(exc).strip()})
        return 0
    send({"ok": True, "apt": str(apt_pkg.VERSION)})  # type: ignore[attr-defined]  # not in the stubs
    lines = LineReader(sys.stdin.fileno())
    marked = False  # the last simulation's marks are still on the dependency cache
    while True:
        # Forgetting a simulation's marks takes a while (0.2 s on Debian 12): done as soon
        # as no question is waiting, and before the next simulation at the latest. A policy
        # question does not wait for it: installed and candidate versions ignore marks.
        line = lines.next(timeout=IDLE_BEFORE_CLEANUP if marked else None)
        if line is IDLE:
            depcache.init()
            marked = False
            continue
        if line is None:
            return 0
        request: Any | None = None
        with contextlib.suppress(ValueError):
            request = json.loads(line)
        if not isinstance(request, dict):
            send({"ok": False, "why": "malformed request"})
            continue
        if request.get("op") == "simulate" and marked:
            depcache.init()
            marked = False
        send(answer(cache, depcache, request))
        marked = marked or request.get("op") == "simulate"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
