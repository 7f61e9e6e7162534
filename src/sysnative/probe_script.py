"""The script sysnative runs *inside* the target interpreter to learn what it is.

Its source text is run by the target interpreter from standard input (``python -``);
sysnative never imports it for itself (the tests do, to check it against ``packaging`` on
the interpreter running them).
It prints one JSON object on standard output: facts about the interpreter, its platform and
its installed distributions. The wheel tags are computed from those facts by sysnative
(:mod:`sysnative.target_tags`), with sysnative's own ``packaging``.

Two rules keep it runnable in any target:

* It imports only the standard library. The target's ``sys.path`` is the user's, and
  sysnative's dependencies (``packaging`` among them) may need a newer Python than the
  target has.
* It parses on every Python that might be pointed at (2.7 included): no f-strings,
  annotations or keyword-only arguments, type comments instead. A target older than the
  oldest one supported answers ``{"too_old": true, ...}`` with its version, so that the
  error can name it.

The marker environment, ABI and platform facts mirror what ``packaging.markers`` and
``packaging.tags`` read from a running interpreter (the ELF checks of ``_manylinux`` and
``_musllinux`` included); the differential tests compare the two.
"""

import json
import os
import platform
import struct
import subprocess
import sys

MYPY = False
if MYPY:  # the type comments' names; typing is not in every target's standard library
    import typing  # noqa: F401

#: The oldest Python version sysnative supports as a target.
OLDEST = (3, 9)

#: ELF constants read by :func:`elf_facts` (the values ``packaging._elffile`` uses).
_PT_INTERP = 3


def full_version(info):
    # type: (typing.Any) -> str
    """``3.12.1``, ``3.14.0a1``: how PEP 508 spells an interpreter's full version."""
    version = "%d.%d.%d" % (info[0], info[1], info[2])
    kind = info[3]
    if kind != "final":
        version += kind[0] + str(info[4])
    return version


def marker_environment():
    # type: () -> typing.Dict[str, str]
    """The PEP 508 marker environment of this interpreter."""
    return {
        "implementation_name": sys.implementation.name,
        "implementation_version": full_version(sys.implementation.version),
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def glibc_version():
    # type: () -> typing.Optional[str]
    """The C library's version when it is glibc (``2.36``), else ``None``."""
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")
        if text:
            return text.rsplit(None, 1)[-1]
    except (AttributeError, OSError, ValueError):
        pass
    try:
        import ctypes

        function = ctypes.CDLL(None).gnu_get_libc_version
    except (ImportError, OSError, AttributeError):
        return None
    function.restype = ctypes.c_char_p
    value = function()
    return value.decode("ascii") if isinstance(value, bytes) else value


def elf_facts(path):
    # type: (str) -> typing.Optional[typing.Dict[str, typing.Any]]
    """What the wheel tags need from the interpreter's ELF header: its class, byte order,
    machine, flags and program interpreter (the dynamic loader). ``None`` if not ELF."""
    try:
        with open(path, "rb") as handle:
            ident = handle.read(16)
            if len(ident) < 16 or ident[:4] != b"\x7fELF" or ident[4:5] not in (b"\x01", b"\x02"):
                return None
            is64 = ident[4:5] == b"\x02"
            order = "<" if ident[5:6] == b"\x01" else ">"
            if is64:
                layout, header_size = order + "HHIQQQIHHHHHH", 48
            else:
                layout, header_size = order + "HHIIIIIHHHHHH", 36
            header = struct.unpack(layout, handle.read(header_size))
            machine, phoff, flags, phentsize, phnum = (
                header[1],
                header[4],
                header[6],
                header[8],
                header[9],
            )
            interpreter = None
            entry_layout = order + ("IIQQQQQQ" if is64 else "IIIIIIII")
            entry_size = struct.calcsize(entry_layout)
            for index in range(min(phnum, 64)):
                handle.seek(phoff + index * phentsize)
                entry = struct.unpack(entry_layout, handle.read(entry_size))
                if entry[0] != _PT_INTERP:
                    continue
                offset, size = (entry[2], entry[5]) if is64 else (entry[1], entry[4])
                handle.seek(offset)
                interpreter = handle.read(min(size, 4096)).split(b"\0", 1)[0].decode("utf-8")
                break
    except (OSError, struct.error, UnicodeDecodeError, ValueError):
        return None
    return {
        "class": 2 if is64 else 1,
        "data": 1 if order == "<" else 2,
        "machine": machine,
        "flags": flags,
        "interpreter": interpreter,
    }


def musl_version(loader):
    # type: (typing.Optional[str]) -> typing.Optional[str]
    """The musl version (``1.2``) that ``loader`` reports, if it is musl's loader."""
    if not loader or "musl" not in loader:
        return None
    try:
        done = subprocess.Popen([loader], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, err = done.communicate()
    except OSError:
        return None
    lines = [line.strip() for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
    if len(lines) < 2 or not lines[0].startswith("musl") or not lines[1].startswith("Version "):
        return None
    parts = lines[1][len("Version ") :].split(".")
    if len(parts) < 2 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return parts[0] + "." + parts[1]


def platform_facts():
    # type: () -> typing.Dict[str, typing.Any]
    """What ``packaging.tags`` reads to compute this interpreter's tags."""
    import importlib.machinery
    import sysconfig

    config = sysconfig.get_config_var
    elf = elf_facts(sys.executable) if sys.platform.startswith("linux") else None
    facts = {
        "implementation": sys.implementation.name,
        "python_version": list(sys.version_info[:2]),
        "py_version_nodot": config("py_version_nodot"),
        "py_debug": config("Py_DEBUG"),
        "gil_disabled": config("Py_GIL_DISABLED"),
        "has_refcount": hasattr(sys, "gettotalrefcount"),
        "extension_suffixes": list(importlib.machinery.EXTENSION_SUFFIXES),
        "ext_suffix": config("EXT_SUFFIX"),
        "system": platform.system(),
        "sysconfig_platform": sysconfig.get_platform(),
        "is_32bit": struct.calcsize("P") == 4,
        "glibc": glibc_version() if sys.platform.startswith("linux") else None,
        "elf": elf,
        "musl": musl_version(elf["interpreter"]) if elf else None,
        "mac_version": None,
        "mac_arch": None,
    }  # type: typing.Dict[str, typing.Any]
    if sys.platform == "darwin":
        release, _, machine = platform.mac_ver()
        if release.startswith("10.16"):
            # Built against an older SDK, Python reports 10.16 for every newer macOS;
            # packaging asks again the same way.
            env = dict(os.environ, SYSTEM_VERSION_COMPAT="0")
            code = "import platform; print(platform.mac_ver()[0])"
            ask = subprocess.Popen(
                [sys.executable, "-sS", "-c", code], stdout=subprocess.PIPE, env=env
            )
            release = ask.communicate()[0].decode("ascii", "replace").strip() or release
        facts["mac_version"] = release
        facts["mac_arch"] = machine
    return facts


def venv_include_system_site_packages():
    # type: () -> typing.Optional[bool]
    """``include-system-site-packages`` from ``pyvenv.cfg``; ``None`` outside a venv."""
    path = os.path.join(sys.prefix, "pyvenv.cfg")
    if not os.path.isfile(path):
        return None
    found = None
    with open(path, "rb") as handle:
        for raw in handle:
            key, _, value = raw.decode("utf-8", "replace").partition("=")
            if key.strip().lower() == "include-system-site-packages":
                found = value.strip().lower() == "true"
    return found


def distributions():
    # type: () -> typing.List[typing.Dict[str, typing.Any]]
    """Every distribution ``importlib.metadata`` finds on ``sys.path``, in its order."""
    import importlib.metadata as metadata

    found = []
    for dist in metadata.distributions():
        try:
            name = dist.metadata["Name"]
            if not name:
                continue
            found.append(
                {
                    "name": name,
                    "version": dist.version,
                    "location": str(dist.locate_file("")),
                    "requires": list(dist.requires or []),
                    "installer": (dist.read_text("INSTALLER") or "").strip(),
                }
            )
        except Exception:  # a damaged distribution is left out, as pip does
            continue
    return found


def describe():
    # type: () -> typing.Dict[str, typing.Any]
    """Everything sysnative needs to know about this interpreter."""
    import site
    import sysconfig

    paths = sysconfig.get_paths()
    base_prefix = getattr(sys, "base_prefix", sys.prefix)
    return {
        "executable": sys.executable,
        "version": "%d.%d" % sys.version_info[:2],
        "full_version": "%d.%d.%d" % sys.version_info[:3],
        "markers": marker_environment(),
        "platform": platform_facts(),
        "sys_path": [p for p in sys.path if p],
        "prefix": sys.prefix,
        "base_prefix": base_prefix,
        "site_packages": site.getsitepackages() if hasattr(site, "getsitepackages") else [],
        "purelib": paths["purelib"],
        "user_site": site.getusersitepackages() if hasattr(site, "getusersitepackages") else None,
        "include_system_site_packages": venv_include_system_site_packages(),
        # PEP 668: the marker never applies inside a virtual environment.
        "externally_managed": sys.prefix == base_prefix
        and os.path.isfile(os.path.join(paths["stdlib"], "EXTERNALLY-MANAGED")),
        "distributions": distributions(),
    }


def main():
    # type: () -> None
    if tuple(sys.version_info[:2]) < OLDEST:
        answer = {
            "too_old": True,
            "executable": sys.executable,
            "full_version": "%d.%d.%d" % tuple(sys.version_info[:3]),
            "implementation": platform.python_implementation(),
        }  # type: typing.Dict[str, typing.Any]
    else:
        answer = describe()
    sys.stdout.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
