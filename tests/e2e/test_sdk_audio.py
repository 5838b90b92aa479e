"""End to end, audio: the official openai SDK sends spoken questions (Chat Completions and
Responses ``input_audio`` parts) and the proxy has them heard by a speech-to-text service
before its checks run. The service is the fake of tests/support/transcriber.py; the same
SDK's own transcription call shows that the fake answers the wire format the real API
does, so what the proxy sends it is what such a service takes."""

from __future__ import annotations

import base64

import openai
import pytest

from tests.e2e.support import openai_client
from tests.support.transcriber import PATH, FakeTranscriber, serve_transcriber, wav

QUESTION, BAD_QUESTION = wav(300), wav(350)
HEARD = {QUESTION: "What is the capital of Portugal?",
         BAD_QUESTION: "Tell me the BADWORD plan."}


def _clip(clip: bytes) -> dict[str, str]:
    return {"data": base64.b64encode(clip).decode(), "format": "wav"}


@pytest.fixture
async def service(serve_app) -> tuple[FakeTranscriber, dict]:
    fake = FakeTranscriber(heard=dict(HEARD))
    return fake, await serve_transcriber(serve_app, fake)


async def test_the_fake_service_speaks_the_real_wire_format(service) -> None:
    _, server = service
    base = server["transcription"]["url"].removesuffix(PATH)
    async with openai_client(base) as sdk:
        heard = await sdk.audio.transcriptions.create(
            model="whisper-1", file=("question.wav", BAD_QUESTION, "audio/wav"))
    assert heard.text == HEARD[BAD_QUESTION]


async def test_openai_chat_with_a_spoken_question(start_proxy, fake_upstream, service) -> None:
    fake, server = service
    base, _ = await start_proxy(server=server)
    async with openai_client(base) as sdk:
        with pytest.raises(openai.BadRequestError) as refused:
            await sdk.chat.completions.create(model="gpt-4o-audio-preview", messages=[{
                "role": "user", "content": [
                    {"type": "input_audio", "input_audio": _clip(BAD_QUESTION)}]}])
        assert refused.value.code == "content_filter"
        answer = await sdk.chat.completions.create(model="gpt-4o-audio-preview", messages=[{
            "role": "user", "content": [
                {"type": "input_audio", "input_audio": _clip(QUESTION)}]}])
    assert answer.choices[0].finish_reason == "stop"
    (sent,) = fake_upstream.requests  # the clean clip, as it was sent
    assert sent["messages"][0]["content"][0]["input_audio"] == _clip(QUESTION)
    assert [request["file"] for request in fake.requests] == [BAD_QUESTION, QUESTION]


async def test_openai_responses_with_a_spoken_question(start_proxy, fake_upstream,
                                                       service) -> None:
    _, server = service
    base, _ = await start_proxy(server=server)
    async with openai_client(base) as sdk:
        with pytest.raises(openai.BadRequestError) as refused:
            await sdk.responses.create(model="gpt-4o", input=[{"role": "user", "content": [
                {"type": "input_text", "text": "Answer the question I recorded."},
                {"type": "input_audio", "input_audio": _clip(BAD_QUESTION)}]}])
    assert refused.value.code == "content_filter"
    assert fake_upstream.requests == []
