"""The SSE codec against streams split at every byte offset."""

from __future__ import annotations

import itertools

import orjson
import pytest

from proxy.protocol.sse import SSEDecoder, SSEEvent, encode

STREAM = (
    b": keep-alive comment\n\n"
    b'data: {"choices":[{"delta":{"content":"h\xc3\xa9llo \xe2\x9c\x93"}}]}\n\n'
    b"event: message\r\ndata: line one\r\ndata: line two\r\nid: 7\r\n\r\n"
    b"data: cr only\r\r"
    b"data: bad \xff utf-8 \xe2\x82\ndata: cut\r\n\r\n"  # invalid, and a character cut short
    b"data: [DONE]\n\n"
)
EXPECTED = [
    SSEEvent('{"choices":[{"delta":{"content":"héllo ✓"}}]}'),
    SSEEvent("line one\nline two", event="message", id="7"),
    SSEEvent("cr only"),
    SSEEvent("bad \ufffd utf-8 \ufffd\ncut"),  # each line decoded with replacement
    SSEEvent("[DONE]"),
]


def decode_in_pieces(pieces: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [event for piece in pieces for event in decoder.feed(piece)]
    return events + decoder.close()


def test_whole_stream_decodes():
    events = decode_in_pieces([STREAM])
    assert events == EXPECTED
    assert events[-1].is_done and not events[0].is_done


@pytest.mark.parametrize("offset", range(1, len(STREAM)))
def test_split_at_every_byte_offset(offset):
    assert decode_in_pieces([STREAM[:offset], STREAM[offset:]]) == EXPECTED


def test_split_into_single_bytes_and_at_every_pair_of_offsets():
    assert decode_in_pieces([bytes([b]) for b in STREAM]) == EXPECTED
    for first, second in itertools.combinations(range(1, len(STREAM), 7), 2):
        pieces = [STREAM[:first], STREAM[first:second], STREAM[second:]]
        assert decode_in_pieces(pieces) == EXPECTED


def test_last_event_without_blank_line_is_returned_by_close():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: tail") == []
    assert decoder.close() == [SSEEvent("tail")]


def test_encode_round_trips_multiline_and_json():
    payload = orjson.dumps({"a": "b\nc"}).decode()
    for data, event in (("x\ny", None), (payload, "delta")):
        assert decode_in_pieces([encode(data, event)]) == [SSEEvent(data, event)]


def test_field_lines_as_the_spec_reads_them():
    stream = (b"data:no space\n\n"  # the space after the colon is optional
              b"data:  two spaces\n\n"  # only one is dropped
              b"data\n\n"  # a field name alone: an empty value
              b"event: ping\nid: 9\n\n"  # an event with no data still ends at its blank line
              b"data: after\n\n")  # an event's type and id are its own, not the next's
    expected = [SSEEvent("no space"), SSEEvent(" two spaces"), SSEEvent(""),
                SSEEvent("", "ping", "9"), SSEEvent("after")]
    for offset in range(1, len(stream)):
        assert decode_in_pieces([stream[:offset], stream[offset:]]) == expected


def test_encode_writes_text_and_utf8_bytes_alike_named_or_not():
    for data in ("plain", "two\nlines", "h\u00e9llo \u2713", ""):
        for event in (None, "", "message_delta"):
            written = encode(data, event)
            assert written == encode(data.encode("utf-8"), event)
            head = f"event: {event}\n" if event else ""
            lines = "".join(f"data: {line}\n" for line in data.split("\n"))
            assert written == (head + lines + "\n").encode("utf-8")
            assert decode_in_pieces([written]) == [SSEEvent(data, event or None)]
