"""The HTTP client against servers on 127.0.0.1: TLS verification, timeouts, pooled connections."""

from __future__ import annotations

import shutil
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from sysnative.errors import IndexFailure
from sysnative.index import http
from sysnative.runner import run


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate (and its key, in the same file) for 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    pem = tmp_path_factory.mktemp("tls") / "server.pem"
    completed = run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(pem), "-out", str(pem),
        ],
        timeout=60,
    )  # fmt: skip
    assert completed.ok, completed.describe()
    return pem


@pytest.fixture
def tls_server(certificate: Path) -> Iterator[HTTPServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.expect_request("/page").respond_with_data("ok")
    server.start()
    yield server
    server.stop()


def test_an_unknown_certificate_is_refused_without_retrying(tls_server: HTTPServer) -> None:
    client = http.HttpClient(backoff=0.01, environ={})
    with pytest.raises(IndexFailure, match="TLS error") as info:
        client.get(tls_server.url_for("/page"))
    client.close()

    assert info.value.hint is not None
    assert "cert" in info.value.hint
    assert len(tls_server.log) == 0  # the handshake failed: no request, and no retry


def test_pips_cert_is_trusted_by_every_thread(tls_server: HTTPServer, certificate: Path) -> None:
    client = http.HttpClient(cafile=str(certificate), environ={})
    gate = threading.Barrier(8)
    bodies: list[bytes] = []

    def fetch() -> None:
        gate.wait()  # every thread opens its first connection at the same moment
        bodies.append(client.get(tls_server.url_for("/page")).body)

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()

    assert bodies == [b"ok"] * 8


def test_a_server_that_does_not_answer_times_out() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        client = http.HttpClient(timeout=0.2, retries=1, backoff=0.01)
        with pytest.raises(IndexFailure, match=r"no answer within 0\.2 seconds \(tried 2 times\)"):
            client.get(f"http://127.0.0.1:{silent.getsockname()[1]}/page")
        client.close()


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
