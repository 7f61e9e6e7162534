"""URL helpers shared by the index client and the fetcher: credentials in URLs.

Index URLs may carry ``user:password@``. These functions keep the password out of every
message and log (:func:`redact_url`), off the disk (:func:`strip_userinfo`), and on the
requests that need it (:func:`with_userinfo_of`, :func:`basic_auth`). Pure string work.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``****``, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None and "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    netloc = f"{user}:****@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc))


def strip_userinfo(url: str) -> str:
    """``url`` without ``user:password@``."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def with_userinfo_of(url: str, origin: str) -> str:
    """Put ``origin``'s credentials back on ``url`` when both name the same host."""
    origin_parts, parts = urlsplit(origin), urlsplit(url)
    if "@" not in origin_parts.netloc or "@" in parts.netloc:
        return url
    if parts.hostname != origin_parts.hostname:
        return url
    userinfo = origin_parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


def redirect_target(current: str, location: str) -> str:
    """The absolute redirect URL; credentials are kept only for the same host."""
    return with_userinfo_of(urljoin(current, location), current)


def basic_auth(user: str | None, password: str | None) -> str | None:
    """The ``Basic`` header value for URL-quoted credentials, or ``None`` without a user."""
    if user is None:
        return None
    token = f"{unquote(user)}:{unquote(password or '')}".encode()
    return "Basic " + base64.b64encode(token).decode("ascii")


def is_url(location: str) -> bool:
    """Whether ``location`` starts with a scheme (``file://``, ``https://``...), not a path."""
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", location))
