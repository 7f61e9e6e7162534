"""PyPI-project to system-package name mapping tables (PEP 804 ``{ecosystem}.mapping.json``).

sysnative decides, for every native project in a resolution, which system package provides
it. That knowledge lives in data files shaped like PEP 804 mappings, one per ecosystem::

    {"name": "debian", "mappings": [{"id": "dep:pypi/numpy", "specs": ["python3-numpy"]}], ...}

This package reads such files, validates them, and answers two questions quickly:

* :meth:`MappingTable.lookup` -- which packages provide a PyPI project (forward direction);
* :meth:`MappingTable.reverse` -- which PyPI project a system package is (reverse direction,
  used to map an apt install closure back to the projects it satisfies).

Why validate so strictly at load time: package names from these files end up on the command
line of a privileged package manager. A name such as ``-o APT::...`` or ``foo;rm -rf`` must
never get that far, so every name must match Debian's package-name grammar before a table
exists at all. A malformed user file is reported with the file and the entry at fault, because
"invalid mapping" alone is useless to someone editing a five-thousand-line JSON file.

Why it is fast: the built-in table is loaded on every sysnative invocation. Parsing is one
``json.loads`` plus one pass over the entries with precompiled regular expressions; nothing
is normalised twice, and the built-in table is cached per process.

sysnative-specific data lives, as PEP 804 allows, in each entry's ``extra_metadata``:

``dist_names``
    the distribution names the package registers (``dist-info``/``egg-info``) when they
    differ from the project name; ``[]`` when it registers none (opencv on Debian).
``version_rule``
    dh-python's upstream-to-Debian version translation (``PEP386``, ``s/^/1:/``).
``registers_version``, ``registers_for``
    the version the package's registered metadata claims (regex on Debian 12 registers
    ``2022.10.31`` for the package version ``0.1.20221031-1``; kiwisolver registers
    ``0.0.0``), and optionally the package version it was read from (the fact then applies to
    that upstream release only). :mod:`sysnative.plan.sysversion` decides which version is the
    truth: a registered version older than the package's is a placeholder, and
    :mod:`sysnative.install.standins` writes a marker so that pip sees the package's version.
``alias_of``
    this project is another name for the canonical project given here (``psycopg2-binary``
    -> ``psycopg2``); an alias never claims the reverse direction.
``primary_for``
    the packages whose reverse lookup names this project. Absent means "all of ``specs``"
    (or none for an alias); present only where several projects share one package.
``note``
    why the entry is what it is (curated entries always say).
``route``
    ``"pypi"``: never take this project from the system, whatever a lower layer maps it to
    (``specs`` may then be empty). Meant for override layers.

A file may also carry a top-level ``extra_metadata.default_specs``: templates such as
``"python3dist({name})"`` that map every project without an entry (Fedora, where dnf resolves
``python3dist()`` provides itself, so the file holds only the exceptions).

Package names are checked against the ecosystem's own grammar (:data:`PACKAGE_GRAMMARS`), and
tables are stacked in layers (:func:`load_layers`), each entry remembering its layer.

Unlike PEP 804, where a ``specs`` list means "all of these", sysnative reads a list as

The package is split by what each part does: :mod:`~sysnative.mapping.table` (the value and its
lookups; pure), :mod:`~sysnative.mapping.parse` (validation of a document; pure) and
:mod:`~sysnative.mapping.files` (reading the built-in data and the layers from disk).
"""
