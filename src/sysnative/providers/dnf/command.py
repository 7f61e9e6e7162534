"""DNF 4's command: finding it, the options sysnative gives it, and the resolver shim that runs
its real solver without root.

``simulate``/``check_install`` ask dnf's real solver through dnf's own command line, ``dnf
install --assumeno``. DNF 4 refuses ``install`` to anyone but root even with ``--assumeno``
(an EUID check, before it resolves anything), and sysnative must plan without root. So the
command runs in dnf's own interpreter through :data:`RESOLVE_SHIM`, which lifts exactly that
check and prints the resolved transaction (every package with its action, EVR, arch and
provides) as tab-separated lines before dnf prints its own table and aborts on
``--assumeno``. That is the real transaction from the real option and configuration parsing
(so ``--installroot``, ``--setopt``, ``--config`` all apply), where parsing dnf's table would
break on wrapped long names and ``dnf repoquery --requires --resolve --recursive`` does not
solve at all: it lists every possible provider of every requirement, installed or not, and
cannot see upgrades.

DNF 5 (Fedora 41's ``dnf``) is a different, compiled program with another output and another
API; it is not supported yet. Where ``dnf`` is DNF 5, :func:`find_dnf` finds DNF 4's
``dnf-3``/``dnf4`` command when it is installed and says that DNF 5 is there when it is not.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sysnative.providers.dnf.parse import ITEM_MARK, TRANSACTION_MARK

__all__ = [
    "RESOLVE_SHIM",
    "TRANSACTION_SETTINGS",
    "DnfCommand",
    "find_dnf",
    "missing_tools",
    "option_value",
    "setopt_value",
]

#: The settings every dnf call that resolves or installs gets: no weak dependencies (the
#: closure must be exactly what the install step installs, and weak dependencies are extras
#: the user did not ask for), and ``strict`` so that dnf fails instead of silently leaving out
#: a package it cannot find or install (``strict=False`` in a dnf.conf would do that).
TRANSACTION_SETTINGS = ("--setopt=install_weak_deps=False", "--setopt=strict=True")

#: Runs DNF 4's own command line (``dnf.cli.main.user_main``, what the ``dnf`` script runs)
#: with two changes, and only together with ``--assumeno``: the "has to be run with superuser
#: privileges" check is lifted (resolving changes nothing; dnf still aborts before the
#: transaction), and the resolved transaction is printed as tab-separated lines, one per
#: package: action, name, epoch, version, release, arch, repository, then every provide.
RESOLVE_SHIM = r"""
import sys
if "--assumeno" not in sys.argv[1:]:
    sys.stderr.write("sysnative: the resolver shim only runs with --assumeno\n")
    sys.exit(2)
try:
    import dnf.cli.cli as cli
    import dnf.cli.main as main
    import dnf.transaction as t
    ACTIONS = {
        t.PKG_INSTALL: "install", t.PKG_UPGRADE: "upgrade", t.PKG_DOWNGRADE: "downgrade",
        t.PKG_REINSTALL: "reinstall", t.PKG_REINSTALLED: "reinstalled",
        t.PKG_UPGRADED: "upgraded", t.PKG_DOWNGRADED: "downgraded",
        t.PKG_OBSOLETE: "obsolete", t.PKG_OBSOLETED: "obsoleted", t.PKG_REMOVE: "remove",
    }
    process_demands = cli.Cli._process_demands
    do_transaction = cli.BaseCli.do_transaction
except (ImportError, AttributeError) as exc:
    sys.stderr.write("sysnative: this dnf is not the DNF 4 sysnative knows: %s\n" % exc)
    sys.exit(3)

def resolve_only(self):
    sheet = self.demands
    sheet.__class__ = type("ResolveOnly", (type(sheet),), {"root_user": False})
    return process_demands(self)

def print_transaction(self, display=()):
    items = list(self.transaction or ())
    out = ["%s\t%d" % (MARK_T, len(items))]
    for tsi in items:
        p = tsi.pkg
        fields = [MARK_I, ACTIONS.get(tsi.action, "other-%s" % tsi.action), p.name,
                  str(p.epoch or 0), p.version, p.release, p.arch, p.reponame or ""]
        out.append("\t".join(fields + [str(r) for r in p.provides]))
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()
    return do_transaction(self, display)

cli.Cli._process_demands = resolve_only
cli.BaseCli.do_transaction = print_transaction
main.user_main(sys.argv[1:], exit_code=True)
""".replace("MARK_T", repr(TRANSACTION_MARK)).replace("MARK_I", repr(ITEM_MARK))


@dataclass(frozen=True)
class DnfCommand:
    """DNF 4 found on ``PATH``: the command name and the interpreter its script runs on."""

    name: str
    interpreter: str


def python_shebang(path: str, search: str | None) -> str | None:
    """The Python interpreter a script's ``#!`` line names (through ``env`` too), or
    ``None`` for anything else (DNF 5 is a compiled program)."""
    try:
        with open(path, "rb") as f:
            first = f.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    try:
        words = shlex.split(first[2:].decode("utf-8", "replace"))
    except ValueError:
        return None
    if words and os.path.basename(words[0]) == "env":
        words = [w for w in words[1:] if not w.startswith("-")]
        found = shutil.which(words[0], path=search) if words else None
        words = [found] if found else []
    if not words or "python" not in os.path.basename(words[0]):
        return None
    return words[0] if os.path.isfile(words[0]) else None


def find_dnf(env: Mapping[str, str] | None) -> tuple[DnfCommand | None, bool]:
    """DNF 4 on ``PATH``, and whether a ``dnf`` that is not DNF 4 (DNF 5) is there."""
    search = env.get("PATH") if env else None
    other = False
    for name in ("dnf", "dnf-3", "dnf4"):
        exe = shutil.which(name, path=search)
        if exe is None:
            continue
        interpreter = python_shebang(exe, search)
        if interpreter is not None:
            return DnfCommand(name, interpreter), other
        other = True
    return None, other


def missing_tools(env: Mapping[str, str] | None) -> tuple[str, ...]:
    search = env.get("PATH") if env else None
    missing = []
    dnf, _ = find_dnf(env)
    if dnf is None:
        missing.append("dnf")
    if shutil.which("rpm", path=search) is None:
        missing.append("rpm")
    return tuple(missing)


def option_value(options: Sequence[str], name: str) -> str:
    """The value of ``--name=VALUE`` among ``options`` (the last one wins, as in dnf)."""
    value = ""
    for option in options:
        if option.startswith(name + "="):
            value = option[len(name) + 1 :]
    return value


def setopt_value(options: Sequence[str], key: str) -> str:
    """The value ``--setopt=KEY=VALUE`` among ``options`` gives ``key`` (the last one wins)."""
    return option_value(options, f"--setopt={key}")
