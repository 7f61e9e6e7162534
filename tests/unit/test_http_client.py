"""The HTTP client's shared state under concurrent first use."""

from __future__ import annotations

import ssl
import threading

import pytest

from sysnative import http


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
