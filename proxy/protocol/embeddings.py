"""The Embeddings dialect (``POST /v1/embeddings``), sans-IO.

An embedding model reads text too: what an application embeds is what it later retrieves
and puts in front of a generation model (RAG), so the ``input`` is scored like any prompt.
``input`` has the shapes of a Completions prompt (a string, strings, token ids, token
lists: tokens are unreadable). An answer is vectors: no text to score. A blocked request
gets the OpenAI 400 ``content_filter`` error whatever ``input_block_style`` says (there is
no refusal text to embed); the API does not stream.
"""

from __future__ import annotations

from typing import Any

from proxy.protocol.chat_answer import ChatStreamCodec
from proxy.protocol.completions import collect_prompt
from proxy.protocol.dialect import AnswerText, ParsedRequest, StreamCodec
from proxy.protocol.errors import BadRequest, ProxyError, error_envelope
from proxy.protocol.fields import load_object, request_of
from proxy.protocol.safety import input_blocked_envelope

REQUEST_KINDS = frozenset({"input"})
ANSWER_KINDS: frozenset[str] = frozenset()  # vectors
STREAM_EVENTS: frozenset[str] = frozenset()  # the API does not stream


class EmbeddingsDialect:
    name = "embeddings"
    upstream_path = "embeddings"

    def parse_request(self, raw: bytes, *, forward_unknown: bool = False) -> ParsedRequest:
        body = load_object(raw)
        if "input" not in body:
            raise BadRequest("'input' is a required property", param="input")
        request = request_of(body)
        request.stream = False  # the API does not stream: the answer is always JSON
        collect_prompt(request, body["input"], forward_unknown, key="input")
        return request

    def answer_texts(self, body: dict[str, Any]) -> list[AnswerText]:
        return []

    def block_answer(self, body: dict[str, Any], blocked: set[int], refusal_text: str,
                     safety: dict[str, Any]) -> None:
        """Never called: an answer of vectors has no text to block."""

    def input_blocked(self, request: ParsedRequest, request_id: str, safety: dict[str, Any],
                      refusal_text: str, style: str) -> tuple[int, dict[str, Any] | bytes]:
        return 400, input_blocked_envelope(safety, param="input")

    def error_body(self, error: ProxyError) -> dict[str, Any]:
        return error_envelope(error.message, error.error_type, error.param, error.code)

    def stream(self, request: ParsedRequest, request_id: str) -> StreamCodec:
        """Never used (``stream`` is always false here); an OpenAI chunk codec if it were."""
        return ChatStreamCodec(request_id, request.model)


DIALECT = EmbeddingsDialect()
