"""The rows of the bypass suite: one per field, part and event type that can carry text
to the model or back to the user, per dialect. Each row puts ``BAD`` (which the suite's
scripted check blocks) in exactly one place. ``kind`` names the dialect's declared kind
the row covers: a kind declared without a row fails ``test_every_declared_kind_has_a_row``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from tests.support.image import image_url, scanned_pdf, text_png
from tests.support.pdf import data_url, text_pdf
from tests.support.transcriber import wav
from tests.support.upstream import SSEEvent, chat_chunk, chat_completion

BAD = "BADWORD"


@dataclass(frozen=True)
class InputRow:
    dialect: str
    kind: str
    body: dict[str, Any]
    path: str = ""  # the API path after /v1/; the dialect's own when empty
    note: str = ""

    @property
    def id(self) -> str:
        return f"{self.dialect}:{self.kind}{':' + self.note if self.note else ''}"


@dataclass(frozen=True)
class OutputRow:
    dialect: str
    kind: str
    answer: dict[str, Any] | None = None  # a whole (non-streamed) answer
    events: list[tuple[str | None, dict[str, Any] | str]] = field(default_factory=list)
    note: str = ""
    event: str = ""  # streams: the event type (the dialect's STREAM_EVENTS) that holds BAD

    @property
    def id(self) -> str:
        mode = "stream" if self.events else "json"
        return f"{self.dialect}:{self.kind}:{mode}{':' + self.note if self.note else ''}"


def user(content: Any, **extra: Any) -> dict[str, Any]:
    return {"role": "user", "content": content, **extra}


def chat(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [*messages] or [user("hello")], **extra}


def function_tool(description: str = "look up", schema: Any = None) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": "lookup", "description": description,
        "parameters": schema or {"type": "object", "properties": {"q": {"type": "string"}}}}}


def assistant_call(arguments: str, name: str = "lookup") -> dict[str, Any]:
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}]}


# An inline PDF and text file carrying BAD: read as the request's text (kind "file").
PDF = text_pdf(f"Quarterly notes.\nThe plan: {BAD} on Monday.", "Page two.")


# An inline image with BAD written in it: its text read by OCR (kind "image").
PNG = text_png(f"The plan: {BAD} on Monday.")
# A PDF whose page is a picture of the same (a scan: no text layer), read by OCR (kind "file").
SCAN = scanned_pdf(f"The plan: {BAD} on Monday.")
# An inline audio clip saying the same, heard by the suite's fake speech-to-text service
# (tests/support/transcriber.py; kind "audio").
CLIP = wav(523.25)
SPOKEN = {CLIP: f"The plan: {BAD} on Monday."}


def audio_part(fmt: str = "wav") -> dict[str, Any]:
    return {"type": "input_audio",
            "input_audio": {"data": base64.b64encode(CLIP).decode(), "format": fmt}}


def _chat_file(data: str) -> dict[str, Any]:
    return chat(user([{"type": "text", "text": "Summarise this."},
                      {"type": "file", "file": {"filename": "notes.pdf", "file_data": data}}]))


CHAT_INPUT = [
    InputRow("chat_completions", "audio", chat(user([
        {"type": "text", "text": "Answer what I ask."}, audio_part()]))),
    InputRow("chat_completions", "audio", chat(user([audio_part("mp3")])),
             note="declared as another format"),
    InputRow("chat_completions", "audio", chat(user([{"type": "input_audio", "input_audio": {
        "data": "data:audio/wav;base64," + base64.b64encode(CLIP).decode(),
        "format": "wav"}}])), note="as a data: URL"),
    InputRow("chat_completions", "audio", chat(
        user("Listen to the recording."), assistant_call('{"id": 7}'),
        {"role": "tool", "tool_call_id": "call_1", "content": [audio_part()]}),
        note="in a tool result"),
    InputRow("chat_completions", "file", _chat_file(data_url(PDF)), note="pdf"),
    InputRow("chat_completions", "file", _chat_file(data_url(SCAN)), note="scanned pdf"),
    InputRow("chat_completions", "image", chat(user([
        {"type": "text", "text": "What does it say?"},
        {"type": "image_url", "image_url": {"url": image_url(PNG), "detail": "high"}}]))),
    InputRow("chat_completions", "image", chat(
        assistant_call("{}"), {"role": "tool", "tool_call_id": "call_1", "content": [
            {"type": "image_url", "image_url": {"url": image_url(PNG)}}]}),
        note="in a tool message"),
    InputRow("chat_completions", "image", chat(user([
        {"type": "image_url", "image_url": image_url(PNG)}])), note="the url alone"),
    InputRow("chat_completions", "image", chat(user([{"type": "image_url", "image_url": {
        "url": "DATA" + image_url(PNG)[4:]}}])), note="the scheme in capitals"),
    InputRow("chat_completions", "image", _chat_file(image_url(PNG)), note="as a file part"),
    InputRow("chat_completions", "image", chat(  # a vendor's generated image, sent back
        user("Draw a sign."), {"role": "assistant", "content": "Here it is.", "images": [
            {"type": "image_url", "image_url": {"url": image_url(PNG)}}]},
        user("Now make it bigger.")), note="a vendor's generated image sent back"),
    InputRow("chat_completions", "file",
             _chat_file(data_url(f"notes: {BAD}".encode(), "text/plain")), note="text file"),
    InputRow("chat_completions", "message.content", chat(user(BAD))),
    InputRow("chat_completions", "message.content", chat(user([{"type": "text", "text": BAD}])),
             note="text part"),
    InputRow("chat_completions", "message.content", chat({"role": "system", "content": BAD})),
    InputRow("chat_completions", "message.content", chat({"role": "developer", "content": BAD})),
    InputRow("chat_completions", "message.content",
             chat(assistant_call("{}"), {"role": "tool", "tool_call_id": "call_1", "content": BAD},
                  user("go on")), note="tool result"),
    InputRow("chat_completions", "message.content",
             chat({"role": "function", "name": "f", "content": BAD}), note="function result"),
    InputRow("chat_completions", "message.content",
             chat(user([{"type": "image_url", "image_url": {"url": "https://x/i.png"}},
                        {"type": "text", "text": BAD}])), note="after an image"),
    InputRow("chat_completions", "message.name", chat(user("hi", name=BAD))),
    InputRow("chat_completions", "message.refusal",
             chat({"role": "assistant", "content": None, "refusal": BAD}, user("and?"))),
    InputRow("chat_completions", "message.refusal",
             chat({"role": "assistant", "content": [{"type": "refusal", "refusal": BAD}]},
                  user("and?")), note="refusal part"),
    InputRow("chat_completions", "message.reasoning",
             chat({"role": "assistant", "content": "ok", "reasoning_content": BAD}, user("and?"))),
    InputRow("chat_completions", "message.tool_call.arguments",
             chat(assistant_call(f'{{"q": "{BAD}"}}'), user("and?"))),
    InputRow("chat_completions", "message.tool_call.name",
             chat(assistant_call("{}", name=BAD), user("and?"))),
    InputRow("chat_completions", "message.function_call",
             chat({"role": "assistant", "content": None,
                   "function_call": {"name": "f", "arguments": BAD}}, user("and?"))),
    InputRow("chat_completions", "message.extension",
             chat(user("hi", thinking_note=BAD)), note="vendor field of a message"),
    InputRow("chat_completions", "tool.definition", chat(tools=[function_tool(BAD)])),
    InputRow("chat_completions", "tool.definition",
             chat(tools=[function_tool(schema={"type": "object", "properties": {
                 "q": {"type": "string", "description": BAD}}})]), note="schema description"),
    InputRow("chat_completions", "tool.definition",
             chat(tools=[function_tool(schema={"type": "object", "properties": {
                 BAD: {"type": "string"}}})]), note="schema property name"),
    InputRow("chat_completions", "tool.definition",
             chat(functions=[{"name": "f", "description": BAD}]), note="legacy functions"),
    InputRow("chat_completions", "response_format.schema",
             chat(response_format={"type": "json_schema", "json_schema": {
                 "name": "out", "schema": {"type": "object", "description": BAD}}})),
    InputRow("chat_completions", "prediction",
             chat(prediction={"type": "content", "content": BAD})),
    InputRow("chat_completions", "extension", chat(chat_template=f"{{{{ '{BAD}' }}}}"),
             note="vLLM chat_template"),
    InputRow("chat_completions", "extension", chat(prompt=BAD), note="prompt beside messages"),
    InputRow("chat_completions", "extension", chat(instructions=BAD)),
    InputRow("chat_completions", "message.extension", chat({"role": BAD, "content": "hi"}),
             note="a role no API defines (a chat template may write it into the prompt)"),
    InputRow("chat_completions", "message.content", chat(user(BAD)),
             path="deployments/gpt-4o/chat/completions", note="azure"),
]


def _chat_message(**message: Any) -> dict[str, Any]:
    return chat_completion({"role": "assistant", **message})


def chat_delta_events(**delta: Any) -> list[SSEEvent]:
    return [(None, chat_chunk({"role": "assistant", "content": ""})), (None, chat_chunk(delta)),
            (None, chat_chunk({}, "stop")), (None, "[DONE]")]


_CHAT_ANSWERS: list[tuple[str, dict[str, Any], str]] = [
    ("content", {"content": BAD}, ""),
    ("refusal", {"content": None, "refusal": BAD}, ""),
    ("reasoning", {"content": "ok", "reasoning_content": BAD}, ""),
    ("reasoning", {"content": "ok", "reasoning": BAD}, "reasoning"),
    ("tool_call", {"content": None, "tool_calls": [{"index": 0, "id": "c", "type": "function",
                   "function": {"name": "f", "arguments": f'{{"q": "{BAD}"}}'}}]}, ""),
    ("tool_call", {"content": None, "function_call": {"name": "f", "arguments": BAD}},
     "function_call"),
    ("audio.transcript", {"content": None, "audio": {"id": "a", "transcript": BAD}}, ""),
    ("extension", {"content": "ok", "thinking": BAD}, "vendor field"),
]

def _with_choice_fields(answer: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The answer with ``fields`` added to its (one) choice."""
    return {**answer, "choices": [{**answer["choices"][0], **fields}]}


def _logprobs(field: str) -> dict[str, Any]:
    """Chat logprobs as the API returns them with ``logprobs: true, top_logprobs: 1``: the
    chosen tokens repeat the answer's text (under ``content`` or ``refusal``)."""
    token = {"token": BAD, "logprob": -0.1, "bytes": list(BAD.encode()),
             "top_logprobs": [{"token": BAD, "logprob": -0.1, "bytes": list(BAD.encode())}]}
    return {"content": None, "refusal": None, field: [token]}


# An answer whose log-probabilities spell BAD beside it: at each position the second most
# likely token (top_logprobs: 2), the chosen ones saying "Hi there".
_HIDDEN = [("Hi", BAD[:3]), (" there", BAD[3:])]


def _position(chosen: str, alternative: str) -> dict[str, Any]:
    return {"token": chosen, "logprob": -0.1, "bytes": list(chosen.encode()), "top_logprobs": [
        {"token": token, "logprob": logprob, "bytes": list(token.encode())}
        for token, logprob in ((chosen, -0.1), (alternative, -2.4))]}


def _hidden_chunk(chosen: str, alternative: str) -> dict[str, Any]:
    chunk = chat_chunk({"content": chosen})
    chunk["choices"][0]["logprobs"] = {"content": [_position(chosen, alternative)]}
    return chunk


CHAT_OUTPUT = [
    OutputRow("chat_completions", "audio.transcript", note="the clip's own speech",
              answer=_chat_message(content=None, audio={
                  "id": "a", "data": base64.b64encode(CLIP).decode(), "transcript": "Hi."})),
    OutputRow("chat_completions", "logprobs", note="top_logprobs", answer=_with_choice_fields(
        _chat_message(content="Hi there"), logprobs={
            "content": [_position(*pair) for pair in _HIDDEN], "refusal": None})),
    OutputRow("chat_completions", "logprobs", note="top_logprobs", events=[
        (None, chat_chunk({"role": "assistant", "content": ""})),
        *((None, _hidden_chunk(*pair)) for pair in _HIDDEN),
        (None, chat_chunk({}, "stop")), (None, "[DONE]")], event="chat.completion.chunk"),
    *(OutputRow("chat_completions", kind, answer=_chat_message(**message), note=note)
      for kind, message, note in _CHAT_ANSWERS),
    *(OutputRow("chat_completions", kind, events=chat_delta_events(**message), note=note,
                event="chat.completion.chunk") for kind, message, note in _CHAT_ANSWERS),
    *(OutputRow("chat_completions", kind, answer=_with_choice_fields(
        _chat_message(**message), logprobs=_logprobs(field)), note=f"{field} logprobs")
      for kind, message, field in [("content", {"content": BAD}, "content"),
                                   ("refusal", {"content": None, "refusal": BAD}, "refusal")]),
    OutputRow("chat_completions", "extension", answer=_with_choice_fields(
        _chat_message(content="ok"), stop_reason=BAD), note="choice-level vendor field"),
    OutputRow("chat_completions", "extension", events=[
        (None, chat_chunk({"role": "assistant", "content": ""})),
        (None, {**chat_chunk({"content": "ok"}), "choices": [
            {**chat_chunk({"content": "ok"})["choices"][0], "stop_reason": BAD}]}),
        (None, chat_chunk({}, "stop")), (None, "[DONE]")],
        note="choice-level vendor field", event="chat.completion.chunk"),
    OutputRow("chat_completions", "extension", answer={
        **_chat_message(content="ok"), "search_results": [{"title": BAD, "url": "https://x"}]},
        note="top-level vendor field"),
    OutputRow("chat_completions", "extension", events=[  # repeated in every chunk
        (None, {**chunk, "citations": ["https://x", BAD]}) for chunk in [
            chat_chunk({"role": "assistant", "content": ""}), chat_chunk({"content": "ok"}),
            chat_chunk({}, "stop")]] + [(None, "[DONE]")],
        note="top-level vendor field", event="chat.completion.chunk"),
    OutputRow("chat_completions", "extension", answer=_chat_message(content="ok", annotations=[
        {"type": "url_citation", "url_citation": {"url": "https://x", "title": BAD,
                                                  "start_index": 0, "end_index": 2}}]),
        note="a citation's title"),
    *(OutputRow("chat_completions", "extension", note=note, answer=_chat_message(
        content=None, tool_calls=[call])) for note, call in [
            ("a tool call's vendor key", {"id": "c1", "type": "function", "vendor_note": BAD,
                                          "function": {"name": "f", "arguments": "{}"}}),
            ("a function's vendor key", {"id": "c1", "type": "function", "function": {
                "name": "f", "arguments": "{}", "note": BAD}})]),
    OutputRow("chat_completions", "extension", note="a message that is no object", answer={
        **_chat_message(content="x"),
        "choices": [{"index": 0, "message": BAD, "finish_reason": "stop"}]}),
    OutputRow("chat_completions", "extension", note="a delta that is no object", events=[
        (None, chat_chunk({"role": "assistant", "content": ""})),
        (None, {**chat_chunk({}), "choices": [{"index": 0, "delta": BAD,
                                               "finish_reason": None}]}),
        (None, chat_chunk({}, "stop")), (None, "[DONE]")], event="chat.completion.chunk"),
    OutputRow("chat_completions", "extension", note="a message beside a chunk's delta", events=[
        (None, chat_chunk({"role": "assistant", "content": ""})),
        (None, {**chat_chunk({}), "choices": [{"index": 0, "delta": {}, "finish_reason": None,
                                               "message": {"role": "assistant", "content": BAD}}]}),
        (None, chat_chunk({}, "stop")), (None, "[DONE]")], event="chat.completion.chunk"),
    OutputRow("chat_completions", "extension", note="a delta beside a whole answer's message",
              answer=_with_choice_fields(_chat_message(content="ok"), delta={"content": BAD})),
    OutputRow("chat_completions", "extension", note="a finish reason that is no string", events=[
        (None, chat_chunk({"role": "assistant", "content": ""})),
        (None, chat_chunk({"content": "ok"})),
        (None, {**chat_chunk({}), "choices": [{"index": 0, "delta": {},
                                               "finish_reason": {"reason": BAD}}]}),
        (None, "[DONE]")], event="chat.completion.chunk"),
    OutputRow("chat_completions", "extension", note="an index that is no number",
              answer=_with_choice_fields(_chat_message(content="ok"), index=BAD)),
    OutputRow("chat_completions", "extension", note="log-probabilities that are no object",
              answer=_with_choice_fields(_chat_message(content="ok"), logprobs=[BAD])),
    OutputRow("chat_completions", "extension", note="filter results that are no object",
              events=[(None, chat_chunk({"role": "assistant", "content": ""})),
                      (None, {**chat_chunk({"content": "ok"}), "choices": [{
                          **chat_chunk({"content": "ok"})["choices"][0],
                          "content_filter_results": BAD}]}),
                      (None, chat_chunk({}, "stop")), (None, "[DONE]")],
              event="chat.completion.chunk"),
    OutputRow("chat_completions", "extension", note="choices that are no list", answer={
        **_chat_message(content="x"),
        "choices": {"0": {"message": {"role": "assistant", "content": BAD}}}}),
    OutputRow("chat_completions", "extension", note="a choice that is no object", answer={
        **_chat_message(content="x"), "choices": [BAD]}),
    OutputRow("chat_completions", "content", note="second choice", answer={
        **_chat_message(content="fine"), "choices": [
            _chat_message(content="fine")["choices"][0],
            {**_chat_message(content=BAD)["choices"][0], "index": 1}]}),
]


def msgs(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "claude", "max_tokens": 64,
            "messages": [*messages] or [user("hello")], **extra}


def block(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, **fields}


def said(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": [*blocks]}


def _doc(**extra: Any) -> dict[str, Any]:
    return block("document", source={"type": "text", "media_type": "text/plain",
                                     "data": extra.pop("data", "doc")}, **extra)


def _search(**extra: Any) -> dict[str, Any]:
    fields = {"source": "https://ex.com", "title": "t", "content": [block("text", text="s")]}
    return block("search_result", **{**fields, **extra})


def _server_result(content: Any) -> dict[str, Any]:
    return block("web_search_tool_result", tool_use_id="srvtoolu_1", content=content)


_USE = {"id": "toolu_1", "name": "lookup", "input": {"q": "x"}}
MESSAGES_INPUT = [InputRow("messages", kind, body, note=note) for kind, body, note in [
    ("file", msgs(user([block("document", source={
        "type": "base64", "media_type": "application/pdf",
        "data": base64.b64encode(PDF).decode()}), block("text", text="Summarise this.")])),
     "pdf"),
    ("file", msgs(user([block("document", source={
        "type": "base64", "media_type": "application/pdf",
        "data": base64.b64encode(SCAN).decode()})])), "scanned pdf"),
    ("image", msgs(user([block("image", source={
        "type": "base64", "media_type": "image/png", "data": base64.b64encode(PNG).decode()}),
        block("text", text="What does it say?")])), ""),
    ("image", msgs(user([block("document", source={"type": "content", "content": [
        block("image", source={"type": "base64", "media_type": "image/png",
                               "data": base64.b64encode(PNG).decode()})]})])),
     "in a document's content"),
    ("text", msgs(user(BAD)), ""),
    ("text", msgs(user([block("text", text=BAD)])), "block"),
    ("text", msgs(said(block("text", text=BAD)), user("and?")), "assistant"),
    ("system", msgs(system=BAD), ""),
    ("system", msgs(system=[block("text", text=BAD)]), "blocks"),
    ("citation", msgs(said(block("text", text="ok", citations=[{
        "type": "char_location", "cited_text": BAD, "document_index": 0,
        "start_char_index": 0, "end_char_index": 3}])), user("and?")), ""),
    ("thinking", msgs(said(block("thinking", thinking=BAD, signature="s"),
                           block("text", text="ok")), user("and?")), ""),
    ("tool_use.name", msgs(said(block("tool_use", **{**_USE, "name": BAD})),
                           user([block("tool_result", tool_use_id="toolu_1", content="r")])),
     ""),
    ("tool_use.input", msgs(said(block("tool_use", **{**_USE, "input": {"q": BAD}})),
                            user([block("tool_result", tool_use_id="toolu_1", content="r")])),
     ""),
    ("tool_use.input", msgs(said(block("tool_use", **{**_USE, "input": {BAD: 1}})),
                            user([block("tool_result", tool_use_id="toolu_1", content="r")])),
     "key"),
    ("tool_result", msgs(said(block("tool_use", **_USE)),
                         user([block("tool_result", tool_use_id="toolu_1", content=BAD)])), ""),
    ("tool_result", msgs(said(block("tool_use", **_USE)), user([block(
        "tool_result", tool_use_id="toolu_1", content=[block("text", text=BAD)])])), "blocks"),
    ("server_tool_result", msgs(said(_server_result([{
        "type": "web_search_result", "url": "https://ex.com", "title": BAD,
        "encrypted_content": "e"}])), user("and?")), ""),
    ("document", msgs(user([_doc(data=BAD)])), ""),
    ("document.title", msgs(user([_doc(title=BAD)])), ""),
    ("document.context", msgs(user([_doc(context=BAD)])), ""),
    ("search_result", msgs(user([_search(content=[block("text", text=BAD)])])), ""),
    ("search_result.title", msgs(user([_search(title=BAD)])), ""),
    ("search_result.source", msgs(user([_search(source=BAD)])), ""),
    ("tool.definition", msgs(tools=[{"name": "f", "description": BAD,
                                     "input_schema": {"type": "object"}}]), ""),
    ("tool.definition", msgs(tools=[{"name": "f", "input_schema": {
        "type": "object", "properties": {BAD: {"type": "string"}}}}]), "schema key"),
    ("output_config.format", msgs(output_config={"format": {"type": "json_schema", "schema": {
        "type": "object", "description": BAD}}}), ""),
    ("extension", msgs(compaction={"instructions": BAD}), ""),
    ("extension", msgs(user("hi", name=BAD)), "message field"),
]]


def _message(*content: dict[str, Any]) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
            "content": [*content], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1}}


def message_events(start: dict[str, Any], *deltas: dict[str, Any]) -> list[SSEEvent]:
    """A one-block Messages stream: the block starts as ``start``, then the deltas."""
    empty = {**_message(), "stop_reason": None}
    return [("message_start", {"type": "message_start", "message": empty}),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": start}),
            *(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": delta}) for delta in deltas),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "delta": {
                "stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 5}}),
            ("message_stop", {"type": "message_stop"})]


_EMPTY_TEXT = block("text", text="")
_IMAGE_BLOCK = block("image", source={"type": "base64", "media_type": "image/png",
                                     "data": base64.b64encode(PNG).decode()})
MESSAGES_OUTPUT = [
    OutputRow("messages", "image", note="a compatible server's image block",
              answer=_message(_IMAGE_BLOCK)),
    OutputRow("messages", "image", note="a compatible server's image block",
              events=message_events(_IMAGE_BLOCK), event="content_block_start"),
    OutputRow("messages", "extension", note="a message_start without a message", events=[
        ("message_start", {"type": "message_start", "message": BAD}),
        *message_events(block("text", text=""), {"type": "text_delta", "text": "ok"})[1:]]),
    OutputRow("messages", "extension", note="a message_delta's delta that is no object",
              events=[*message_events(block("text", text=""),
                                      {"type": "text_delta", "text": "ok"})[:-2],
                      ("message_delta", {"type": "message_delta", "delta": BAD,
                                         "usage": {"output_tokens": 5}}),
                      ("message_stop", {"type": "message_stop"})]),
    OutputRow("messages", "extension", note="stop_details that are no object",
              answer={**_message(block("text", text="ok")), "stop_details": BAD}),
    OutputRow("messages", "extension", note="content that is a string",
              answer={**_message(), "content": BAD}),
    OutputRow("messages", "extension", note="a text block's vendor key",
              answer=_message(block("text", text="ok", vendor_note=BAD))),
    OutputRow("messages", "extension", note="a tool_use block's vendor key",
              answer=_message(block("tool_use", **{**_USE, "vendor_note": BAD}))),
    OutputRow("messages", "extension", note="a started block's vendor key",
              events=message_events(block("text", text="", vendor_note=BAD),
                                    {"type": "text_delta", "text": "ok"})),
    OutputRow("messages", "extension", note="top-level vendor field",
              answer={**_message(block("text", text="ok")), "citations": [BAD]}),
    OutputRow("messages", "extension", note="stop_sequence",
              answer={**_message(block("text", text="ok")), "stop_sequence": BAD}),
    OutputRow("messages", "extension", note="message_start vendor field", events=[
        ("message_start", {"type": "message_start", "message": {
            **_message(), "stop_reason": None, "note": BAD}}),
        *message_events(block("text", text=""), {"type": "text_delta", "text": "ok"})[1:]]),
    OutputRow("messages", "extension", note="message_delta stop_sequence", events=[
        *message_events(block("text", text=""), {"type": "text_delta", "text": "ok"})[:-2],
        ("message_delta", {"type": "message_delta", "delta": {
            "stop_reason": "stop_sequence", "stop_sequence": BAD}, "usage": {"output_tokens": 5}}),
        ("message_stop", {"type": "message_stop"})]),
    OutputRow("messages", "extension", note="an event type the proxy does not know", events=[
        *message_events(block("text", text=""), {"type": "text_delta", "text": "ok"})[:-2],
        ("vendor_note", {"type": "vendor_note", "note": {"text": BAD}}),
        *message_events(block("text", text=""), {"type": "text_delta", "text": "ok"})[-2:]]),

    *(OutputRow("messages", kind, answer=_message(*content), note=note)
      for kind, content, note in [
          ("text", [block("text", text=BAD)], ""),
          ("citation", [block("text", text="ok", citations=[{
              "type": "char_location", "cited_text": BAD, "document_index": 0,
              "start_char_index": 0, "end_char_index": 3}])], ""),
          ("thinking", [block("thinking", thinking=BAD, signature="s"),
                        block("text", text="ok")], ""),
          ("tool_use.name", [block("tool_use", **{**_USE, "name": BAD})], ""),
          ("tool_use.input", [block("tool_use", **{**_USE, "input": {"q": BAD}})], ""),
          ("server_tool_result", [_server_result([{
              "type": "web_search_result", "url": "https://ex.com", "title": BAD,
              "encrypted_content": "e"}])], ""),
          ("document", [block("web_fetch_tool_result", tool_use_id="srvtoolu_1", content={
              "type": "web_fetch_result", "url": "https://ex.com", "content": _doc(data=BAD)})],
           ""),
          ("document.title", [block("web_fetch_tool_result", tool_use_id="srvtoolu_1", content={
              "type": "web_fetch_result", "url": "https://ex.com",
              "content": _doc(title=BAD)})], ""),
          ("document.context", [block("web_fetch_tool_result", tool_use_id="srvtoolu_1",
                                      content={"type": "web_fetch_result", "url": "u",
                                               "content": _doc(context=BAD)})], ""),
          ("extension", [block("hologram", caption=BAD)], "unknown block"),
      ]),
    *(OutputRow("messages", kind, events=message_events(start, *deltas), note=note,
                event=deltas[0]["type"] if deltas else "content_block_start")
      for kind, start, deltas, note in [
          ("text", _EMPTY_TEXT, [{"type": "text_delta", "text": BAD}], ""),
          ("text", block("text", text=BAD), [], "in the block start"),
          ("citation", _EMPTY_TEXT, [{"type": "citations_delta", "citation": {
              "type": "char_location", "cited_text": BAD, "document_index": 0,
              "start_char_index": 0, "end_char_index": 3}}], ""),
          ("thinking", block("thinking", thinking="", signature=""),
           [{"type": "thinking_delta", "thinking": BAD}], ""),
          ("tool_use.name", block("tool_use", id="toolu_1", name=BAD, input={}), [], ""),
          ("tool_use.input", block("tool_use", id="toolu_1", name="lookup", input={}),
           [{"type": "input_json_delta", "partial_json": '{"q": "BADW'},
            {"type": "input_json_delta", "partial_json": 'ORD"}'}], "split across deltas"),
          ("server_tool_result", _server_result([{
              "type": "web_search_result", "url": "https://ex.com", "title": BAD,
              "encrypted_content": "e"}]), [], ""),
          ("document", block("web_fetch_tool_result", tool_use_id="srvtoolu_1", content={
              "type": "web_fetch_result", "url": "u", "content": _doc(data=BAD)}), [], ""),
          ("document.title", block("web_fetch_tool_result", tool_use_id="srvtoolu_1", content={
              "type": "web_fetch_result", "url": "u", "content": _doc(title=BAD)}), [], ""),
          ("document.context", block("web_fetch_tool_result", tool_use_id="srvtoolu_1",
                                     content={"type": "web_fetch_result", "url": "u",
                                              "content": _doc(context=BAD)}), [], ""),
          ("extension", _EMPTY_TEXT, [{"type": "hologram_delta", "caption": BAD}],
           "unknown delta"),
      ]),
    *(OutputRow("messages", "extension", note=f"{where}'s {note}", event=where, events=[
        (name, {**event, **beside} if name == where else event)
        for name, event in [
            *message_events(_EMPTY_TEXT, {"type": "text_delta", "text": "ok"})[:2],
            ("ping", {"type": "ping"}),
            *message_events(_EMPTY_TEXT, {"type": "text_delta", "text": "ok"})[2:]]])
      for where in ("message_start", "content_block_start", "ping", "content_block_delta",
                    "content_block_stop", "message_delta", "message_stop")
      for note, beside in [("vendor field", {"vendor_note": BAD}),
                           ("index that is no number", {"index": BAD})]
      if note == "vendor field" or where.startswith("content_block")),
]


# Responses and Completions: rows made from the hand-written expectations of each dialect's
# table tests (tests/proxy/protocol): every (kind, path) a sample says the model reads gets a row
# that puts BAD at that path. The expectations are written by hand, not read back from the
# parser, so a field the parser missed is still planted, and then caught here.
def plant(body: Any, path: tuple[Any, ...]) -> Any:
    """A copy of ``body`` with BAD at ``path`` (for a KEY path, in the first string under
    it, or as a key when it holds none)."""
    import copy

    from proxy.protocol.dialect import KEY

    body = copy.deepcopy(body)
    parent, last = _walk(body, path[:-1]), path[-1]
    if last != KEY:
        parent[last] = BAD
        return body
    if not _plant_first_string(parent):
        parent[BAD] = {"type": "string"} if isinstance(parent, dict) else BAD
    return body


def _walk(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def _plant_first_string(value: Any) -> bool:
    items = value.items() if isinstance(value, dict) else enumerate(value) \
        if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(item, str) and key != "type":
            value[key] = BAD
            return True
        if isinstance(item, dict | list) and _plant_first_string(item):
            return True
    return False


def replace_string(value: Any, old: str) -> Any:
    """A copy of an answer with the first string equal to ``old`` replaced by BAD. A text
    the dialect joins from several strings (keys and values, one per line) is planted in
    the first of its lines found as a value, else as a key."""
    import copy

    for wanted in (old, *old.split("\n")):
        for as_key, in_types in ((False, False), (True, False), (False, True)):
            copied = copy.deepcopy(value)
            if _replace_first(copied, wanted, as_key, in_types):
                return copied
    raise AssertionError(f"{old!r} is not in the answer")


def _replace_first(node: Any, old: str, as_key: bool, in_types: bool) -> bool:
    """Types (wire discriminators) are planted in last: only a dialect that reads an
    unknown item's type as text expects that."""
    items = node.items() if isinstance(node, dict) else enumerate(node) \
        if isinstance(node, list) else ()
    for key, item in list(items):
        if as_key and key == old and key != "type" and isinstance(node, dict):
            node[BAD] = node.pop(key)
            return True
        if not as_key and item == old and (key != "type" or in_types):
            node[key] = BAD
            return True
        if _replace_first(item, old, as_key, in_types):
            return True
    return False


def responses_rows() -> tuple[list[InputRow], list[OutputRow]]:
    from tests.proxy.protocol import test_responses_dialect as samples

    inputs = [InputRow("responses", kind, plant(sample.body, path), note=sample.name)
              for sample in samples.REQUEST_SAMPLES for _, kind, path, _ in sample.texts]
    outputs = []
    for name, output, texts, _ in samples.ANSWER_SAMPLES:
        outputs += [OutputRow("responses", kind, note=name,
                              answer=samples.response_body(replace_string(output, text)))
                    for kind, text in texts if text.strip()]
    outputs += _responses_extra_rows(samples) + _responses_logprob_rows(samples)
    inputs.append(InputRow("responses", "file", {"model": "m", "input": [
        {"type": "function_call", "call_id": "c1", "name": "read", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": [
            {"type": "input_file", "filename": "n.pdf", "file_data": data_url(PDF)}]}]},
        note="pdf in a function output"))
    inputs.append(InputRow("chat_completions", "file", chat(
        assistant_call("{}"), {"role": "tool", "tool_call_id": "call_1", "content": [
            {"type": "file", "file": {"filename": "n.pdf", "file_data": data_url(PDF)}}]}),
        note="pdf in a tool message"))
    inputs.append(InputRow("messages", "file", msgs(
        said(block("tool_use", **_USE)), user([block("tool_result", tool_use_id="toolu_1",
                                                    content=[block("document", source={
            "type": "base64", "media_type": "application/pdf",
            "data": base64.b64encode(PDF).decode()})])])), note="pdf in a tool result"))
    inputs.append(InputRow("messages", "image", msgs(
        said(block("tool_use", **_USE)), user([block("tool_result", tool_use_id="toolu_1",
                                                    content=[block("image", source={
            "type": "base64", "media_type": "image/png",
            "data": base64.b64encode(PNG).decode()})])])), note="in a tool result"))
    inputs.append(InputRow("responses", "file", {"model": "m", "input": [{
        "role": "user", "content": [
            {"type": "input_file", "filename": "scan.pdf", "file_data": data_url(SCAN)}]}]},
        note="scanned pdf"))
    inputs.append(InputRow("responses", "image", {"model": "m", "input": [
        {"type": "computer_call", "call_id": "c2", "action": {"type": "screenshot"},
         "pending_safety_checks": [], "status": "completed"},
        {"type": "computer_call_output", "call_id": "c2", "output": {
            "type": "computer_screenshot", "image_url": image_url(PNG)}}]},
        note="a computer screenshot"))
    inputs.append(InputRow("responses", "image", {"model": "m", "input": [{
        "role": "user", "content": [
            {"type": "computer_screenshot", "image_url": image_url(PNG)}]}]},
        note="a screenshot part"))
    inputs.append(InputRow("responses", "audio", {"model": "m", "input": [{
        "role": "user", "content": [
            {"type": "input_text", "text": "Answer what I ask."}, audio_part()]}]}))
    inputs.append(InputRow("responses", "audio", {"model": "m", "input": [
        {"type": "function_call", "call_id": "c3", "name": "record", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c3", "output": [audio_part()]}]},
        note="in a tool output"))
    inputs.append(InputRow("responses", "image", {"model": "m", "input": [{
        "role": "user", "content": [
            {"type": "input_file", "filename": "plan.png", "file_data": image_url(PNG)}]}]},
        note="as an input_file"))
    inputs.append(InputRow("responses", "image", {"model": "m", "input": [
        {"type": "image_generation_call", "id": "ig_1", "status": "completed",
         "result": base64.b64encode(PNG).decode()}]},
        note="a generated image sent back"))
    inputs.append(InputRow("responses", "image", {"model": "m", "input": [{
        "role": "user", "content": [
            {"type": "input_image", "image_url": image_url(PNG), "detail": "auto"},
            {"type": "input_text", "text": "What does it say?"}]}]}))
    inputs.append(InputRow("responses", "image", {"model": "m", "input": [
        {"type": "function_call", "call_id": "c1", "name": "look", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": [
            {"type": "input_image", "image_url": image_url(PNG)}]}]},
        note="in a function output"))
    inputs.append(InputRow("responses", "file", {"model": "m", "input": [{
        "role": "user", "content": [
            {"type": "input_file", "filename": "notes.pdf", "file_data": data_url(PDF)},
            {"type": "input_text", "text": "Summarise this."}]}]}, note="pdf"))
    return _unique(inputs), _unique(outputs) + _responses_stream_rows(samples)


def _responses_extra_rows(samples: Any) -> list[OutputRow]:
    """BAD in a response object's own strings: an ``output_text`` that is not the items'
    text, a failed response's error, a vendor's field; whole, and in a stream's response
    objects."""
    ok = samples.response_body([samples.message(samples.text_part("It is sunny."))])
    failed = {**samples.response_body([], "failed"),
              "error": {"code": "server_error", "message": BAD}}
    wholes = [
        ("output_text differs", {**ok, "output_text": BAD}),
        ("a failed response's error", failed),
        ("top-level vendor field", {**ok, "citations": [BAD]}),
    ]
    cite = {"type": "url_citation", "url": "https://x.example", "title": BAD,
            "start_index": 0, "end_index": 5}
    wholes.append(("a citation's title", samples.response_body([samples.message(
        {**samples.text_part("It is sunny."), "annotations": [cite]})])))
    wholes.append(("a text part's vendor key", samples.response_body([samples.message(
        {**samples.text_part("It is sunny."), "vendor_note": BAD})])))
    wholes += [("output that is no list", {**ok, "output": {"text": BAD}}),
               ("an output item that is no object", {**ok, "output": [BAD]})]
    rows = [OutputRow("responses", "extension", answer=answer, note=note)
            for note, answer in wholes]
    created, *rest = [event for event, _ in samples.STREAM]
    where = {"item_id": "msg_1", "output_index": 2, "content_index": 0}
    for note, event in [
            ("annotation.added", {"type": "response.output_text.annotation.added", **where,
                                  "annotation_index": 0, "annotation": cite}),
            ("an event type the proxy does not know", {"type": "response.vendor.note",
                                                       "item_id": "x", "note": BAD}),
            ("a message item added with its text", {
                "type": "response.output_item.added", "output_index": 2, "item": {
                    **samples.message(samples.text_part(BAD)), "status": "in_progress"}}),
            ("a delta that is no string", {"type": "response.output_text.delta", **where,
                                           "delta": {"text": BAD}}),
            ("a delta event's vendor field", {"type": "response.output_text.delta", **where,
                                              "delta": "ok", "vendor_note": BAD}),
            ("a done text that is no string", {"type": "response.output_text.done", **where,
                                               "text": [BAD]}),
            ("an item that is no object", {"type": "response.output_item.added",
                                           "output_index": 2, "item": BAD}),
            ("a part that is no object", {"type": "response.content_part.added", **where,
                                          "part": BAD}),
            ("a started part's vendor key", {"type": "response.content_part.added", **where,
                                             "part": {**samples.text_part(""),
                                                      "vendor_note": BAD}})]:
        rows.append(OutputRow("responses", "stream", note=note, events=[
            (e["type"], e) for e in (created, event, rest[-1])]))
    stream = [event for event, _ in samples.STREAM]
    for kind in dict.fromkeys(event["type"] for event in stream):  # each event type once
        at = next(i for i, event in enumerate(stream) if event["type"] == kind)
        rows.append(OutputRow("responses", "stream", note=f"{kind}'s vendor field", events=[
            (e["type"], {**e, "vendor_note": BAD} if i == at else e)
            for i, e in enumerate(stream)]))
    for note, event in [
            ("vendor field announced", {**created, "response": {
                **created["response"], "citations": [BAD]}}),
            ("vendor field at the end", {**rest[-1], "response": {
                **rest[-1]["response"], "output_text": BAD}})]:
        events = [created, *rest[:-1], event] if event["type"] == rest[-1]["type"] else [
            event, *rest]
        rows.append(OutputRow("responses", "stream", note=note,
                              events=[(e["type"], e) for e in events]))
    return rows


def _responses_stream_rows(samples: Any) -> list[OutputRow]:
    """The dialect's realistic stream with BAD in each event that adds text, one at a time
    (the stream's kinds are those of the answer it builds)."""
    rows = []
    for position, (event, texts) in enumerate(samples.STREAM):
        for text in texts:
            events = [(e["type"], e) for e, _ in samples.STREAM]
            events[position] = (event["type"], replace_string(event, text))
            rows.append(OutputRow("responses", "stream", events=events,
                                  note=f"{position}-{event['type']}", event=event["type"]))
    created = samples.STREAM[0][0]
    completed = samples.STREAM[-1][0]
    for event, texts in samples.DELTA_EVENTS:
        for text in texts:
            events = [(e["type"], e) for e in (created, replace_string(event, text), completed)]
            rows.append(OutputRow("responses", "stream", events=events, note=event["type"],
                                  event=event["type"]))
    return rows + _responses_whole_text_rows(samples)


def _responses_logprob_rows(samples: Any) -> list[OutputRow]:
    """Log-probabilities that spell BAD: carried by the text deltas, or only by the whole
    response at the end (a server that sends them only whole)."""
    created = samples.STREAM[0][0]
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    deltas = [{"type": "response.output_text.delta", **where, "delta": chosen,
               "logprobs": [_position(chosen, alternative)]} for chosen, alternative in _HIDDEN]
    part = {**samples.text_part("Hi there"),
            "logprobs": [_position(*pair) for pair in _HIDDEN]}
    completed = {"type": "response.completed", "response": samples.response_body(
        [samples.message(part)])}
    plain = [{**delta, "logprobs": []} for delta in deltas]
    return [OutputRow("responses", "stream", note=f"logprobs {note}", event=events[1]["type"],
                      events=[(event["type"], event) for event in events])
            for note, events in [("in deltas", [created, *deltas, completed]),
                                 ("only whole", [created, *plain, completed])]]


def _holds(node: Any, text: str) -> bool:
    """Whether ``text`` is one of the strings in ``node``."""
    if isinstance(node, dict):
        return any(_holds(value, text) for value in node.values())
    if isinstance(node, list):
        return any(_holds(value, text) for value in node)
    return node == text


# The texts the realistic stream sends as deltas and then repeats whole.
_REPEATED = {"Checking the forecast.": "summary", "It is sunny.": "message",
             '{"city":"Paris"}': "arguments"}


def _responses_whole_text_rows(samples: Any) -> list[OutputRow]:
    """BAD in one event that repeats a streamed text whole (a ``.done`` event, an item's
    ``output_item.done``, the final response), the deltas unchanged; and a message sent
    whole only, with no deltas."""
    rows = []
    for position, (event, _) in enumerate(samples.STREAM):
        for text, what in _REPEATED.items():
            if _holds(event, text):
                events = [(e["type"], e) for e, _ in samples.STREAM]
                events[position] = (event["type"], replace_string(event, text))
                rows.append(OutputRow("responses", "stream", events=events,
                                      note=f"{position}-{event['type']}: {what} differs"))
    whole = {**samples.message(), "content": [samples.text_part(BAD)]}
    only_whole = [
        samples.STREAM[0][0],
        {"type": "response.output_item.added", "output_index": 0,
         "item": {**samples.message(), "content": [], "status": "in_progress"}},
        {"type": "response.output_item.done", "output_index": 0, "item": whole},
        {"type": "response.completed", "response": samples.response_body([whole])}]
    return [*rows, OutputRow("responses", "stream", events=[(e["type"], e) for e in only_whole],
                             note="a message sent whole only")]


def completions_rows() -> tuple[list[InputRow], list[OutputRow]]:
    from tests.proxy.protocol import test_completions_dialect as samples

    inputs = [InputRow("completions", kind, plant({"model": "m", **fields}, path), note=name)
              for name, fields, texts, _ in samples.REQUEST_SAMPLES
              for _, kind, path, _ in texts]
    outputs = [OutputRow("completions", text.kind, answer=replace_string(answer, text.text),
                         note=name)
               for name, answer, texts in samples.ANSWER_SAMPLES for text in texts]
    stream = [(None, _completion_chunk(0, "Hello ")), (None, _completion_chunk(0, BAD)),
              (None, _completion_chunk(0, "", "stop")), (None, "[DONE]")]
    streamed = OutputRow("completions", "choice.text", events=stream, event="text_completion")
    vendor = _completion_chunk(0, "Hello ")
    vendor["choices"][0]["stop_reason"] = BAD
    streamed_vendor = OutputRow("completions", "extension", event="text_completion", events=[
        (None, vendor), (None, _completion_chunk(0, "", "stop")), (None, "[DONE]")])
    top_level = [(None, {**_completion_chunk(0, "Hello "), "citations": [BAD]}),
                 (None, _completion_chunk(0, "", "stop")), (None, "[DONE]")]
    streamed_top_level = OutputRow("completions", "extension", event="text_completion",
                                   events=top_level, note="top-level vendor field")
    whole_top_level = OutputRow("completions", "extension", note="top-level vendor field",
                                answer={**_completion_chunk(0, "Hello", "stop"),
                                        "search_results": [{"snippet": BAD}]})
    misshapen = [OutputRow("completions", "extension", note=note, answer=answer)
                 for note, answer in [
                     ("a text that is no string", {**_completion_chunk(0, "x", "stop"),
                                                   "choices": [{"index": 0, "text": [BAD]}]}),
                     ("choices that are no list", {**_completion_chunk(0, "x", "stop"),
                                                   "choices": {"text": BAD}}),
                     ("a finish reason that is no string", {
                         **_completion_chunk(0, "x"),
                         "choices": [{"index": 0, "text": "x", "finish_reason": [BAD]}]}),
                     ("log-probabilities that are no object", {
                         **_completion_chunk(0, "x", "stop"),
                         "choices": [{"index": 0, "text": "x", "logprobs": BAD}]}),
                     ("an index that is no number", {**_completion_chunk(0, "x", "stop"),
                                                      "choices": [{"index": BAD, "text": "x",
                                                                   "finish_reason": "stop"}]})]]
    hidden = [(None, {**_completion_chunk(0, chosen), "choices": [{
        **_completion_chunk(0, chosen)["choices"][0], "logprobs": {
            "tokens": [chosen], "token_logprobs": [-0.1], "text_offset": [0],
            "top_logprobs": [{chosen: -0.1, alternative: -2.4}]}}]})
        for chosen, alternative in _HIDDEN]
    streamed_hidden = OutputRow("completions", "logprobs", event="text_completion",
                                note="top_logprobs", events=[
                                    *hidden, (None, _completion_chunk(0, "", "stop")),
                                    (None, "[DONE]")])
    return _unique(inputs), [*_unique(outputs), streamed, streamed_vendor, streamed_top_level,
                             whole_top_level, *misshapen, streamed_hidden]


def _completion_chunk(index: int, text: str, finish: str | None = None) -> dict[str, Any]:
    return {"id": "cmpl-1", "object": "text_completion", "created": 0, "model": "m",
            "choices": [{"index": index, "text": text, "finish_reason": finish,
                         "logprobs": None}]}


def _unique(rows: list[Any]) -> list[Any]:
    """Rows with unique ids (a sample with two texts of one kind gives numbered notes)."""
    seen: dict[str, int] = {}
    out = []
    for row in rows:
        seen[row.id] = seen.get(row.id, 0) + 1
        out.append(row if seen[row.id] == 1 else
                   type(row)(**{**row.__dict__, "note": f"{row.note}#{seen[row.id]}"}))
    return out


EMBEDDINGS_INPUT = [InputRow("embeddings", "input", {"model": "e", "input": value}, note=note)
                    for value, note in [(BAD, "string"), (["fine", BAD], "strings")]]


ERROR_BODY = {"error": {"message": f"guardrail: {BAD}", "type": "server_error"}}
# An error can quote the answer (an upstream guard's verdict): each API's own mid-stream
# error event, and an OpenAI-style error object in a 200 answer.
STREAM_ERROR_OUTPUT = [
    OutputRow("chat_completions", "extension", note="error in a 200 answer",
              answer={**_chat_message(content="ok"), **ERROR_BODY}),
    OutputRow("completions", "extension", note="error in a 200 answer",
              answer={**_completion_chunk(0, "ok", "stop"), "object": "text_completion",
                      **ERROR_BODY}),
    OutputRow("completions", "extension", note="mid-stream error", event="error", events=[
        (None, _completion_chunk(0, "Hello ")), (None, ERROR_BODY), (None, "[DONE]")]),
    OutputRow("chat_completions", "extension", note="mid-stream error", event="error", events=[
        (None, chat_chunk({"role": "assistant", "content": ""})),
        (None, {"error": {"message": f"guardrail: {BAD}", "type": "server_error"}}),
        (None, "[DONE]")]),
    OutputRow("messages", "extension", note="error event", event="error", events=[
        *message_events({"type": "text", "text": ""}, {"type": "text_delta", "text": "Hi"})[:3],
        ("error", {"type": "error", "error": {"type": "api_error",
                                              "message": f"guardrail: {BAD}"}})]),
    OutputRow("responses", "stream", note="error event", event="error", events=[
        ("response.created", {"type": "response.created", "sequence_number": 0,
                              "response": {"id": "resp_1", "object": "response",
                                           "status": "in_progress", "output": []}}),
        ("error", {"type": "error", "sequence_number": 1, "code": "server_error",
                   "message": f"guardrail: {BAD}", "param": None})]),
    OutputRow("responses", "stream", note="a delta event newer than the proxy",
              event="response.hologram_caption.delta", events=[
                  ("response.created", {"type": "response.created", "sequence_number": 0,
                                        "response": {"id": "resp_1", "object": "response",
                                                     "status": "in_progress", "output": []}}),
                  ("response.hologram_caption.delta", {
                      "type": "response.hologram_caption.delta", "sequence_number": 1,
                      "item_id": "h_1", "output_index": 0, "delta": BAD})]),
    OutputRow("responses", "stream", note="response.failed", event="response.failed", events=[
        ("response.created", {"type": "response.created", "sequence_number": 0,
                              "response": {"id": "resp_1", "object": "response",
                                           "status": "in_progress", "output": []}}),
        ("response.failed", {"type": "response.failed", "sequence_number": 1, "response": {
            "id": "resp_1", "object": "response", "status": "failed", "output": [],
            "error": {"code": "server_error", "message": f"guardrail: {BAD}"}}})]),
]

# An event whose data is no JSON object reaches a raw SSE client as it came: it is read.
UNPARSED_OUTPUT = [
    OutputRow("chat_completions", "extension", note="data not JSON", event="raw", events=[
        (None, chat_chunk({"role": "assistant", "content": ""})), (None, f"plain {BAD}"),
        (None, chat_chunk({}, "stop")), (None, "[DONE]")]),
    OutputRow("completions", "extension", note="data not JSON", event="raw", events=[
        (None, _completion_chunk(0, "Hello ")), (None, f"plain {BAD}"),
        (None, _completion_chunk(0, "", "stop")), (None, "[DONE]")]),
    OutputRow("messages", "extension", note="data not JSON", event="raw", events=[
        *message_events({"type": "text", "text": ""}, {"type": "text_delta", "text": "Hi"})[:3],
        ("ping", f"plain {BAD}"),
        *message_events({"type": "text", "text": ""}, {"type": "text_delta", "text": "Hi"})[3:]]),
    OutputRow("responses", "stream", note="data not JSON", event="raw", events=[
        ("response.created", {"type": "response.created", "sequence_number": 0,
                              "response": {"id": "resp_1", "object": "response",
                                           "status": "in_progress", "output": []}}),
        (None, f"plain {BAD}"),
        ("response.completed", {"type": "response.completed", "sequence_number": 1,
                                "response": {"id": "resp_1", "object": "response",
                                             "status": "completed", "output": []}})]),
]
