"""Dependency resolution with resolvelib over sysnative's own index client.

``resolve`` is the entry point: requirements in, a :class:`Resolution` out, or a
:class:`~sysnative.errors.ResolutionError` whose ``conflicts`` say which requirements could not
be met together (and whether the system's fixed version was part of it).
"""

from __future__ import annotations

from sysnative.resolve.model import PYTHON, ROOT, Candidate, Req, Unavailable, parent_project
from sysnative.resolve.resolver import (
    Conflict,
    FixedProject,
    Resolution,
    ResolutionConflict,
    resolve,
)

__all__ = [
    "PYTHON",
    "ROOT",
    "Candidate",
    "Conflict",
    "FixedProject",
    "Req",
    "Resolution",
    "ResolutionConflict",
    "Unavailable",
    "parent_project",
    "resolve",
]
