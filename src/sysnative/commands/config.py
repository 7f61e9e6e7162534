"""``sysnative config show``: every effective configuration value and where it comes from.

The layers (:mod:`sysnative.config`), lowest first: the site ``config.toml``, the user
``config.toml``, ``SYSNATIVE_*`` environment variables; command-line flags go over them for
one run. The provider, when no layer names one, is shown as the one detection would choose.
"""

from __future__ import annotations

import argparse
import json

from sysnative import config as configuration

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``sysnative config``'s options and arguments."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="print every effective value and its source")
    show.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace, verbose: int) -> int:
    """``sysnative config show [--json]``."""
    from sysnative.providers import MachineFacts, detect

    settings = configuration.load()
    rows = configuration.describe(settings)
    detected = None
    if settings.provider is None:
        detected = detect(MachineFacts.current())
    if args.json:
        print(
            json.dumps(
                {
                    "files": [
                        {"layer": layer, "path": str(path), "exists": path.is_file()}
                        for layer, path in configuration.config_files()
                    ],
                    "settings": rows,
                    "detected_provider": detected,
                },
                indent=2,
            )
        )
        return 0
    for layer, path in configuration.config_files():
        state = "read" if path in settings.files else "absent"
        print(f"{layer} config: {path} ({state})")
    print()
    width = max(len(str(row["key"])) for row in rows)
    for row in rows:
        value = row["value"]
        shown = json.dumps(value) if not isinstance(value, str) else value or '""'
        if row["key"] == "provider" and not value:
            shown = f'"" (detected: {detected or "none"})'
        print(f"{str(row['key']).ljust(width)} = {shown}  [{row['source']}]")
    return 0
