"""The commands of the ``sysnative`` program, one module each.

Each command module has ``add_parser(sub)``, which adds its subcommand and names its
``run(args, verbose) -> int`` as the parser's default ``run``; :mod:`sysnative.cli` builds the
parser from them, runs the one asked for and turns errors into messages and exit codes.

- :mod:`~sysnative.commands.install`: ``install`` (pip's, or ``--system-native``); its
  ``--lock FILE`` mode is :mod:`~sysnative.commands.install_lock`
- :mod:`~sysnative.commands.lock`, :mod:`~sysnative.commands.export`: PEP 751 locks
- :mod:`~sysnative.commands.venv`, :mod:`~sysnative.commands.doctor`: the target environment
- :mod:`~sysnative.commands.map`, :mod:`~sysnative.commands.config`,
  :mod:`~sysnative.commands.cache`: what sysnative knows and keeps

Shared by them: :mod:`~sysnative.commands.options` (flags and how they go over the
configuration), :mod:`~sysnative.commands.report` (the plan as text and JSON, pure),
:mod:`~sysnative.commands.output` (what is printed and written, and where) and
:mod:`~sysnative.commands.progress` (the install step's progress on a terminal).
"""
