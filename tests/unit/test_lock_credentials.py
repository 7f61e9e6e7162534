"""Credentials leave the URLs a lock records and come back from pip's configuration."""

from __future__ import annotations

from lockworld import INDEX, SECRET

from sysnative.lock.credentials import strip_credentials, with_credentials


def test_credentials_are_put_back_from_pip_configuration() -> None:
    url = "https://index.example.invalid/files/x.whl"
    assert strip_credentials("https://u:p@index.example.invalid/f") == (
        "https://index.example.invalid/f"
    )
    assert with_credentials(url, [INDEX]) == (
        f"https://alice:{SECRET}@index.example.invalid/files/x.whl"
    )
    assert with_credentials(url, ["https://b:c@other.example.invalid/simple"]) == url
    assert with_credentials(url, ["http://b:c@index.example.invalid/simple"]) == url
