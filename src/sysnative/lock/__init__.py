"""PEP 751 locks (``pylock.toml``) with the system side under ``[tool.sysnative]``.

- :mod:`~sysnative.lock.model`: the lock as values;
- :mod:`~sysnative.lock.from_plan`: a plan written down as a lock;
- :mod:`~sysnative.lock.document`: the TOML document (written with tomli-w, read and
  validated with ``packaging.pylock``);
- :mod:`~sysnative.lock.replay`: a lock compared with the machine, and replayed as a plan;
- :mod:`~sysnative.lock.export`: a lock as a Dockerfile or a shell script;
- :mod:`~sysnative.lock.credentials`: index credentials, never written, added back on use.
"""
