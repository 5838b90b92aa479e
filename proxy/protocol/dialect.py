"""The dialect contract: what one wire API (Chat Completions, Responses, Completions,
Anthropic Messages) must tell the shared pipeline. Sans-IO: no sockets, no config, no
classifiers; bytes and parsed JSON in, views and bodies out.

A dialect answers four questions:

1. Which texts a request carries: ``parse_request`` returns every text the model will read
   (all roles, content parts, tool and function definitions, tool results, instructions,
   system prompts, reasoning), each tagged with its ``role`` and a bounded ``kind``, and a
   ``path`` into the body so a redaction can rewrite it in place. Parts no text classifier
   can read (images, audio, files, token arrays) are counted in ``unreadable``; a part or
   shape the dialect does not know is a ``BadRequest`` unless ``forward_unknown`` is set,
   when it is counted in ``unknown`` (the request is then recorded as ``unchecked``).
2. Which texts an answer carries: ``answer_texts`` returns ``(output index, kind, text)``
   for every output (choices, output items, content blocks), including tool-call
   arguments, refusals, reasoning and audio transcripts.
3. How a stream's events become text: ``stream()`` returns a per-stream ``StreamCodec``
   whose ``read`` turns one SSE event into an ``EventView``.
4. What a block looks like in that API: ``error_body`` (the API's error object),
   ``input_blocked`` (the API's answer to a blocked request), ``block_answer`` (rewrites a
   non-streamed answer), and ``StreamCodec.cut`` (the API's terminal events for a cut
   stream).

Every dialect module also declares ``REQUEST_KINDS``, ``ANSWER_KINDS`` and
``STREAM_EVENTS``: the bounded names of the fields and event types it scores. The bypass
suite has a row for each, so a field added without a test fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol, TypeGuard

from proxy.protocol.errors import ProxyError
from proxy.protocol.sse import SSEEvent

JsonPath = tuple[str | int, ...]
KEY = "<key>"  # last element of the path of a text that is a JSON object's key
# The kind of an inline file's text: declared by every dialect whose requests carry files,
# added by proxy/pipeline/attachments.py once the file is read (never by a parser).
FILE_KIND = "file"
# The kind of the text in an inline image, read by OCR (proxy/pipeline/ocr.py), the same way.
IMAGE_KIND = "image"
# The kind of the speech in an inline audio clip, read by a transcription service
# (proxy/pipeline/transcribe.py), the same way.
AUDIO_KIND = "audio"


@dataclass(frozen=True, slots=True)
class TextField:
    """One model-readable text of a request.

    ``role``: who the model takes it from (``system``, ``developer``, ``user``,
    ``assistant``, ``tool``; ``definition`` for tool/function definitions and schemas).
    ``kind``: a bounded name of the field, from the dialect's ``REQUEST_KINDS``.
    ``path``: keys and indices from the body's root to the string.
    """

    role: str
    kind: str
    path: JsonPath
    text: str


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file or image sent inline with a request (base64 ``data``, or a ``data:`` URL),
    counted in ``unreadable`` until its text is read (proxy/pipeline/attachments.py; an
    image stays counted: its picture is not read). ``path``: where the data is in the body;
    ``media_type``: as the request declares it, when it does."""

    role: str
    path: JsonPath
    data: str
    media_type: str | None = None


def is_data_url(value: Any) -> TypeGuard[str]:
    """A ``data:`` URL (its scheme in any case, as URL schemes are)."""
    return isinstance(value, str) and value[:5].lower() == "data:"


def is_web_url(value: Any) -> TypeGuard[str]:
    """An ``http`` or ``https`` URL (its scheme in any case)."""
    return isinstance(value, str) and value[:8].lower().startswith(("https://", "http://"))


LinkShape = Literal["url", "source", "file_part"]


@dataclass(frozen=True, slots=True)
class Linked:
    """An image or a PDF a request gives by URL (http or https), counted in ``unreadable``:
    the proxy may fetch it, read its text and send it upstream inline in its place
    (proxy/pipeline/fetch.py). ``path``: the node an inline copy replaces; ``shape``: what
    that node is, and so what replaces it:

    - ``url``: the URL string, written back as a ``data:`` URL (Chat Completions
      ``image_url``, Responses ``input_image``);
    - ``source``: an Anthropic ``url`` source object, written back as a ``base64`` source
      (images and PDF documents);
    - ``file_part``: a Responses ``input_file`` part with a ``file_url``, written back
      with ``file_data`` (and a ``filename``, which the API asks for with it) instead.
    """

    role: str
    path: JsonPath
    url: str
    shape: LinkShape = "url"
    document: bool = False  # a file: fetched only when it is a PDF; else an image

    def inline(self, data: str, media_type: str, node: Any) -> Any:
        """What replaces ``node`` (the one at ``path``): ``data`` (base64) of
        ``media_type``, in the API's shape."""
        if self.shape == "source":
            return {"type": "base64", "media_type": media_type, "data": data}
        if self.shape == "file_part":
            part = {key: value for key, value in node.items() if key != "file_url"}
            part.setdefault("filename", _file_name(self.url))
            return {**part, "file_data": f"data:{media_type};base64,{data}"}
        return f"data:{media_type};base64,{data}"

    def data_path(self) -> JsonPath:
        """Where the inline data sits once written."""
        return {"url": self.path, "source": (*self.path, "data"),
                "file_part": (*self.path, "file_data")}[self.shape]


def _file_name(url: str) -> str:
    name = url.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return name if name.lower().endswith(".pdf") else "document.pdf"


@dataclass(slots=True)
class ParsedRequest:
    """A request as parsed; ``body`` is kept whole (unknown fields pass through untouched)."""

    body: dict[str, Any]
    texts: list[TextField] = field(default_factory=list)
    model: str | None = None
    stream: bool = False
    unreadable: int = 0  # parts no text classifier can read: images, audio, files, tokens
    unknown: int = 0  # unknown shapes forwarded because forward_unknown was set
    # each text is a request of its own (a batch: a list of prompts or embedding inputs),
    # never read joined with another
    independent: bool = False
    attachments: list[Attachment] = field(default_factory=list)  # inline files, unreadable
    linked: list[Linked] = field(default_factory=list)  # images and PDFs by URL, unreadable

    def attach(self, role: str, path: JsonPath, data: Any, media_type: Any = None) -> None:
        """An inline file: unreadable, and its data kept for reading when it is a string."""
        self.unreadable += 1
        if isinstance(data, str) and data:
            self.attachments.append(Attachment(
                role, path, data, media_type if isinstance(media_type, str) else None))

    def link(self, role: str, path: JsonPath, url: Any, shape: LinkShape = "url", *,
             document: bool = False) -> None:
        """An image or PDF by URL: unreadable, and kept for fetching when it is an http(s)
        URL (``path``, ``shape`` and ``document`` as ``Linked`` says)."""
        self.unreadable += 1
        if is_web_url(url):
            self.linked.append(Linked(role, path, url, shape, document))

    def at(self, path: JsonPath) -> Any:
        """The body's value at ``path`` (which exists)."""
        node: Any = self.body
        for key in path:
            node = node[key]
        return node

    def put(self, path: JsonPath, value: Any) -> None:
        """Writes ``value`` at ``path`` in the body (which exists)."""
        self.at(path[:-1])[path[-1]] = value

    def last_user_text(self) -> str | None:
        for text in reversed(self.texts):
            if text.role == "user":
                return text.text
        return None

    def conversation(self) -> list[dict[str, str]]:
        return [{"role": text.role, "content": text.text} for text in self.texts]

    def replace_text(self, text: TextField, new_text: str) -> bool:
        """Writes ``new_text`` where ``text`` came from (redaction). False for a text that
        is a JSON key (``path`` ends in ``KEY``): keys are scored but never rewritten."""
        if text.path and text.path[-1] == KEY:
            return False
        self.put(text.path, new_text)
        return True


class AnswerText(NamedTuple):  # one per text of every answer: a tuple, made cheaply
    output: int  # choice index (chat, completions); 0 for one-output APIs
    kind: str  # from the dialect's ANSWER_KINDS
    text: str


@dataclass(slots=True)
class EventView:
    """What one upstream stream event means to the stream moderator.

    ``texts``: (output index, delta text) pairs this event adds to the answer.
    ``alternatives``: (output index, rank, tokens) this event adds to the texts its
    log-probabilities spell (``logprobs.py``), each rank windowed apart.
    ``finished``: outputs this event closes. ``ends``: the event belongs to the end of the
    stream (finish reasons, completed/stop events, ``[DONE]``); the moderator holds it until
    the whole answer has been checked. ``model``: the model name when the event tells it.
    """

    texts: list[tuple[int, str]] = field(default_factory=list)
    alternatives: list[tuple[int, int, str]] = field(default_factory=list)
    finished: set[int] = field(default_factory=set)
    ends: bool = False
    model: str | None = None


class StreamCodec(Protocol):
    """Per stream state (ids, the response object announced at the start, open blocks)."""

    def read(self, event: SSEEvent) -> EventView:
        """An event it cannot parse is relayed, its data read as text
        (``SSEEvent.unparsed_texts``). Raises only BadRequest,
        for JSON nested past MAX_DEPTH (the relay ends such a stream as broken)."""
        ...

    def cut(self, open_outputs: Sequence[int], safety: dict[str, Any],
            refusal_text: str | None, *, relayed: int | None = None) -> bytes:
        """The encoded SSE events that end a stream stopped by the content filter, in this
        API's own terminal shape. ``refusal_text`` is given when no text reached the client
        yet; the events then carry it (on the lowest open output). ``relayed``: how many of
        the events read (in order, not counting those held as ``ends``) reached the client,
        so a codec whose API has opening events (a message or response start, content
        blocks) closes exactly what the client saw open; None means all of them. The
        stream moderator sends nothing after these bytes: held ``ends`` events of the
        upstream (its ``[DONE]``, a usage chunk) are dropped."""
        ...


    def broken(self, message: str) -> bytes:
        """The encoded events that tell the client the upstream's stream broke off midway
        (this API's in-band error event), ending the stream."""
        ...


class Dialect(Protocol):
    name: str  # the route label in metrics and logs: chat_completions, responses, ...
    upstream_path: str  # relative to upstream.base_url, e.g. "chat/completions"

    def parse_request(self, raw: bytes, *, forward_unknown: bool = False) -> ParsedRequest:
        """Raises BadRequest (with ``param``) on a body the API would reject."""
        ...

    def answer_texts(self, body: dict[str, Any]) -> list[AnswerText]:
        """Raises only BadRequest, for JSON nested past MAX_DEPTH (the route answers 502)."""
        ...

    def block_answer(self, body: dict[str, Any], blocked: set[int], refusal_text: str,
                     safety: dict[str, Any]) -> None:
        """Rewrites a non-streamed answer in place: the blocked outputs replaced by
        ``refusal_text`` in this API's "stopped by the content filter" shape."""
        ...

    def input_blocked(self, request: ParsedRequest, request_id: str, safety: dict[str, Any],
                      refusal_text: str, style: str) -> tuple[int, dict[str, Any] | bytes]:
        """Status and body for a blocked request: a JSON body, or encoded SSE bytes when the
        API answers the block as a stream. ``style`` is ``error`` or ``refusal``."""
        ...

    def error_body(self, error: ProxyError) -> dict[str, Any]:
        """The API's own error object for ``error`` (status is ``error.status``)."""
        ...

    def stream(self, request: ParsedRequest, request_id: str) -> StreamCodec: ...
