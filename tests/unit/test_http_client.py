"""The HTTP client's shared state: its TLS context and its pool of connections."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator

import pytest

from sysnative.index import http


def test_threads_share_one_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[ssl.SSLContext] = []
    gate = threading.Barrier(8)
    real = ssl.create_default_context

    def counting(*args: object, **kwargs: object) -> ssl.SSLContext:
        context = real()
        made.append(context)
        return context

    monkeypatch.setattr(ssl, "create_default_context", counting)
    client = http.HttpClient()
    got: list[ssl.SSLContext] = []

    def first_connection() -> None:
        gate.wait()  # every thread asks at the same moment, as a run's first fetches do
        got.append(client._context())

    threads = [threading.Thread(target=first_connection) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1
    assert all(context is made[0] for context in got)


class KeepAliveServer:
    """HTTP/1.1 on a raw socket: each connection answers ``per_connection`` requests with
    keep-alive, then is dropped without notice, as a server's idle timeout does."""

    def __init__(self, per_connection: int) -> None:
        self.per_connection = per_connection
        self.connections = 0
        self.requests = 0
        #: Set each time a client closes a connection (the server reads EOF).
        self.client_closed = threading.Semaphore(0)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as reader:
            for _ in range(self.per_connection):
                while (line := reader.readline()) not in (b"\r\n", b""):
                    pass
                if not line:
                    self.client_closed.release()
                    return
                self.requests += 1
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def keep_alive() -> Iterator[KeepAliveServer]:
    server = KeepAliveServer(per_connection=2)
    yield server
    server.close()


def test_threads_take_turns_on_one_pooled_connection(keep_alive: KeepAliveServer) -> None:
    keep_alive.per_connection = 100
    client = http.HttpClient()
    url = f"http://127.0.0.1:{keep_alive.port}/page"
    for _ in range(4):  # one thread after another, as a run's pool threads often are
        thread = threading.Thread(target=client.get, args=(url,))
        thread.start()
        thread.join()
    client.close()

    assert keep_alive.requests == 4
    assert keep_alive.connections == 1


def test_a_pooled_connection_the_server_dropped_is_replaced(
    keep_alive: KeepAliveServer,
) -> None:
    client = http.HttpClient(retries=0)  # the stale connection must not cost a retry
    url = f"http://127.0.0.1:{keep_alive.port}/page"

    bodies = [client.get(url).body for _ in range(5)]
    client.close()

    assert bodies == [b"ok"] * 5
    assert keep_alive.requests == 5
    assert keep_alive.connections == 3  # two requests per connection, then a fresh one


def test_a_request_ending_after_close_does_not_keep_its_connection(
    keep_alive: KeepAliveServer,
) -> None:
    keep_alive.per_connection = 100
    client = http.HttpClient()
    url = f"http://127.0.0.1:{keep_alive.port}/page"
    assert client.get(url).body == b"ok"
    client.close()  # the pool's connection is closed: the server sees it go
    assert keep_alive.client_closed.acquire(timeout=10)

    # A request that was still under way when the client closed (a prefetch thread).
    assert client.get(url).body == b"ok"

    assert keep_alive.client_closed.acquire(timeout=10)  # closed, not kept in the pool
    assert keep_alive.connections == 2
