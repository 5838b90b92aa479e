"""What reading a streamed answer costs per event: each API's stream as the demo upstream
writes it, decoded (``sse.SSEDecoder``), read by the dialect's stream codec (the texts the
checks score), written again for the client (``sse.relayed``) and windowed
(``windows.WindowTracker``): the work the stream relay does for every event, whatever the
checks.

Prints JSON: per API and answer length, the events in one stream and the median
microseconds per event over rounds (each round times every case once, interleaved). A real
model streams about one event per token, so a long answer is hundreds of events.

    python -m bench.stream_events [--rounds 7] [--streams 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

from proxy.demo import anthropic_wire, openai_wire
from proxy.demo.answers import Ask
from proxy.pipeline.windows import WindowTracker
from proxy.protocol import chat, completions, messages, responses, sse
from proxy.protocol.dialect import Dialect, ParsedRequest

SHORT = ('Hello! You said: "(3f9a2c1b-17) Please summarise the plot of a detective nove". '
         "This is the safety-proxy demo model; it gives every prompt a short, friendly reply.")
LONG = (SHORT + " ") * 12  # about 2,000 characters: some 330 events
APIS: dict[str, tuple[Dialect, Callable[[Ask], list[bytes]]]] = {
    "chat": (chat.DIALECT, openai_wire.chat_stream),
    "completions": (completions.DIALECT, openai_wire.completion_stream),
    "responses": (responses.DIALECT, openai_wire.response_stream),
    "messages": (messages.DIALECT, anthropic_wire.message_stream),
}


def read_stream(dialect: Dialect, body: bytes) -> int:
    """One stream's events through the relay's reading steps; how many there were."""
    codec = dialect.stream(ParsedRequest(body={"model": "demo", "stream": True}), "bench")
    windows = WindowTracker(240, 64)
    events = sse.SSEDecoder().feed(body)
    for event in events:
        view = codec.read(event)
        sse.relayed(event)
        for index, text in view.texts:
            windows.add(index, text)
    return len(events)


def time_case(dialect: Dialect, body: bytes, streams: int) -> tuple[int, float]:
    """(events per stream, median microseconds per event over ``streams`` streams)."""
    durations = []
    for _ in range(streams):
        started = time.perf_counter()
        events = read_stream(dialect, body)
        durations.append(time.perf_counter() - started)
    return events, statistics.median(durations) / events * 1e6


def main(rounds: int, streams: int) -> dict:
    bodies = {(api, length): b"".join(wire(Ask(text, "demo")))
              for api, (_, wire) in APIS.items() for length, text in (("short", SHORT),
                                                                      ("long", LONG))}
    samples: dict[str, list[float]] = {}
    events: dict[str, int] = {}
    for _ in range(rounds):
        for (api, length), body in bodies.items():
            key = f"{api}/{length}"
            events[key], per_event = time_case(APIS[api][0], body, streams)
            samples.setdefault(key, []).append(per_event)
    return {"rounds": rounds, "streams_per_round": streams, "events_per_stream": events,
            "median_us_per_event": {key: round(statistics.median(values), 2)
                                    for key, values in samples.items()}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--streams", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(main(args.rounds, args.streams), indent=2))
