"""What the apt provider says about dpkg's lock (sysnative.providers.apt.messages)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sysnative.providers.apt.messages import find_lock_holder
from sysnative.providers.apt.parse import LockHolder


def test_the_kernel_names_the_holder_apt_did_not_name(tmp_path: Path) -> None:
    """find_lock_holder asks /proc/locks; a process holding the lock in this test is
    this process itself, which the kernel's table shows as any other."""
    lock = tmp_path / "lock-frontend"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        assert find_lock_holder(LockHolder(str(lock))) == LockHolder(str(lock))
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        found = find_lock_holder(LockHolder(str(lock)))
        assert found.lock == str(lock)
        assert found.pid == os.getpid()
        assert found.process
        # What apt said wins.
        said = LockHolder(str(lock), 1, "init")
        assert find_lock_holder(said) == said
    finally:
        os.close(fd)
    assert find_lock_holder(LockHolder(str(lock))).pid is None
