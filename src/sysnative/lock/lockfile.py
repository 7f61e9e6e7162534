"""PEP 751 lock files (``pylock.toml``) with the system side in ``[tool.sysnative]``: the
names :mod:`sysnative.commands` uses, in one place (everything else is imported from the
module that holds it).

The work is done in modules with one job each:

- :mod:`sysnative.lock.model`: the values (:class:`Lock`, its rows, the machine and target
  it is for) and the errors (:class:`LockError`, :class:`~sysnative.lock.model.LockMismatch`);
- :mod:`sysnative.lock.from_plan`: a plan as a lock (:func:`lock_from_plan`);
- :mod:`sysnative.lock.credentials`: credentials out of the URLs a lock records, and back;
- :mod:`sysnative.lock.document`: a lock as a PEP 751 document and TOML text, and back
  (validated with :mod:`packaging.pylock`);
- :mod:`sysnative.lock.replay`: does this machine match a lock, and the plan that
  reproduces it;
- :mod:`sysnative.lock.export`: a lock as a Dockerfile snippet or a shell script.

All of them are pure; I/O (probing, apt, downloads, the file itself) lives in
:mod:`sysnative.commands`.
"""

from __future__ import annotations

from sysnative.lock.credentials import with_credentials
from sysnative.lock.document import dumps, loads, to_document
from sysnative.lock.from_plan import lock_from_plan
from sysnative.lock.model import Difference, Lock, LockError, LockMachine, target_facts
from sysnative.lock.replay import (
    lock_mapping,
    locked_plan,
    machine_differences,
    mismatch_error,
    missing_system_projects,
    relock_command,
)

__all__ = [
    "Difference",
    "Lock",
    "LockError",
    "LockMachine",
    "dumps",
    "loads",
    "lock_from_plan",
    "lock_mapping",
    "locked_plan",
    "machine_differences",
    "mismatch_error",
    "missing_system_projects",
    "relock_command",
    "target_facts",
    "to_document",
    "with_credentials",
]
