"""Who holds a package manager's lock, from the kernel's lock table (``/proc/locks``).

The table's lines are the kernel's format (``fs/locks.c``): index, class, mode, type, the
holder's pid (``-1`` for open file description locks, which belong to no process), the file as
``MAJOR:MINOR:INODE`` (device numbers in hex) and the range; ``->`` marks a process waiting
for the lock above it. A fake ``/proc`` under ``tmp_path`` stands for the real one.
"""

from __future__ import annotations

import os
from pathlib import Path

from sysnative.providers.common import posix_lock_holder, process_name


def _device(path: Path) -> str:
    st = path.stat()
    return f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"


def _proc(tmp_path: Path, locks: str) -> Path:
    proc = tmp_path / "proc"
    proc.mkdir(exist_ok=True)
    (proc / "locks").write_text(locks, encoding="utf-8")
    return proc


def test_the_holder_of_the_file(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    lock.write_text("")
    other = tmp_path / "other"
    other.write_text("")
    proc = _proc(
        tmp_path,
        f"1: POSIX  ADVISORY  WRITE 4321 {_device(other)} 0 EOF\n"
        f"2: POSIX  ADVISORY  WRITE 1234 {_device(lock)} 0 EOF\n"
        f"2: -> POSIX  ADVISORY  WRITE 999 {_device(lock)} 0 EOF\n",
    )
    assert posix_lock_holder(str(lock), proc=str(proc)) == 1234


def test_waiters_and_ownerless_locks_are_no_holders(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    lock.write_text("")
    proc = _proc(
        tmp_path,
        f"1: OFDLCK ADVISORY  WRITE -1 {_device(lock)} 0 EOF\n"
        f"1: -> POSIX  ADVISORY  WRITE 999 {_device(lock)} 0 EOF\n",
    )
    assert posix_lock_holder(str(lock), proc=str(proc)) is None


def test_another_device_counts_only_with_the_file_open(tmp_path: Path) -> None:
    """btrfs subvolumes and some overlay mounts: ``stat`` and the lock table disagree on the
    device; the process that has the file open is the holder, not one that merely holds a
    lock on an inode with the same number elsewhere."""
    lock = tmp_path / "lock"
    lock.write_text("")
    inode = lock.stat().st_ino
    proc = _proc(
        tmp_path,
        f"1: POSIX  ADVISORY  WRITE 555 ff:7f:{inode} 0 EOF\n"
        f"2: POSIX  ADVISORY  WRITE 777 ff:7e:{inode} 0 EOF\n",
    )
    (proc / "555" / "fd").mkdir(parents=True)
    (proc / "555" / "fd" / "3").symlink_to(tmp_path / "elsewhere")  # dangling: not it
    (proc / "777" / "fd").mkdir(parents=True)
    (proc / "777" / "fd" / "4").symlink_to(lock)
    assert posix_lock_holder(str(lock), proc=str(proc)) == 777
    (proc / "777" / "fd" / "4").unlink()
    assert posix_lock_holder(str(lock), proc=str(proc)) is None


def test_nothing_to_tell(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    lock.write_text("")
    assert posix_lock_holder(str(lock), proc=str(_proc(tmp_path, ""))) is None
    assert posix_lock_holder(str(tmp_path / "missing"), proc=str(tmp_path / "proc")) is None
    assert posix_lock_holder(str(lock), proc=str(tmp_path / "no-proc")) is None


def test_process_name(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "42").mkdir(parents=True)
    (proc / "42" / "comm").write_text("unattended-upgr\n", encoding="utf-8")
    assert process_name(42, proc=str(proc)) == "unattended-upgr"
    assert process_name(43, proc=str(proc)) is None
