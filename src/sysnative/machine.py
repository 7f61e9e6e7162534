"""Which Linux distribution this is, read from ``/etc/os-release`` alone.

``distro``'s module-level functions also run ``lsb_release -a`` and ``uname -rs`` to fill in
fields ``os-release`` already answers on every distribution sysnative supports; the two
subprocesses cost 50-60 ms on every run. One shared reader without them is enough.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import distro

__all__ = ["linux_distribution"]


@functools.cache
def linux_distribution() -> distro.LinuxDistribution:
    """The running machine's distribution facts (``os-release``, then ``/etc/*-release``)."""
    import distro

    return distro.LinuxDistribution(include_lsb=False, include_uname=False)
