"""Pure helpers the providers' parsers share: reading an upstream version as PEP 440, and
picking the lines of a failed transaction worth quoting.

Nothing here runs a command or touches a file, so every provider's ``parse`` and ``version``
modules may use it and stay pure.
"""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

__all__ = ["as_pep440", "relevant_lines"]

#: The conservative fallback: leading release numbers, optionally a pre-release tag.
_CONSERVATIVE_RE = re.compile(
    r"^(\d+(?:\.\d+)*)(?:[~.-]?(a|alpha|b|beta|c|rc|pre|preview)(\d*)(?![a-z]))?",
    re.IGNORECASE,
)


def _conservative(text: str) -> Version | None:
    m = _CONSERVATIVE_RE.match(text)
    if not m:
        return None
    release, tag, number = m.groups()
    try:
        return Version(release + (f"{tag}{number}" if tag else ""))
    except InvalidVersion:  # pragma: no cover - the regex only builds valid versions
        return None


def as_pep440(text: str) -> Version | None:
    """``text`` (an upstream version, already normalised by the distro's rules) as PEP 440;
    when it is not one, its leading ``N(.N)*`` and a directly following pre-release tag;
    ``None`` when it is empty or has no leading number at all."""
    if not text:
        return None
    try:
        return Version(text)
    except InvalidVersion:
        return _conservative(text)


def relevant_lines(
    stdout: str,
    stderr: str,
    *,
    starts: tuple[str, ...],
    script_error: str,
    progress: re.Pattern[str],
    limit: int,
) -> tuple[str, ...]:
    """The lines of a failed transaction worth quoting, in order, at most ``limit``.

    Kept from ``stdout``: lines that start with one of ``starts`` with the indented lines
    under them (not progress lines), and before a line starting with ``script_error`` what a
    package script printed since the last ``progress`` line (at most ten lines). Then all of
    ``stderr``. Repeated lines are kept once.
    """
    out: list[str] = []
    following = False
    script: list[str] = []
    for raw in stdout.splitlines():
        line = raw.rstrip()
        if line.startswith(starts):
            if line.startswith(script_error):
                out += script[-10:]
            script = []
            out.append(line)
            following = True
        elif following and line.startswith(" ") and line.strip() and not progress.match(line):
            out.append(line)
        else:
            following = False
            if progress.match(line):
                script = []
            elif line.strip():
                script.append(line)
    out += [line.rstrip() for line in stderr.splitlines() if line.strip()]
    unique = list(dict.fromkeys(out))
    return tuple(unique[-limit:])
