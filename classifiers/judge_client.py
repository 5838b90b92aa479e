"""A small client for judge models behind an OpenAI-compatible chat-completions endpoint.

Shared by ``rubric`` and ``llama_guard``. Contract: :meth:`JudgeClient.complete` sends one
chat request (temperature 0) and returns the first choice's text, or raises
ClassifierError. It bounds every call with ``timeout_s`` and the number of calls in flight
with ``max_concurrency``. The API key is read from the environment variable named by
``api_key_env`` at start; it is sent only as the Authorization header and is scrubbed
from every error message (a misbehaving server may echo it back).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections import OrderedDict
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import aiohttp

from classifiers.base import Classifier, ClassifierConfigError, ClassifierError

_ERROR_BODY_CHARS = 200


def _require(
    options: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any = None
) -> Any:
    value = options.get(key, default)
    if value is None or not isinstance(value, kind) or isinstance(value, bool):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        expected = " or ".join(k.__name__ for k in kinds)
        raise ClassifierConfigError(f"options.{key}: expected {expected}, got {value!r}")
    return value


def int_option(options: Mapping[str, Any], key: str, default: int, minimum: int) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ClassifierConfigError(f"options.{key}: an integer >= {minimum}, got {value!r}")
    return value


def bool_option(options: Mapping[str, Any], key: str, default: bool) -> bool:
    value = options.get(key, default)
    if not isinstance(value, bool):
        raise ClassifierConfigError(f"options.{key}: true or false, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class JudgeEndpoint:
    """Where the judge is and how hard to call it (validated from a check's options)."""

    base_url: str
    model: str
    api_key_env: str | None = None
    timeout_s: float = 10.0
    max_concurrency: int = 8

    KEYS = frozenset({"base_url", "model", "api_key_env", "timeout_s", "max_concurrency"})

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> JudgeEndpoint:
        base_url = _require(options, "base_url", str)
        if not base_url.startswith(("http://", "https://")):
            raise ClassifierConfigError("options.base_url: must start with http:// or https://")
        timeout_s = float(_require(options, "timeout_s", (int, float), 10.0))
        concurrency = _require(options, "max_concurrency", int, 8)
        if timeout_s <= 0 or concurrency < 1:
            raise ClassifierConfigError("options: timeout_s must be > 0, max_concurrency >= 1")
        key_env = options.get("api_key_env")
        if key_env is not None and not isinstance(key_env, str):
            raise ClassifierConfigError("options.api_key_env: the NAME of an environment variable")
        return cls(base_url.rstrip("/"), _require(options, "model", str), key_env,
                   timeout_s, concurrency)


class JudgeClient:
    def __init__(self, name: str, endpoint: JudgeEndpoint) -> None:
        self._name = name
        self._endpoint = endpoint
        self._api_key: str | None = None
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(endpoint.max_concurrency)

    async def start(self) -> None:
        env = self._endpoint.api_key_env
        if env is not None:
            self._api_key = os.environ.get(env)
            if not self._api_key:
                raise ClassifierConfigError(f"environment variable {env} (the judge's API key) "
                                            "is not set")
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        self._session = aiohttp.ClientSession(headers=headers)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def complete(self, messages: Sequence[Mapping[str, str]], max_tokens: int = 20) -> str:
        assert self._session is not None, "start() was not awaited"
        body = {"model": self._endpoint.model, "messages": list(messages),
                "temperature": 0, "max_tokens": max_tokens}
        url = f"{self._endpoint.base_url}/chat/completions"
        try:
            async with (
                self._slots,
                asyncio.timeout(self._endpoint.timeout_s),
                self._session.post(url, json=body) as response,
            ):
                if response.status != 200:
                    text = (await response.text())[:_ERROR_BODY_CHARS]
                    raise self._error(f"judge answered HTTP {response.status}: {text}")
                payload = await response.json(content_type=None)
        except TimeoutError:
            raise self._error(f"judge timed out after {self._endpoint.timeout_s}s") from None
        except (aiohttp.ClientError, ValueError) as exc:
            raise self._error(f"judge request failed: {type(exc).__name__}: {exc}") from None
        return self._content(payload)

    def _content(self, payload: Any) -> str:
        try:
            content = payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise self._error("judge response has no choices[0].message.content") from None
        if not isinstance(content, str):
            raise self._error("judge response content is not a string")
        return content

    def _error(self, message: str) -> ClassifierError:
        if self._api_key:
            message = message.replace(self._api_key, "[api key]")
        return ClassifierError(f"{self._name}: {message}")


def content_key(*parts: str | None) -> str:
    """A cache key for texts: a hash, so the cache holds no conversation text as keys."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(b"\x00" if part is None else b"\x01" + part.encode("utf-8", "replace"))
        digest.update(b"\x1f")
    return digest.hexdigest()


V = TypeVar("V")


class LruCache(Generic[V]):
    """A bounded least-recently-used map; ``size`` 0 disables it."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, V] = OrderedDict()

    def get(self, key: str) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: V) -> None:
        if self._size <= 0:
            return
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


async def gather_all(calls: Sequence[Awaitable[V]]) -> list[V]:
    """Runs judge calls together; once all have finished, raises the first failure if any.

    Waiting for all (rather than failing fast) means no call is left running unobserved,
    and the verdicts that did arrive are cached for the next request.
    """
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [result for result in results if not isinstance(result, BaseException)]


class JudgeBackedClassifier(Classifier):
    """A classifier that asks a model behind an OpenAI-compatible endpoint: checks its options
    (the endpoint's and the subclass's ``own_options``) and owns the client's session from
    ``start`` to ``close``. Its verdicts depend on the prompt and conversation
    (``reads_context``): the proxy's verdict cache keys on them, so there is no cache here."""

    reads_context = True
    normalize_by_default = False

    own_options: frozenset[str] = frozenset()

    def __init__(self, name: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        unknown = set(self.options) - JudgeEndpoint.KEYS - self.own_options
        if unknown:
            raise ClassifierConfigError(f"unknown options {sorted(unknown)}")
        self._endpoint = JudgeEndpoint.from_options(self.options)
        self._client = JudgeClient(name, self._endpoint)

    async def start(self) -> None:
        await self._client.start()

    async def close(self) -> None:
        await self._client.close()
