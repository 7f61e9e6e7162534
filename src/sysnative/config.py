"""Layered configuration: site ``config.toml``, user ``config.toml``, ``SYSNATIVE_*``, flags.

Each layer overrides the one before it, key by key:

1. **site** -- ``config.toml`` in platformdirs' site config dir (``/etc/xdg/sysnative`` on
   Linux, or the first entry of ``$XDG_CONFIG_DIRS``). Distributions ship this one to make
   the mode their default (``provider = "dnf"``, ``system-native = true``).
2. **user** -- ``config.toml`` in the user config dir (``~/.config/sysnative``).
3. **environment** -- ``SYSNATIVE_PROVIDER``, ``SYSNATIVE_SYSTEM_NATIVE`` ...: one variable per
   key, the key upper-cased with ``_`` for ``-`` (lists are ``os.pathsep``-separated; provider
   options are ``SYSNATIVE_<PROVIDER>_OPTIONS``, split like a shell would).
4. **command line** -- the flags.

Reading is strict: an unknown key, a value of the wrong type, or a file that is not TOML is an
error naming the file (or variable) and the key, because a silently ignored setting in
``/etc`` is the kind of mistake nobody finds. Nothing here runs a command or imports a
provider: :func:`load` only reads files and the environment.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from sysnative.errors import ConfigError

__all__ = ["KEYS", "Config", "Setting", "config_files", "load"]

Value = Union[str, bool, float, tuple[str, ...], Mapping[str, tuple[str, ...]]]

_FALLBACKS = ("error", "wheel")
#: The layers, lowest first (see the module docstring).
_LAYERS = ("default", "site", "user", "environment", "command line")
_SUDO = ("auto", "never")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class Key:
    """One configuration key: its TOML spelling, default and what it means."""

    name: str
    default: Value
    help: str


#: Every key, in the order ``config show`` prints them.
KEYS: tuple[Key, ...] = (
    Key("provider", "", "system package manager: apt, dnf, conda or brew ('' = detect)"),
    Key("system-native", False, "`sysnative install` uses the system-native mode by default"),
    Key(
        "unpackaged-native",
        "wheel",
        "a native project the system does not package: wheel (the index's) | error",
    ),
    Key(
        "system-conflict",
        "error",
        "a native project whose system version conflicts with a requirement: error | wheel",
    ),
    Key("native-fallback", "", "both of the above at once ('' = each its own): error | wheel"),
    Key(
        "allow-build",
        False,
        "build the sdist of a release that has no wheel for the target (with pip)",
    ),
    Key("mapping-files", (), "extra mapping files, stacked over the built-in data"),
    Key("sudo", "auto", "auto: use `sudo -n` when not root; never: require root"),
    Key("lock-timeout", 120.0, "seconds to wait for another package manager's lock"),
    Key("provider-options", {}, "extra arguments for a provider's tool, per provider"),
)
_BY_NAME = {key.name: key for key in KEYS}


@dataclass(frozen=True)
class Setting:
    """An effective value and where it came from (``default``, a file, a variable, a flag)."""

    value: Value
    source: str
    #: The layer: ``default``, ``site``, ``user``, ``environment`` or ``command line``.
    layer: str = "default"


@dataclass(frozen=True)
class Config:
    """The effective configuration; :meth:`with_flags` applies the command line last."""

    settings: Mapping[str, Setting]
    #: The config files that were read, lowest layer first.
    files: tuple[Path, ...] = ()
    #: Mapping files per layer (``site``/``user``), for :func:`sysnative.mapping.files.load_layers`.
    site_mapping_files: tuple[str, ...] = ()
    user_mapping_files: tuple[str, ...] = ()

    def __getitem__(self, name: str) -> Value:
        return self.settings[name].value

    @property
    def provider(self) -> str | None:
        value = self["provider"]
        return str(value) or None

    @property
    def system_native(self) -> bool:
        return bool(self["system-native"])

    @property
    def unpackaged_native(self) -> str:
        """``unpackaged-native``, unless ``native-fallback`` was set in a higher layer."""
        return self._fallback("unpackaged-native")

    @property
    def system_conflict(self) -> str:
        """``system-conflict``, unless ``native-fallback`` was set in a higher layer."""
        return self._fallback("system-conflict")

    def _fallback(self, name: str) -> str:
        # native-fallback sets both cases; within one layer, the specific key wins.
        both = self.settings["native-fallback"]
        specific = self.settings[name]
        if both.value and _LAYERS.index(both.layer) > _LAYERS.index(specific.layer):
            return str(both.value)
        return str(specific.value)

    @property
    def allow_build(self) -> bool:
        return bool(self["allow-build"])

    @property
    def allow_sudo(self) -> bool:
        return self["sudo"] != "never"

    @property
    def lock_timeout(self) -> float:
        value = self["lock-timeout"]
        assert isinstance(value, float)
        return value

    @property
    def mapping_files(self) -> tuple[str, ...]:
        """Mapping files named by the environment or the command line (the top layer)."""
        setting = self.settings["mapping-files"]
        if setting.layer in ("environment", "command line"):
            value = setting.value
            assert isinstance(value, tuple)
            return tuple(str(v) for v in value)
        return ()

    @property
    def all_provider_options(self) -> Mapping[str, tuple[str, ...]]:
        """Extra arguments for each provider's tool, by provider name."""
        return _as_mapping(self["provider-options"])

    def with_flags(self, flags: Mapping[str, Value | None]) -> Config:
        """Apply command-line values; ``None`` means the flag was not given."""
        settings = dict(self.settings)
        for name, value in flags.items():
            if value is None:
                continue
            if name == "mapping-files":
                assert isinstance(value, tuple)
                if not value:
                    continue
                previous = settings[name]
                if previous.layer == "environment":
                    assert isinstance(previous.value, tuple)
                    value = (*previous.value, *value)
            settings[name] = Setting(value, "command line", "command line")
        return Config(settings, self.files, self.site_mapping_files, self.user_mapping_files)


def config_files(env: Mapping[str, str] | None = None) -> tuple[tuple[str, Path], ...]:
    """``(layer, path)`` of the site and user ``config.toml``, whether they exist or not."""
    import platformdirs

    del env  # platformdirs reads XDG_CONFIG_DIRS / XDG_CONFIG_HOME from os.environ itself
    return (
        ("site", Path(platformdirs.site_config_dir("sysnative")) / "config.toml"),
        ("user", Path(platformdirs.user_config_dir("sysnative")) / "config.toml"),
    )


def load(env: Mapping[str, str] | None = None) -> Config:
    """Read the site and user files and the environment (the command line comes later)."""
    environ = os.environ if env is None else env
    settings = {key.name: Setting(key.default, "default") for key in KEYS}
    read: list[Path] = []
    mapping_files: dict[str, tuple[str, ...]] = {"site": (), "user": ()}
    for layer, path in config_files(environ):
        document = _read_toml(path)
        if document is None:
            continue
        read.append(path)
        for name, raw in document.items():
            value = _validate(name, raw, where=str(path), base=path.parent)
            if name == "provider-options":
                assert isinstance(value, Mapping)
                previous = settings[name].value
                assert isinstance(previous, Mapping)
                value = {**previous, **value}
            if name == "mapping-files":
                assert isinstance(value, tuple)
                mapping_files[layer] = tuple(str(v) for v in value)
            settings[name] = Setting(value, f"{layer} config {path}", layer)
    for key in KEYS:
        if key.name == "provider-options":
            continue
        variable = "SYSNATIVE_" + key.name.upper().replace("-", "_")
        if variable in environ:
            value = _from_environment(key, environ[variable], variable)
            settings[key.name] = Setting(value, f"environment {variable}", "environment")
    options = dict(_as_mapping(settings["provider-options"].value))
    for variable in sorted(environ):
        if variable.startswith("SYSNATIVE_") and variable.endswith("_OPTIONS"):
            provider = variable[len("SYSNATIVE_") : -len("_OPTIONS")].lower()
            try:
                options[provider] = tuple(shlex.split(environ[variable]))
            except ValueError as exc:
                raise ConfigError(
                    f"environment {variable}: cannot split {environ[variable]!r}: {exc}.",
                    "Quote it as a shell would.",
                ) from None
            settings["provider-options"] = Setting(
                options, f"environment {variable}", "environment"
            )
    return Config(settings, tuple(read), mapping_files["site"], mapping_files["user"])


def _as_mapping(value: Value) -> Mapping[str, tuple[str, ...]]:
    assert isinstance(value, Mapping)
    return value


def _read_toml(path: Path) -> dict[str, Any] | None:
    from sysnative.tomlcompat import TOMLDecodeError, loads_toml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: cannot read the configuration file: {exc}.",
            "Fix its permissions or encoding (UTF-8), or remove it.",
        ) from None
    try:
        return loads_toml(text)
    except TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}.") from None


def _validate(name: str, raw: object, *, where: str, base: Path) -> Value:
    key = _BY_NAME.get(name)
    if key is None:
        close = [k.name for k in KEYS if k.name.replace("-", "") == name.replace("_", "")]
        raise ConfigError(
            f"{where}: unknown key {name!r}.",
            (f"Did you mean {close[0]!r}? " if close else "")
            + f"Known keys: {', '.join(k.name for k in KEYS)}.",
        )
    checker = _CHECKS[name]
    try:
        return checker(raw, base)
    except ValueError as exc:
        raise ConfigError(f"{where}: key {name!r}: {exc}") from None


def _string_in(choices: Sequence[str]) -> Callable[[object, Path], Value]:
    def check(raw: object, base: Path) -> Value:
        if not isinstance(raw, str) or raw not in choices:
            raise ValueError(f"{raw!r} is not one of {', '.join(choices)}.")
        return raw

    return check


def _provider(raw: object, base: Path) -> Value:
    from sysnative.providers import PROVIDERS

    if not isinstance(raw, str) or (raw and raw not in PROVIDERS):
        raise ValueError(f"{raw!r} is not a provider ({', '.join(PROVIDERS)}).")
    return raw


def _boolean(raw: object, base: Path) -> Value:
    if not isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not true or false.")
    return raw


def _seconds(raw: object, base: Path) -> Value:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or raw < 0:
        raise ValueError(f"{raw!r} is not a number of seconds.")
    return float(raw)


def _paths(raw: object, base: Path) -> Value:
    if not isinstance(raw, list) or not all(isinstance(v, str) and v for v in raw):
        raise ValueError("must be a list of file paths.")
    # Relative paths in a config file are relative to that file, as in most tools.
    return tuple(str(base / v) if not os.path.isabs(v) else v for v in raw)


def _provider_options(raw: object, base: Path) -> Value:
    from sysnative.providers import PROVIDERS

    if not isinstance(raw, dict):
        raise ValueError('must be a table such as { dnf = ["--setopt=install_weak_deps=0"] }.')
    out: dict[str, tuple[str, ...]] = {}
    for provider, options in raw.items():
        if provider not in PROVIDERS:
            raise ValueError(f"{provider!r} is not a provider ({', '.join(PROVIDERS)}).")
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise ValueError(f"{provider}: must be a list of arguments.")
        out[provider] = tuple(options)
    return out


_CHECKS: dict[str, Callable[[object, Path], Value]] = {
    "provider": _provider,
    "system-native": _boolean,
    "native-fallback": _string_in(_FALLBACKS),
    "unpackaged-native": _string_in(_FALLBACKS),
    "system-conflict": _string_in(_FALLBACKS),
    "allow-build": _boolean,
    "mapping-files": _paths,
    "sudo": _string_in(_SUDO),
    "lock-timeout": _seconds,
    "provider-options": _provider_options,
}


def _from_environment(key: Key, text: str, variable: str) -> Value:
    where = f"environment {variable}"
    if isinstance(key.default, bool):  # system-native, allow-build
        lowered = text.strip().lower()
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE
        raise ConfigError(f"{where}: {text!r} is not a yes/no value.", "Use 1 or 0.")
    if key.name == "lock-timeout":
        try:
            return _seconds(float(text), Path.cwd())
        except ValueError:
            raise ConfigError(f"{where}: {text!r} is not a number of seconds.") from None
    if key.name == "mapping-files":
        return tuple(p for p in text.split(os.pathsep) if p)
    try:
        return _CHECKS[key.name](text, Path.cwd())
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def describe(config: Config) -> list[dict[str, object]]:
    """Every key with its value and source, for ``sysnative config show``."""
    rows: list[dict[str, object]] = []
    for key in KEYS:
        setting = config.settings[key.name]
        value: object = setting.value
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Mapping):
            value = {k: list(v) for k, v in value.items()}
        rows.append(
            {
                "key": key.name,
                "value": value,
                "source": setting.source,
                "layer": setting.layer,
                "help": key.help,
            }
        )
    return rows
