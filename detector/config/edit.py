"""One setting of a workspace's config.toml read or changed by name (`copyhound config get/set`).

A change is checked exactly as the file is when loaded (type, known name) before anything is
written; the file is then rewritten from the settings, every setting with its help, as `init` does.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_type_hints

from detector import config
from detector.errors import ConfigError

#: Settings whose change takes effect on stored data only after `copyhound reindex`, and why.
NEEDS_REINDEX = {
    "embedder.spec": "the works' stored vectors come from the old model",
    "index.factory": "the embedding index file was built with the old factory",
    "index.exact_limit": "the embedding index file was built under the old limit",
}


@dataclass(frozen=True)
class Entry:
    key: str          # SECTION.NAME
    value: Any
    default: Any
    help: str

    @property
    def text(self) -> str:
        """The value as it is written in config.toml."""
        return config.toml_value(self.value)


def _fields() -> dict[str, tuple[str, str]]:
    """SECTION.NAME -> (section, name) for every setting `config set` may change."""
    return {f"{section}.{f.name}": (section, f.name) for section in config.SECTIONS
            for f in fields(type(getattr(config.Settings(), section))) if not f.metadata.get("subtables")}


def _known(key: str) -> tuple[str, str]:
    known = _fields()
    if key not in known:
        close = difflib.get_close_matches(key, known, n=3)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise ConfigError(f"No setting named {key!r}; settings are SECTION.NAME like embedder.spec "
                          f"(`copyhound config get` lists them all).{hint}")
    return known[key]


def entries(settings: config.Settings) -> list[Entry]:
    """Every setting `config get/set` knows, with its current value, in file order."""
    helps = {f"{s}.{n}": (d, h) for s, n, d, h in config.documented_fields()}
    return [Entry(key, getattr(getattr(settings, section), name), *helps[key])
            for key, (section, name) in _fields().items()]


def get(settings: config.Settings, key: str) -> Entry:
    _known(key)
    return next(e for e in entries(settings) if e.key == key)


def parse(key: str, text: str) -> Any:
    """VALUE as typed on the command line, for setting `key`: text for a text setting, else a TOML value
    (a number, true/false, a [list] or an { inline = table })."""
    section, name = _known(key)
    if get_type_hints(type(getattr(config.Settings(), section)))[name] is str:
        return text
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        raise ConfigError(f"{key}: {text!r} is not a value of this setting; give a number, true/false, "
                          "a list like [400, 1200] or a table like { web = 250 }.") from None


def set_value(path: Path, key: str, text: str) -> tuple[config.Settings, Entry]:
    """Change one setting in the config file at `path`; returns the new settings and the changed entry.

    The file is left as it was when the value is refused (ConfigError naming the setting).
    """
    section, name = _known(key)
    value = parse(key, text)
    data = config.current_names(tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {})
    data.setdefault(section, {})[name] = value
    settings = config.from_dict(data)
    path.write_text(config.render_toml(settings), encoding="utf-8")
    return settings, get(settings, key)
