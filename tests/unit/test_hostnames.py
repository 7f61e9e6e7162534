"""Host names are looked up once per run, and a lost answer is not waited out."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from sysnative.errors import IndexFailure
from sysnative.index import http
from sysnative.index.hostnames import HostResolver

LOOPBACK = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 0))]


class ScriptedLookup:
    """A getaddrinfo whose calls answer, fail or hang as the test says, in call order."""

    def __init__(self, *behaviours: str) -> None:
        self.behaviours = list(behaviours)
        self.calls = 0
        self.finished = 0
        self.release = threading.Event()  # ends every "hang"
        self._lock = threading.Lock()

    def __call__(self, host: str, port: int) -> list[tuple[object, ...]]:
        with self._lock:
            behaviour = self.behaviours[min(self.calls, len(self.behaviours) - 1)]
            self.calls += 1
        if behaviour.startswith("hang"):
            self.release.wait(10)
            behaviour = behaviour.partition("-then-")[2] or "fail"
        if behaviour.startswith("slow"):
            time.sleep(0.05)
            behaviour = behaviour.partition("-")[2] or "answer"
        with self._lock:
            self.finished += 1
        if behaviour == "fail":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(LOOPBACK)


@pytest.fixture
def lookups() -> Iterator[list[ScriptedLookup]]:
    made: list[ScriptedLookup] = []
    yield made
    for lookup in made:
        lookup.release.set()


def test_concurrent_askers_share_one_lookup(lookups: list[ScriptedLookup]) -> None:
    lookup = ScriptedLookup("slow")
    lookups.append(lookup)
    resolver = HostResolver(lookup)  # type: ignore[arg-type]
    gate = threading.Barrier(8)
    answers: list[object] = []

    def ask() -> None:
        gate.wait()
        answers.append(resolver.addresses("index.test", 443))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    resolver.addresses("index.test", 443)

    assert lookup.calls == 1
    assert answers == [LOOPBACK] * 8


def test_a_lost_answer_is_hedged_not_waited_out(lookups: list[ScriptedLookup]) -> None:
    lookup = ScriptedLookup("hang", "answer")
    lookups.append(lookup)
    resolver = HostResolver(lookup, hedge_after=0.02)  # type: ignore[arg-type]

    assert resolver.addresses("index.test", 443) == LOOPBACK
    assert lookup.calls == 2
    assert lookup.finished == 1  # the answer is the hedge's; the first lookup still hangs


def test_a_hedge_that_fails_does_not_hide_a_slow_answer(lookups: list[ScriptedLookup]) -> None:
    lookup = ScriptedLookup("hang-then-answer", "fail", "fail")
    lookups.append(lookup)
    resolver = HostResolver(lookup, hedge_after=0.01)  # type: ignore[arg-type]
    threading.Timer(0.2, lookup.release.set).start()

    assert resolver.addresses("index.test", 443) == LOOPBACK
    assert lookup.calls == 3


def test_every_attempt_failing_raises_the_resolvers_error(lookups: list[ScriptedLookup]) -> None:
    lookup = ScriptedLookup("hang-then-fail", "fail", "fail")
    lookups.append(lookup)
    resolver = HostResolver(lookup, hedge_after=0.01)  # type: ignore[arg-type]
    threading.Timer(0.2, lookup.release.set).start()

    with pytest.raises(socket.gaierror, match="not known"):
        resolver.addresses("index.test", 443)


def test_a_failure_is_not_remembered(lookups: list[ScriptedLookup]) -> None:
    lookup = ScriptedLookup("fail", "answer")
    lookups.append(lookup)
    resolver = HostResolver(lookup)  # type: ignore[arg-type]

    with pytest.raises(socket.gaierror):
        resolver.addresses("index.test", 443)
    assert lookup.calls == 1  # a quick failure is final for that ask: no hedges
    assert resolver.addresses("index.test", 443) == LOOPBACK
    assert resolver.addresses("index.test", 443) == LOOPBACK
    assert lookup.calls == 2


def test_connects_to_the_next_address_when_one_refuses() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    refusing = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", port))
    listening = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))
    resolver = HostResolver(lambda host, port: [refusing, listening])
    try:
        with resolver.create_connection(("index.test", port), 5) as sock:
            assert sock.getpeername() == ("127.0.0.1", port)
    finally:
        server.close()


def test_the_http_client_looks_each_host_up_once(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    httpserver.expect_request("/page").respond_with_data("ok")
    real = socket.getaddrinfo
    asked: list[str] = []

    def counting(host: str, *args: object, **kwargs: object) -> object:
        asked.append(host)
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    client = http.HttpClient()
    url = f"http://localhost:{httpserver.port}/page"
    gate = threading.Barrier(6)
    bodies: list[bytes] = []

    def fetch() -> None:
        gate.wait()  # six threads open their first connections at once
        bodies.append(client.get(url).body)

    threads = [threading.Thread(target=fetch) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()

    assert bodies == [b"ok"] * 6
    assert asked.count("localhost") == 1


def test_a_name_the_resolver_refuses_is_an_error_not_a_hang() -> None:
    resolver = HostResolver()  # the system's getaddrinfo: an empty label raises UnicodeError
    with pytest.raises(socket.gaierror, match="not a valid host name"):
        resolver.addresses("index..invalid", 443)


def test_threads_waiting_on_a_failed_lookup_share_its_error(lookups: list[ScriptedLookup]) -> None:
    lookup = ScriptedLookup("slow-fail", "answer")
    lookups.append(lookup)
    resolver = HostResolver(lookup, hedge_after=10)  # type: ignore[arg-type]
    gate = threading.Barrier(6)
    errors: list[BaseException] = []

    def ask() -> None:
        gate.wait()
        try:
            resolver.addresses("index.test", 443)
        except OSError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert lookup.calls == 1  # one failed lookup, not one per waiting thread
    assert len(errors) == 6
    assert len({id(e) for e in errors}) == 6  # each thread raises its own copy
    assert resolver.addresses("index.test", 443) == LOOPBACK  # a later call asks anew


def test_http_client_reports_an_invalid_host_name() -> None:
    client = http.HttpClient(retries=0)
    with pytest.raises(IndexFailure, match="could not be resolved"):
        client.get("http://index..invalid/simple/")
    client.close()
