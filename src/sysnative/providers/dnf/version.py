"""RPM package versions: rpm's own ordering, and their reading as PEP 440 versions.

An RPM version is ``[epoch:]version-release``. Only ``version`` says which release of the
Python project the package ships, so the PEP 440 translation:

1. drops the epoch (``1:1.26.4-7.fc40``). An RPM epoch repairs the *package's* ordering after
   a versioning mistake; it is not the project's PEP 440 epoch. Fedora's ``python3-numpy`` is
   ``1:1.26.4``: reading that as ``1!1.26.4`` would make it newer than every numpy 2 and fail
   ``numpy<2``. Fedora's own ``python3dist(numpy) = 1.26.4`` provide (generated from the wheel
   metadata) carries no epoch either. This matches how :mod:`debversion` treats Debian epochs;
2. drops the release, everything after the ``-`` (``-7.fc40``, ``-1.el9_3``): it counts builds
   of the same upstream version;
3. reads ``~`` ("sorts before", Fedora's pre-release marker) as a PEP 440 pre-release:
   ``3.0.0~rc1`` is ``3.0.0rc1``, ``2.0~b3`` is ``2.0b3``, ``1.0~dev`` is ``1.0.dev0``, and a
   snapshot before a release, ``1.0~20240101git1234abc``, is ``1.0.dev20240101``;
4. reads ``^`` ("sorts after", Fedora's post-release snapshot marker, rpm 4.15 and later) as
   what it says: ``1.0^post1`` is the post-release ``1.0.post1``; any other snapshot,
   ``1.2.3^20240101git1234abc``, is the release with a PEP 440 *local* label,
   ``1.2.3+20240101git1234abc``. A local label keeps ``==1.2.3`` and ``>=1.2.3`` true (the
   snapshot's own metadata almost always still says 1.2.3) while the version stays distinct;
5. leaves the rest to PEP 440's normalisation (``1.0rc1``, ``1.0.post2``, ``1.0a``).

When the result still is not a PEP 440 version, a conservative reading keeps the leading
``N(.N)*`` and a directly following pre-release tag; with no leading number at all the answer
is ``None``, and callers treat the package as unusable.

:func:`rpm_vercmp` and :func:`compare_evr` are rpm's own ordering (``rpmvercmp`` in rpm's
``rpmio/rpmvercmp.c``, with ``~`` and ``^``), used to choose between several candidates of a
package without asking rpm once per pair.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.version import Version

from sysnative.providers.reading import as_pep440

__all__ = ["RpmVersion", "compare_evr", "rpm_spelling", "rpm_to_pep440", "rpm_vercmp"]

#: ``~`` followed by a snapshot date: a development snapshot *before* the release.
_TILDE_SNAPSHOT_RE = re.compile(
    r"~(?:git|svn|bzr|hg|snapshot|snap)?\.?(\d{8})(?:\D.*)?$", re.IGNORECASE
)

#: A caret part that is itself a post-release number: ``^post1``, ``^p2``, ``^rev3``.
_CARET_POST_RE = re.compile(r"^(?:post|p|rev|r)\.?(\d*)$", re.IGNORECASE)

_EVR_RE = re.compile(r"^(?:(?P<epoch>\d+):)?(?P<version>[^:-]+)(?:-(?P<release>[^:-]+))?$")


@dataclass(frozen=True)
class RpmVersion:
    """The three parts of an RPM ``[epoch:]version-release`` string."""

    epoch: int
    version: str
    #: Empty when the string had no release (a provide's version often has none).
    release: str

    @classmethod
    def parse(cls, text: str) -> RpmVersion:
        """Split ``[epoch:]version[-release]``; ``ValueError`` for anything rpm would refuse
        (empty parts, whitespace, more than one ``-`` or ``:``)."""
        m = _EVR_RE.fullmatch(text) if isinstance(text, str) else None
        if m is None or any(ch.isspace() for ch in text):
            raise ValueError(f"not an RPM version: {text!r}")
        return cls(int(m.group("epoch") or 0), m.group("version"), m.group("release") or "")

    def __str__(self) -> str:
        """The canonical spelling: the epoch only when it is not 0, as dnf and rpm print it."""
        epoch = f"{self.epoch}:" if self.epoch else ""
        release = f"-{self.release}" if self.release else ""
        return f"{epoch}{self.version}{release}"


def rpm_vercmp(a: str, b: str) -> int:
    """rpm's comparison of two version (or release) strings: -1, 0 or 1.

    A line-by-line port of ``rpmvercmp``: the strings are split into runs of ASCII digits and
    ASCII letters, everything else separates; ``~`` sorts before anything (even the end of the
    string), ``^`` sorts after the end of the string but before anything else; a numeric run
    beats a letter run; numbers compare by value, letters by byte order.
    """
    if a == b:
        return 0
    one, two = a, b
    i = j = 0
    while i < len(one) or j < len(two):
        while i < len(one) and not _isalnum(one[i]) and one[i] not in "~^":
            i += 1
        while j < len(two) and not _isalnum(two[j]) and two[j] not in "~^":
            j += 1
        c1 = one[i] if i < len(one) else ""
        c2 = two[j] if j < len(two) else ""
        if c1 == "~" or c2 == "~":
            if c1 != "~":
                return 1
            if c2 != "~":
                return -1
            i += 1
            j += 1
            continue
        if c1 == "^" or c2 == "^":
            if not c1:
                return -1
            if not c2:
                return 1
            if c1 != "^":
                return 1
            if c2 != "^":
                return -1
            i += 1
            j += 1
            continue
        if not (c1 and c2):
            break
        end1, end2 = i, j
        if _isdigit(c1):
            while end1 < len(one) and _isdigit(one[end1]):
                end1 += 1
            while end2 < len(two) and _isdigit(two[end2]):
                end2 += 1
            isnum = True
        else:
            while end1 < len(one) and _isalpha(one[end1]):
                end1 += 1
            while end2 < len(two) and _isalpha(two[end2]):
                end2 += 1
            isnum = False
        seg1, seg2 = one[i:end1], two[j:end2]
        if not seg2:
            # Different kinds of segment: a number is newer than letters.
            return 1 if isnum else -1
        if isnum:
            seg1, seg2 = seg1.lstrip("0"), seg2.lstrip("0")
            if len(seg1) != len(seg2):
                return 1 if len(seg1) > len(seg2) else -1
        if seg1 != seg2:
            return 1 if seg1 > seg2 else -1
        i, j = end1, end2
    if i >= len(one) and j >= len(two):
        return 0
    return -1 if i >= len(one) else 1


def _isdigit(ch: str) -> bool:
    return "0" <= ch <= "9"


def _isalpha(ch: str) -> bool:
    return "a" <= ch <= "z" or "A" <= ch <= "Z"


def _isalnum(ch: str) -> bool:
    return _isdigit(ch) or _isalpha(ch)


def compare_evr(a: str, b: str) -> int:
    """Compare two ``[epoch:]version[-release]`` strings as rpm does (``rpmverCmp``, what
    ``rpm.vercmp`` answers): epoch first (missing is 0), then version, then release (missing
    is empty, so ``2.0-1`` is newer than ``2.0``)."""
    x, y = RpmVersion.parse(a), RpmVersion.parse(b)
    if x.epoch != y.epoch:
        return 1 if x.epoch > y.epoch else -1
    return rpm_vercmp(x.version, y.version) or rpm_vercmp(x.release, y.release)


def rpm_spelling(version: str) -> str:
    """``version`` as rpm spells it (``0:1.0-1`` is ``1.0-1``), or unchanged when it is not an
    RPM version: one spelling for versions that are the same."""
    try:
        return str(RpmVersion.parse(version))
    except ValueError:
        return version


def _snapshot_label(text: str) -> str:
    """A caret part as a PEP 440 local label: runs of letters and digits joined by dots."""
    return ".".join(part for part in re.split(r"[^A-Za-z0-9]+", text) if part)


def _normalize(version: str) -> str:
    """Apply rules 3-4 of the module docstring to the version part."""
    base, caret, snapshot = version.partition("^")
    text = _TILDE_SNAPSHOT_RE.sub(r".dev\1", base).replace("~", "")
    if caret:
        # Several carets (rare) read as one snapshot label.
        snapshot = snapshot.replace("^", ".")
        post = _CARET_POST_RE.fullmatch(snapshot)
        if post:
            text += f".post{post.group(1) or 0}"
        else:
            label = _snapshot_label(snapshot)
            if label:
                text += f"+{label}"
    return text


def rpm_to_pep440(version: str) -> Version | None:
    """The PEP 440 version of the upstream release an RPM version ships, or ``None``.

    ``None`` means there is no sensible reading (not an RPM version, or no leading number at
    all); the caller must then not route the project to the system, because nothing can be
    compared against it.
    """
    try:
        parsed = RpmVersion.parse(version)
    except ValueError:
        return None
    return as_pep440(_normalize(parsed.version))
