"""Tags from a probe's platform facts, for platforms this machine cannot run.

The interpreters this machine has are checked against ``packaging`` and pip for real in
``tests/integration/test_target_probe.py``; here the facts are written out, for 32-bit,
musl, free-threaded, debug, PyPy, macOS and Windows targets.
"""

from __future__ import annotations

from typing import Any

import pytest

from sysnative.target_tags import PlatformFacts, TagFactsError, target_tags

X86_64_ELF = {"class": 2, "data": 1, "machine": 62, "flags": 0, "interpreter": "/lib64/ld.so"}


def facts(**changes: Any) -> PlatformFacts:
    raw: dict[str, Any] = {
        "implementation": "cpython",
        "python_version": [3, 12],
        "py_version_nodot": "312",
        "py_debug": 0,
        "gil_disabled": None,
        "has_refcount": False,
        "extension_suffixes": [".cpython-312-x86_64-linux-gnu.so", ".abi3.so", ".so"],
        "ext_suffix": ".cpython-312-x86_64-linux-gnu.so",
        "system": "Linux",
        "sysconfig_platform": "linux-x86_64",
        "is_32bit": False,
        "glibc": "2.36",
        "elf": X86_64_ELF,
        "musl": None,
    }
    raw.update(changes)
    return PlatformFacts.from_json(raw)


def tags(**changes: Any) -> list[str]:
    return [str(t) for t in target_tags(facts(**changes))]


def test_glibc_linux_x86_64() -> None:
    found = tags()
    assert found[0] in ("cp312-cp312-linux_x86_64", "cp312-cp312-manylinux_2_36_x86_64")
    assert "cp312-cp312-manylinux_2_17_x86_64" in found
    assert "cp312-cp312-manylinux2014_x86_64" in found
    assert "cp312-cp312-manylinux1_x86_64" in found
    assert "cp312-cp312-manylinux_2_37_x86_64" not in found  # newer than the target's glibc
    assert "cp312-abi3-manylinux_2_17_x86_64" in found
    assert "cp32-abi3-manylinux_2_17_x86_64" in found
    assert not any("musllinux" in t for t in found)
    assert found[-2:] == ["py31-none-any", "py30-none-any"]
    assert "cp312-none-any" in found


def test_a_32_bit_interpreter_on_a_64_bit_kernel() -> None:
    i386_elf = {**X86_64_ELF, "class": 1, "machine": 3}
    found = tags(is_32bit=True, elf=i386_elf)
    assert "cp312-cp312-manylinux_2_17_i686" in found
    assert not any("x86_64" in t for t in found)
    # an x86_64 binary reporting a 32-bit pointer size is not an i686 manylinux target
    assert not any("manylinux" in t for t in tags(is_32bit=True))


def test_armv8l_also_takes_armv7l_only_with_a_hard_float_binary() -> None:
    armhf = {"class": 1, "data": 1, "machine": 40, "flags": 0x05000400, "interpreter": None}
    found = tags(sysconfig_platform="linux-aarch64", is_32bit=True, elf=armhf)
    assert "cp312-cp312-linux_armv8l" in found
    assert "cp312-cp312-manylinux_2_17_armv7l" in found
    assert "cp312-cp312-manylinux_2_5_armv7l" not in found  # older than 2.17 off x86
    soft = {**armhf, "flags": 0x05000000}
    assert not any("manylinux" in t for t in tags(sysconfig_platform="linux-aarch64",
                                                   is_32bit=True, elf=soft))  # fmt: skip


def test_musl() -> None:
    found = tags(glibc=None, musl="1.2")
    assert [t for t in found if t.startswith("cp312-cp312-musl")] == [
        "cp312-cp312-musllinux_1_2_x86_64",
        "cp312-cp312-musllinux_1_1_x86_64",
        "cp312-cp312-musllinux_1_0_x86_64",
    ]
    assert not any("manylinux" in t for t in found)


def test_free_threaded_has_no_abi3() -> None:
    found = tags(python_version=[3, 13], py_version_nodot="313", gil_disabled=1)
    assert found[0].startswith("cp313-cp313t-")
    assert not any("-abi3-" in t for t in found)
    assert not any("-cp313-" in t for t in found)


def test_debug_build_also_loads_normal_extensions() -> None:
    found = tags(py_debug=1)
    assert found[0].startswith("cp312-cp312d-")
    assert any(t.startswith("cp312-cp312-manylinux") for t in found)


def test_pypy_uses_the_ext_suffix_abi() -> None:
    found = tags(
        implementation="pypy",
        python_version=[3, 10],
        py_version_nodot="310",
        ext_suffix=".pypy310-pp73-x86_64-linux-gnu.so",
    )
    assert "pp310-pypy310_pp73-manylinux_2_17_x86_64" in found
    assert "pp310-none-manylinux_2_17_x86_64" in found
    assert "pp3-none-any" in found
    assert not any(t.startswith("cp") for t in found)


def test_macos() -> None:
    found = tags(
        system="Darwin",
        sysconfig_platform="macosx-11.0-arm64",
        glibc=None,
        elf=None,
        mac_version="14.5",
        mac_arch="arm64",
    )
    assert found[0] == "cp312-cp312-macosx_14_0_arm64"
    assert "cp312-abi3-macosx_11_0_universal2" in found
    assert "cp312-cp312-macosx_10_9_universal2" in found
    assert not any("x86_64" in t for t in found)


def test_windows() -> None:
    found = tags(system="Windows", sysconfig_platform="win-amd64", glibc=None, elf=None)
    assert found[0] == "cp312-cp312-win_amd64"
    assert {t.split("-")[2] for t in found} == {"win_amd64", "any"}


@pytest.mark.parametrize(
    "raw",
    [None, [], {"implementation": "cpython"}, {"python_version": "3.12"}],
)
def test_malformed_facts_are_an_error(raw: object) -> None:
    with pytest.raises(TagFactsError):
        PlatformFacts.from_json(raw)
