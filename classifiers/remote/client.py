"""An Open Inference Protocol client for one model: pooled HTTP, gathered calls, retries.

Contract. :meth:`RemoteClient.start` opens one pooled ``aiohttp.ClientSession``, checks that
the server and the model are ready and reads the model's metadata (protocol.py): any failure
there raises ClassifierConfigError, and the proxy refuses the config with that message.
:meth:`RemoteClient.classify` returns a score vector per text (the model's output columns,
in order), its texts gathered with other calls' (gather.py). :meth:`RemoteClient.infer` is
one inference call: bounded by ``timeout_s`` with its retries (on 503, 429 and connection
errors: exponential, jittered backoff that never sleeps past the deadline). Every failure is
a ClassifierError (``Overloaded`` when the queue is full) whose message never holds a text
we sent nor the API key (read from the variable ``api_key_env`` names, sent as a Bearer
token).
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import orjson

from classifiers.base import ClassifierConfigError, ClassifierError
from classifiers.remote.gather import Gatherer
from classifiers.remote.options import RemoteOptions
from classifiers.remote.protocol import (
    ModelFacts,
    Scored,
    WireError,
    encoded_infer_body,
    model_path,
    read_metadata,
    read_scores,
)

RETRIED_STATUSES = (429, 503)
JSON_CONTENT = {"Content-Type": "application/json"}
_ERROR_CHARS = 160


class _Retryable(Exception):
    """A failure worth another try (503, 429, a connection error); its message is safe."""


class RemoteClient:
    def __init__(self, name: str, remote: RemoteOptions, *, max_queue: int,
                 on_batch: Callable[[int], None] | None = None) -> None:
        self._name, self._remote = name, remote
        self._base = f"{remote.url}{model_path(remote)}"
        self._api_key: str | None = None
        self._session: aiohttp.ClientSession | None = None
        self.columns = 0  # the output's width, known once started
        self.gatherer: Gatherer[list[float]] = Gatherer(
            self._vectors, name=name, max_batch=remote.max_batch,
            max_wait_ms=remote.max_wait_ms, max_queue=max_queue,
            max_concurrency=remote.max_concurrency, on_batch=on_batch)

    async def start(self) -> ModelFacts:
        self._api_key = self._read_key()
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        self._session = aiohttp.ClientSession(headers=headers)
        try:
            facts = await self._handshake()
        except BaseException:
            await self.close()
            raise
        self.columns = len(facts.class_names)
        self.gatherer.start()
        return facts

    async def close(self) -> None:
        await self.gatherer.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def classify(self, texts: Sequence[str]) -> list[list[float]]:
        return await self.gatherer.submit(texts)

    async def infer(self, texts: Sequence[str]) -> Scored:
        """One inference call for ``texts`` (at most max_batch), retries included."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._remote.timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                return await self._with_retries(texts, deadline)
        except TimeoutError:
            raise self._error(f"no answer within timeout_s ({self._remote.timeout_s}s)",
                              texts) from None

    async def _vectors(self, texts: list[str]) -> list[list[float]]:
        return (await self.infer(texts)).vectors

    async def _with_retries(self, texts: Sequence[str], deadline: float) -> Scored:
        loop = asyncio.get_running_loop()
        for attempt in range(self._remote.retries + 1):
            try:
                return await self._post(texts)
            except _Retryable as exc:
                delay = random.uniform(0.5, 1.0) * self._remote.backoff_s * 2 ** attempt
                if attempt == self._remote.retries or loop.time() + delay >= deadline:
                    raise self._error(f"{exc} (after {attempt + 1} tries)", texts) from None
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _post(self, texts: Sequence[str]) -> Scored:
        assert self._session is not None, "start() was not awaited"
        try:
            async with self._session.post(
                    f"{self._base}/infer", data=encoded_infer_body(self._remote, texts),
                    headers=JSON_CONTENT) as response:
                raw = await response.read()
                status = response.status
        except aiohttp.ClientConnectionError as exc:
            raise _Retryable(f"connection failed: {type(exc).__name__}") from None
        except aiohttp.ClientError as exc:
            raise self._error(f"request failed: {type(exc).__name__}", texts) from None
        if status in RETRIED_STATUSES:
            raise _Retryable(f"server answered HTTP {status}")
        if status != 200:
            # The body is not shown: a server's error may quote the inputs, escaped or cut.
            raise self._error(f"server answered HTTP {status}", texts)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise self._error("malformed inference response: the body is not JSON",
                              texts) from None
        try:
            return read_scores(body, self._remote, len(texts), self.columns)
        except WireError as exc:
            raise self._error(f"malformed inference response: {exc}", texts) from None

    async def _handshake(self) -> ModelFacts:
        try:
            async with asyncio.timeout(self._remote.timeout_s):
                await self._get("/v2/health/ready", self._remote.url)
                await self._get("/ready", self._base)
                metadata = await self._get("", self._base)
            return read_metadata(metadata, self._remote)
        except TimeoutError:
            problem = f"no answer within timeout_s ({self._remote.timeout_s}s)"
        except (aiohttp.ClientError, WireError, ClassifierError) as exc:
            problem = str(exc) if not isinstance(exc, aiohttp.ClientError) \
                else f"{type(exc).__name__}: {exc}"
        raise ClassifierConfigError(self._scrub(
            f"{self._name}: remote model {self._remote.model!r} at {self._remote.url}: "
            f"{problem}")) from None

    async def _get(self, path: str, base: str) -> Any:
        assert self._session is not None
        async with self._session.get(f"{base}{path}") as response:
            raw = await response.read()
            if response.status != 200:
                raise ClassifierError(f"GET {path or 'metadata'} answered HTTP "
                                      f"{response.status}{self._detail(raw)}")
        try:
            return orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            raise WireError(f"GET {path or 'metadata'}: the body is not JSON") from None

    def _read_key(self) -> str | None:
        env = self._remote.api_key_env
        if env is None:
            return None
        key = os.environ.get(env)
        if not key:
            raise ClassifierConfigError(f"{self._name}: environment variable {env} (the "
                                        "inference server's API key) is not set")
        return key

    @staticmethod
    def _detail(raw: bytes) -> str:
        """The start of an error body (only where no text of ours was sent: start-up)."""
        body = raw[:_ERROR_CHARS].decode("utf-8", "replace").strip()
        return f": {body}" if body else ""

    def _scrub(self, message: str) -> str:
        return message.replace(self._api_key, "[api key]") if self._api_key else message

    def _error(self, message: str, texts: Sequence[str]) -> ClassifierError:
        for text in texts:  # no message quotes a body, but an exception's words might
            if len(text) >= 3:
                message = message.replace(text, "[text]")
        return ClassifierError(self._scrub(f"{self._name}: remote inference: {message}"))
