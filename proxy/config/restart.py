"""Settings a reload cannot apply: they are read once, at start. The one list of them.

A reload whose file changes one of them applies every other change, keeps the running value
of these (the snapshot's config says so: it holds what runs), logs a warning and sets
``safety_proxy_config_restart_required{setting}`` to 1 until a restart, or a later file that
restores the running value.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel, ValidationError

from proxy.config.loader import ConfigError, LoadedConfig
from proxy.config.schema import ProxyConfig

# Dotted config paths; a section name covers every key under it.
RESTART_ONLY: tuple[str, ...] = (
    "server.host",  # the client listener is bound at start
    "server.port",
    "admin",  # its own listener, token and limits, mounted at start
    "store",  # the state store connection, its key prefix and failure mode
    "cache",  # the verdict cache, built on the store at start
    "identity.secret",  # principals are hashed with the secret read at start
    "identity.secret_env",
    "logging.level",  # logging is configured once (logging.text follows reloads)
    "logging.format",
    "reload.watch",  # the watcher itself
    "reload.interval_s",
)


def keep_restart_only(loaded: LoadedConfig, running: LoadedConfig) -> LoadedConfig:
    """``loaded`` as a reload can apply it: its restart-only settings that differ from
    ``running``'s are set back to the running values and listed in ``restart_pending``.
    ConfigError when the file is valid alone but not with those running values."""
    pending = tuple(path for path in RESTART_ONLY
                    if _get(loaded.config, path) != _get(running.config, path))
    if not pending:
        return loaded
    data = loaded.config.model_dump(mode="python")
    for path in pending:
        _set(data, path, _get(running.config, path))
    try:
        config = ProxyConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}"
                             for e in exc.errors())
        raise ConfigError(f"{loaded.source}: restart-only settings ({', '.join(pending)}) keep "
                          "their running values until a restart, and with them the new config "
                          f"is invalid: {problems}") from None
    source = running.restart_sha256 or running.sha256
    return dataclasses.replace(loaded, config=config, restart_pending=pending,
                               restart_sha256=source)


def _get(config: ProxyConfig, path: str) -> Any:
    value: Any = config
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        data = data[part]
    data[last] = value.model_dump(mode="python") if isinstance(value, BaseModel) else value
