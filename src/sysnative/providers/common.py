"""Pieces every provider's execution side shares: who may run the transaction, the error that
hands over the exact command, who holds a lock, a tool's grammar for what may reach its argv
(:class:`Grammar`: names, versions, pairs, closures and extra options checked before any
command runs), and the comparison of a simulated transaction with the plan."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shlex
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from sysnative.errors import PrivilegeError, ProviderError
from sysnative.models import ClosureItem
from sysnative.protocols import Privileges
from sysnative.runner import CommandNotFound, run

__all__ = [
    "Grammar",
    "posix_lock_holder",
    "privilege_error",
    "process_name",
    "root_or_sudo",
    "transaction_differences",
    "unique_valid_names",
    "user_name",
    "validate_options",
]


def user_name(uid: int) -> str:
    """The login name of ``uid``, or the number when it has none."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def posix_lock_holder(path: str, *, proc: str = "/proc") -> int | None:
    """The process holding an ``fcntl``/``flock`` lock on the file ``path``, from the kernel's
    table of locks (``/proc/locks``); ``None`` when no process holds one or it cannot be told.

    Asked by another process than the holder, the kernel knows the answer whatever the holder
    printed. A line names the file as ``MAJOR:MINOR:INODE`` of its filesystem's device, which
    is not always the device ``stat`` reports (btrfs subvolumes, some overlay mounts): a line
    with the same inode on another device counts only when its process has ``path`` open.
    Lines marked ``->`` are processes waiting for a lock, not holding one.
    """
    try:
        st = os.stat(path)
        with open(os.path.join(proc, "locks"), encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    exact = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    same_inode: list[int] = []
    for line in lines:
        fields = line.split()
        if "->" in fields:
            continue
        for i, value in enumerate(fields[1:], start=1):
            device, sep, inode = value.rpartition(":")
            if not sep or not inode.isdigit() or ":" not in device:
                continue
            holder = fields[i - 1]
            if not holder.isdigit() or int(holder) <= 0:
                break
            if value == exact:
                return int(holder)
            if int(inode) == st.st_ino:
                same_inode.append(int(holder))
            break
    for pid in same_inode:
        if _has_open(pid, st, proc):
            return pid
    return None


def _has_open(pid: int, st: os.stat_result, proc: str) -> bool:
    """Whether process ``pid`` has the file ``st`` open (readable for root or its owner)."""
    try:
        with os.scandir(os.path.join(proc, str(pid), "fd")) as fds:
            for fd in fds:
                with contextlib.suppress(OSError):
                    if os.path.samestat(os.stat(fd.path), st):
                        return True
    except OSError:
        return False
    return False


def process_name(pid: int, *, proc: str = "/proc") -> str | None:
    """The command name of process ``pid`` (``comm``), or ``None`` when it is gone."""
    try:
        with open(os.path.join(proc, str(pid), "comm"), encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


def root_or_sudo(env: Mapping[str, str]) -> Privileges:
    """Root, or ``sudo -n true`` succeeds (sudo found on ``env``'s ``PATH``, else ours).

    ``sudo -n`` never asks for a password: sysnative runs the transaction with its output
    captured, where a password prompt could not be answered.
    """
    euid = os.geteuid()
    if euid == 0:
        return Privileges(ok=True)
    who = f"user {user_name(euid)} (uid {euid})"
    no_sudo = Privileges(
        ok=False, why=f"sysnative runs as {who}, not root, and sudo is not installed"
    )
    if shutil.which("sudo", path=env.get("PATH", os.environ.get("PATH"))) is None:
        return no_sudo
    try:
        probe = run(["sudo", "-n", "true"], env=dict(env) or None, input="", timeout=60)
    except CommandNotFound:
        return no_sudo
    if probe.ok:
        return Privileges(ok=True, prefix=("sudo", "-n"))
    said = (probe.stderr or probe.stdout).strip().splitlines()
    detail = f" ({said[0].strip()})" if said else ""
    return Privileges(
        ok=False,
        why=f"sysnative runs as {who}, not root, and `sudo -n true` failed{detail}: "
        "sudo would ask for a password",
    )


def privilege_error(
    why: str,
    argv: Sequence[str],
    *,
    cannot: str = "Installing the system packages needs root",
    run_as: str = "root (for example with sudo)",
    then: str = "; it finds the packages installed and continues",
) -> PrivilegeError:
    """Nothing was installed: say why (``cannot``: ``why``) and hand over the exact command to
    run as ``run_as`` (root, unless the provider installs as the owner of an environment)."""
    command = shlex.join(argv)
    return PrivilegeError(
        f"{cannot}: {why}. Nothing was changed.",
        f"Run this command as {run_as}, then run sysnative again{then}:\n    {command}",
        command=command,
    )


def transaction_differences(
    planned: Sequence[ClosureItem],
    simulated: Sequence[ClosureItem],
    tool: str,
    normalize: Callable[[str], str] = str,
) -> tuple[str, ...]:
    """How ``tool``'s simulated transaction differs from the plan's, one line per package.

    Compared by name and version (``normalize``d: rpm spells one version several ways);
    ``()`` when they are the same set.
    """

    def versions(items: Sequence[ClosureItem]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for item in items:
            out.setdefault(item.name, set()).add(normalize(item.version))
        return out

    plan, now = versions(planned), versions(simulated)
    out: list[str] = []
    for name in [*plan, *(n for n in now if n not in plan)]:
        want, got = plan.get(name, set()), now.get(name, set())
        if want == got:
            continue
        if not got:
            out.append(
                f"{name} {', '.join(sorted(want))}: in the plan, but {tool} would not install "
                "it now"
            )
        elif not want:
            out.append(
                f"{name} {', '.join(sorted(got))}: {tool} would install it, the plan does not"
            )
        else:
            out.append(
                f"{name}: the plan has {', '.join(sorted(want))}, {tool} would install "
                f"{', '.join(sorted(got))}"
            )
    return tuple(out)


def unique_valid_names(
    names: Iterable[str], pattern: re.Pattern[str], *, what: str, tool: str, hint: str
) -> tuple[str, ...]:
    """``names`` de-duplicated in order; :class:`ProviderError` (``name`` "is not a valid
    ``what``", then ``hint``) for the first one ``pattern`` does not match in full. Runs
    before any command, so a hostile or mistyped name never reaches ``tool``."""
    out: list[str] = []
    for name in names:
        if not isinstance(name, str) or not pattern.fullmatch(name):
            raise ProviderError(
                f"{name!r} is not a valid {what}, so it was not passed to {tool}.", hint
            )
        if name not in out:
            out.append(name)
    return tuple(out)


def validate_options(options: Iterable[str], tool: str) -> tuple[str, ...]:
    """Extra options for ``tool``, as given; :class:`ProviderError` for one that is not a
    string or holds a NUL byte."""
    checked = tuple(options)
    for option in checked:
        if not isinstance(option, str) or "\0" in option:
            raise ProviderError(f"{option!r} is not a valid option for {tool}.")
    return checked


@dataclass(frozen=True)
class Grammar:
    """A tool's grammar for what may reach its argv: ``names`` checks and de-duplicates
    package names (:func:`unique_valid_names`), ``version`` checks one version, ``item``
    anything more of a closure item (dnf's architecture); ``thing`` is what the tool
    installs, in messages (``"formula"``)."""

    names: Callable[[Iterable[str]], tuple[str, ...]]
    version: Callable[[str], object]
    item: Callable[[ClosureItem], object] | None = None
    thing: str = "package"

    def pairs(self, packages: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
        """The ``(name, version)`` pairs, checked and de-duplicated in order.

        :class:`ProviderError` for an invalid name or version, or for one name asked at two
        versions (a transaction installs one version of each package).
        """
        pairs: dict[str, str] = {}
        for name, version in packages:
            self.names([name])
            self.version(version)
            if pairs.get(name, version) != version:
                raise ProviderError(
                    f"{name} is asked for at two versions ({pairs[name]} and {version}).",
                    f"A transaction installs one version of each {self.thing}; check the plan.",
                )
            pairs[name] = version
        return tuple(pairs.items())

    def check_closure(self, closure: Sequence[ClosureItem]) -> None:
        """The closure's names, versions and replaced versions (and what ``item`` checks of
        each) go into the tool's argv and into undo commands: check them all."""
        self.names(item.name for item in closure)
        for item in closure:
            self.version(item.version)
            if item.replaces is not None:
                self.version(item.replaces)
            if self.item is not None:
                self.item(item)
