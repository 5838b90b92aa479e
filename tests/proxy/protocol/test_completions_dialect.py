"""Table tests of the legacy Completions dialect: requests, answers, blocks, streams."""

from __future__ import annotations

import random
from typing import Any

import httpx2
import openai
import orjson
import pytest
from openai.types import Completion

from proxy.protocol.completions import (
    ANSWER_KINDS,
    DIALECT,
    REQUEST_KINDS,
    STREAM_EVENTS,
    CompletionsStream,
    plain_choices,
)
from proxy.protocol.dialect import AnswerText, Dialect, EventView, ParsedRequest
from proxy.protocol.errors import BadRequest, UpstreamTimeout
from proxy.protocol.sse import SSEDecoder, SSEEvent, encode
from tests.support.stand_in import assert_stands_in

SAFETY = {"direction": "output", "decision": "block",
          "reasons": [{"classifier": "scripted", "label": "toxic", "score": 0.99}]}
MODEL = "gpt-3.5-turbo-instruct"


def request(**fields: Any) -> bytes:
    return orjson.dumps({"model": MODEL, **fields})


# id, body fields, texts as (role, kind, path, text), unreadable
REQUEST_SAMPLES: list[tuple[str, dict[str, Any], list[tuple[str, str, tuple[Any, ...], str]],
                            int]] = [
    ("string", {"prompt": "Say hi"}, [("user", "prompt", ("prompt",), "Say hi")], 0),
    ("strings", {"prompt": ["one", "two"]},
     [("user", "prompt", ("prompt", 0), "one"), ("user", "prompt", ("prompt", 1), "two")], 0),
    ("suffix", {"prompt": "def f():", "suffix": "return x"},
     [("user", "prompt", ("prompt",), "def f():"),
      ("user", "suffix", ("suffix",), "return x")], 0),
    ("null suffix", {"prompt": "a", "suffix": None}, [("user", "prompt", ("prompt",), "a")], 0),
    ("tokens", {"prompt": [1212, 318, 257]}, [], 1),
    ("token lists", {"prompt": [[1212, 318], [257], []]}, [], 3),
    ("tokens and suffix", {"prompt": [1212], "suffix": "end"},
     [("user", "suffix", ("suffix",), "end")], 1),
    ("null prompt", {"prompt": None}, [], 0),
    ("empty list", {"prompt": []}, [], 0),
    ("empty string", {"prompt": ""}, [("user", "prompt", ("prompt",), "")], 0),
]


@pytest.mark.parametrize(("fields", "texts", "unreadable"),
                         [sample[1:] for sample in REQUEST_SAMPLES],
                         ids=[sample[0] for sample in REQUEST_SAMPLES])
def test_request_texts(fields: dict[str, Any], texts: list[Any], unreadable: int) -> None:
    parsed = DIALECT.parse_request(request(**fields))
    assert [(t.role, t.kind, t.path, t.text) for t in parsed.texts] == texts
    assert (parsed.unreadable, parsed.unknown) == (unreadable, 0)
    assert (parsed.model, parsed.stream) == (MODEL, False)


@pytest.mark.parametrize("fields", [sample[1] for sample in REQUEST_SAMPLES],
                         ids=[sample[0] for sample in REQUEST_SAMPLES])
def test_replace_text_rewrites_the_place_it_came_from(fields: dict[str, Any]) -> None:
    parsed = DIALECT.parse_request(request(**fields))
    for number, text in enumerate(parsed.texts):
        assert parsed.replace_text(text, f"[redacted {number}]")
    again = DIALECT.parse_request(orjson.dumps(parsed.body))
    assert [(t.path, t.text) for t in again.texts] == [
        (t.path, f"[redacted {n}]") for n, t in enumerate(parsed.texts)]


@pytest.mark.parametrize(("raw", "param"), [
    (b"not json", None),
    (b"\xff\xfe", None),
    (b"[1, 2]", None),
    (b'"prompt"', None),
    (request(), "prompt"),
    (request(prompt="a", stream="yes"), "stream"),
    (request(prompt="a", stream=1), "stream"),
    (request(prompt={"text": "a"}), "prompt"),
    (request(prompt=["a", [1, 2]]), "prompt"),
    (request(prompt=[["a", "b"]]), "prompt"),
    (request(prompt=[1, "a"]), "prompt"),
    (request(prompt=[True, False]), "prompt"),
    (request(prompt=[[1], [True]]), "prompt"),
    (request(prompt=42), "prompt"),
    (request(prompt="a", suffix=["b"]), "suffix"),
])
def test_bad_requests_name_the_param(raw: bytes, param: str | None) -> None:
    with pytest.raises(BadRequest) as caught:
        DIALECT.parse_request(raw)
    assert caught.value.param == param
    assert caught.value.status == 400


@pytest.mark.parametrize(("fields", "texts", "unknown"), [
    ({"prompt": {"text": "a"}}, [], 1),
    ({"prompt": ["a", [1]], "suffix": "s"}, ["s"], 1),
    ({"prompt": "p", "suffix": 3}, ["p"], 1),
    ({"prompt": [{"x": 1}], "suffix": {"y": 2}}, [], 2),
])
def test_forward_unknown_counts_instead_of_rejecting(fields: dict[str, Any], texts: list[str],
                                                     unknown: int) -> None:
    parsed = DIALECT.parse_request(request(**fields), forward_unknown=True)
    assert [t.text for t in parsed.texts] == texts
    assert parsed.unknown == unknown


@pytest.mark.parametrize(("fields", "model", "stream"), [
    ({"prompt": "a", "stream": True}, MODEL, True),
    ({"prompt": "a", "stream": None}, MODEL, False),
    ({"prompt": "a", "model": None}, None, False),
    ({"prompt": "a", "model": 7}, None, False),
])
def test_model_and_stream(fields: dict[str, Any], model: str | None, stream: bool) -> None:
    parsed = DIALECT.parse_request(request(**fields))
    assert (parsed.model, parsed.stream) == (model, stream)


def answer(*texts: str) -> dict[str, Any]:
    return {"id": "cmpl-up", "object": "text_completion", "created": 1700000000, "model": MODEL,
            "choices": [{"index": i, "text": text, "finish_reason": "stop",
                         "logprobs": {"tokens": [text], "token_logprobs": [-0.1],
                                      "text_offset": [0], "top_logprobs": None}}
                        for i, text in enumerate(texts)],
            "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}}


ANSWER_SAMPLES: list[tuple[str, dict[str, Any], list[AnswerText]]] = [
    ("one", answer("Hello there"), [AnswerText(0, "choice.text", "Hello there")]),
    ("n=2", answer("a", "b"),
     [AnswerText(0, "choice.text", "a"), AnswerText(1, "choice.text", "b")]),
    ("empty text skipped", answer("", "b"), [AnswerText(1, "choice.text", "b")]),
    ("index from the choice", {"choices": [{"index": 3, "text": "x"}]},
     [AnswerText(3, "choice.text", "x")]),
    ("index from the position", {"choices": [{"text": "x"}, {"text": "y", "index": True}]},
     [AnswerText(0, "choice.text", "x"), AnswerText(1, "choice.text", "y")]),
    ("vendor field", {"choices": [{"index": 0, "text": "x", "stop_reason": "halt",
                                   "content_filter_results": {"hate": {"severity": "safe"}}}]},
     [AnswerText(0, "choice.text", "x"), AnswerText(0, "extension", "halt")]),
    ("garbage", {"choices": ["x", {"text": 5}, None]},  # misshapen: read, not relayed unread
     [AnswerText(0, "extension", "x")]),
    ("an error, no choices", {"error": {"message": "x"}},  # it can quote the answer
     [AnswerText(0, "extension", "x")]),
    ("log-probabilities", {"choices": [{"index": 0, "text": "Hi", "logprobs": {  # logprobs: 2
        "tokens": ["Hi"], "token_logprobs": [-0.1], "text_offset": [0],
        "top_logprobs": [{"Yo": -2.4, "Hi": -0.1}]}}]},  # ranked by log-probability
     [AnswerText(0, "choice.text", "Hi"), AnswerText(0, "logprobs", "Hi"),
      AnswerText(0, "logprobs", "Yo")]),
]


@pytest.mark.parametrize(("body", "texts"), [sample[1:] for sample in ANSWER_SAMPLES],
                         ids=[sample[0] for sample in ANSWER_SAMPLES])
def test_answer_texts(body: dict[str, Any], texts: list[AnswerText]) -> None:
    assert DIALECT.answer_texts(body) == texts


def test_block_answer_replaces_only_the_blocked_choices() -> None:
    body = answer("fine", "toxic")
    DIALECT.block_answer(body, {1}, "I can't help with that.", SAFETY)
    completion = Completion.model_validate(body)
    assert [c.text for c in completion.choices] == ["fine", "I can't help with that."]
    assert [c.finish_reason for c in completion.choices] == ["stop", "content_filter"]
    assert completion.choices[0].logprobs is not None
    assert completion.choices[1].logprobs is None
    assert body["safety"] == SAFETY
    assert DIALECT.answer_texts(body)[1].text == "I can't help with that."


def test_a_blocked_choice_keeps_no_field_of_its_own() -> None:
    body = answer("fine", "toxic")
    body["choices"][1]["stop_reason"] = "toxic"  # a vendor's field repeating the text
    body["choices"].insert(0, "not a choice")  # read as output 0's text, then dropped
    DIALECT.block_answer(body, {1}, "No.", SAFETY)
    assert body["choices"][1] == {"index": 1, "text": "No.", "finish_reason": "content_filter",
                                  "logprobs": None}
    assert body["choices"][0]["text"] == "fine" and body["choices"][0]["logprobs"]
    assert len(body["choices"]) == 2


def test_a_blocked_output_no_choice_object_carries_gets_one() -> None:
    body = {**answer("fine"), "choices": {"text": "toxic"}}  # no list: read as output 0
    assert DIALECT.answer_texts(body) == [AnswerText(0, "extension", "toxic")]
    DIALECT.block_answer(body, {0}, "No.", SAFETY)
    assert body["choices"] == [{"index": 0, "text": "No.", "finish_reason": "content_filter",
                                "logprobs": None}]


def test_input_blocked_error_is_a_content_filter_envelope() -> None:
    parsed = DIALECT.parse_request(request(prompt="bad"))
    status, body = DIALECT.input_blocked(parsed, "req1", SAFETY, "No.", "error")
    assert status == 400 and isinstance(body, dict)
    error = body["error"]
    assert "request was rejected as a result of the safety system" in error["message"].lower()
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error", "prompt", "content_filter")
    assert error["safety"] == SAFETY


def test_input_blocked_refusal_is_a_text_completion() -> None:
    parsed = DIALECT.parse_request(request(prompt="bad"))
    status, body = DIALECT.input_blocked(parsed, "req1", SAFETY, "No.", "refusal")
    assert status == 200 and isinstance(body, dict)
    completion = Completion.model_validate(body)
    assert (completion.id, completion.model) == ("cmpl-req1", MODEL)
    assert [(c.index, c.text, c.finish_reason) for c in completion.choices] == [
        (0, "No.", "content_filter")]
    assert completion.usage is not None and completion.usage.total_tokens == 0
    assert body["safety"] == SAFETY


def decode(raw: bytes) -> list[SSEEvent]:
    decoder = SSEDecoder()
    return decoder.feed(raw) + decoder.close()


def validate_chunk(data: str) -> Completion:
    """A stream chunk against the SDK type. The type says ``finish_reason`` is never null,
    but streams carry null until a choice ends (the SDK builds chunks without validating),
    so a null is checked as such and validated as "stop"."""
    body = orjson.loads(data)
    for choice in body["choices"]:
        assert "finish_reason" in choice
        choice["finish_reason"] = choice["finish_reason"] or "stop"
    completion = Completion.model_validate(body)
    for choice, original in zip(completion.choices, orjson.loads(data)["choices"],
                                strict=True):
        choice.finish_reason = original["finish_reason"]
    return completion


@pytest.mark.parametrize(("options", "usage_chunks"), [
    ({}, 0), ({"stream_options": {"include_usage": True}}, 1)])
def test_input_blocked_refusal_streams(options: dict[str, Any], usage_chunks: int) -> None:
    parsed = DIALECT.parse_request(request(prompt="bad", stream=True, **options))
    status, raw = DIALECT.input_blocked(parsed, "req1", SAFETY, "No.", "refusal")
    assert status == 200 and isinstance(raw, bytes)
    events = decode(raw)
    assert events[-1].is_done
    chunks = [validate_chunk(event.data) for event in events[:-1]]
    assert len(chunks) == 2 + usage_chunks
    assert [(c.choices[0].text, c.choices[0].finish_reason) for c in chunks[:2]] == [
        ("No.", None), ("", "content_filter")]
    assert orjson.loads(events[1].data)["safety"] == SAFETY
    assert all(c.id == "cmpl-req1" for c in chunks)
    if usage_chunks:
        assert chunks[-1].choices == [] and chunks[-1].usage is not None


def test_error_body_is_the_openai_envelope() -> None:
    error = UpstreamTimeout("upstream timed out")
    assert DIALECT.error_body(error) == {"error": {
        "message": "upstream timed out", "type": "upstream_error", "param": None,
        "code": None}}


def chunk(index: int | None, text: str, finish: str | None = None,
          usage: bool = False) -> dict[str, Any]:
    choices = [] if index is None else [
        {"text": text, "index": index, "logprobs": None, "finish_reason": finish}]
    body: dict[str, Any] = {"id": "cmpl-up7", "object": "text_completion",
                            "created": 1700000001, "model": MODEL, "choices": choices,
                            "system_fingerprint": None}
    if usage:
        body["usage"] = {"prompt_tokens": 2, "completion_tokens": 6, "total_tokens": 8}
    return body


# A realistic n=2 stream with stream_options.include_usage: interleaved choices, each
# closed by an empty-text finish chunk, the usage chunk, then [DONE].
STREAM = [chunk(0, "Hel"), chunk(1, "Good"), chunk(0, "lo"), chunk(1, "bye"),
          chunk(0, "", "stop"), chunk(1, "!", "length"), chunk(None, "", usage=True)]


def stream_bytes() -> bytes:
    return b"".join(encode(orjson.dumps(body)) for body in STREAM) + b"data: [DONE]\n\n"


def test_stream_of_two_choices_through_the_codec() -> None:
    parsed = DIALECT.parse_request(request(prompt="p", n=2, stream=True))
    codec = DIALECT.stream(parsed, "req1")
    decoder, views = SSEDecoder(), []
    raw = stream_bytes()
    for start in range(0, len(raw), 7):  # split mid-line, mid-event
        views += [codec.read(event) for event in decoder.feed(raw[start:start + 7])]
    views += [codec.read(event) for event in decoder.close()]
    assert len(views) == len(STREAM) + 1
    assert all(validate_chunk(orjson.dumps(body).decode()).choices is not None
               for body in STREAM)
    texts: dict[int, str] = {}
    for view in views:
        for index, text in view.texts:
            texts[index] = texts.get(index, "") + text
    assert texts == {0: "Hello", 1: "Goodbye!"}
    assert [view.ends for view in views] == [False] * 4 + [True] * 4
    assert [view.finished for view in views][4:6] == [{0}, {1}]
    assert all(view.model == MODEL for view in views[:-1])


@pytest.mark.parametrize("data", [
    "", "garbage", "[1, 2]", "null", '{"choices": "x"}', '{"choices": [null, 3, "a"]}',
    '{"choices": [{"index": "0", "text": 5}]}', '{"error": {"message": "overloaded"}}',
    '{"id": 5, "model": [], "created": "now", "choices": [{"text": "a"}]}',
])
def test_read_never_raises_on_garbage(data: str) -> None:
    codec = DIALECT.stream(DIALECT.parse_request(request(prompt="p", stream=True)), "req1")
    view = codec.read(SSEEvent(data))
    assert view.finished == set() and view.ends is False
    relayed_as_is = not data.startswith("{") and data.strip()  # no JSON object: read as text
    assert view.texts == ([(0, data)] if relayed_as_is else
                          [(0, "a")] if '"text": "a"' in data else
                          [(0, "overloaded")] if '"error"' in data else
                          [(0, "x")] if '"x"' in data else  # misshapen choices: read
                          [(0, "0")] if '"index": "0"' in data else  # text for a number: read
                          [(0, "a")] if '"a"' in data else [])
    events = decode(codec.cut([0], SAFETY, None))
    assert Completion.model_validate_json(events[0].data).id == "cmpl-req1"


@pytest.mark.parametrize(("refusal", "open_outputs", "expected"), [
    (None, [1, 0], [(0, ""), (1, "")]),
    ("Blocked.", [0, 1], [(0, "Blocked."), (1, "")]),
    ("Blocked.", [1], [(1, "Blocked.")]),
    (None, [], [(0, "")]),
])
def test_cut_closes_the_open_outputs(refusal: str | None, open_outputs: list[int],
                                     expected: list[tuple[int, str]]) -> None:
    codec = DIALECT.stream(DIALECT.parse_request(request(prompt="p", stream=True)), "req1")
    codec.read(SSEEvent(orjson.dumps(chunk(0, "Hel")).decode()))
    events = decode(codec.cut(open_outputs, SAFETY, refusal))
    assert len(events) == 2 and events[1].is_done
    cut = Completion.model_validate_json(events[0].data)
    assert (cut.id, cut.model, cut.created) == ("cmpl-up7", MODEL, 1700000001)
    assert [(c.index, c.text) for c in cut.choices] == expected
    assert {c.finish_reason for c in cut.choices} == {"content_filter"}
    assert orjson.loads(events[0].data)["safety"] == SAFETY


def test_declared_kinds_are_the_kinds_produced() -> None:
    request_kinds = {text.kind for _, fields, _, _ in REQUEST_SAMPLES
                     for text in DIALECT.parse_request(request(**fields)).texts}
    answer_kinds = {text.kind for _, body, _ in ANSWER_SAMPLES
                    for text in DIALECT.answer_texts(body)}
    codec = DIALECT.stream(DIALECT.parse_request(request(prompt="p", stream=True)), "r")
    stream_events = {body["object"] for body in STREAM
                     if codec.read(SSEEvent(orjson.dumps(body).decode())).texts}
    assert (request_kinds, answer_kinds, stream_events) == (
        REQUEST_KINDS, ANSWER_KINDS, STREAM_EVENTS)


def test_the_module_satisfies_the_dialect_contract() -> None:
    dialect: Dialect = DIALECT
    parsed: ParsedRequest = dialect.parse_request(request(prompt="p"))
    view: EventView = dialect.stream(parsed, "r").read(SSEEvent("[DONE]"))
    assert (dialect.name, dialect.upstream_path, view.ends) == (
        "completions", "completions", True)


def sdk_client(status: int, body: dict[str, Any] | bytes) -> openai.OpenAI:
    """The official SDK, answered by ``body`` through an in-memory transport."""
    def answer(_: httpx2.Request) -> httpx2.Response:
        if isinstance(body, bytes):
            return httpx2.Response(status, content=body,
                                  headers={"content-type": "text/event-stream"})
        return httpx2.Response(status, json=body)

    return openai.OpenAI(api_key="sk-test", base_url="http://proxy.test/v1", max_retries=0,
                         http_client=httpx2.Client(transport=httpx2.MockTransport(answer)))


def test_the_sdk_reads_every_block() -> None:
    streamed = DIALECT.parse_request(request(prompt="bad", stream=True))
    with pytest.raises(openai.BadRequestError) as caught:
        sdk_client(*DIALECT.input_blocked(streamed, "r", SAFETY, "No.", "error")
                   ).completions.create(model=MODEL, prompt="bad")
    assert caught.value.code == "content_filter" and caught.value.param == "prompt"
    refusal = sdk_client(*DIALECT.input_blocked(streamed, "r", SAFETY, "No.", "refusal"))
    chunks = list(refusal.completions.create(model=MODEL, prompt="bad", stream=True))
    assert "".join(c.choices[0].text for c in chunks) == "No."
    codec = DIALECT.stream(streamed, "r")
    cut = sdk_client(200, codec.cut([0, 1], SAFETY, None))
    [last] = list(cut.completions.create(model=MODEL, prompt="bad", stream=True))
    assert [c.finish_reason for c in last.choices] == ["content_filter"] * 2
    assert last.model_extra is not None and last.model_extra["safety"] == SAFETY


_VALUES: list[Any] = ["", "word ", "toxic", None, 0, True, ["toxic"], {"text": "toxic"}]


def _generated_chunk(rng: random.Random) -> dict[str, Any]:
    """A stream chunk of a random shape: the usual fields and others, in every type."""
    def choice(position: int) -> Any:
        if rng.random() < 0.05:
            return "not a choice"
        fields: dict[str, Any] = {"index": rng.choice([position, position, 3, "1", True]),
                                  "text": rng.choice(_VALUES[:4] if rng.random() < 0.8
                                                     else _VALUES)}
        ranked = {"tokens": ["a"], "token_logprobs": [-0.1],
                  "top_logprobs": [{"a": -0.1, "toxic": -1.0}], "text_offset": [0]}
        for key, values in (("finish_reason", [None, None, "stop", "", {"why": "toxic"}]),
                            ("logprobs", [None, None, {}, ranked, "toxic", []]),
                            ("content_filter_results", [{}, {"hate": {"filtered": False}},
                                                        "toxic"]),
                            ("stop_reason", ["toxic", None])):
            if rng.random() < 0.3:
                fields[key] = rng.choice(values)
        return dict(rng.sample(list(fields.items()), len(fields)))  # any key order

    chunk: dict[str, Any] = {"id": "cmpl-1", "object": "text_completion", "created": 1,
                             "model": "m", "choices": [
                                 choice(p) for p in range(rng.choice([0, 1, 1, 1, 2]))]}
    for key, value in (("usage", {"total_tokens": 3}), ("system_fingerprint", "fp"),
                       ("citations", ["https://a.example/toxic"]), ("error", {"message": "x"})):
        if rng.random() < 0.15:
            chunk[key] = value
    return chunk


def test_the_usual_chunks_reader_sees_what_the_general_reader_sees():
    """``plain_choices`` stands in for the general reader on the chunks it takes: on
    generated chunks it either declines or reads the same texts and ends."""
    def general(chunk: dict[str, Any]) -> EventView:
        view = EventView()
        CompletionsStream(ParsedRequest(body={}), "req")._read_choices(view, chunk)
        return view

    def fast(chunk: dict[str, Any]) -> EventView | None:
        plain = plain_choices(chunk)
        return None if plain is None else EventView(plain[0], [], plain[1], bool(plain[1]))

    assert_stands_in(_generated_chunk, fast, general)
