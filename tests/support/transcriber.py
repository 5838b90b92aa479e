"""A fake speech-to-text service on 127.0.0.1 for the tests of what the proxy hears in audio
(proxy/pipeline/transcribe.py). It speaks OpenAI's ``POST /v1/audio/transcriptions`` wire
format (a multipart form with ``file``, ``model``, optional ``language`` and
``response_format``; a ``{"text": ...}`` answer, errors in OpenAI's envelope) and "hears"
what the test says a clip says: ``heard`` maps a clip's bytes to its speech; any other
clip is silence. Clips are real WAV files (``wav``), tones no recogniser would read: the
fake stands in for the service, not for speech."""

from __future__ import annotations

import asyncio
import io
import math
import struct
import wave
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

PATH = "/v1/audio/transcriptions"


def wav(hertz: float, seconds: float = 0.2, rate: int = 16_000) -> bytes:
    """A mono 16-bit WAV of one tone: each ``hertz`` gives a clip of its own."""
    frames = b"".join(struct.pack("<h", int(12_000 * math.sin(2 * math.pi * hertz * n / rate)))
                      for n in range(int(rate * seconds)))
    out = io.BytesIO()
    with wave.open(out, "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(rate)
        clip.writeframes(frames)
    return out.getvalue()


@dataclass
class FakeTranscriber:
    heard: dict[bytes, str] = field(default_factory=dict)
    # each request: its form fields (the file as its bytes, file name and content type) and
    # headers
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    delay_s: float = 0.0
    answer: Any = None  # when set, the JSON answered instead of {"text": ...}

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(PATH, self._transcribe)
        return app

    async def _transcribe(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            return _error(400, "'file' is a required property")
        with upload.file:
            clip = upload.file.read()
        self.requests.append({
            "file": clip, "filename": upload.filename, "content_type": upload.content_type,
            **{key: value for key, value in form.items() if isinstance(value, str)},
            "headers": dict(request.headers)})
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.status != 200:
            return _error(self.status, "the service is unavailable")
        if self.answer is not None:
            return web.json_response(self.answer)
        return web.json_response({"text": self.heard.get(clip, "")})


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "invalid_request_error",
                                        "param": None, "code": None}}, status=status)


async def serve_transcriber(serve_app, transcriber: FakeTranscriber) -> dict[str, Any]:
    """Starts ``transcriber`` (``serve_app``: the conftest fixture's); the proxy's
    ``server`` section that uses it."""
    base = await serve_app(transcriber.app())
    return {"transcription": {"url": f"{base}{PATH}", "api_key": "sk-transcribe-key",
                              "timeout_s": 2}}
