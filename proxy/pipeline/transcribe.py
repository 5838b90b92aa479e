"""Speech in audio sent inline with a request, read as text by a speech-to-text service: an
audio model hears what a clip says, so a request could carry any words to it as speech
(Chat Completions and Responses ``input_audio`` parts). No speech recogniser runs in the
proxy; the operator names a service that speaks OpenAI's ``/v1/audio/transcriptions``.

Contract (``server.transcription``):
- ``audio_kind(raw)`` says whether bytes are a clip such a service takes (WAV, MP3, FLAC,
  Ogg, WebM, MP4/M4A), by their header, whatever format the request declares;
- ``Transcriber.transcribe(raw)`` posts the clip to ``url`` the way that API takes it
  (multipart form: ``file``, ``model``, ``language`` when set, ``response_format=json``;
  ``api_key`` as a Bearer token) and returns its ``text`` (stripped; "" when it heard no
  speech); None when it was not read: not audio, larger than ``max_bytes`` (never sent),
  an error status, an answer without a JSON ``text``, past ``timeout_s`` (abandoned), or
  transcription off. Never raises for the clip's sake;
- nothing but the clip and those fields reaches the service: no client header, no cookie,
  no environment proxy; nothing of a clip, its text or the service's answer is logged;
- a clip heard before (by its sha256, within the hour, in this process) is not sent
  again: its transcript is kept in memory (``Transcriber``), never in the shared store;
- ``transcripts(clips, ...)`` reads at most ``max_per_request`` clips of a request, in
  order, side by side; ``outcomes`` counts what became of each
  (metrics.TRANSCRIPTION_OUTCOMES).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import Callable, Sequence

import aiohttp
import structlog

from proxy.config.schema import TranscriptionConfig
from proxy.protocol.media import audio_kind
from proxy.state.memory import ExpiringMap

log = structlog.get_logger("safety_proxy.transcribe")
HEARD_ENTRIES = 1024
HEARD_TTL_S = 3600
TranscriptionOutcomes = Counter[str]
# (header test, the clip's format: its file name's extension, and its media type)
_FORMATS = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "ogg": "audio/ogg",
            "webm": "audio/webm", "m4a": "audio/mp4"}


class Transcriber:
    """One pooled client for a transcription config (the app keeps one per config:
    resources.py), with the transcripts it last heard: a conversation sends its earlier
    clips again every turn, and each is heard once (``HEARD_ENTRIES`` clips, by their
    sha256, for ``HEARD_TTL_S``; in this process's memory only)."""

    def __init__(self, config: TranscriptionConfig,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.session: aiohttp.ClientSession | None = None
        self._heard: ExpiringMap[str] = ExpiringMap(HEARD_ENTRIES, keep_used=True)

    def _session(self) -> aiohttp.ClientSession:
        if self.session is None:
            headers = {"User-Agent": "safety-proxy (content check)"}
            if self.config.api_key is not None:
                headers["Authorization"] = f"Bearer {self.config.api_key.get_secret_value()}"
            self.session = aiohttp.ClientSession(
                trust_env=False, headers=headers, cookie_jar=aiohttp.DummyCookieJar(),
                connector=aiohttp.TCPConnector(limit=32))
        return self.session

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def transcribe(self, raw: bytes, outcomes: TranscriptionOutcomes | None = None
                         ) -> str | None:
        text, outcome = await self._transcribe(raw)
        if outcomes is not None:
            outcomes[outcome] += 1
        return text

    async def _transcribe(self, raw: bytes) -> tuple[str | None, str]:
        """The clip's transcript (None: not heard) and its outcome."""
        kind = audio_kind(raw)
        if not self.config.url:
            return None, "skipped"
        if kind is None:
            return None, "unsupported"
        if len(raw) > self.config.max_bytes:
            return None, "too_large"
        digest = hashlib.sha256(raw).hexdigest()
        heard = self._heard.get(digest, self._now_ms())
        if heard is not None:
            return heard, "cached"
        text, outcome = await self._post(raw, kind)
        if text is not None:
            self._heard.set(digest, text, self._now_ms() + HEARD_TTL_S * 1000)
        return text, outcome

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def _post(self, raw: bytes, kind: str) -> tuple[str | None, str]:
        form = aiohttp.FormData()
        form.add_field("file", raw, filename=f"audio.{kind}", content_type=_FORMATS[kind])
        form.add_field("model", self.config.model)
        if self.config.language:
            form.add_field("language", self.config.language)
        form.add_field("response_format", "json")
        try:
            async with asyncio.timeout(self.config.timeout_s):
                async with self._session().post(self.config.url, data=form,
                                                allow_redirects=False) as response:
                    if response.status != 200:
                        log.warning("transcription_failed", status=response.status)
                        return None, "failed"
                    answer = await response.json(content_type=None)
        except TimeoutError:
            return None, "timeout"
        except (aiohttp.ClientError, ValueError) as exc:  # ValueError: not JSON
            log.warning("transcription_failed", error=type(exc).__name__)
            return None, "failed"
        text = answer.get("text") if isinstance(answer, dict) else None
        if not isinstance(text, str):
            log.warning("transcription_failed", error="no text in the answer")
            return None, "failed"
        text = text.strip()
        return text, "transcribed" if text else "empty"


async def transcripts(clips: Sequence[bytes], transcriber: Transcriber | None,
                      outcomes: TranscriptionOutcomes | None = None) -> list[str | None]:
    """What each clip says, in order ("" for silence; None for one not read: past
    ``max_per_request``, transcription off, or not read by the service)."""
    found: list[str | None] = []
    if transcriber is not None and transcriber.config.url:
        found = list(await asyncio.gather(*(
            transcriber.transcribe(clip, outcomes)
            for clip in clips[:transcriber.config.max_per_request])))
    if outcomes is not None and len(clips) > len(found):
        outcomes["skipped"] += len(clips) - len(found)
    return [*found, *[None] * (len(clips) - len(found))]
