"""The configuration layers: site file, user file, ``SYSNATIVE_*`` variables, flags.

tests/conftest.py points ``XDG_CONFIG_DIRS`` and ``XDG_CONFIG_HOME`` at empty directories,
so the files written here are the only ones read (platformdirs resolves the site dir to the
first ``XDG_CONFIG_DIRS`` entry and the user dir to ``XDG_CONFIG_HOME``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sysnative import config
from sysnative.errors import ConfigError


def site_file(text: str) -> Path:
    path = Path(os.environ["XDG_CONFIG_DIRS"].split(os.pathsep)[0]) / "sysnative" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def user_file(text: str) -> Path:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "sysnative" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_file_or_variable() -> None:
    settings = config.load()
    assert settings.files == ()
    assert settings.provider is None
    assert settings.system_native is False
    assert settings.unpackaged_native == "wheel"
    assert settings.system_conflict == "error"
    assert settings.allow_sudo is True
    assert settings.lock_timeout == 120.0
    assert all(s.source == "default" for s in settings.settings.values())


def test_site_file_is_read_and_named_as_the_source() -> None:
    path = site_file('provider = "dnf"\nsystem-native = true\n')
    settings = config.load()
    assert settings.provider == "dnf"
    assert settings.system_native is True
    assert settings.settings["provider"].source == f"site config {path}"
    assert settings.settings["provider"].layer == "site"
    assert settings.files == (path,)


def test_user_file_overrides_site_file_key_by_key() -> None:
    site_file('provider = "dnf"\nnative-fallback = "wheel"\n')
    path = user_file('provider = "apt"\n')
    settings = config.load()
    assert settings.provider == "apt"
    assert settings.settings["provider"].source == f"user config {path}"
    # A key the user file does not set keeps the site value.
    assert (settings.unpackaged_native, settings.system_conflict) == ("wheel", "wheel")
    assert settings.settings["native-fallback"].layer == "site"


def test_environment_overrides_files(monkeypatch: pytest.MonkeyPatch) -> None:
    user_file('provider = "apt"\nsystem-native = true\n')
    monkeypatch.setenv("SYSNATIVE_PROVIDER", "conda")
    monkeypatch.setenv("SYSNATIVE_SYSTEM_NATIVE", "0")
    monkeypatch.setenv("SYSNATIVE_LOCK_TIMEOUT", "5")
    settings = config.load()
    assert settings.provider == "conda"
    assert settings.system_native is False
    assert settings.lock_timeout == 5.0
    assert settings.settings["provider"].source == "environment SYSNATIVE_PROVIDER"


def test_flags_override_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    site_file('native-fallback = "wheel"\n')
    monkeypatch.setenv("SYSNATIVE_PROVIDER", "conda")
    settings = config.load().with_flags(
        {"provider": "apt", "native-fallback": None, "mapping-files": ("extra.json",)}
    )
    assert settings.provider == "apt"
    assert settings.settings["provider"].layer == "command line"
    assert settings.system_conflict == "wheel"  # not given on the command line
    assert settings.mapping_files == ("extra.json",)


@pytest.mark.parametrize(
    ("site", "user", "flags", "expected"),
    [
        # a distribution keeps unpackaged natives off the index; the user turns them back on
        ('unpackaged-native = "error"\n', 'unpackaged-native = "wheel"\n', {}, ("wheel", "error")),
        # native-fallback in a higher layer sets both cases
        ('unpackaged-native = "error"\n', 'native-fallback = "wheel"\n', {}, ("wheel", "wheel")),
        ('system-conflict = "wheel"\n', 'native-fallback = "error"\n', {}, ("error", "error")),
        # within one layer, the specific key wins over native-fallback
        ('native-fallback = "error"\nunpackaged-native = "wheel"\n', "", {}, ("wheel", "error")),
        # a specific flag beats native-fallback from a file; --native-fallback beats files
        ('native-fallback = "wheel"\n', "", {"system-conflict": "error"}, ("wheel", "error")),
        ('system-conflict = "wheel"\n', "", {"native-fallback": "error"}, ("error", "error")),
    ],
)
def test_the_two_fallbacks_and_native_fallback(
    site: str, user: str, flags: dict[str, str], expected: tuple[str, str]
) -> None:
    site_file(site)
    if user:
        user_file(user)
    settings = config.load().with_flags(dict(flags))
    assert (settings.unpackaged_native, settings.system_conflict) == expected


def test_mapping_files_in_a_config_file_are_relative_to_it() -> None:
    path = site_file('mapping-files = ["overrides/debian.mapping.json", "/abs/x.json"]\n')
    settings = config.load()
    expected = str(path.parent / "overrides" / "debian.mapping.json")
    assert settings.site_mapping_files == (expected, "/abs/x.json")
    # Files from config files are their own layers, not the top (--mapping) layer.
    assert settings.mapping_files == ()


def test_provider_options_from_file_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    site_file('[provider-options]\ndnf = ["--setopt=install_weak_deps=0"]\n')
    monkeypatch.setenv("SYSNATIVE_CONDA_OPTIONS", "--override-channels -c 'my channel'")
    settings = config.load()
    assert settings.all_provider_options == {
        "dnf": ("--setopt=install_weak_deps=0",),
        "conda": ("--override-channels", "-c", "my channel"),
    }


def test_sudo_never() -> None:
    user_file('sudo = "never"\n')
    assert config.load().allow_sudo is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('provdier = "apt"\n', "unknown key 'provdier'"),
        ("system_native = true\n", "Did you mean 'system-native'"),
        ('provider = "yum"\n', "key 'provider': 'yum' is not a provider"),
        ('system-native = "yes"\n', "key 'system-native': 'yes' is not true or false"),
        ('native-fallback = "sdist"\n', "key 'native-fallback': 'sdist' is not one of"),
        ("lock-timeout = -1\n", "key 'lock-timeout'"),
        ('mapping-files = "one.json"\n', "key 'mapping-files': must be a list"),
        ('[provider-options]\nyum = ["-y"]\n', "'yum' is not a provider"),
        ('provider = "apt\n', "not valid TOML"),
    ],
)
def test_invalid_file_names_the_file_and_the_key(text: str, expected: str) -> None:
    path = site_file(text)
    with pytest.raises(ConfigError) as info:
        config.load()
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert expected in f"{message} {info.value.hint}"


def test_invalid_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYSNATIVE_SYSTEM_NATIVE", "perhaps")
    with pytest.raises(ConfigError, match="environment SYSNATIVE_SYSTEM_NATIVE"):
        config.load()
    monkeypatch.setenv("SYSNATIVE_SYSTEM_NATIVE", "1")
    monkeypatch.setenv("SYSNATIVE_NATIVE_FALLBACK", "maybe")
    with pytest.raises(ConfigError, match="environment SYSNATIVE_NATIVE_FALLBACK"):
        config.load()


def test_describe_lists_every_key_with_its_source(monkeypatch: pytest.MonkeyPatch) -> None:
    path = site_file('provider = "apt"\n')
    monkeypatch.setenv("SYSNATIVE_SUDO", "never")
    rows = {row["key"]: row for row in config.describe(config.load())}
    assert set(rows) == {key.name for key in config.KEYS}
    assert rows["provider"]["source"] == f"site config {path}"
    assert rows["sudo"]["source"] == "environment SYSNATIVE_SUDO"
    assert rows["lock-timeout"]["source"] == "default"


def test_allow_build_is_off_by_default_and_set_by_every_layer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sysnative.cli import build_parser as _parser
    from sysnative.commands.options import effective_config, plan_request

    assert config.load().allow_build is False
    site_file("allow-build = true\n")
    assert config.load().allow_build is True
    monkeypatch.setenv("SYSNATIVE_ALLOW_BUILD", "no")
    assert config.load().allow_build is False
    assert config.load().with_flags({"allow-build": True}).allow_build is True
    # --no-allow-build turns a configured default off for one run; not given: the layers.
    monkeypatch.delenv("SYSNATIVE_ALLOW_BUILD")
    for argv, expected in (
        ([], True),
        (["--no-allow-build"], False),
        (["--allow-build"], True),
    ):
        args = _parser().parse_args(["install", "--system-native", "demo", *argv])
        settings = effective_config(args)
        assert settings.allow_build is expected
        assert plan_request(args, settings).policy.allow_build is expected
    args = _parser().parse_args(["lock", "demo", "--allow-build"])
    assert effective_config(args).allow_build is True
    monkeypatch.setenv("SYSNATIVE_ALLOW_BUILD", "perhaps")
    with pytest.raises(ConfigError, match="SYSNATIVE_ALLOW_BUILD"):
        config.load()


def test_allow_build_must_be_a_boolean_in_a_file() -> None:
    site_file('allow-build = "yes"\n')
    with pytest.raises(ConfigError, match="key 'allow-build': 'yes' is not true or false"):
        config.load()
