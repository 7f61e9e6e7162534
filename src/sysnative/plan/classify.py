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
    #: No wheel for the target, and an sdist sysnative may build (``--allow-build``): whether
    #: the project is pure or native is known only once it is built.
    SOURCE = "source"


#: The reason of a release built from its sdist (plan rows, ``--report``).
BUILT_FROM_SDIST = "built from sdist (no wheel for the target)"
#: The reason of a release that has no wheel, when building is not allowed.
ONLY_AN_SDIST = "native: only an sdist, which sysnative builds only with --allow-build"


@dataclass(frozen=True)
class Classification:
    kind: Kind
    #: The file to install from the index: the pure wheel, (native) the best platform one,
    #: or (source) the sdist to build.
    wheel: IndexFile | None
    reason: str


def classify(candidate: Candidate) -> Classification:
    """Pure when the chosen version has a compatible wheel whose tags are all ``py*-none-any``.

    Native: only platform wheels (compiled code built by someone other than the system's
    integrator), or no wheel at all and building not allowed (the index listing then gives
    the version no file: an sdist is a usable file only with ``--allow-build``). Source: no
    wheel, and an sdist that ``--allow-build`` lets sysnative build.
    """
    pure = next((f for f in candidate.files if f.is_pure), None)
    if pure is not None:
        return Classification(Kind.PURE, pure, "pure wheel")
    wheels = [f for f in candidate.files if f.kind is FileKind.WHEEL]
    if wheels:
        return Classification(Kind.NATIVE, wheels[0], "native: only platform wheels")
    sdist = next((f for f in candidate.files if f.kind is FileKind.SDIST), None)
    if sdist is not None:
        return Classification(Kind.SOURCE, sdist, BUILT_FROM_SDIST)
    return Classification(Kind.NATIVE, None, ONLY_AN_SDIST)
