"""A small HTTP/1.1 client on the standard library, tuned for talking to package indexes.

Why not ``urllib.request``: it opens a new connection (and TLS handshake) per request,
which dominates the cost of resolving hundreds of projects. Here keep-alive connections are
pooled per host and shared by every thread: a thread takes an idle one (or opens one) for
each request and gives it back once the response is read, so a run opens only as many
connections as it has requests in flight at once. Proxies (``HTTP(S)_PROXY`` /
``NO_PROXY``), basic auth in URLs, gzip, redirects and a few retries are handled;
credentials never reach a message.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import logging
import os
import socket
import ssl
import threading
import time
import urllib.request
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from sysnative import __version__
from sysnative.errors import IndexFailure
from sysnative.index.hostnames import HostResolver

logger = logging.getLogger(__name__)

USER_AGENT = f"sysnative/{__version__}"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_MAX_REDIRECTS = 5
_NETWORK_HINT = (
    "Check the URL, your network connection and proxy settings, "
    "or choose another index with --index-url."
)

_Connection = http.client.HTTPConnection


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``****``, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None and "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    netloc = f"{user}:****@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class Response:
    """A complete HTTP response. ``url`` is the final URL after redirects."""

    url: str
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class _Target:
    """Where and how to send a request for one URL."""

    key: tuple[str, str, int, str | None]
    scheme: str
    host: str
    port: int
    request_target: str
    headers: dict[str, str]
    proxy: str | None


class _StaleConnection(Exception):
    """A reused keep-alive connection was closed by the server; try a fresh one."""


class HttpClient:
    """Thread-safe GET client over a shared pool of keep-alive connections per host."""

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
        self._resolver = HostResolver()
        #: Idle connections by target key, the most recently used last.
        self._idle: dict[tuple[str, str, int, str | None], list[_Connection]] = {}
        self._all: list[_Connection] = []
        self._closed = False
        self._lock = threading.Lock()

    # -- public --------------------------------------------------------------------------

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> Response:
        """GET ``url``, following redirects and retrying connection errors and 5xx.

        Returns every final status except 5xx; raises :class:`IndexFailure` when the server
        cannot be reached or keeps failing.
        """
        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            response = self._get_with_retries(current, headers or {})
            location = response.header("location")
            if response.status not in _REDIRECTS or not location:
                return response
            current = _redirect_target(current, location)
            logger.debug("redirected to %s", redact_url(current))
        raise IndexFailure(
            f"{redact_url(url)} redirected more than {_MAX_REDIRECTS} times.",
            _NETWORK_HINT,
        )

    def close(self) -> None:
        """Close every connection opened by any thread. A request still under way may end;
        its connection is then closed instead of kept."""
        with self._lock:
            conns, self._all = self._all, []
            self._idle.clear()
            self._closed = True
        for conn in conns:
            conn.close()

    # -- internals -----------------------------------------------------------------------

    def _get_with_retries(self, url: str, headers: Mapping[str, str]) -> Response:
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = self._send(url, headers)
            except ssl.SSLError as exc:  # retrying does not fix certificates
                raise IndexFailure(
                    f"Could not reach {redact_url(url)}: TLS error ({exc}).",
                    "Check the certificate settings (pip's `cert`, SSL_CERT_FILE) "
                    "or choose another index with --index-url.",
                ) from exc
            except (OSError, http.client.HTTPException) as exc:
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

    def _send(self, url: str, headers: Mapping[str, str]) -> Response:
        target = self._target(url, headers)
        try:
            return self._send_on(target, url, reuse=True)
        except _StaleConnection:
            return self._send_on(target, url, reuse=False)

    def _send_on(self, target: _Target, url: str, *, reuse: bool) -> Response:
        conn, reused = self._connection(target, fresh=not reuse)
        try:
            conn.request("GET", target.request_target, headers=target.headers)
            raw = conn.getresponse()
            body = raw.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
            conn.close()
            if reused:
                raise _StaleConnection from exc
            raise
        except BaseException:
            conn.close()
            raise
        self._release(target, conn)
        resp_headers = {k.lower(): v for k, v in raw.getheaders()}
        if resp_headers.get("content-encoding", "").lower() == "gzip":
            body = _gunzip(body, url)
        logger.debug("GET %s -> %s", redact_url(url), raw.status)
        return Response(url, raw.status, raw.reason, resp_headers, body)

    def _connection(self, target: _Target, *, fresh: bool) -> tuple[_Connection, bool]:
        """A connection for one request, and whether it was used before (may be stale).

        Idle connections are kept open, so ``fresh`` (a reused one just failed) opens a new
        one instead of taking another idle connection that may be as stale.
        """
        if not fresh:
            with self._lock:
                idle = self._idle.get(target.key)
                conn = idle.pop() if idle else None
            if conn is not None:
                # Closed by the server's "Connection: close": http.client reconnects itself.
                return conn, conn.sock is not None
        conn = self._new_connection(target)
        with self._lock:
            self._all.append(conn)
        return conn, False

    def _release(self, target: _Target, conn: _Connection) -> None:
        """Give a connection whose response was read to completion back to the pool."""
        with self._lock:
            if not self._closed:
                self._idle.setdefault(target.key, []).append(conn)
                return
        conn.close()

    def _new_connection(self, target: _Target) -> _Connection:
        host, port = target.host, target.port
        proxy_headers: dict[str, str] = {}
        if target.proxy is not None:
            proxy = urlsplit(target.proxy)
            host = proxy.hostname or host
            port = proxy.port or (443 if proxy.scheme == "https" else 80)
            auth = _basic_auth(proxy.username, proxy.password)
            if auth:
                proxy_headers["Proxy-Authorization"] = auth
        conn: _Connection
        if target.scheme == "https":
            conn = http.client.HTTPSConnection(
                host, port, timeout=self.timeout, context=self._context()
            )
            if target.proxy is not None:
                conn.set_tunnel(target.host, target.port, headers=proxy_headers)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
        # http.client's own hook for opening the socket (its connect() calls it with the
        # host and port, the proxy's when tunnelling): each host is looked up once per run.
        conn._create_connection = self._resolver.create_connection  # type: ignore[attr-defined]
        return conn

    def _context(self) -> ssl.SSLContext:
        """The one TLS context every connection shares. Creating one loads the whole CA
        store (tens of milliseconds of CPU), so threads opening their first connections at
        the same moment must not each make their own."""
        with self._lock:
            if self._ssl_context is None:
                self._ssl_context = ssl.create_default_context(cafile=self._cafile)
            return self._ssl_context

    def _target(self, url: str, headers: Mapping[str, str]) -> _Target:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise IndexFailure(f"Unsupported URL {redact_url(url)}.", _NETWORK_HINT)
        host = parts.hostname
        port = parts.port or (443 if scheme == "https" else 80)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        all_headers = {
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "gzip",
            "Host": parts.netloc.rpartition("@")[2],
        }
        all_headers.update(headers)
        auth = _basic_auth(parts.username, parts.password)
        if auth:
            all_headers["Authorization"] = auth
        proxy = self._proxy_for(scheme, host)
        request_target = path
        if proxy is not None and scheme == "http":
            request_target = urlunsplit(
                (scheme, all_headers["Host"], parts.path or "/", parts.query, "")
            )
            proxy_auth = _basic_auth(urlsplit(proxy).username, urlsplit(proxy).password)
            if proxy_auth:
                all_headers["Proxy-Authorization"] = proxy_auth
        return _Target(
            (scheme, host, port, proxy), scheme, host, port, request_target, all_headers, proxy
        )

    def _proxy_for(self, scheme: str, host: str) -> str | None:
        proxy = self._proxies.get(scheme)
        if not proxy:
            return None
        if urllib.request.proxy_bypass(host):
            return None
        return proxy if "://" in proxy else f"http://{proxy}"

    # -- streaming (appended for the wheel step) -------------------------------------------

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
        of hundreds of megabytes. Proxies, credentials, redirects, stale keep-alive
        connections and retries behave as in :meth:`get`; a connection lost in the middle
        of the body is retried too, from the start: ``sink`` is rewound and truncated, and
        ``on_progress`` (called with the size of every chunk written) gets the bytes taken
        back as a negative count. The body is asked for without content encoding (a wheel is
        compressed already, and the index's hash is over the file itself); a server that
        gzips anyway is decoded on the fly.

        Returns the final response: for ``200`` with an empty ``body`` (the bytes are in
        ``sink``), for any other status with the (error) body and nothing written. Raises
        :class:`IndexFailure` like :meth:`get`.
        """
        request_headers = {"Accept-Encoding": "identity", **(headers or {})}
        current = url
        written = 0
        for _ in range(_MAX_REDIRECTS + 1):
            problem = ""
            location: str | None = None
            for attempt in range(self.retries + 1):
                if attempt:
                    time.sleep(self.backoff * 2 ** (attempt - 1))
                if written:
                    sink.seek(0)
                    sink.truncate()
                    if on_progress is not None:
                        on_progress(-written)
                    written = 0
                target = self._target(current, request_headers)
                conn: _Connection | None = None
                try:
                    raw: http.client.HTTPResponse | None = None
                    for fresh in (False, True):
                        conn, reused = self._connection(target, fresh=fresh)
                        try:
                            conn.request("GET", target.request_target, headers=target.headers)
                            raw = conn.getresponse()
                            break
                        except (
                            http.client.RemoteDisconnected,
                            BrokenPipeError,
                            ConnectionResetError,
                        ):
                            conn.close()
                            if fresh or not reused:
                                raise
                    assert raw is not None
                    assert conn is not None
                    status = raw.status
                    if status != 200:
                        body = raw.read()
                        self._release(target, conn)
                        resp_headers = {k.lower(): v for k, v in raw.getheaders()}
                        logger.debug("GET %s -> %s", redact_url(current), status)
                        if status in _RETRY_STATUSES:
                            problem = f"HTTP {status} {raw.reason}".strip()
                            continue
                        location = resp_headers.get("location")
                        if status in _REDIRECTS and location:
                            break
                        return Response(current, status, raw.reason, resp_headers, body)
                    gzipped = (raw.getheader("content-encoding") or "").lower() == "gzip"
                    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
                    while True:
                        chunk = raw.read(chunk_size)
                        if not chunk:
                            break
                        if decoder is not None:
                            chunk = decoder.decompress(chunk)
                        sink.write(chunk)
                        written += len(chunk)
                        if on_progress is not None:
                            on_progress(len(chunk))
                    if raw.length:  # read(amt) does not notice a body cut short
                        raise http.client.IncompleteRead(b"", raw.length)
                    if decoder is not None:
                        tail = decoder.flush()
                        if not decoder.eof:
                            raise IndexFailure(
                                f"{redact_url(current)} sent a damaged gzip body.", _NETWORK_HINT
                            )
                        sink.write(tail)
                        written += len(tail)
                        if on_progress is not None and tail:
                            on_progress(len(tail))
                    logger.debug("GET %s -> 200 (%d bytes streamed)", redact_url(current), written)
                    self._release(target, conn)
                    resp_headers = {k.lower(): v for k, v in raw.getheaders()}
                    return Response(current, 200, raw.reason, resp_headers, b"")
                except ssl.SSLError as exc:  # retrying does not fix certificates
                    if conn is not None:
                        conn.close()
                    raise IndexFailure(
                        f"Could not reach {redact_url(current)}: TLS error ({exc}).",
                        "Check the certificate settings (pip's `cert`, SSL_CERT_FILE) "
                        "or choose another index with --index-url.",
                    ) from exc
                except (OSError, http.client.HTTPException, zlib.error) as exc:
                    if conn is not None:
                        conn.close()
                    problem = _describe_error(exc, self.timeout)
                    logger.debug("GET %s failed: %s", redact_url(current), problem)
                    continue
                except BaseException:
                    if conn is not None:
                        conn.close()
                    raise
            else:
                tries = self.retries + 1
                raise IndexFailure(
                    f"Could not get {redact_url(current)}: {problem} "
                    f"(tried {tries} time{'s' if tries > 1 else ''}).",
                    _NETWORK_HINT,
                )
            assert location is not None
            current = _redirect_target(current, location)
            logger.debug("redirected to %s", redact_url(current))
        raise IndexFailure(
            f"{redact_url(url)} redirected more than {_MAX_REDIRECTS} times.",
            _NETWORK_HINT,
        )


def _basic_auth(user: str | None, password: str | None) -> str | None:
    if user is None:
        return None
    token = f"{unquote(user)}:{unquote(password or '')}".encode()
    return "Basic " + base64.b64encode(token).decode("ascii")


def _redirect_target(current: str, location: str) -> str:
    """The absolute redirect URL; credentials are kept only for the same host."""
    new = urlsplit(urljoin(current, location))
    old = urlsplit(current)
    if new.hostname == old.hostname and "@" not in new.netloc and "@" in old.netloc:
        userinfo = old.netloc.rpartition("@")[0]
        new = new._replace(netloc=f"{userinfo}@{new.netloc}")
    return urlunsplit(new)


def _gunzip(body: bytes, url: str) -> bytes:
    try:
        return gzip.decompress(body)
    except (OSError, EOFError) as exc:
        raise IndexFailure(
            f"{redact_url(url)} sent a damaged gzip body ({exc}).", _NETWORK_HINT
        ) from exc


def _describe_error(exc: BaseException, timeout: float) -> str:
    """A few words for a connection failure, e.g. ``connection refused``."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "the host name could not be resolved"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"no answer within {timeout:g} seconds"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(exc, ConnectionResetError):
        return "the connection was reset"
    text = str(exc) or type(exc).__name__
    return text[:200]
