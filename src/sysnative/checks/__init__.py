"""Checks of the target environment, pure over a :class:`~sysnative.target.TargetEnvironment`.

- :mod:`~sysnative.checks.preflight`: before anything changes, whether the target can take
  the plan at all (its Python, whether it sees the system's site directory, PEP 668);
- :mod:`~sysnative.checks.postflight`: after the install, what ``pip check`` would say, told
  apart into what the run broke and what was broken before.
"""
