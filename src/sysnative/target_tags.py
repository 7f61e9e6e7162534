"""The wheel tags a target interpreter supports, computed from what its probe reported.

``packaging.tags.sys_tags()`` answers for the running interpreter only, and sysnative's
``packaging`` may not even import in the target (it can need a newer Python). So the probe
(:mod:`sysnative.probe_script`) reports the facts ``sys_tags()`` reads, and this module
feeds them to ``packaging``'s public tag functions (``cpython_tags``, ``generic_tags``,
``compatible_tags``, ``mac_platforms``), which take every fact as an argument. Only the
Linux platform list is enumerated here, because ``packaging`` computes it from the running
process alone; it follows ``packaging._manylinux`` and ``_musllinux``, and the tests check the
result against ``sys_tags()`` on the interpreter running them.

Pure: facts in, tags out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import packaging
from packaging.tags import (
    INTERPRETER_SHORT_NAMES,
    Tag,
    compatible_tags,
    cpython_tags,
    generic_tags,
    mac_platforms,
)
from packaging.version import Version

#: ``packaging`` 26.3 put ``linux_*`` before ``manylinux``/``musllinux``; follow the
#: ``packaging`` in use, so that a target's tags rank wheels as ``sys_tags()`` would.
_LINUX_FIRST = Version(packaging.__version__) >= Version("26.3")

#: Architectures with manylinux wheels that need no ELF check (``packaging._manylinux``).
_ALLOWED_ARCHS = frozenset(
    {"x86_64", "aarch64", "ppc64", "ppc64le", "s390x", "loongarch64", "riscv64"}
)
_LEGACY_MANYLINUX = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
#: The last minor release assumed for an older glibc major (``packaging``'s value).
_LAST_GLIBC_MINOR = 50

_EM_386 = 3
_EM_ARM = 40
_EF_ARM_ABIMASK = 0xFF000000
_EF_ARM_ABI_VER5 = 0x05000000
_EF_ARM_ABI_FLOAT_HARD = 0x00000400


class TagFactsError(ValueError):
    """The probe's platform facts are incomplete or malformed."""


@dataclass(frozen=True)
class ElfHeader:
    """The parts of the interpreter's ELF header the manylinux rules read."""

    elf_class: int  # 1: 32-bit, 2: 64-bit
    data: int  # 1: little-endian, 2: big-endian
    machine: int
    flags: int
    interpreter: str | None


@dataclass(frozen=True)
class PlatformFacts:
    """What ``packaging.tags.sys_tags()`` reads from a running interpreter."""

    implementation: str
    python_version: tuple[int, int]
    py_version_nodot: str | None
    py_debug: bool | None
    gil_disabled: bool
    has_refcount: bool
    extension_suffixes: tuple[str, ...]
    ext_suffix: str | None
    system: str
    sysconfig_platform: str
    is_32bit: bool
    glibc: str | None = None
    musl: str | None = None
    elf: ElfHeader | None = None
    mac_version: str | None = None
    mac_arch: str | None = None

    @classmethod
    def from_json(cls, raw: object) -> PlatformFacts:
        """Read the probe's ``platform`` object; :class:`TagFactsError` if it is not one."""
        if not isinstance(raw, Mapping):
            raise TagFactsError("the probe reported no platform facts")
        try:
            major, minor = (int(part) for part in raw["python_version"])
            elf = raw.get("elf")
            return cls(
                implementation=str(raw["implementation"]),
                python_version=(major, minor),
                py_version_nodot=_opt_str(raw.get("py_version_nodot")),
                py_debug=None if raw.get("py_debug") is None else bool(raw["py_debug"]),
                gil_disabled=bool(raw.get("gil_disabled")),
                has_refcount=bool(raw.get("has_refcount")),
                extension_suffixes=tuple(str(s) for s in raw.get("extension_suffixes") or ()),
                ext_suffix=_opt_str(raw.get("ext_suffix")),
                system=str(raw.get("system") or ""),
                sysconfig_platform=str(raw["sysconfig_platform"]),
                is_32bit=bool(raw.get("is_32bit")),
                glibc=_opt_str(raw.get("glibc")),
                musl=_opt_str(raw.get("musl")),
                elf=None
                if not isinstance(elf, Mapping)
                else ElfHeader(
                    elf_class=int(elf["class"]),
                    data=int(elf["data"]),
                    machine=int(elf["machine"]),
                    flags=int(elf["flags"]),
                    interpreter=_opt_str(elf.get("interpreter")),
                ),
                mac_version=_opt_str(raw.get("mac_version")),
                mac_arch=_opt_str(raw.get("mac_arch")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TagFactsError(f"the probe's platform facts are malformed: {exc!r}") from exc


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def target_tags(facts: PlatformFacts) -> list[Tag]:
    """The target's supported tags, most preferred first: what ``sys_tags()`` would
    yield if it ran there."""
    platforms = list(platform_tags(facts))
    name = interpreter_name(facts)
    nodot = facts.py_version_nodot or "".join(map(str, facts.python_version))
    tags: list[Tag] = []
    if name == "cp":
        tags.extend(cpython_tags(facts.python_version, list(cpython_abis(facts)), platforms))
        interpreter: str | None = f"cp{nodot}"
    else:
        tags.extend(generic_tags(f"{name}{nodot}", list(generic_abis(facts)), platforms))
        interpreter = "pp3" if name == "pp" else None
    tags.extend(compatible_tags(facts.python_version, interpreter, platforms))
    return tags


def interpreter_name(facts: PlatformFacts) -> str:
    return INTERPRETER_SHORT_NAMES.get(facts.implementation) or facts.implementation


def cpython_abis(facts: PlatformFacts) -> Iterator[str]:
    """``packaging.tags._cpython_abis`` for Python 3.8 and newer (older targets are refused
    before tags are needed)."""
    version = "".join(map(str, facts.python_version))
    debug = facts.py_debug or (
        facts.py_debug is None and (facts.has_refcount or "_d.pyd" in facts.extension_suffixes)
    )
    threading = "t" if facts.python_version >= (3, 13) and facts.gil_disabled else ""
    yield f"cp{version}{threading}{'d' if debug else ''}"
    if debug:
        yield f"cp{version}{threading}"


def generic_abis(facts: PlatformFacts) -> Iterator[str]:
    """``packaging.tags._generic_abi``: the ABI named by ``EXT_SUFFIX``."""
    suffix = facts.ext_suffix
    if not suffix or not suffix.startswith("."):
        raise TagFactsError(f"invalid EXT_SUFFIX {suffix!r}")
    parts = suffix.split(".")
    if len(parts) < 3:
        yield from cpython_abis(facts)
        return
    soabi = parts[1]
    if soabi.startswith("cpython"):
        pieces = soabi.split("-")
        if len(pieces) < 2 or not pieces[1]:
            raise TagFactsError(f"invalid EXT_SUFFIX {suffix!r}")
        abi = "cp" + pieces[1]
    elif soabi.startswith("cp"):
        abi = soabi.split("-")[0]
    elif soabi.startswith("pypy"):
        abi = "-".join(soabi.split("-")[:2])
    elif soabi.startswith("graalpy"):
        abi = "-".join(soabi.split("-")[:3])
    elif soabi:
        abi = soabi
    else:
        return
    yield _normalize(abi)


def platform_tags(facts: PlatformFacts) -> Iterator[str]:
    """``packaging.tags.platform_tags()`` for the target's platform."""
    if facts.system == "Darwin" and facts.mac_version and facts.mac_arch:
        major, _, rest = facts.mac_version.partition(".")
        minor = rest.partition(".")[0] or "0"
        arch = facts.mac_arch
        if facts.is_32bit:
            arch = "ppc" if arch.startswith("ppc") else "i386"
        yield from mac_platforms((int(major), int(minor)), arch)
    elif facts.system == "Linux":
        yield from linux_platforms(facts)
    else:
        yield _normalize(facts.sysconfig_platform)


def linux_platforms(facts: PlatformFacts) -> Iterator[str]:
    """``linux_*``, ``manylinux_*`` and ``musllinux_*``, as ``packaging`` lists them."""
    linux = _normalize(facts.sysconfig_platform)
    if not linux.startswith("linux_"):
        yield linux
        return
    if facts.is_32bit:
        linux = {"linux_x86_64": "linux_i686", "linux_aarch64": "linux_armv8l"}.get(linux, linux)
    arch = linux.split("_", 1)[1]
    archs = ["armv8l", "armv7l"] if arch == "armv8l" else [arch]
    native = [f"linux_{a}" for a in archs]
    if _LINUX_FIRST:
        yield from native
    yield from manylinux_platforms(facts, archs)
    yield from musllinux_platforms(facts, archs)
    if not _LINUX_FIRST:
        yield from native


def manylinux_platforms(facts: PlatformFacts, archs: Sequence[str]) -> Iterator[str]:
    """PEP 600 tags for the target's glibc (``packaging._manylinux.platform_tags``)."""
    glibc = _major_minor(facts.glibc)
    if glibc is None or not _compatible_abi(facts.elf, archs):
        return
    too_old = (2, 4) if set(archs) & {"x86_64", "i686"} else (2, 16)
    maxima = [glibc, *((major, _LAST_GLIBC_MINOR) for major in range(glibc[0] - 1, 1, -1))]
    for arch in archs:
        for major, top in maxima:
            lowest = too_old[1] if major == too_old[0] else -1
            for minor in range(top, lowest, -1):
                if (major, minor) > glibc:
                    continue
                yield f"manylinux_{major}_{minor}_{arch}"
                legacy = _LEGACY_MANYLINUX.get((major, minor))
                if legacy:
                    yield f"{legacy}_{arch}"


def musllinux_platforms(facts: PlatformFacts, archs: Sequence[str]) -> Iterator[str]:
    """PEP 656 tags for the target's musl (``packaging._musllinux.platform_tags``)."""
    musl = _major_minor(facts.musl)
    if musl is None:
        return
    for arch in archs:
        for minor in range(musl[1], -1, -1):
            yield f"musllinux_{musl[0]}_{minor}_{arch}"


def _compatible_abi(elf: ElfHeader | None, archs: Sequence[str]) -> bool:
    """``packaging._manylinux._have_compatible_abi``, from the target's own ELF header."""
    if "armv7l" in archs:
        return (
            elf is not None
            and (elf.elf_class, elf.data, elf.machine) == (1, 1, _EM_ARM)
            and elf.flags & _EF_ARM_ABIMASK == _EF_ARM_ABI_VER5
            and elf.flags & _EF_ARM_ABI_FLOAT_HARD == _EF_ARM_ABI_FLOAT_HARD
        )
    if "i686" in archs:
        return elf is not None and (elf.elf_class, elf.data, elf.machine) == (1, 1, _EM_386)
    return any(arch in _ALLOWED_ARCHS for arch in archs)


def _major_minor(text: str | None) -> tuple[int, int] | None:
    match = re.match(r"([0-9]+)\.([0-9]+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def _normalize(text: str) -> str:
    return text.replace(".", "_").replace("-", "_").replace(" ", "_")
