"""Credentials leave the URLs a lock records and come back from pip's configuration."""

from __future__ import annotations

from lockworld import HOST, INDEX, SECRET, USER

from sysnative.lock.credentials import strip_credentials, with_credentials


def test_credentials_are_put_back_from_pip_configuration() -> None:
    url = f"https://{HOST}/files/x.whl"
    assert strip_credentials(f"https://{USER}:p@{HOST}/f") == f"https://{HOST}/f"
    assert with_credentials(url, [INDEX]) == f"https://{USER}:{SECRET}@{HOST}/files/x.whl"
    other_user = "bob"
    other_host = "127.0.0.2:8443"
    assert with_credentials(url, [f"https://{other_user}:c@{other_host}/simple"]) == url
    assert with_credentials(url, [f"http://{other_user}:c@{HOST}/simple"]) == url
