"""Reads a YAML config file into a validated ProxyConfig.

Every error names the file, the line and the key path, e.g.
``proxy.yaml:14: policy.input.toxicity.profane.block: Input should be less than or equal to 1``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from proxy.config.schema import ProxyConfig


class ConfigError(Exception):
    """A config that cannot be used; ``str()`` is the message to show the operator."""


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    config: ProxyConfig
    source: str  # file path or "<embedded defaults>"
    sha256: str  # of the raw file, exported as a metric label by hash prefix


def load_file(path: str | Path) -> LoadedConfig:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from None
    return parse(raw, str(path))


def load_embedded_defaults(**overrides: Any) -> LoadedConfig:
    """The demo configuration shipped inside the package, with top-level sections overridden."""
    raw = (resources.files("proxy.config") / "defaults.yaml").read_bytes()
    loaded = parse(raw, "<embedded defaults>")
    if not overrides:
        return loaded
    data = loaded.config.model_dump(mode="python")
    for section, values in overrides.items():
        data[section] = {**data.get(section, {}), **values}
    return LoadedConfig(_validate(data, {}, "<embedded defaults>"), loaded.source, loaded.sha256)


def parse(raw: bytes, source: str) -> LoadedConfig:
    try:
        text = raw.decode("utf-8")
        document = yaml.compose(text)
        data = yaml.safe_load(text)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping of sections")
    lines = _line_index(document)
    config = _validate(data, lines, source)
    return LoadedConfig(config, source, hashlib.sha256(raw).hexdigest())


def _validate(data: dict[str, Any], lines: dict[tuple[str, ...], int], source: str) -> ProxyConfig:
    try:
        return ProxyConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, lines, source)) from None


def _describe(exc: ValidationError, lines: dict[tuple[str, ...], int], source: str) -> str:
    messages = []
    for error in exc.errors():
        path = tuple(str(part) for part in error["loc"])
        key = ".".join(path) or "(top level)"
        messages.append(f"{source}:{_nearest_line(path, lines)}: {key}: {error['msg']}")
    return "\n".join(messages)


def _nearest_line(path: Sequence[str], lines: dict[tuple[str, ...], int]) -> int:
    """The line of the deepest key of ``path`` present in the file (1 when none is)."""
    for depth in range(len(path), 0, -1):
        if tuple(path[:depth]) in lines:
            return lines[tuple(path[:depth])]
    return 1


def _line_index(node: yaml.Node | None, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    index: dict[tuple[str, ...], int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = (*prefix, str(key_node.value))
            index[path] = key_node.start_mark.line + 1
            index.update(_line_index(value_node, path))
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            path = (*prefix, str(position))
            index[path] = item.start_mark.line + 1
            index.update(_line_index(item, path))
    return index
