"""Reads a YAML config file into a validated ProxyConfig.

Every error names the file, the line and the key path, e.g.
``proxy.yaml:14: policy.input.toxicity.profane.block: Input should be less than or equal to 1``.
Each check's options are parsed by its classifier type's model too (check_options.py), e.g.
``proxy.yaml:9: checks[0] 'guard' (type heads): options.hedas: unknown option; known: ...``.
Values are interpolated from the environment first (``${VAR}``, ``${VAR:-default}``: the rules
are in proxy/config/interpolate.py); no message shows a variable's value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from proxy.config.check_options import ParsedOptions, parse_check_options
from proxy.config.interpolate import load_yaml, scrub
from proxy.config.schema import ProxyConfig


class ConfigError(Exception):
    """A config that cannot be used; ``str()`` is the message to show the operator."""


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    config: ProxyConfig
    source: str  # file path or "<embedded defaults>"
    # Of the raw file, before interpolation (what `sha256sum FILE` prints): no variable's
    # value, secret or not, enters it.
    sha256: str
    # Restart-only settings whose value in the file differs from the running one: ``config``
    # holds the running values (proxy/config/restart.py), and ``restart_sha256`` names the
    # file they come from.
    restart_pending: tuple[str, ...] = ()
    restart_sha256: str | None = None
    # Each check's options parsed by its type's model (proxy/config/check_options.py), by
    # check name: what the snapshot hands to the classifiers.
    check_options: ParsedOptions = field(default_factory=dict)

    @property
    def running_sha256(self) -> str:
        """The hash of what runs: the file's when it runs in full; while a restart is pending,
        a hash of both files' hashes (it matches neither file: neither runs in full)."""
        if not self.restart_pending:
            return self.sha256
        return hashlib.sha256(f"{self.sha256}+{self.restart_sha256}".encode()).hexdigest()


def load_file(path: str | Path) -> LoadedConfig:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from None
    return parse(raw, str(path))


# The configurations shipped inside the package: the embedded defaults (the accurate
# preset) and the cheaper ones a user may choose instead (``--preset``).
PRESETS = {"default": "defaults.yaml", "fast": "fast.yaml"}


def load_embedded_defaults(preset: str = "default", **overrides: Any) -> LoadedConfig:
    """A configuration shipped inside the package (``PRESETS``), with top-level sections
    overridden."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
    raw = (resources.files("proxy.config") / PRESETS[preset]).read_bytes()
    loaded = parse(raw, "<embedded defaults>" if preset == "default" else f"<preset {preset}>")
    if not overrides:
        return loaded
    data = loaded.config.model_dump(mode="python")
    for section, values in overrides.items():
        data[section] = {**data.get(section, {}), **values}
    config = _validate(data, {}, "<embedded defaults>")
    return LoadedConfig(config, loaded.source, loaded.sha256,
                        check_options=_check_options(config, {}, "<embedded defaults>"))


def parse(raw: bytes, source: str) -> LoadedConfig:
    """The validated config of ``raw``; ConfigError with file:line messages otherwise."""
    try:
        text = raw.decode("utf-8")
        data, document, interpolated = load_yaml(text, source)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    except ValueError:  # an explicit tag (!!int, !!timestamp) on text it cannot read
        raise ConfigError(f"{source}: a value does not match its YAML tag") from None
    if interpolated.errors:
        raise ConfigError("\n".join(interpolated.errors))
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping of sections")
    lines = _line_index(document)
    config = _validate(data, lines, source, interpolated.values)
    options = _check_options(config, lines, source, interpolated.values)
    return LoadedConfig(config, source, hashlib.sha256(raw).hexdigest(), check_options=options)


def _validate(data: dict[str, Any], lines: dict[tuple[str, ...], int], source: str,
              secrets: set[str] | None = None) -> ProxyConfig:
    """``secrets``: interpolated values, scrubbed from the messages (validators may quote
    the value they reject)."""
    try:
        return ProxyConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, lines, source, secrets or set())) from None


def _check_options(config: ProxyConfig, lines: dict[tuple[str, ...], int], source: str,
                   secrets: set[str] | None = None) -> ParsedOptions:
    """Every check's options parsed by its type's model; ConfigError naming each bad key."""
    parsed, problems = parse_check_options(config.checks)
    if problems:
        located = sorted(((_nearest_line(p.path, lines), p.message) for p in problems),
                         key=lambda pair: pair[0])
        raise ConfigError("\n".join(f"{source}:{line}: {scrub(message, secrets or set())}"
                                     for line, message in located))
    return parsed


def _describe(exc: ValidationError, lines: dict[tuple[str, ...], int], source: str,
              secrets: set[str]) -> str:
    messages = []
    for error in exc.errors():
        path = tuple(str(part) for part in error["loc"])
        key = ".".join(path) or "(top level)"
        message = scrub(error["msg"], secrets)
        messages.append(f"{source}:{_nearest_line(path, lines)}: {key}: {message}")
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
