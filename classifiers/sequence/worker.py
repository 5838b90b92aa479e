"""An inference worker process: one check's model, served to the proxy over a socket.

Started by :class:`~classifiers.sequence.workers.WorkerPool` as
``python -m classifiers.sequence.worker FD`` with one end of a socket pair as FD. It builds
the check's own classifier with ``workers: 0`` (so the model, its tokenizer thread and its
model thread live here, on a core and a GIL of their own), answers the setup frame with the
model's outputs, then scores every request as it comes through that classifier's batcher:
requests from the proxy are gathered into forward passes exactly as in-process. Each answer
carries the sizes of the passes run since the last one, for the proxy's batch metrics. It exits
when the socket closes (the proxy closed the check, stopped, or died). Frames: frames.py.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections import deque
from typing import Any

from classifiers import heap, registry
from classifiers.base import ClassifierError, Overloaded
from classifiers.sequence.batcher import TokenBatcher
from classifiers.sequence.classifier import SequenceClassifier
from classifiers.sequence.frames import frame, read_frame
from classifiers.sequence.loaded import brief
from classifiers.tasks import spawn


async def serve(sock: socket.socket) -> int:
    reader, writer = await asyncio.open_connection(sock=sock)
    setup = await read_frame(reader)
    if setup is None:
        return 1
    try:
        classifier = registry.build(setup["type"], setup["name"],
                                    {**setup["options"], "workers": 0})
        assert isinstance(classifier, SequenceClassifier)
        await classifier.start()
    except Exception as exc:  # reported to the proxy, which refuses the check with it
        message = str(exc) if isinstance(exc, ClassifierError) else brief(exc)
        writer.write(frame({"error": message}))
        await writer.drain()
        writer.close()
        return 1
    assert classifier.engine is not None and classifier.batcher is not None
    heap.settle()  # the model out of the collector's way, as in the proxy
    engine = classifier.engine
    batches: deque[int] = deque()  # each forward pass's rows, reported with the next answer
    classifier.batch_listener = batches.append  # called on the model thread
    writer.write(frame({"class_names": list(engine.class_names),
                        "fingerprint": engine.fingerprint, "activation": engine.activation}))
    try:
        while (request := await read_frame(reader)) is not None:
            spawn(_answer(classifier.batcher, request, writer, batches), name="worker-answer")
    finally:
        await classifier.close()
        writer.close()
    return 0


async def _answer(batcher: TokenBatcher, request: dict[str, Any],
                  writer: asyncio.StreamWriter, batches: deque[int]) -> None:
    answer: dict[str, Any] = {"id": request["id"]}
    try:
        answer["vectors"] = await batcher.submit(request["texts"])
    except ClassifierError as exc:
        answer.update(error=str(exc), overloaded=isinstance(exc, Overloaded))
    answer["batches"] = [batches.popleft() for _ in range(len(batches))]
    writer.write(frame(answer))


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[1]))
    return asyncio.run(serve(sock))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
