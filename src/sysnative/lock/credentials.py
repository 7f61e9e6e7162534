"""Credentials in lock URLs: taken out when a lock is written, put back when it is installed.

A lock is committed and shared, so the ``user:password@`` of an index URL must never reach
it (:data:`strip_credentials`). ``install --lock`` downloads from the same hosts with the
credentials of pip's configuration (:func:`with_credentials`): unlike the index client's
redirect rule, the scheme and port must match too.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from sysnative.index.urls import strip_userinfo

__all__ = ["strip_credentials", "with_credentials"]

#: ``url`` without ``user:password@`` (the index client's own helper): a lock is committed
#: and shared, and must never carry a secret.
strip_credentials = strip_userinfo


def with_credentials(url: str, configured: Iterable[str]) -> str:
    """``url`` with the credentials of the first ``configured`` URL (pip's index URLs) on
    the same scheme, host and port; unchanged when none matches or it has its own."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        return url
    for candidate in configured:
        other = urlsplit(candidate)
        if "@" not in other.netloc:
            continue
        userinfo, _, hostport = other.netloc.rpartition("@")
        if (other.scheme, hostport.lower()) == (parts.scheme, parts.netloc.lower()):
            return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))
    return url
