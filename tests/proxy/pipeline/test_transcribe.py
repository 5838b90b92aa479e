"""Speech in inline audio, read by a speech-to-text service (proxy/pipeline/transcribe.py,
attachments.py): what is sent to the service and what is not, the speech checked like a
message, and what stays unread. The service is a fake speaking OpenAI's wire format
(tests/support/transcriber.py); the proxy, the upstream and the client are real."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from proxy.config.schema import FetchConfig, TranscriptionConfig
from proxy.pipeline.fetch import Fetcher
from proxy.pipeline.transcribe import Transcriber
from proxy.protocol.media import audio_kind
from proxy.resources import PerConfig
from tests.proxy.routes.test_bad_input import metric
from tests.support.image import text_png
from tests.support.transcriber import FakeTranscriber, serve_transcriber, wav

BAD_CLIP, CLEAN_CLIP = wav(440), wav(660)
SPEECH = {BAD_CLIP: "The plan: BADWORD on Monday.", CLEAN_CLIP: "What time is it in Lisbon?"}
CLIENT_KEY = "sk-client-key-never-forwarded"


def _audio_part(clip: bytes, fmt: str = "wav") -> dict[str, Any]:
    return {"type": "input_audio",
            "input_audio": {"data": base64.b64encode(clip).decode(), "format": fmt}}


def _chat(*clips: bytes) -> dict[str, Any]:
    return {"model": "gpt-4o-audio-preview", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "Answer what I ask."}, *map(_audio_part, clips)]}]}


async def _post(base: str, body: dict[str, Any], path: str = "chat/completions"
                ) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/{path}", json=body,
            headers={"Authorization": f"Bearer {CLIENT_KEY}"}) as response:
        return response.status, await response.text()


@pytest.fixture
async def transcriber(serve_app) -> tuple[FakeTranscriber, dict[str, Any]]:
    """The fake service, hearing SPEECH, and the proxy's ``server`` section using it."""
    fake = FakeTranscriber(heard=dict(SPEECH))
    return fake, await serve_transcriber(serve_app, fake)


def test_audio_is_known_by_its_header() -> None:
    assert audio_kind(BAD_CLIP) == "wav"
    assert audio_kind(b"ID3\x04\x00" + bytes(16)) == "mp3"
    assert audio_kind(b"\xff\xfb\x90\x64" + bytes(16)) == "mp3"  # a bare MPEG frame
    assert audio_kind(b"fLaC" + bytes(16)) == "flac"
    assert audio_kind(b"OggS" + bytes(16)) == "ogg"
    assert audio_kind(b"\x1a\x45\xdf\xa3" + bytes(16)) == "webm"
    assert audio_kind(b"\x00\x00\x00\x20ftypM4A " + bytes(16)) == "m4a"
    for other in (b"\x89PNG\r\n\x1a\n" + bytes(16), b"\xff\xd8\xff\xe0" + bytes(16),
                  b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"%PDF-1.4", b"plain words", b""):
        assert audio_kind(other) is None, other


@pytest.mark.parametrize("api", ["chat/completions", "responses"])
async def test_the_speech_in_an_audio_clip_is_checked(start_proxy, fake_upstream, transcriber,
                                                      api: str) -> None:
    fake, server = transcriber
    base, _ = await start_proxy(server=server)
    body = _chat(BAD_CLIP) if api == "chat/completions" else {
        "model": "gpt-4o", "input": [{"role": "user", "content": [
            {"type": "input_text", "text": "Answer what I ask."}, _audio_part(BAD_CLIP)]}]}
    status, text = await _post(base, body, api)
    assert status == 400, text
    assert "content_filter" in text and "BADWORD" not in text
    assert fake_upstream.requests == []
    [sent] = fake.requests  # the clip as it came, and only what the API takes
    assert sent["file"] == BAD_CLIP
    assert (sent["filename"], sent["content_type"]) == ("audio.wav", "audio/wav")
    assert (sent["model"], sent["response_format"]) == ("whisper-1", "json")
    assert "language" not in sent
    assert sent["headers"]["Authorization"] == "Bearer sk-transcribe-key"
    assert CLIENT_KEY not in str(sent["headers"])
    assert await metric(base, 'safety_proxy_transcriptions_total{outcome="transcribed"}') == 1


async def test_clean_speech_reaches_the_upstream_unchanged(start_proxy, fake_upstream,
                                                           transcriber) -> None:
    fake, server = transcriber
    server["transcription"]["language"] = "en"
    base, _ = await start_proxy(server=server)
    status, text = await _post(base, _chat(CLEAN_CLIP))
    assert status == 200, text
    [forwarded] = fake_upstream.requests
    assert forwarded == _chat(CLEAN_CLIP)
    assert fake.requests[0]["language"] == "en"


async def test_audio_stays_unread_when_no_service_is_set(start_proxy, fake_upstream) -> None:
    """The default: nothing is sent anywhere; the clip is unreadable content, which the
    policy allows by default and can flag or block."""
    base, _ = await start_proxy()
    assert (await _post(base, _chat(BAD_CLIP)))[0] == 200
    assert await metric(base, 'safety_proxy_transcriptions_total{outcome="skipped"}') == 1
    assert await metric(base, 'safety_proxy_unscanned_parts_total{direction="input"}') == 1
    base, _ = await start_proxy(policy={"unreadable_content": {"input": "block"}})
    assert (await _post(base, _chat(CLEAN_CLIP)))[0] == 400
    assert len(fake_upstream.requests) == 1


async def test_a_clip_read_stays_unreadable_content(start_proxy, transcriber) -> None:
    """Its speech is checked, its sound is not: a policy that blocks unreadable content
    still blocks a clip whose speech passed."""
    _, server = transcriber
    base, _ = await start_proxy(server=server, policy={"unreadable_content": {"input": "block"}})
    assert (await _post(base, _chat(CLEAN_CLIP)))[0] == 400


@pytest.mark.parametrize("fault, outcome", [
    ({"status": 500}, "failed"), ({"status": 401}, "failed"),
    ({"answer": {"transcript": "BADWORD"}}, "failed"), ({"answer": ["BADWORD"]}, "failed"),
    ({"delay_s": 5}, "timeout")])
async def test_a_clip_the_service_does_not_read_stays_unread(start_proxy, fake_upstream,
                                                             transcriber, fault, outcome) -> None:
    fake, server = transcriber
    for key, value in fault.items():
        setattr(fake, key, value)
    server["transcription"]["timeout_s"] = 0.5
    base, _ = await start_proxy(server=server, abuse={"enabled": False})
    with capture_logs() as logs:
        assert (await _post(base, _chat(BAD_CLIP)))[0] == 200  # allowed: unreadable content
    assert await metric(base, f'safety_proxy_transcriptions_total{{outcome="{outcome}"}}') == 1
    assert "BADWORD" not in str(logs) and "sk-transcribe-key" not in str(logs)
    base, _ = await start_proxy(server=server, policy={"unreadable_content": {"input": "block"}})
    assert (await _post(base, _chat(BAD_CLIP)))[0] == 400
    assert len(fake_upstream.requests) == 1  # the first request only


async def test_clips_past_the_limits_are_never_sent(start_proxy, fake_upstream,
                                                     transcriber) -> None:
    fake, server = transcriber
    server["transcription"]["max_per_request"] = 1
    base, _ = await start_proxy(server=server)
    assert (await _post(base, _chat(CLEAN_CLIP, BAD_CLIP)))[0] == 200  # the second unread
    assert [sent["file"] for sent in fake.requests] == [CLEAN_CLIP]
    assert await metric(base, 'safety_proxy_transcriptions_total{outcome="skipped"}') == 1
    server["transcription"].update(max_per_request=4, max_bytes=len(BAD_CLIP) - 1)
    base, _ = await start_proxy(server=server)
    assert (await _post(base, _chat(BAD_CLIP)))[0] == 200
    assert len(fake.requests) == 1
    assert await metric(base, 'safety_proxy_transcriptions_total{outcome="too_large"}') == 1


async def test_audio_is_known_by_its_bytes_not_its_declared_format(start_proxy, fake_upstream,
                                                                   transcriber) -> None:
    """A clip declared as mp3 is sent as the WAV it is; a PNG declared as audio is read as
    the image it is, never sent to the service."""
    fake, server = transcriber
    base, _ = await start_proxy(server=server, abuse={"enabled": False})  # two blocks
    body = _chat()
    body["messages"][0]["content"].append(_audio_part(BAD_CLIP, "mp3"))
    assert (await _post(base, body))[0] == 400
    assert fake.requests[0]["filename"] == "audio.wav"
    body = _chat()
    body["messages"][0]["content"].append(_audio_part(text_png("The plan: BADWORD."), "wav"))
    assert (await _post(base, body))[0] == 400
    assert len(fake.requests) == 1 and fake_upstream.requests == []


def test_a_changed_key_gets_a_client_of_its_own() -> None:
    """A reload that changes the service's key (masked in the config's JSON dump) must not
    keep sending the old one."""
    clients = PerConfig(Transcriber)
    one = TranscriptionConfig(url="http://127.0.0.1:9/x", api_key="sk-one")
    assert clients.get(one) is clients.get(TranscriptionConfig(url="http://127.0.0.1:9/x",
                                                               api_key="sk-one"))
    other = clients.get(TranscriptionConfig(url="http://127.0.0.1:9/x", api_key="sk-two"))
    assert other is not clients.get(one)
    assert other.config.api_key is not None and other.config.api_key.get_secret_value() == "sk-two"
    fetchers = PerConfig(Fetcher)
    assert fetchers.get(FetchConfig()) is fetchers.get(FetchConfig())
    assert fetchers.get(FetchConfig(max_redirects=1)) is not fetchers.get(FetchConfig())


async def test_a_clip_sent_again_is_heard_once(start_proxy, fake_upstream, transcriber) -> None:
    """A conversation sends its earlier clips every turn: the service hears each once."""
    fake, server = transcriber
    base, _ = await start_proxy(server=server)
    first = _chat(CLEAN_CLIP)
    second = {**first, "messages": [*first["messages"], {"role": "assistant", "content": "Noon."},
                                    {"role": "user", "content": [_audio_part(BAD_CLIP)]}]}
    assert (await _post(base, first))[0] == 200
    assert (await _post(base, second))[0] == 400
    assert (await _post(base, second))[0] == 400  # the cached speech is checked all the same
    assert [sent["file"] for sent in fake.requests] == [CLEAN_CLIP, BAD_CLIP]
    assert await metric(base, 'safety_proxy_transcriptions_total{outcome="cached"}') == 3


def _spoken_answer(clip: bytes | str, transcript: str = "Sure, here you go.") -> dict[str, Any]:
    data = clip if isinstance(clip, str) else base64.b64encode(clip).decode()
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": None, "refusal": None,
                "audio": {"id": "audio_1", "expires_at": 2, "data": data,
                          "transcript": transcript}}}]}


async def test_a_spoken_answer_is_heard(start_proxy, fake_upstream, transcriber) -> None:
    """An answer's audio is what the user hears: a transcript a server leaves out, or one
    that says something else, must not let its speech through."""
    fake, server = transcriber
    base, _ = await start_proxy(server=server)
    fake_upstream.answer = lambda body: _spoken_answer(BAD_CLIP)
    status, text = await _post(base, _chat(CLEAN_CLIP))
    assert status == 200 and "content_filter" in text
    assert base64.b64encode(BAD_CLIP).decode() not in text  # the clip is gone with its choice
    fake_upstream.answer = lambda body: _spoken_answer(CLEAN_CLIP, transcript="")
    status, text = await _post(base, _chat(CLEAN_CLIP))
    assert status == 200 and base64.b64encode(CLEAN_CLIP).decode() in text
    assert [sent["file"] for sent in fake.requests] == [CLEAN_CLIP, BAD_CLIP]  # one each


async def test_a_spoken_answer_not_heard_is_counted_never_scored_as_words(
        start_proxy, fake_upstream) -> None:
    base, _ = await start_proxy()  # no transcription service
    fake_upstream.answer = lambda body: _spoken_answer(BAD_CLIP)
    status, text = await _post(base, {"model": "m", "messages": [
        {"role": "user", "content": "Say something."}]})
    assert status == 200 and base64.b64encode(BAD_CLIP).decode() in text
    assert await metric(base, 'safety_proxy_unscanned_parts_total{direction="output"}') == 1
    # raw PCM (no header, as a pcm16 answer sends it) is no clip: neither heard nor scored
    pcm = base64.b64encode(bytes(range(256)) * 64).decode()
    fake_upstream.answer = lambda body: _spoken_answer(pcm)
    status, text = await _post(base, {"model": "m", "messages": [
        {"role": "user", "content": "Say something."}]})
    assert status == 200 and pcm in text
