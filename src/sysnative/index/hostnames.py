"""Look each host name up once per run, and do not wait out a lost DNS answer.

Every new connection used to ask the system's resolver (``getaddrinfo``) for its host. A
cold run opens a few dozen connections to the same two or three hosts, most of them at the
same moment, and a lost UDP answer makes glibc's resolver wait its full timeout (5 s by
default) before asking again: on a container network that loses answers to simultaneous
queries, one run in two stalled for five seconds on a single index page.

:class:`HostResolver` asks once per ``(host, port)`` and shares the answer (later askers
wait for the first), and hedges: when an answer has not come after :data:`HEDGE_AFTER`
seconds, it asks again in parallel and takes whichever answer comes first, as a browser
does. A failed lookup is not remembered, so a retry asks anew. Connections then go to the
numeric addresses in the resolver's order, like ``socket.create_connection``; TLS still
checks the certificate against the host name. :func:`pool_classes` gives urllib3 connection
pools whose connections open their sockets this way (measured on this project's container
network: 16 simultaneous lookups lost an answer and waited 5 s in three rounds of five).
"""

from __future__ import annotations

import copy
import socket
import threading
from collections.abc import Callable
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

__all__ = ["HEDGE_AFTER", "HostResolver", "pool_classes"]

#: Seconds to wait for an answer before asking again in parallel. A normal lookup takes a
#: few milliseconds; a lost one takes the resolver's timeout.
HEDGE_AFTER = 0.25
#: Lookups in flight at most per name (the first and its hedges).
MAX_ATTEMPTS = 3
#: Seconds to wait for any answer at all (glibc gives up after 30 s at most by default).
LOOKUP_LIMIT = 60.0

_AddrInfo = list[tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[object, ...]]]
Lookup = Callable[[str, int], _AddrInfo]


def _getaddrinfo(host: str, port: int) -> _AddrInfo:
    return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)  # type: ignore[return-value]


class _Answer:
    """The first answer of one or more attempts at the same lookup, shared by every thread
    that asked for it meanwhile."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.addresses: _AddrInfo | None = None
        self.error: OSError | None = None
        self._started = 0
        self._failures = 0
        self._lock = threading.Lock()

    def start(self, lookup: Lookup, host: str, port: int) -> None:
        with self._lock:
            self._started += 1
        # Daemon threads: a lookup stuck in the resolver must not hold up the exit.
        threading.Thread(
            target=self._attempt, args=(lookup, host, port), name=f"resolve-{host}", daemon=True
        ).start()

    def give_up(self, error: OSError) -> None:
        with self._lock:
            if not self.done.is_set():
                self.error = error
                self.done.set()

    def result(self) -> _AddrInfo:
        """The addresses, or the lookup's error (a copy: each caller raises its own)."""
        if self.addresses is not None:
            return self.addresses
        raise copy.copy(self.error) if self.error else socket.gaierror("no answer")

    def _attempt(self, lookup: Lookup, host: str, port: int) -> None:
        try:
            addresses = lookup(host, port)
        except Exception as exc:  # whatever it is, the askers must hear of it
            error = exc if isinstance(exc, OSError) else _invalid_name(host, exc)
            with self._lock:
                self._failures += 1
                # An error counts only when every attempt failed: a hedge may still answer.
                if self._failures == self._started and not self.done.is_set():
                    self.error = error
                    self.done.set()
            return
        with self._lock:
            if not self.done.is_set():
                self.addresses = addresses
                self.done.set()


def _invalid_name(host: str, exc: Exception) -> OSError:
    """``getaddrinfo`` refuses some names before asking (an empty or over-long label raises
    ``UnicodeError``): an error like any other failed lookup."""
    return socket.gaierror(socket.EAI_NONAME, f"{host!r} is not a valid host name ({exc})")


class HostResolver:
    """Shared, hedged ``getaddrinfo`` for one run's connections (thread-safe)."""

    def __init__(self, lookup: Lookup = _getaddrinfo, *, hedge_after: float = HEDGE_AFTER) -> None:
        self._lookup = lookup
        self._hedge_after = hedge_after
        self._lock = threading.Lock()
        self._known: dict[tuple[str, int], _AddrInfo] = {}
        self._pending: dict[tuple[str, int], _Answer] = {}

    def addresses(self, host: str, port: int) -> _AddrInfo:
        """The addresses of ``host`` (raises ``OSError``, e.g. ``socket.gaierror``).

        Threads asking while a lookup is under way get its outcome, its error included; a
        later call after a failure asks anew.
        """
        key = (host, port)
        with self._lock:
            known = self._known.get(key)
            if known is not None:
                return known
            answer = self._pending.get(key)
            asking = answer is None
            if answer is None:
                answer = self._pending[key] = _Answer()
        if asking:
            self._ask(answer, host, port)
            with self._lock:
                del self._pending[key]
                if answer.addresses is not None:
                    self._known[key] = answer.addresses
        else:
            answer.done.wait()  # the asker's wait is bounded, and it always sets done
        return answer.result()

    def create_connection(
        self,
        address: tuple[str, int],
        timeout: float | None = None,
        source_address: tuple[str, int] | None = None,
    ) -> socket.socket:
        """``socket.create_connection`` on the remembered addresses of ``address``."""
        host, port = address
        error: OSError | None = None
        for family, _type, _proto, _name, sockaddr in self.addresses(host, port):
            numeric = str(sockaddr[0])
            if family == socket.AF_INET6 and len(sockaddr) == 4 and sockaddr[3]:
                numeric = f"{numeric}%{sockaddr[3]}"  # a link-local address keeps its scope
            try:
                # A numeric address is not looked up again.
                return socket.create_connection((numeric, port), timeout, source_address)
            except OSError as exc:
                error = exc
        raise error or OSError(f"no address for {host}")

    def _ask(self, answer: _Answer, host: str, port: int) -> None:
        for started in range(1, MAX_ATTEMPTS + 1):
            answer.start(self._lookup, host, port)
            if started < MAX_ATTEMPTS and answer.done.wait(self._hedge_after * started):
                return
        if not answer.done.wait(LOOKUP_LIMIT):
            answer.give_up(
                socket.gaierror(socket.EAI_AGAIN, f"no answer for {host} in {LOOKUP_LIMIT:.0f} s")
            )


def pool_classes(resolver: HostResolver) -> dict[str, type[HTTPConnectionPool]]:
    """urllib3 pool classes, by scheme, whose connections reach their host (or proxy)
    through ``resolver``: a ``PoolManager``'s ``pool_classes_by_scheme``."""

    def new_conn(conn: Any) -> socket.socket:
        # urllib3's own _new_conn, with the resolver instead of socket.create_connection.
        try:
            sock = resolver.create_connection(
                (conn.host, conn.port), conn.timeout, conn.source_address
            )
        except socket.timeout as exc:
            raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out.") from exc
        except OSError as exc:
            raise NewConnectionError(conn, f"Failed to establish a new connection: {exc}") from exc
        for option in conn.socket_options or ():
            sock.setsockopt(*option)
        return sock

    http_conn = type("HedgedHTTPConnection", (HTTPConnection,), {"_new_conn": new_conn})
    https_conn = type("HedgedHTTPSConnection", (HTTPSConnection,), {"_new_conn": new_conn})
    return {
        "http": type(
            "HedgedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}
        ),
        "https": type(
            "HedgedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}
        ),
    }
