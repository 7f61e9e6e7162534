"""Requirements from the command line, ``-r`` files and ``-c`` constraints files.

The grammar is pip's requirements-file format, the part that makes sense for a binary-only
resolver: one requirement per line, ``#`` comments, ``\\`` continuations, ``${VAR}``
expansion, nested ``-r`` / ``-c``, and the index options ``-i``/``--index-url``,
``--extra-index-url``. Editable installs and direct URL or path references are refused with
an explanation instead of being silently ignored.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from sysnative.errors import RequirementsError
from sysnative.models import RequirementSet, UserRequirement

_ENV_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")
_COMMENT = re.compile(r"(^|\s+)#.*$")
# Options that take a value and only matter to pip's own finder or builder: accepted and
# ignored, as pip ignores per-file options it does not apply globally.
_IGNORED_VALUE_OPTIONS = frozenset({"--trusted-host", "--use-feature", "--config-settings"})
_IGNORED_FLAGS = frozenset({"--pre", "--prefer-binary", "--no-index", "--require-hashes"})


def parse_requirement(text: str, source: str) -> UserRequirement:
    """Parse one PEP 508 requirement, refusing forms a binary-only resolver cannot honour."""
    if text.startswith(("-e", "--editable")):
        raise RequirementsError(
            f"{source}: editable requirement {text!r} is not supported with --system-native.",
            "Install editable projects with plain pip after sysnative has set up the rest.",
        )
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        looks_like_path = "/" in text or text.endswith((".whl", ".tar.gz", ".zip"))
        hint = (
            "Direct paths and URLs are not supported yet; name the project and its version."
            if looks_like_path
            else "Write it as a PEP 508 requirement, for example 'numpy>=1.24' or "
            "'requests[socks]; python_version >= \"3.9\"'."
        )
        raise RequirementsError(f"{source}: invalid requirement {text!r}: {exc}", hint) from exc
    if req.url:
        raise RequirementsError(
            f"{source}: {text!r} is a direct URL reference, which --system-native does not "
            "support yet.",
            f"Name the project instead, for example '{req.name}'.",
        )
    return UserRequirement(req, source)


def parse_args(args: Iterable[str]) -> RequirementSet:
    reqs = tuple(parse_requirement(a.strip(), "command line") for a in args)
    return RequirementSet(requirements=reqs)


def parse_file(path: str | Path, *, constraint: bool = False) -> RequirementSet:
    """Parse a requirements (or, with ``constraint``, constraints) file and what it includes."""
    return _parse_file(Path(path), constraint=constraint, seen=())


def _parse_file(path: Path, *, constraint: bool, seen: tuple[Path, ...]) -> RequirementSet:
    resolved = path.resolve()
    if resolved in seen:
        chain = " -> ".join(str(p) for p in (*seen, resolved))
        raise RequirementsError(f"Requirements files include each other in a loop: {chain}.")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RequirementsError(
            f"Could not read requirements file {str(path)!r}: {exc.strerror or exc}.",
            "Check the path given to -r/-c.",
        ) from exc
    result = RequirementSet()
    for lineno, line in _logical_lines(text):
        where = f"{path}:{lineno}"
        if line.startswith("-"):
            result = result.merged(
                _parse_option_line(line, where, path, constraint, (*seen, resolved))
            )
            continue
        req_text, hashes = _split_hashes(line, where)
        req = parse_requirement(req_text, where)
        req = UserRequirement(req.requirement, req.source, hashes)
        if constraint:
            _check_constraint(req, where)
            result = result.merged(RequirementSet(constraints=(req,)))
        else:
            result = result.merged(RequirementSet(requirements=(req,)))
    return result


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Join continuations, drop comments and blank lines, expand ``${VAR}`` like pip."""
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not buffer:
            start = number
        line = _COMMENT.sub("", raw) if not raw.rstrip().endswith("\\") else raw
        if line.rstrip().endswith("\\"):
            buffer.append(line.rstrip()[:-1])
            continue
        buffer.append(line)
        joined = _COMMENT.sub("", " ".join(buffer)).strip()
        buffer = []
        if joined:
            yield start, _ENV_VAR.sub(lambda m: os.environ.get(m.group(1), m.group(0)), joined)
    if buffer:
        joined = " ".join(buffer).strip()
        if joined:
            yield start, joined


def _split_hashes(line: str, where: str) -> tuple[str, tuple[str, ...]]:
    if "--hash" not in line:
        return line, ()
    head, _, tail = line.partition("--hash")
    hashes = []
    for token in shlex.split("--hash" + tail):
        value = token.split("=", 1)[1] if token.startswith("--hash=") else None
        if value is None or ":" not in value:
            raise RequirementsError(
                f"{where}: malformed hash option {token!r}.", "Write it as --hash=sha256:<hex>."
            )
        hashes.append(value)
    return head.strip(), tuple(hashes)


def _parse_option_line(
    line: str, where: str, path: Path, constraint: bool, seen: tuple[Path, ...]
) -> RequirementSet:
    tokens = shlex.split(line)
    option, value = tokens[0], None
    if "=" in option and option.startswith("--"):
        option, value = option.split("=", 1)
    elif option.startswith("-") and not option.startswith("--") and len(option) > 2:
        option, value = option[:2], option[2:]
    elif len(tokens) > 1:
        value = tokens[1]

    def need_value() -> str:
        if not value:
            raise RequirementsError(f"{where}: option {option} needs a value.")
        return value

    if option in ("-r", "--requirement", "-c", "--constraint"):
        nested = Path(need_value())
        if not nested.is_absolute():
            nested = path.parent / nested
        is_constraint = constraint or option in ("-c", "--constraint")
        return _parse_file(nested, constraint=is_constraint, seen=seen)
    if option in ("-i", "--index-url"):
        return RequirementSet(index_url=need_value())
    if option == "--extra-index-url":
        return RequirementSet(extra_index_urls=(need_value(),))
    if option in ("-f", "--find-links"):
        return RequirementSet(find_links=(need_value(),))
    if option in ("-e", "--editable"):
        parse_requirement(line, where)  # raises the editable explanation
    if option in _IGNORED_FLAGS or option in _IGNORED_VALUE_OPTIONS:
        return RequirementSet()
    if option in ("--no-binary", "--only-binary"):
        return RequirementSet()
    raise RequirementsError(
        f"{where}: unsupported option {option!r} in a requirements file.",
        "sysnative understands -r, -c, -i/--index-url, --extra-index-url, -f/--find-links "
        "and --hash.",
    )


def _check_constraint(req: UserRequirement, where: str) -> None:
    if req.requirement.extras:
        raise RequirementsError(
            f"{where}: constraints cannot have extras ({req.requirement}).",
            "Remove the [extras] from the constraints file; put them on the requirement.",
        )


def collect(
    args: Sequence[str], requirement_files: Sequence[str], constraint_files: Sequence[str]
) -> RequirementSet:
    """Everything the user asked for, in command-line order: args, then -r files, then -c."""
    result = parse_args(args)
    for path in requirement_files:
        result = result.merged(parse_file(path))
    for path in constraint_files:
        result = result.merged(parse_file(path, constraint=True))
    return result
