"""How the apt provider's -o settings reach the python3-apt helper."""

from __future__ import annotations

from pathlib import Path

from sysnative.providers.apt import _helper_setting


def test_settings_pass_through(tmp_path: Path) -> None:
    pkgcache = tmp_path / "pkgcache.bin"
    assert _helper_setting("APT::Cmd::Pattern-Only=true") == ("APT::Cmd::Pattern-Only", "true")
    assert _helper_setting(f"Dir::Cache::pkgcache={pkgcache}") == (
        "Dir::Cache::pkgcache",
        str(pkgcache),
    )


def test_the_helper_uses_a_source_cache_but_does_not_create_one(tmp_path: Path) -> None:
    srcpkgcache = tmp_path / "srcpkgcache.bin"
    option = f"Dir::Cache::srcpkgcache={srcpkgcache}"
    assert _helper_setting(option) == ("Dir::Cache::srcpkgcache", "")
    srcpkgcache.write_bytes(b"written by an apt-get run")
    assert _helper_setting(option) == ("Dir::Cache::srcpkgcache", str(srcpkgcache))
    assert _helper_setting("Dir::Cache::srcpkgcache=") == ("Dir::Cache::srcpkgcache", "")
