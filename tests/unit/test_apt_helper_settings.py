"""What the apt provider sets in the python3-apt helper's configuration."""

from __future__ import annotations

from pathlib import Path

from sysnative.providers.apt.provider import AptProvider


def test_settings_without_a_cache_dir() -> None:
    assert AptProvider(cache_dir=None)._helper_settings() == [
        ("APT::Cmd::Pattern-Only", "true"),
        ("APT::Install-Recommends", "false"),
    ]


def test_the_helper_uses_a_source_cache_but_does_not_create_one(tmp_path: Path) -> None:
    provider = AptProvider(cache_dir=tmp_path)

    settings = dict(provider._helper_settings())

    pkgcache = Path(settings["Dir::Cache::pkgcache?"])
    assert pkgcache.parent.is_relative_to(tmp_path)
    assert settings["Dir::Cache::srcpkgcache?"] == ""
    srcpkgcache = pkgcache.with_name("srcpkgcache.bin")
    srcpkgcache.write_bytes(b"written by an apt-get run")
    settings = dict(provider._helper_settings())
    assert settings["Dir::Cache::srcpkgcache?"] == str(srcpkgcache)
    assert settings["APT::Cmd::Pattern-Only"] == "true"
    assert settings["APT::Install-Recommends"] == "false"
