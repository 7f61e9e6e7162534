"""Command-line arguments that several commands share (``--provider``; the planning flags of
``install`` and ``lock``), and how they combine with the configuration layers into a
:class:`~sysnative.session.PlanRequest` and the install step's options.

Flags that have a configuration key default to ``None``, so that "not given" can be told
apart from "given the default value": only a flag that was given overrides the site file,
the user file and the environment.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sysnative import config as configuration
from sysnative.errors import SysnativeError
from sysnative.plan.route import Fallback
from sysnative.providers import PROVIDERS
from sysnative.session import PlanRequest, SystemSide, route_policy, start_system_side

if TYPE_CHECKING:
    from sysnative.install.execute import InstallOptions

__all__ = [
    "add_planning_arguments",
    "add_provider_argument",
    "add_python_argument",
    "effective_config",
    "install_options",
    "plan_request",
    "start_planning",
]


def add_python_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--python",
        metavar="PATH",
        help="target interpreter or venv (default: the active venv, else this interpreter)",
    )


def add_provider_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--provider",
        choices=PROVIDERS,
        default=None,
        help="system package manager (default: the configured one, else detected)",
    )


def add_planning_arguments(parser: argparse.ArgumentParser) -> None:
    """Requirements, target, index, routing and mapping flags."""
    parser.add_argument("requirements", nargs="*", metavar="REQ", help="PEP 508 requirements")
    files = {
        ("-r", "--requirement", "requirement_files"): "install from a requirements file",
        ("-c", "--constraint", "constraint_files"): "constrain versions with this file",
    }
    for (short, long, dest), text in files.items():
        parser.add_argument(
            short, long, action="append", default=[], metavar="FILE", dest=dest, help=text
        )
    add_python_argument(parser)
    add_provider_argument(parser)
    parser.add_argument("-i", "--index-url", metavar="URL", help="base URL of the package index")
    parser.add_argument(
        "--extra-index-url",
        action="append",
        default=[],
        metavar="URL",
        help="extra index URLs, as in pip",
    )
    fallbacks = {
        "--unpackaged-native": "a native project the system does not package: take the "
        "index's platform wheel (wheel, the default) or stop with an explanation (error)",
        "--system-conflict": "a native project whose system version conflicts with a "
        "requirement: stop with an explanation (error, the default) or take the index's "
        "platform wheel",
        "--native-fallback": "both of the above at once",
    }
    for flag, text in fallbacks.items():
        parser.add_argument(flag, choices=[f.value for f in Fallback], default=None, help=text)
    parser.add_argument(
        "--allow-build",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="build the sdist of a release that has no wheel for the target, with pip "
        "(default: off, binary-only; a project the system packages still comes from the "
        "system)",
    )
    parser.add_argument(
        "--system",
        action="append",
        default=[],
        metavar="NAME",
        help="always take NAME from the system",
    )
    parser.add_argument(
        "--pypi",
        action="append",
        default=[],
        metavar="NAME",
        help="always take NAME from the index",
    )
    parser.add_argument(
        "--mapping",
        action="append",
        default=[],
        metavar="FILE",
        help="a mapping file stacked over every other mapping layer (repeatable)",
    )
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="ignore cached index pages (metadata stays cached: it is immutable)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more output")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="less output")


def effective_config(args: argparse.Namespace) -> configuration.Config:
    """The configuration layers with this command line's flags applied on top."""
    flags: dict[str, configuration.Value | None] = {
        "provider": getattr(args, "provider", None),
        "native-fallback": getattr(args, "native_fallback", None),
        "unpackaged-native": getattr(args, "unpackaged_native", None),
        "system-conflict": getattr(args, "system_conflict", None),
        "allow-build": getattr(args, "allow_build", None),
        "lock-timeout": getattr(args, "lock_timeout", None),
        "mapping-files": tuple(getattr(args, "mapping", ()) or ()),
    }
    return configuration.load().with_flags(flags)


def plan_request(args: argparse.Namespace, config: configuration.Config) -> PlanRequest:
    """What to plan, from the flags of :func:`add_planning_arguments` and ``config``."""
    from sysnative import requirements

    return PlanRequest(
        requirements=requirements.collect(
            args.requirements, args.requirement_files, args.constraint_files
        ),
        policy=route_policy(
            config.unpackaged_native,
            config.system_conflict,
            args.system,
            args.pypi,
            allow_build=config.allow_build,
        ),
        python=args.python,
        provider=config.provider,
        provider_options=config.all_provider_options,
        index_url=args.index_url,
        extra_index_urls=tuple(args.extra_index_url),
        refresh=args.refresh,
        mapping_files=config.mapping_files,
        site_mapping_files=config.site_mapping_files,
        user_mapping_files=config.user_mapping_files,
        project_dir=Path.cwd(),
    )


def start_planning(
    args: argparse.Namespace, config: configuration.Config
) -> tuple[PlanRequest, SystemSide | None]:
    """:func:`plan_request`, with the provider's slow setup started first.

    The system side needs the configuration only, so it starts before the requirement files
    are read. Not when there is nothing to plan, and not when the provider cannot be used:
    :func:`~sysnative.session.planning_session` then reports that, after any problem with
    the requirements, as it always has.
    """
    system = None
    if args.requirements or args.requirement_files:
        try:
            system = start_system_side(
                config.provider, config.all_provider_options, python=args.python
            )
        except SysnativeError:
            system = None
    try:
        return plan_request(args, config), system
    except BaseException:
        if system is not None:
            system.stop()
        raise


def install_options(
    args: argparse.Namespace, config: configuration.Config, verbose: int
) -> InstallOptions:
    """How the install step runs, from ``install``'s flags and ``config``."""
    from sysnative.install.execute import InstallOptions

    return InstallOptions(
        break_system_packages=args.break_system_packages,
        lock_timeout=config.lock_timeout,
        allow_sudo=config.allow_sudo,
        provider_output=sys.stderr if verbose > 0 else None,
    )
