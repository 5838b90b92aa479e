"""A small client for judge models behind an OpenAI-compatible chat-completions endpoint.

Shared by ``rubric`` and ``llama_guard``. Contract: :meth:`JudgeClient.complete` sends one
chat request (temperature 0) and returns the first choice's text, or raises ClassifierError.
It bounds every call with ``timeout_s`` and the number of calls in flight with
``max_concurrency`` (options: classifiers/judge_options.py). The API key is read from the
environment variable named by ``api_key_env`` at start; it is sent only as the Authorization
header and is scrubbed from every error message (a misbehaving server may echo it back).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import aiohttp

from classifiers.base import Classifier, ClassifierConfigError, ClassifierError
from classifiers.judge_options import JudgeOptions
from classifiers.options import ClassifierOptions, settings_of

_ERROR_BODY_CHARS = 200


class JudgeClient:
    def __init__(self, name: str, endpoint: JudgeOptions) -> None:
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


V = TypeVar("V")


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
    """A classifier that asks a model behind an OpenAI-compatible endpoint: parses its options
    (``options_model``: the endpoint's and the subclass's own) and owns the client's session
    from ``start`` to ``close``. Its verdicts depend on the prompt and conversation
    (``reads_context``): the proxy's verdict cache keys on them, so there is no cache here."""

    reads_context = True
    normalize_by_default = False

    options_model: ClassVar[type[JudgeOptions]] = JudgeOptions
    settings: JudgeOptions

    def __init__(self, name: str,
                 options: ClassifierOptions | Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        self.settings = settings_of(self.options_model, name, self.type_name, options)
        self._client = JudgeClient(name, self.settings)

    async def start(self) -> None:
        await self._client.start()

    async def close(self) -> None:
        await self._client.close()
