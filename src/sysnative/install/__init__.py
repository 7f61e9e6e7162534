"""Carrying a plan out: the only code that changes a machine.

- :mod:`~sysnative.install.execute`: the order of the steps and what is checked before each;
- :mod:`~sysnative.install.staging`: downloads of the plan's wheels, hash-checked;
- :mod:`~sysnative.install.sdists`: ``--allow-build``, sdists prepared and built by pip;
- :mod:`~sysnative.install.trialimport`: native wheels imported in the target before the
  wheel step;
- :mod:`~sysnative.install.selfguard`: a plan must not break the running sysnative;
- :mod:`~sysnative.install.wheels`: the wheel step, pip run as a subprocess;
- :mod:`~sysnative.install.standins`: the stand-in ``.dist-info`` through which pip sees a
  system package at its real version.
"""
