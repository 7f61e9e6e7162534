"""How sysnative fetches URLs: :class:`HttpClient`, the urllib3 implementation of
:class:`~sysnative.index.fetch.Fetcher`.

urllib3 pools keep-alive connections per host, shared by every thread (a run opens only as
many connections as it has requests in flight at once), speaks to proxies (plain forwarding
for ``http://``, ``CONNECT`` tunnels for ``https://``), verifies TLS, decodes gzip and checks
bodies against their ``Content-Length``. On top of it, this module keeps sysnative's own
rules, so every caller sees the same behaviour: proxies from ``http_proxy``/``https_proxy``/
``no_proxy``, basic auth from ``user:password@`` in URLs, one shared TLS context (pip's
``cert``, else ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``, else the system's store), a few
retries of connection errors and 5xx answers with a short backoff, redirects that keep
credentials only on the same host, and messages that never show a password.
"""

from __future__ import annotations

import http.client
import logging
import os
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import BinaryIO
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import DecodeError, HTTPError, LocationParseError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.ssl_ import create_urllib3_context

from sysnative import __version__
from sysnative.errors import IndexFailure
from sysnative.index.fetch import Response
from sysnative.index.hostnames import HostResolver, pool_classes
from sysnative.index.urls import basic_auth, redact_url, redirect_target, strip_userinfo

logger = logging.getLogger(__name__)

__all__ = ["USER_AGENT", "HttpClient", "redact_url"]

USER_AGENT = f"sysnative/{__version__}"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_MAX_REDIRECTS = 5
#: Idle connections kept per host: the index client's thread pool and the wheel downloads.
_POOL_SIZE = 32
_NETWORK_HINT = (
    "Check the URL, your network connection and proxy settings, "
    "or choose another index with --index-url."
)
_TLS_HINT = (
    "Check the certificate settings (pip's `cert`, SSL_CERT_FILE) "
    "or choose another index with --index-url."
)


#: Reads a ``200`` body: into the response (``get``) or elsewhere (``download``).
_BodyReader = Callable[["urllib3.BaseHTTPResponse"], bytes]


class HttpClient:
    """:class:`Fetcher` over urllib3 pools, thread-safe; one pool manager per proxy."""

    def __init__(
        self,
        *,
        timeout: float = 15.0,
        cafile: str | None = None,
        retries: int = 2,
        backoff: float = 0.25,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._cafile = cafile or environ.get("REQUESTS_CA_BUNDLE") or environ.get("CURL_CA_BUNDLE")
        self._ssl_context: ssl.SSLContext | None = None
        self._proxies = {k.lower(): v for k, v in urllib.request.getproxies_environment().items()}
        #: Pool managers by (proxy, scheme): only the ``https`` ones load certificates.
        self._managers: dict[tuple[str | None, str], urllib3.PoolManager] = {}
        #: Each host is looked up once per client, and a lost DNS answer is not waited out.
        self._pool_classes = pool_classes(HostResolver())
        self._closed = False
        self._lock = threading.Lock()

    # -- public --------------------------------------------------------------------------

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> Response:
        """GET ``url``, following redirects and retrying connection errors and 5xx.

        Returns every final status except 5xx; raises :class:`IndexFailure` when the server
        cannot be reached or keeps failing.
        """
        return self._follow(url, dict(headers or {}), _read_all)

    def download(
        self,
        url: str,
        sink: BinaryIO,
        headers: Mapping[str, str] | None = None,
        *,
        on_progress: Callable[[int], object] | None = None,
        chunk_size: int = 256 * 1024,
    ) -> Response:
        """GET ``url`` and stream a ``200`` body into ``sink`` instead of holding it in memory.

        :meth:`get` keeps whole bodies, which is right for index pages and wrong for wheels
        of hundreds of megabytes. Proxies, credentials, redirects and retries behave as in
        :meth:`get`; a connection lost in the middle of the body is retried too, from the
        start: ``sink`` is rewound and truncated, and ``on_progress`` (called with the size
        of every chunk written) gets the bytes taken back as a negative count. The body is
        asked for without content encoding (a wheel is compressed already, and the index's
        hash is over the file itself); a server that gzips anyway is decoded on the fly.

        Returns the final response: for ``200`` with an empty ``body`` (the bytes are in
        ``sink``), for any other status with the (error) body and nothing written. Raises
        :class:`IndexFailure` like :meth:`get`.
        """
        written = 0

        def progress(nbytes: int) -> None:
            nonlocal written
            written += nbytes
            if on_progress is not None and nbytes:
                on_progress(nbytes)

        def stream(raw: urllib3.BaseHTTPResponse) -> bytes:
            if written:  # a retry: start over
                sink.seek(0)
                sink.truncate()
                progress(-written)
            for chunk in raw.stream(chunk_size, decode_content=True):
                sink.write(chunk)
                progress(len(chunk))
            logger.debug("GET %s -> 200 (%d bytes streamed)", redact_url(url), written)
            return b""

        request_headers = {"Accept-Encoding": "identity", **(headers or {})}
        return self._follow(url, request_headers, stream)

    def close(self) -> None:
        """Close every idle connection. A request still under way may end; its connection
        is then closed instead of kept."""
        with self._lock:
            self._closed = True
        self._clear()

    # -- internals -----------------------------------------------------------------------

    def _follow(self, url: str, headers: Mapping[str, str], body: _BodyReader) -> Response:
        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            response = self._with_retries(current, headers, body)
            location = response.header("location")
            if response.status not in _REDIRECTS or not location:
                return response
            current = redirect_target(current, location)
            logger.debug("redirected to %s", redact_url(current))
        raise IndexFailure(
            f"{redact_url(url)} redirected more than {_MAX_REDIRECTS} times.", _NETWORK_HINT
        )

    def _with_retries(self, url: str, headers: Mapping[str, str], body: _BodyReader) -> Response:
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = self._send(url, headers, body)
            except (ssl.SSLError, ssl.CertificateError, urllib3.exceptions.SSLError) as exc:
                # Retrying does not fix certificates.
                raise IndexFailure(
                    f"Could not reach {redact_url(url)}: TLS error ({_root(exc)}).", _TLS_HINT
                ) from exc
            except DecodeError as exc:
                raise IndexFailure(
                    f"{redact_url(url)} sent a damaged gzip body ({_root(exc)}).", _NETWORK_HINT
                ) from exc
            except (OSError, http.client.HTTPException, HTTPError) as exc:
                if _tls_failure(exc):
                    raise IndexFailure(
                        f"Could not reach {redact_url(url)}: TLS error ({_root(exc)}).",
                        _TLS_HINT,
                    ) from exc
                problem = _describe_error(exc, self.timeout)
                logger.debug("GET %s failed: %s", redact_url(url), problem)
                continue
            if response.status not in _RETRY_STATUSES:
                return response
            problem = f"HTTP {response.status} {response.reason}".strip()
            logger.debug("GET %s answered %s", redact_url(url), problem)
        tries = self.retries + 1
        raise IndexFailure(
            f"Could not get {redact_url(url)}: {problem} "
            f"(tried {tries} time{'s' if tries > 1 else ''}).",
            _NETWORK_HINT,
        )

    def _send(self, url: str, headers: Mapping[str, str], body: _BodyReader) -> Response:
        """One request, no redirect; a kept-alive connection the server had closed (urllib3
        notices most, not one closed just as it was taken) costs a fresh one, not a retry."""
        try:
            return self._send_once(url, headers, body)
        except urllib3.exceptions.ProtocolError as exc:
            if not any(isinstance(e, _DROPPED) for e in _causes(exc)):
                raise
            logger.debug("GET %s: the connection was dropped; trying a fresh one", redact_url(url))
            return self._send_once(url, headers, body)

    def _send_once(self, url: str, headers: Mapping[str, str], body: _BodyReader) -> Response:
        """One request, no retry and no redirect: the status, headers and body."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise IndexFailure(f"Unsupported URL {redact_url(url)}.", _NETWORK_HINT)
        all_headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip", **headers}
        auth = basic_auth(parts.username, parts.password)
        if auth:
            all_headers["Authorization"] = auth
        manager = self._manager(self._proxy_for(scheme, parts.hostname), scheme)
        raw = manager.urlopen(
            "GET",
            strip_userinfo(url),
            headers=all_headers,
            retries=False,
            redirect=False,
            preload_content=False,
            decode_content=True,
            enforce_content_length=True,
        )
        try:
            data = body(raw) if raw.status == 200 else raw.read()
        except BaseException:
            raw.close()  # a body read halfway leaves a connection nobody can use
            raise
        finally:
            raw.release_conn()
        if self._closed:
            self._clear()
        logger.debug("GET %s -> %s", redact_url(url), raw.status)
        resp_headers = {k.lower(): v for k, v in raw.headers.items()}
        return Response(url, raw.status, raw.reason or "", resp_headers, data)

    def _manager(self, proxy: str | None, scheme: str) -> urllib3.PoolManager:
        with self._lock:
            manager = self._managers.get((proxy, scheme))
            if manager is not None:
                return manager
            options: dict[str, object] = {
                "maxsize": _POOL_SIZE,
                "timeout": urllib3.Timeout(connect=self.timeout, read=self.timeout),
            }
            if scheme == "https":
                # One context for every connection: creating one loads the whole CA store
                # (tens of milliseconds of CPU).
                if self._ssl_context is None:
                    self._ssl_context = _tls_context(self._cafile)
                options["ssl_context"] = self._ssl_context
            if proxy is None:
                manager = urllib3.PoolManager(**options)  # type: ignore[arg-type]
            else:
                parts = urlsplit(proxy)
                auth = basic_auth(parts.username, parts.password)
                manager = urllib3.ProxyManager(
                    strip_userinfo(proxy),
                    proxy_headers={"Proxy-Authorization": auth} if auth else None,
                    **options,  # type: ignore[arg-type]
                )
            manager.pool_classes_by_scheme = self._pool_classes
            self._managers[(proxy, scheme)] = manager
            return manager

    def _clear(self) -> None:
        with self._lock:
            managers = list(self._managers.values())
        for manager in managers:
            manager.clear()

    def _proxy_for(self, scheme: str, host: str) -> str | None:
        proxy = self._proxies.get(scheme)
        if not proxy:
            return None
        if urllib.request.proxy_bypass(host):
            return None
        return proxy if "://" in proxy else f"http://{proxy}"


#: How a server's closing of an idle keep-alive connection shows on the next request.
_DROPPED = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


def _tls_context(cafile: str | None) -> ssl.SSLContext:
    """urllib3's own context (urllib3 1.26 checks host names itself, 2.x leaves it to
    ``ssl``) trusting ``cafile``, else the system's store (``SSL_CERT_FILE`` included)."""
    context = create_urllib3_context()
    if cafile:
        context.load_verify_locations(cafile=cafile)
    else:
        context.load_default_certs()
    return context


def _read_all(raw: urllib3.BaseHTTPResponse) -> bytes:
    return raw.read()


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps (urllib3 keeps the socket's error as a cause or argument)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        wrapped = [a for a in current.args if isinstance(a, BaseException)]
        current = current.__cause__ or (wrapped[-1] if wrapped else None) or current.__context__
    return chain


def _root(exc: BaseException) -> BaseException:
    return _causes(exc)[-1]


def _tls_failure(exc: BaseException) -> bool:
    """A certificate or handshake failure, possibly wrapped (by a proxy error)."""
    return any(
        isinstance(e, (ssl.SSLError, ssl.CertificateError, urllib3.exceptions.SSLError))
        for e in _causes(exc)
    )


def _describe_error(exc: BaseException, timeout: float) -> str:
    """A few words for a connection failure, e.g. ``connection refused``.

    The innermost error speaks first: urllib3 wraps a refused connection in an error that is
    also a timeout (``NewConnectionError``)."""
    for error in reversed(_causes(exc)):
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(error, (socket.gaierror, LocationParseError)):
            return "the host name could not be resolved"
        if isinstance(error, (socket.timeout, TimeoutError, Urllib3Timeout)):
            return f"no answer within {timeout:g} seconds"
        if isinstance(error, http.client.RemoteDisconnected):
            return "the server closed the connection without answering"
        if isinstance(error, ConnectionResetError):
            return "the connection was reset"
    text = str(_root(exc)) or type(exc).__name__
    return text[:200]
