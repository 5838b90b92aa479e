"""Text in inline images, read by Tesseract (proxy/pipeline/ocr.py, attachments.py): what is
read, in which kind, what stays unreadable, and how the process is run. The real
``tesseract`` reads the images; a stand-in script (written here) plays a slow, failing or
prying one."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from structlog.testing import capture_logs

from proxy.config.schema import OcrConfig, ServerConfig
from proxy.pipeline import ocr
from proxy.pipeline.attachments import read_attachments
from proxy.pipeline.ocr import garbled, image_kind, read_image
from proxy.protocol.chat import DIALECT as CHAT
from proxy.protocol.dialect import FILE_KIND, IMAGE_KIND, KEY
from tests.support.image import blank_png, image_url, scanned_pdf, text_png
from tests.support.pdf import data_url, text_pdf

SENTENCE = "Meet me at the north gate at noon."


def test_images_are_known_by_their_header() -> None:
    from PIL import Image
    picture = Image.new("RGB", (8, 8), "white")
    for kind in ("png", "jpeg", "gif", "bmp", "tiff", "webp"):
        out = io.BytesIO()
        picture.save(out, kind.upper())
        assert image_kind(out.getvalue()) == kind
    assert image_kind(b"%PDF-1.4") is None and image_kind(b"plain text") is None


async def test_the_text_in_an_image_is_read() -> None:
    assert await read_image(text_png(SENTENCE), OcrConfig()) == SENTENCE
    assert await read_image(blank_png(), OcrConfig()) == ""


def _stand_in(tmp_path: Path, body: str) -> str:
    script = tmp_path / "tesseract-stand-in"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize("angle", [90, 180, 270])
async def test_text_turned_on_its_side_or_upside_down_is_read(angle: int) -> None:
    """A first reading of turned text is gibberish; the second, with Tesseract's
    orientation detection, turns it back (a few lines are enough for it to tell)."""
    from PIL import Image
    picture = Image.open(io.BytesIO(text_png("The plan: BADWORD on Monday.", SENTENCE,
                                             "Bring the tools and the map.")))
    out = io.BytesIO()
    picture.rotate(angle, expand=True, fillcolor=255).save(out, "PNG")
    text = await read_image(out.getvalue(), OcrConfig())
    assert text is not None and "BADWORD" in text


async def test_a_readable_image_is_read_once(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    command = _stand_in(tmp_path, f'echo "$@" >> {calls}; exec tesseract "$@"')
    assert await read_image(text_png(SENTENCE), OcrConfig(command=command)) == SENTENCE
    assert len(calls.read_text().splitlines()) == 1


def test_gibberish_is_told_from_words() -> None:
    assert garbled("dew ay} pue sjoo} ay) Bug") and garbled("ABPuUO| UO GHOMAYE ue|d ey")
    for text in ("The plan: BADWORD on Monday.", SENTENCE, "", "ok", "12 34 56 78"):
        assert not garbled(text), text


async def test_a_slow_reader_is_killed_and_the_image_stays_unread(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    command = _stand_in(tmp_path, f"echo $$ > {pid_file}; exec sleep 30")
    with capture_logs() as logs:
        assert await read_image(png_of("x"), OcrConfig(command=command, timeout_s=0.3)) is None
    assert not Path(f"/proc/{pid_file.read_text().strip()}").exists()
    assert [log["event"] for log in logs] == ["ocr_timeout"]


async def test_a_failing_reader_leaves_the_image_unread(tmp_path: Path) -> None:
    command = _stand_in(tmp_path, "cat > /dev/null; echo partial; exit 3")
    with capture_logs() as logs:
        assert await read_image(png_of("x"), OcrConfig(command=command)) is None
    assert logs == [{"event": "ocr_failed", "program": "tesseract-stand-in", "exit_code": 3,
                     "input_bytes": len(png_of("x")), "log_level": "warning"}]


async def test_the_reader_gets_the_image_and_no_secret_of_the_proxy(tmp_path: Path,
                                                                    monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proxy-secret-0001")
    command = _stand_in(tmp_path, "wc -c; env")
    seen = await read_image(b"\x89PNG\r\n\x1a\n" + b"x" * 92, OcrConfig(command=command))
    assert seen is not None and seen.splitlines()[0].strip() == "100"
    assert "sk-proxy-secret" not in seen and "OPENAI_API_KEY" not in seen
    assert f"PATH={os.environ['PATH']}" in seen


async def test_the_reader_runs_in_a_capped_address_space(tmp_path: Path) -> None:
    command = _stand_in(tmp_path, "cat > /dev/null; ulimit -v")
    seen = await read_image(png_of("x"), OcrConfig(command=command, max_memory_mb=300))
    assert seen == str(300 * 1024)  # kilobytes


async def test_a_missing_reader_is_warned_once_and_reads_nothing() -> None:
    ocr.executable.cache_clear()
    with capture_logs() as logs:
        for _ in range(2):
            assert await read_image(png_of("x"), OcrConfig(command="no-such-ocr-here")) is None
    assert [log["event"] for log in logs] == ["ocr_unavailable"]


def png_of(text: str) -> bytes:
    return text_png(text, size=16)


def chat_with(*parts: dict[str, Any]) -> bytes:
    return orjson.dumps({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What does it say?"}, *parts]}]})


def image_part(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


async def test_an_image_text_is_a_text_of_its_message_and_the_image_stays_unreadable() -> None:
    parsed = CHAT.parse_request(chat_with(image_part(image_url(text_png(SENTENCE))),
                                          image_part("https://example.test/cat.png"),
                                          image_part(image_url(blank_png()))))
    assert parsed.unreadable == 3
    assert len(parsed.attachments) == 2  # a URL is fetched first (fetch.py), not here
    assert [link.url for link in parsed.linked] == ["https://example.test/cat.png"]
    await read_attachments(parsed, ServerConfig())
    (field,) = [t for t in parsed.texts if t.kind == IMAGE_KIND]
    assert (field.role, field.path, field.text) == (
        "user", ("messages", 0, "content", 1, "image_url", "url", KEY), SENTENCE)
    assert parsed.unreadable == 3  # pictures are not judged
    assert parsed.replace_text(field, "[redacted]") is False  # an image is never rewritten


async def test_at_most_max_images_are_read_in_order_and_none_with_no_command() -> None:
    parts = [image_part(image_url(text_png(f"Page {n} of the notes."))) for n in (1, 2, 3)]
    parsed = CHAT.parse_request(chat_with(*parts))
    await read_attachments(parsed, ServerConfig(ocr=OcrConfig(max_images=2)))
    assert [t.text for t in parsed.texts if t.kind == IMAGE_KIND] == [
        "Page 1 of the notes.", "Page 2 of the notes."]
    parsed = CHAT.parse_request(chat_with(*parts))
    await read_attachments(parsed, ServerConfig(ocr=OcrConfig(command="")))
    assert not [t for t in parsed.texts if t.kind == IMAGE_KIND]


async def test_every_image_of_a_request_is_read_each_in_its_own_process() -> None:
    """Eight images at once (the default max_images), in turns of one process per CPU:
    each text comes back, none lost or swapped."""
    parts = [image_part(image_url(text_png(f"Note {n}."))) for n in range(8)]
    parsed = CHAT.parse_request(chat_with(*parts))
    await read_attachments(parsed, ServerConfig())
    assert sorted(t.text for t in parsed.texts if t.kind == IMAGE_KIND) == [
        f"Note {n}." for n in range(8)]


async def post(base: str, body: bytes) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/chat/completions", data=body,
            headers={"Content-Type": "application/json"}) as response:
        return response.status, await response.text()


async def test_images_through_the_proxy(start_proxy, fake_upstream) -> None:
    """A harmless picture with harmless words goes through unchanged; the same request with
    the blocked word in the picture never reaches the upstream."""
    base, _ = await start_proxy()
    harmless = chat_with(image_part(image_url(text_png(SENTENCE))))
    status, _ = await post(base, harmless)
    assert status == 200
    assert fake_upstream.requests[0] == orjson.loads(harmless)
    status, text = await post(base, chat_with(image_part(image_url(text_png(
        "Do it: BADWORD now.")))))
    assert status == 400 and "content_filter" in text
    assert len(fake_upstream.requests) == 1


async def test_an_image_is_read_only_once_the_caller_is_admitted(start_proxy, fake_upstream,
                                                                monkeypatch) -> None:
    from proxy.pipeline import attachments
    from proxy.pipeline.identify import Identifier
    from tests.proxy.state.helpers import SECRET

    opened: list[bytes] = []
    real = attachments.read_image

    async def counted(raw: bytes, settings: OcrConfig, outcomes: Any = None) -> str | None:
        opened.append(raw)
        return await real(raw, settings, outcomes)

    monkeypatch.setattr(attachments, "read_image", counted)
    key = "sp-ocr-key-0001"
    base, _ = await start_proxy(identity={"secret": SECRET}, auth={"mode": "keys", "keys": [
        {"id": "k", "hash": Identifier(SECRET.encode()).hash("api_key", key)}]})
    body = chat_with(image_part(image_url(text_png(SENTENCE))))
    async with aiohttp.ClientSession() as session:
        for sent, status in ((None, 401), (key, 200)):
            headers = {"Content-Type": "application/json",
                       **({"Authorization": f"Bearer {sent}"} if sent else {})}
            async with session.post(f"{base}/v1/chat/completions", data=body,
                                    headers=headers) as response:
                assert response.status == status, await response.text()
                assert len(opened) == (1 if status == 200 else 0)


async def test_a_cancelled_request_kills_its_reader(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    command = _stand_in(tmp_path, f"echo $$ > {pid_file}; exec sleep 30")
    reading = asyncio.ensure_future(read_image(png_of("x"), OcrConfig(command=command)))
    while not pid_file.exists() or not pid_file.read_text().strip():
        await asyncio.sleep(0.01)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    assert not Path(f"/proc/{pid_file.read_text().strip()}").exists()


async def test_the_moderations_endpoint_reads_the_text_in_its_images(start_proxy) -> None:
    base, _ = await start_proxy()

    async def flagged(picture: bytes) -> bool:
        body = {"input": [{"type": "text", "text": "What does this say?"},
                          {"type": "image_url", "image_url": {"url": image_url(picture)}}]}
        async with aiohttp.ClientSession() as session, session.post(
                f"{base}/v1/moderations", json=body) as response:
            assert response.status == 200, await response.text()
            (result,) = (await response.json())["results"]
            return bool(result["flagged"])

    assert await flagged(text_png("Do it: BADWORD now.")) is True
    assert await flagged(text_png(SENTENCE)) is False


async def test_a_scanned_pdf_page_is_rendered_and_read() -> None:
    """A PDF with no text layer: its page is rendered (pdftoppm) and read (tesseract); the
    file stays unreadable (its picture is not judged)."""
    from proxy.pipeline.attachments import read_file
    scan = scanned_pdf(SENTENCE)
    assert read_file(data_url(scan), 50).pictured == (1,)
    assert read_file(data_url(text_pdf("Plain words.")), 50).pictured == ()
    parsed = CHAT.parse_request(chat_with({"type": "file", "file": {
        "filename": "scan.pdf", "file_data": data_url(scan)}}))
    await read_attachments(parsed, ServerConfig())
    (field,) = [t for t in parsed.texts if t.kind == FILE_KIND]
    assert field.text == SENTENCE and parsed.unreadable == 1
    parsed = CHAT.parse_request(chat_with({"type": "file", "file": {
        "filename": "scan.pdf", "file_data": data_url(scan)}}))
    await read_attachments(parsed, ServerConfig(ocr=OcrConfig(max_pdf_pages=0)))
    assert not [t for t in parsed.texts if t.kind == FILE_KIND]


async def test_pdf_pages_rendered_per_request_are_capped_in_order() -> None:
    scans = [scanned_pdf(f"Scan number {n}.") for n in (1, 2, 3)]
    parsed = CHAT.parse_request(chat_with(*({"type": "file", "file": {
        "filename": f"{n}.pdf", "file_data": data_url(scan)}}
        for n, scan in enumerate(scans))))
    await read_attachments(parsed, ServerConfig(ocr=OcrConfig(max_pdf_pages=2)))
    assert [t.text for t in parsed.texts if t.kind == FILE_KIND] == [
        "Scan number 1.", "Scan number 2."]


def ocr_line(outcome: str) -> str:
    return f'safety_proxy_ocr_reads_total{{outcome="{outcome}"}}'


async def test_what_became_of_each_image_is_counted(start_proxy, fake_upstream,
                                                    tmp_path: Path) -> None:
    """Through the proxy: an image with text, one without, one past max_images, then a
    reader that fails and one that does not exist; each outcome counted once."""
    from tests.proxy.routes.test_bad_input import metric
    base, _ = await start_proxy(server={"ocr": {"max_images": 2}})
    for outcome in ("text", "empty", "skipped", "failed", "unavailable", "timeout"):
        assert await metric(base, ocr_line(outcome)) == 0  # every outcome exported from 0
    parts = [image_part(image_url(text_png(SENTENCE))), image_part(image_url(blank_png())),
             image_part(image_url(text_png("One too many.")))]
    assert (await post(base, chat_with(*parts)))[0] == 200
    assert [await metric(base, ocr_line(o)) for o in ("text", "empty", "skipped")] == [1, 1, 1]
    for command, outcome in ((_stand_in(tmp_path, "cat > /dev/null; exit 2"), "failed"),
                             ("no-such-ocr-program", "unavailable")):
        base, _ = await start_proxy(server={"ocr": {"command": command}})
        assert (await post(base, chat_with(parts[0])))[0] == 200
        assert await metric(base, ocr_line(outcome)) == 1
