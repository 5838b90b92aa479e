"""Inline files read as text (proxy/pipeline/attachments.py): what is read, what stays
unreadable, and what the policy then sees, through the real proxy."""

from __future__ import annotations

import base64
import logging
from typing import Any

import aiohttp
import pytest

from proxy.config.schema import ServerConfig
from proxy.pipeline.attachments import read_attachments, read_file
from proxy.protocol.chat import DIALECT as CHAT
from proxy.protocol.dialect import FILE_KIND, KEY
from tests.support.pdf import data_url, text_pdf

THREE_PAGES = text_pdf("First page.", "Second page.", "Third page.")


def file_text(data: str, max_pages: int) -> tuple[str, bool]:
    read = read_file(data, max_pages)
    return read.text, read.whole


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_a_pdf_is_read_page_by_page() -> None:
    assert file_text(data_url(THREE_PAGES), 50) == (
        "First page.\nSecond page.\nThird page.", True)
    assert file_text(b64(THREE_PAGES), 50)[1] is True  # bare base64


def test_a_pdf_past_the_page_limit_is_read_in_part_and_stays_unreadable() -> None:
    assert file_text(data_url(THREE_PAGES), 2) == ("First page.\nSecond page.", False)


@pytest.mark.parametrize(("data", "text"), [
    (data_url(b"plain notes\n", "text/plain"), "plain notes"),
    ("data:text/plain,plain%20notes", "plain notes"),  # not base64: percent-encoded
    (data_url("caf\u00e9".encode(), "text/markdown"), "caf\u00e9"),
])
def test_a_text_file_is_read(data: str, text: str) -> None:
    assert file_text(data, 50) == (text, True)


@pytest.mark.parametrize("data", [
    data_url(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),  # binary
    data_url(b"text\x00with a NUL", "text/plain"),
    "data:application/pdf;base64,not base64!",
    data_url(b"%PDF-1.4\nthis is no PDF at all"),  # broken
    data_url(text_pdf("")),  # no text layer (a scan)
])
def test_what_cannot_be_read_stays_unreadable(data: str, caplog) -> None:
    with caplog.at_level(logging.DEBUG):
        assert file_text(data, 50) == ("", False)
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]  # may quote the file


def chat_with(*parts: dict[str, Any]) -> bytes:
    import orjson
    return orjson.dumps({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "Summarise this."}, *parts]}]})


def file_part(data: str) -> dict[str, Any]:
    return {"type": "file", "file": {"filename": "a.pdf", "file_data": data}}


async def test_a_read_file_is_a_text_of_its_message_and_no_longer_unreadable() -> None:
    parsed = CHAT.parse_request(chat_with(file_part(data_url(THREE_PAGES)),
                                          {"type": "file", "file": {"file_id": "file-1"}}))
    assert parsed.unreadable == 2  # the inline PDF and the file given by id
    await read_attachments(parsed, ServerConfig(max_attachment_pages=50))
    (field,) = [t for t in parsed.texts if t.kind == FILE_KIND]
    assert (field.role, field.path) == ("user", ("messages", 0, "content", 1, "file",
                                                 "file_data", KEY))
    assert field.text.startswith("First page.")
    assert parsed.unreadable == 1  # the one by id: the proxy never sees it
    assert parsed.replace_text(field, "[redacted]") is False  # a file is never rewritten
    assert parsed.body["messages"][0]["content"][1]["file"]["file_data"] == data_url(
        THREE_PAGES)


async def test_no_file_is_read_with_a_page_limit_of_zero() -> None:
    parsed = CHAT.parse_request(chat_with(file_part(data_url(THREE_PAGES))))
    await read_attachments(parsed, ServerConfig(max_attachment_pages=0))
    assert parsed.unreadable == 1 and all(t.kind != FILE_KIND for t in parsed.texts)


async def post(base: str, body: bytes) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/chat/completions", data=body,
            headers={"Content-Type": "application/json"}) as response:
        return response.status, await response.text()


async def test_files_through_the_proxy_with_unreadable_content_blocked(start_proxy,
                                                                     fake_upstream):
    """With ``unreadable_content.input: block``, a PDF read whole now goes through,
    unchanged; one past the page limit, or an image, is blocked; and a PDF's harmful text
    is blocked by the checks like a message's."""
    base, _ = await start_proxy(policy={"unreadable_content": {"input": "block"}},
                                server={"max_attachment_pages": 2})
    two_pages = data_url(text_pdf("Quarterly notes.", "All fine."))
    status, _ = await post(base, chat_with(file_part(two_pages)))
    assert status == 200
    sent = fake_upstream.requests[-1]["messages"][0]["content"][1]["file"]["file_data"]
    assert sent == two_pages
    for blocked in (file_part(data_url(THREE_PAGES)),
                    {"type": "image_url", "image_url": {"url": data_url(b"\x89PNG", "image/png")}},
                    file_part(data_url(text_pdf("The plan: BADWORD.")))):
        status, text = await post(base, chat_with(blocked))
        assert status == 400 and "content_filter" in text, text
    assert len(fake_upstream.requests) == 1


async def test_a_file_is_read_only_once_the_caller_is_admitted(start_proxy, fake_upstream,
                                                               monkeypatch):
    """Reading a PDF costs CPU: a caller without a valid key gets its 401 before any file
    is opened."""
    from proxy.pipeline import attachments
    from proxy.pipeline.identify import Identifier
    from tests.proxy.state.helpers import SECRET

    opened: list[str] = []
    real = attachments.read_file
    monkeypatch.setattr(attachments, "read_file",
                        lambda *args: opened.append("file") or real(*args))
    key = "sp-attachments-key-0001"
    base, _ = await start_proxy(identity={"secret": SECRET}, auth={"mode": "keys", "keys": [
        {"id": "k", "hash": Identifier(SECRET.encode()).hash("api_key", key)}]})
    body = chat_with(file_part(data_url(THREE_PAGES)))
    async with aiohttp.ClientSession() as session:
        for sent, status in ((None, 401), ("sp-wrong-key", 401), (key, 200)):
            headers = {"Content-Type": "application/json",
                       **({"Authorization": f"Bearer {sent}"} if sent else {})}
            async with session.post(f"{base}/v1/chat/completions", data=body,
                                    headers=headers) as response:
                assert response.status == status, await response.text()
                assert len(opened) == (1 if status == 200 else 0)
