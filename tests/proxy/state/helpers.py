"""Factories for state-layer tests: settings sections and request outcomes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from proxy.config.state_settings import (
    AbuseConfig,
    AdminConfig,
    CacheConfig,
    EventsConfig,
    IdentityConfig,
    StoreConfig,
)
from proxy.state.ports import Outcome, Principal
from proxy.verdict import Decision, Reason

SECRET = "test-principal-secret"


@dataclass(frozen=True)
class Settings:
    store: StoreConfig = field(default_factory=StoreConfig)
    identity: IdentityConfig = field(
        default_factory=lambda: IdentityConfig(secret=SECRET))  # type: ignore[arg-type]
    abuse: AbuseConfig = field(default_factory=AbuseConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)


def settings(url: str = "memory", **sections: dict[str, Any]) -> Settings:
    """Settings with store.url and any section's fields overridden."""
    store = {"url": url, "reconnect_min_s": 0.05, "reconnect_max_s": 0.2, "timeout_s": 2.0,
             **sections.pop("store", {})}
    built: dict[str, Any] = {"store": StoreConfig(**store)}
    for name, model in (("identity", IdentityConfig), ("abuse", AbuseConfig),
                        ("cache", CacheConfig), ("events", EventsConfig)):
        if name in sections:
            values = sections[name] if name != "identity" else {"secret": SECRET,
                                                                 **sections[name]}
            built[name] = model(**values)
    return Settings(**built)


def outcome(principal: str | None, action: Any = "flag", *, texts: dict | None = None,
            request_id: str = "req-1", source: Any = "api_key") -> Outcome:
    score = 0.7 if action == "flag" else 1.0
    decision = Decision(action, (Reason("script", "bad", score, 0.5, action),)
                        if action != "allow" else ())
    return Outcome(request_id=request_id,
                   principal=Principal(principal, source if principal else "anonymous"),
                   tenant="acme", model="gpt-test", decision=decision,
                   directions={"input": decision, "output": Decision("allow")},
                   scores={"input.script": {"bad": score}},
                   texts=texts or {"input": ["hello", "x" * 500]})


async def eventually(condition: Callable[[], Any], timeout: float = 5.0,
                     message: str = "condition not met in time") -> None:
    """Waits until ``condition()`` (sync or async) is truthy; fails after ``timeout`` (a
    safety cap: generous, for a loaded machine) with ``message``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(message)
        await asyncio.sleep(0.02)


def sample(metrics: Any, name: str, labels: dict[str, str] | None = None) -> float:
    value = metrics.registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else float(value)
