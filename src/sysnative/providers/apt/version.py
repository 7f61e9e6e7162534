"""Debian package versions, read as PEP 440 versions of the upstream project.

A Debian version is ``[epoch:]upstream[-revision]`` (Debian Policy 5.6.12). Only the upstream
part says which release of the Python project the package ships, so the translation:

1. drops the epoch (``1:1.24.2-1+deb12u1``): it only repairs Debian's own ordering;
2. drops the Debian revision, everything after the *last* ``-`` (``-1+deb12u1``, ``-3+b2``).
   Binary NMU (``+b1``) and stable-update (``+deb12u1``, ``~deb12u1``) suffixes live there, so
   they vanish with it;
3. honours ``+really`` (and the rarer ``+actually``): ``1.2+really1.1`` is Debian shipping 1.1
   under a higher number after a bad upload, so the real upstream version follows ``really``;
4. removes repack markers (``+dfsg``, ``+dfsg1``, ``~dfsg``, ``.dfsg``, ``+ds1``, ``~ds0``,
   ``+repack``): a repacked tarball is still the same upstream release;
5. drops everything from the first remaining ``+``: ``+git20230101.abcdef``, ``+svn287``,
   ``+20200710`` mark a snapshot *after* the release. We map them to the release itself rather
   than to a post-release or local version, because that is the version the snapshot's own
   metadata almost always claims, and a requirement such as ``foo==0.5.0`` should accept it;
6. reads ``~`` ("sorts before") as a PEP 440 pre-release: ``1.0~rc1`` is ``1.0rc1``,
   ``0.7~b8`` is ``0.7b8``, ``4.13~beta`` is ``4.13b0``, ``5.0~dev0`` is ``5.0.dev0``, and a
   snapshot before a release, ``2019.2.0~git20190418.c92dcb0``, is ``2019.2.0.dev20190418``.

When the result still is not a PEP 440 version, a conservative reading keeps the leading
``N(.N)*`` and a directly following pre-release tag (``1.1.1w`` reads as ``1.1.1``); with no
leading number at all the answer is ``None``, and callers treat the package as unusable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.version import Version

from sysnative.providers.reading import as_pep440

__all__ = ["DebianVersion", "debian_to_pep440"]

_EPOCH_RE = re.compile(r"^(\d+):(.*)$", re.DOTALL)

#: ``+really`` (rarely ``+actually``): Debian ships an older upstream under a higher version;
#: the truth follows the marker.
_REALLY_RE = re.compile(r"[+~.]?(?:really|actually)", re.IGNORECASE)

#: Repack markers, with an optional counter, wherever they occur.
_REPACK_RE = re.compile(r"[+~.](?:dfsg|ds|repack|debian)\d*(?=$|[+~.-])", re.IGNORECASE)

#: ``~`` followed by a snapshot date: a development snapshot *before* the release.
_TILDE_SNAPSHOT_RE = re.compile(
    r"~(?:git|svn|bzr|hg|cvs|snapshot|snap)?\.?(\d{8})(?:\D.*)?$", re.IGNORECASE
)


@dataclass(frozen=True)
class DebianVersion:
    """The three parts of a Debian version string, split as dpkg splits them."""

    epoch: int
    upstream: str
    revision: str

    @classmethod
    def parse(cls, s: str) -> DebianVersion:
        """Split ``[epoch:]upstream[-revision]``.

        The revision starts after the last ``-``, so an upstream version may itself contain
        hyphens (``3.2.1-1+really3.2-2`` has upstream ``3.2.1-1+really3.2``). Raises
        ``ValueError`` for an empty string, an empty upstream part or whitespace, which dpkg
        would reject as well.
        """
        text = s.strip()
        if not text or any(ch.isspace() for ch in text):
            raise ValueError(f"not a Debian version: {s!r}")
        epoch = 0
        m = _EPOCH_RE.match(text)
        if m:
            epoch = int(m.group(1))
            text = m.group(2)
        upstream, sep, revision = text.rpartition("-")
        if not sep:
            upstream, revision = text, ""
        if not upstream:
            raise ValueError(f"not a Debian version (empty upstream part): {s!r}")
        return cls(epoch=epoch, upstream=upstream, revision=revision)

    def __str__(self) -> str:
        epoch = f"{self.epoch}:" if self.epoch else ""
        revision = f"-{self.revision}" if self.revision else ""
        return f"{epoch}{self.upstream}{revision}"


def _normalize_upstream(upstream: str) -> str:
    """Apply rules 3-6 of the module docstring to the upstream part."""
    text = upstream
    matches = list(_REALLY_RE.finditer(text))
    if matches:
        text = text[matches[-1].end() :]
    text = _REPACK_RE.sub("", text)
    text = text.split("+", 1)[0]
    text = _TILDE_SNAPSHOT_RE.sub(r".dev\1", text)
    # Any other ``~`` introduces a pre-release word (rc1, b2, alpha, dev0): PEP 440's own
    # normalisation understands ``1.0rc1``, ``1.0beta``, ``1.0dev0`` and friends.
    return text.replace("~", "")


def debian_to_pep440(version: str) -> Version | None:
    """The PEP 440 version of the upstream release a Debian version ships, or ``None``.

    ``None`` means there is no sensible reading (no leading number at all); the caller must
    then not route the project to the system, because nothing can be compared against it.
    """
    try:
        parsed = DebianVersion.parse(version)
    except ValueError:
        return None
    return as_pep440(_normalize_upstream(parsed.upstream))
