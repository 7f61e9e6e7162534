"""Pure or native: the first routing question, answered from the chosen version's files."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sysnative.models import FileKind, IndexFile

if TYPE_CHECKING:
    from sysnative.resolve import Candidate


class Kind(str, enum.Enum):
    PURE = "pure"
    NATIVE = "native"


@dataclass(frozen=True)
class Classification:
    kind: Kind
    #: The wheel to install from the index: the pure one, or (native) the best platform one.
    wheel: IndexFile | None
    reason: str


def classify(candidate: Candidate) -> Classification:
    """Pure when the chosen version has a compatible wheel whose tags are all ``py*-none-any``.

    Anything else is native: only platform wheels (compiled code built by someone other than
    the system's integrator), or only an sdist (which sysnative never builds).
    """
    pure = next((f for f in candidate.files if f.is_pure), None)
    if pure is not None:
        return Classification(Kind.PURE, pure, "pure wheel")
    wheels = [f for f in candidate.files if f.kind is FileKind.WHEEL]
    if wheels:
        return Classification(Kind.NATIVE, wheels[0], "native: only platform wheels")
    return Classification(Kind.NATIVE, None, "native: only an sdist, which sysnative never builds")
