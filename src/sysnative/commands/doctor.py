"""``sysnative doctor``: can ``install --system-native`` work here, and if not, what fixes it?

Most failures of a system-native install are not about packages but about the environment:
a venv that cannot see the system's site dir, a pyenv Python of another version, a system
Python that PEP 668 protects, a missing package manager, a broken pip configuration. The
doctor asks everything once (the target, the provider's interpreter, pip's configuration),
runs the same checks ``install`` runs (:mod:`sysnative.checks.preflight`), and prints each
with its fix,
so the answer to "why does it refuse?" is one command away. ``diagnose`` does the asking;
``evaluate``, ``render_text`` and ``to_json`` are pure; ``run`` is the command.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from packaging.utils import canonicalize_name

from sysnative import probe
from sysnative.checks.preflight import (
    CHECKS,
    PYTHON_VERSION,
    SITE_DIR_NOT_SEEN,
    Problem,
    check_target,
)
from sysnative.commands.options import (
    add_provider_argument,
    add_python_argument,
    effective_config,
)
from sysnative.errors import SysnativeError
from sysnative.index import pipconfig
from sysnative.index.urls import redact_url
from sysnative.target import TargetEnvironment

__all__ = [
    "DOCTOR_VERSION",
    "CheckResult",
    "Diagnosis",
    "IndexStatus",
    "ProviderStatus",
    "add_arguments",
    "diagnose",
    "evaluate",
    "render_text",
    "run",
    "to_json",
]

#: Version of the ``--json`` document; bumped when a field changes meaning or goes away.
DOCTOR_VERSION = 1

OK = "ok"
PROBLEM = "problem"
NOT_CHECKED = "not checked"


@dataclass(frozen=True)
class CheckResult:
    code: str
    description: str
    #: ``ok``, ``problem`` or ``not checked`` (what it needs could not be asked).
    status: str
    problem: Problem | None = None


@dataclass(frozen=True)
class ProviderStatus:
    name: str | None
    #: Whether the provider's tools are on this machine (a provider is only chosen if so).
    tools_present: bool
    interpreter: str | None = None
    #: The provider's interpreter as probed (``None`` when it could not be run).
    python: TargetEnvironment | None = None
    site_dirs: tuple[str, ...] = ()
    #: What went wrong choosing the provider or probing its interpreter.
    error: str | None = None


@dataclass(frozen=True)
class IndexStatus:
    """pip's effective index configuration, URLs already redacted."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    sources: tuple[tuple[str, str], ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Diagnosis:
    #: The interpreter that was asked (``--python``, the active venv, or this one).
    interpreter: str
    target: TargetEnvironment | None
    target_error: str | None
    provider: ProviderStatus
    checks: tuple[CheckResult, ...]
    index: IndexStatus
    break_system_packages: bool = False

    @property
    def usable(self) -> bool:
        """Everything was asked successfully and every check passed."""
        return (
            self.target is not None
            and self.provider.error is None
            and self.index.error is None
            and all(check.status == OK for check in self.checks)
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``sysnative doctor``'s options and arguments."""
    add_python_argument(parser)
    add_provider_argument(parser)
    parser.add_argument(
        "--break-system-packages",
        action="store_true",
        help="check as if installing into an externally managed Python were allowed",
    )
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")


def run(args: argparse.Namespace, verbose: int) -> int:
    """``sysnative doctor``: the findings; exit 1 when the target is not usable."""
    config = effective_config(args)
    diagnosis = diagnose(
        args.python, config.provider, break_system_packages=args.break_system_packages
    )
    if args.json:
        print(json.dumps(to_json(diagnosis), indent=2))
    else:
        print(render_text(diagnosis))
    return 0 if diagnosis.usable else 1


def diagnose(
    python: str | None,
    provider_name: str | None,
    *,
    break_system_packages: bool = False,
    environ: Mapping[str, str] = os.environ,
) -> Diagnosis:
    """Ask the target, the provider and pip's configuration; never raises a SysnativeError."""
    interpreter = probe.choose_interpreter(python, environ)
    target: TargetEnvironment | None = None
    target_error: str | None = None
    try:
        target = probe.probe(interpreter)
    except SysnativeError as exc:
        target_error = _describe(exc)
    provider = _provider_status(provider_name)
    index = (
        _index_status(target.executable, environ)
        if target is not None
        else IndexStatus(error="not asked: pip's configuration depends on the target")
    )
    return Diagnosis(
        interpreter=interpreter,
        target=target,
        target_error=target_error,
        provider=provider,
        checks=evaluate(target, provider, break_system_packages=break_system_packages),
        index=index,
        break_system_packages=break_system_packages,
    )


def _provider_status(name: str | None) -> ProviderStatus:
    from sysnative.providers import select_provider

    try:
        provider = select_provider(name)
    except SysnativeError as exc:
        return ProviderStatus(name, tools_present=False, error=_describe(exc))
    interpreter = provider.interpreter()
    status = ProviderStatus(
        provider.name, tools_present=True, interpreter=interpreter, site_dirs=provider.site_dirs()
    )
    try:
        return replace(status, python=probe.probe(interpreter))
    except SysnativeError as exc:
        return replace(
            status,
            error=f"The Python its packages are built for could not be asked: {_describe(exc)}",
        )


def _index_status(python: str, environ: Mapping[str, str]) -> IndexStatus:
    try:
        config = pipconfig.load_index_config(environ=environ, python=python)
    except SysnativeError as exc:
        return IndexStatus(error=_describe(exc))
    return IndexStatus(
        index_url=redact_url(config.index_url),
        extra_index_urls=tuple(redact_url(u) for u in config.extra_index_urls),
        find_links=tuple(redact_url(u) for u in config.find_links),
        no_index=config.no_index,
        sources=config.sources,
    )


def _describe(exc: SysnativeError) -> str:
    return f"{exc.message} ({exc.hint})" if exc.hint else exc.message


def evaluate(
    target: TargetEnvironment | None,
    provider: ProviderStatus,
    *,
    break_system_packages: bool,
) -> tuple[CheckResult, ...]:
    """Every check of :data:`sysnative.checks.preflight.CHECKS` as ok, problem or not checked."""
    if target is None:
        return tuple(CheckResult(code, text, NOT_CHECKED) for code, text in CHECKS)
    problems = {
        p.code: p
        for p in check_target(
            target,
            provider.python,
            provider.site_dirs,
            break_system_packages=break_system_packages,
            interpreter=provider.interpreter,
        )
    }
    unknown: set[str] = set()
    if provider.interpreter is None:  # no provider: its site dirs and Python are unknown
        unknown = {SITE_DIR_NOT_SEEN, PYTHON_VERSION}
    elif provider.python is None:
        unknown = {PYTHON_VERSION}
    results = []
    for code, text in CHECKS:
        if code in problems:
            results.append(CheckResult(code, text, PROBLEM, problems[code]))
        elif code in unknown:
            results.append(CheckResult(code, text, NOT_CHECKED))
        else:
            results.append(CheckResult(code, text, OK))
    return tuple(results)


# --------------------------------------------------------------------------------------------
# Output


def render_text(diagnosis: Diagnosis) -> str:
    """The report people read: checks, target, provider, index, and the verdict."""
    lines = ["Checks"]
    for check in diagnosis.checks:
        lines.append(f"  {check.status:<11}  {check.description}")
        if check.problem is not None:
            lines.append(f"  {'':<11}  {check.problem.message}")
            lines.append(f"  {'':<11}  fix: {check.problem.fix}")
            lines += [f"  {'':<11}   or: {alt}" for alt in check.problem.alternatives]

    lines += ["", "Target"]
    target = diagnosis.target
    if target is None:
        lines += _rows([("interpreter", diagnosis.interpreter), ("error", diagnosis.target_error)])
    else:
        facts = _target_facts(diagnosis)
        lines += _rows(
            [
                ("executable", target.executable),
                ("version", target.python_full_version),
                ("venv", f"yes ({target.prefix})" if target.is_venv else "no"),
                ("include-system-site-packages", _word(facts["include_system_site_packages"])),
                ("externally managed", _word(target.externally_managed)),
                ("sees the provider's site dir", _sees(diagnosis)),
                ("purelib", target.purelib),
                ("pip", facts["pip"] or "not installed"),
            ]
        )

    provider = diagnosis.provider
    python = provider.python
    lines += ["", "Provider"]
    lines += _rows(
        [
            ("name", provider.name or "(none found)"),
            ("tools present", _word(provider.tools_present)),
            (
                "interpreter",
                f"{provider.interpreter} (Python {python.python_full_version})"
                if python is not None
                else provider.interpreter,
            ),
            ("site dirs", ", ".join(provider.site_dirs) or None),
            ("error", provider.error),
        ]
    )

    index = diagnosis.index
    sources = dict(index.sources)
    lines += ["", "Index configuration (pip's)"]
    if index.error is not None:
        lines += _rows([("error", index.error)])
    else:
        lines += _rows(
            [
                ("index-url", _sourced(index.index_url, sources.get("index-url"))),
                (
                    "extra-index-url",
                    _sourced(" ".join(index.extra_index_urls), sources.get("extra-index-url")),
                ),
                ("find-links", _sourced(" ".join(index.find_links), sources.get("find-links"))),
                ("no-index", _sourced(_word(index.no_index), sources.get("no-index"))),
            ]
        )

    verdict = "yes" if diagnosis.usable else "no"
    lines += ["", f"Usable for `sysnative install --system-native`: {verdict}"]
    return "\n".join(lines)


def to_json(diagnosis: Diagnosis) -> dict[str, Any]:
    """The same facts as a JSON-ready object (``doctor_version`` says its shape)."""
    target = diagnosis.target
    provider = diagnosis.provider
    index = diagnosis.index
    return {
        "doctor_version": DOCTOR_VERSION,
        "usable": diagnosis.usable,
        "break_system_packages": diagnosis.break_system_packages,
        "checks": [
            {
                "code": check.code,
                "description": check.description,
                "status": check.status,
                "message": check.problem.message if check.problem else None,
                "fix": check.problem.fix if check.problem else None,
                "alternatives": list(check.problem.alternatives) if check.problem else [],
            }
            for check in diagnosis.checks
        ],
        "target": {
            "interpreter": diagnosis.interpreter,
            "error": diagnosis.target_error,
            **(
                {
                    "executable": target.executable,
                    "version": target.python_full_version,
                    "is_venv": target.is_venv,
                    "prefix": target.prefix,
                    "externally_managed": target.externally_managed,
                    "purelib": target.purelib,
                    **_target_facts(diagnosis),
                }
                if target is not None
                else {}
            ),
        },
        "provider": {
            "name": provider.name,
            "tools_present": provider.tools_present,
            "interpreter": provider.interpreter,
            "interpreter_version": provider.python.python_full_version if provider.python else None,
            "site_dirs": list(provider.site_dirs),
            "error": provider.error,
        },
        "index": {
            "index_url": index.index_url,
            "extra_index_urls": list(index.extra_index_urls),
            "find_links": list(index.find_links),
            "no_index": index.no_index,
            "sources": dict(index.sources),
            "error": index.error,
        },
    }


def _target_facts(diagnosis: Diagnosis) -> dict[str, Any]:
    target = diagnosis.target
    assert target is not None
    pip = target.installed.get(canonicalize_name("pip"))
    sees = (
        all(target.sees(d) for d in diagnosis.provider.site_dirs)
        if diagnosis.provider.site_dirs
        else None
    )
    return {
        "include_system_site_packages": target.include_system_site_packages,
        "sees_provider_site_dirs": sees,
        "pip": str(pip.version) if pip is not None and pip.version is not None else None,
    }


def _sees(diagnosis: Diagnosis) -> str:
    sees = _target_facts(diagnosis)["sees_provider_site_dirs"]
    if sees is None:
        return "unknown (no provider)"
    return f"{_word(sees)} ({', '.join(diagnosis.provider.site_dirs)})"


def _word(value: bool | None) -> str:
    return "n/a" if value is None else "yes" if value else "no"


def _sourced(value: str | None, source: str | None) -> str:
    if not value:
        return "(none)"
    return f"{value}  ({source})" if source else value


def _rows(rows: Sequence[tuple[str, str | None]]) -> list[str]:
    shown = [(k, v) for k, v in rows if v is not None]
    width = max(len(k) for k, _ in shown)
    return [f"  {key:<{width}}  {value}" for key, value in shown]
