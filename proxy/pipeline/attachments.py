"""Files sent inline with a request, read as text: a PDF (its pages' text) or a text file
(UTF-8), given as base64 or as a ``data:`` URL (Chat Completions ``file`` parts, Responses
``input_file``, Anthropic base64 ``document`` sources). A document must not carry what a
message may not.

Contract:
- a file's text becomes one request text of kind ``file``, with the role of the message
  it came in, at the file data's path + ``KEY``: scored like any text (windows, views),
  never rewritten (a redaction cannot reach into a file);
- a file read whole no longer counts as unreadable; one read in part (more pages than
  ``server.max_attachment_pages``) or not at all (an image, a PDF with no text layer, a
  broken or encrypted one, undecodable data) stays unreadable, and
  ``policy.unreadable_content.input`` decides as before. Images inside a PDF are not read;
- never raises for a malformed file. The reading runs in a worker thread (pypdf is pure
  Python: ``max_attachment_pages`` bounds its time), only for a caller already identified
  and admitted (routes/generation.py), and nothing of a file's content is ever logged
  (pypdf's own messages can quote it: its logger is silenced).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import logging
import re
from urllib.parse import unquote_to_bytes

from proxy.protocol.dialect import FILE_KIND, KEY, Attachment, ParsedRequest, TextField

_DATA_URL = re.compile(r"data:(?P<type>[^;,]*)(?P<params>(?:;[^;,]*)*),", re.ASCII)
logging.getLogger("pypdf").setLevel(logging.CRITICAL + 1)  # its warnings quote the file


async def read_attachments(parsed: ParsedRequest, max_pages: int) -> None:
    """Adds the text of each of ``parsed``'s inline files (``max_pages`` 0: none is read)."""
    if not parsed.attachments or max_pages <= 0:
        return
    read = await asyncio.to_thread(_read_all, parsed.attachments, max_pages)
    for attachment, (text, whole) in zip(parsed.attachments, read, strict=True):
        if text:
            parsed.texts.append(TextField(attachment.role, FILE_KIND, (*attachment.path, KEY),
                                          text))
        if whole:
            parsed.unreadable -= 1


def _read_all(attachments: list[Attachment], max_pages: int) -> list[tuple[str, bool]]:
    return [file_text(a.data, a.media_type, max_pages) for a in attachments]


def file_text(data: str, media_type: str | None, max_pages: int) -> tuple[str, bool]:
    """(the text of a file given as base64 or a ``data:`` URL, whether that is all of it).
    PDFs are known by their header, text by decoding as UTF-8 without NUL bytes, whatever
    the declared ``media_type``."""
    raw = _decode(data)
    if raw is None:
        return "", False
    if raw.startswith(b"%PDF-"):
        return _pdf_text(raw, max_pages)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "", False  # an image, audio, an office file...
    if "\x00" in text:
        return "", False
    return text.strip(), True


def _decode(data: str) -> bytes | None:
    found = _DATA_URL.match(data)
    payload = data[found.end():] if found else data
    if found and ";base64" not in found.group("params").lower():
        return unquote_to_bytes(payload)  # a data: URL of plain (percent-encoded) text
    try:
        return base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _pdf_text(raw: bytes, max_pages: int) -> tuple[str, bool]:
    from pypdf import PdfReader  # imported on the first PDF: most proxies never see one

    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            return "", False
        pages = reader.pages
        texts = [pages[number].extract_text() or "" for number in
                 range(min(len(pages), max_pages))]
        whole = len(pages) <= max_pages
    except Exception:  # a broken PDF, however it breaks, is a file not read
        return "", False
    text = "\n".join(page.strip() for page in texts if page.strip())
    return text, whole and bool(text)  # no text layer at all: a scan, unread
