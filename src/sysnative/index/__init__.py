"""The package index: pip's configuration, the simple API (PEP 503/691) and wheels' metadata.

Pure: :mod:`~sysnative.index.pages` (file names and index pages),
:mod:`~sysnative.index.metadata` (core metadata), :mod:`~sysnative.index.urls` and
:mod:`~sysnative.index.fetch` (the ``Fetcher`` Protocol). The edges:
:mod:`~sysnative.index.http` (HTTP on urllib3, with :mod:`~sysnative.index.hostnames`' hedged
lookups; imported only when a run needs the network), :mod:`~sysnative.index.wheelzip` (range
reads of a remote wheel), :mod:`~sysnative.index.pagecache`, and
:mod:`~sysnative.index.client`, the :class:`~sysnative.protocols.IndexClient` the resolver is
given. :mod:`~sysnative.index.pipconfig` and :mod:`~sysnative.index.pipdefault` read which
index pip would use.
"""
