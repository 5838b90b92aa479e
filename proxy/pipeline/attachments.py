"""Files, images and audio sent inline with a request, read as text: a PDF (its pages'
text), a text file (UTF-8), an image (the text in it, by OCR: proxy/pipeline/ocr.py) or an
audio clip (the speech in it, by a transcription service: proxy/pipeline/transcribe.py),
given as base64 or as a ``data:`` URL (Chat Completions ``file``, ``image_url`` and
``input_audio`` parts, Responses ``input_file``, ``input_image`` and ``input_audio``,
Anthropic base64 ``document`` and ``image`` sources). A document, a picture or a clip must
not carry what a message may not.

A clip's speech becomes a request text of kind ``audio`` the same way as an image's text
(below): the clip stays counted as unreadable (its sound is not judged), at most
``server.transcription.max_per_request`` clips are read, and none when no service is set.

An image's text becomes a request text of kind ``image`` the same way (below); the image
itself stays counted as unreadable (its picture is not judged), and at most
``server.ocr.max_images`` images of a request are read, in order. A vendor's field holding
a whole inline image becomes such an image (``adopt_images``). In answers, a text that is
a whole inline image (a generated one) is replaced by the text read in it
(``read_inline_images``, called by output_checks.read_pictures).

Contract:
- a file's text becomes one request text of kind ``file``, with the role of the message
  it came in, at the file data's path + ``KEY``: scored like any text (windows, views),
  never rewritten (a redaction cannot reach into a file);
- a PDF page that draws an image (a form that does, 3 deep) or holds no text is rendered
  and read by OCR too (``read_pdf_page``; at most ``server.ocr.max_pdf_pages`` pages per
  request, in order), its text after the text layer's;
- a file read whole no longer counts as unreadable; one read in part (more pages than
  ``server.max_attachment_pages``), with pictures (their text alone is read) or not at
  all (a broken or encrypted PDF, undecodable data) stays unreadable, and
  ``policy.unreadable_content.input`` decides as before;
- never raises for a malformed file. The reading runs in a worker thread (pypdf is pure
  Python: ``max_attachment_pages`` bounds its time), rendering and OCR in processes of
  their own (ocr.py), only for a caller already identified and admitted
  (routes/generation.py), and nothing of a file's content is ever logged (pypdf's own
  messages can quote it: its logger is silenced).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from proxy.config.schema import ServerConfig
from proxy.pipeline.ocr import Outcomes, image_kind, read_image, read_pdf_page
from proxy.pipeline.transcribe import Transcriber, TranscriptionOutcomes, transcripts
from proxy.protocol.dialect import (
    AUDIO_KIND,
    FILE_KIND,
    IMAGE_KIND,
    KEY,
    Attachment,
    ParsedRequest,
    TextField,
)
from proxy.protocol.media import (
    DATA_URL,
    SMALLEST_INLINE,
    audio_kind,
    head_bytes,
    is_inline_clip,
)

_EXTENSIONS = frozenset({"extension", "message.extension"})  # the dialects' vendor fields
logging.getLogger("pypdf").setLevel(logging.CRITICAL + 1)  # its warnings quote the file


async def read_attachments(parsed: ParsedRequest, server: ServerConfig,
                           outcomes: Outcomes | None = None,
                           transcriber: Transcriber | None = None,
                           heard: TranscriptionOutcomes | None = None) -> None:
    """Adds the text of each of ``parsed``'s inline files (none when
    ``server.max_attachment_pages`` is 0), images (``server.ocr``) and audio clips (by
    ``transcriber``: ``server.transcription``), read side by side; ``outcomes`` counts what
    became of each image and PDF page given to OCR, ``heard`` of each clip."""
    if not parsed.attachments:
        return
    files: list[Attachment] = []
    images: list[Attachment] = []
    clips: list[Attachment] = []
    for attachment in parsed.attachments:
        head = head_bytes(attachment.data)
        (images if image_kind(head) else clips if audio_kind(head) else files
         ).append(attachment)
    file_texts, texts, speech = await asyncio.gather(
        _read_files(files, server, outcomes),
        image_texts([image.data for image in images], server, outcomes),
        clip_texts([clip.data for clip in clips], transcriber, heard))
    found = dict(zip(map(id, files), file_texts, strict=True))
    found.update((id(image), (IMAGE_KIND, text or "", False))  # its picture is never read
                 for image, text in zip(images, texts, strict=True))
    found.update((id(clip), (AUDIO_KIND, text or "", False))  # nor a clip's sound, only speech
                 for clip, text in zip(clips, speech, strict=True))
    for attachment in parsed.attachments:
        kind, text, whole = found[id(attachment)]
        if text:
            parsed.texts.append(TextField(attachment.role, kind, (*attachment.path, KEY), text))
        if whole:
            parsed.unreadable -= 1


def adopt_images(parsed: ParsedRequest) -> None:
    """A vendor's field (kind ``extension``) that holds a whole inline image, such as an
    assistant message's generated ``images`` sent back, becomes an image to read like the
    API's own image parts (its base64 read as words would say nothing)."""
    if not any(field.kind in _EXTENSIONS and is_inline_image(field.text)
               for field in parsed.texts):
        return
    kept = []
    for field in parsed.texts:
        if field.kind in _EXTENSIONS and is_inline_image(field.text):
            parsed.attach(field.role, field.path, field.text)
        else:
            kept.append(field)
    parsed.texts[:] = kept


Read = tuple[str, str, bool]  # (the text's kind, the text, whether that is all of it)


async def _read_files(files: list[Attachment], server: ServerConfig,
                      outcomes: Outcomes | None) -> list[Read]:
    """Each file's text; a PDF's pages that hold pictures (or no text) are rendered and
    read too, up to ``server.ocr.max_pdf_pages`` pages per request, in order."""
    if not files or server.max_attachment_pages <= 0:
        return [(FILE_KIND, "", False)] * len(files)
    read = await asyncio.to_thread(_read_all, files, server.max_attachment_pages)
    ocr = server.ocr
    budget = ocr.max_pdf_pages if ocr.command and ocr.pdf_command else 0
    pages = [(number, file.pdf, page) for number, file in enumerate(read)
             for page in file.pictured]
    seen = await asyncio.gather(*(read_pdf_page(pdf, page, ocr, outcomes)
                                  for _, pdf, page in pages[:budget]))
    _skipped(outcomes, len(pages) - len(seen))
    extra: dict[int, list[str]] = {}
    for (number, _, _), text in zip(pages, seen, strict=False):
        if text:
            extra.setdefault(number, []).append(text)
    return [(FILE_KIND, "\n".join(filter(None, [file.text, *extra.get(number, [])])),
             file.whole) for number, file in enumerate(read)]


async def image_texts(images: Sequence[str], server: ServerConfig,
                      outcomes: Outcomes | None = None) -> list[str | None]:
    """The text in each image of ``images`` (base64 or data: URLs, in order; "" for one
    that holds none or is no inline image, None for one past ``server.ocr.max_images`` or
    not read)."""
    inline = [i for i, data in enumerate(images) if _is_image(data)]
    chosen = inline[:server.ocr.max_images] if server.ocr.command else []
    _skipped(outcomes, len(inline) - len(chosen))
    found = await asyncio.gather(*(read_image(_decode(images[i]) or b"", server.ocr, outcomes)
                                   for i in chosen))
    texts: list[str | None] = [""] * len(images)
    for index in inline:
        texts[index] = None  # until read
    for index, text in zip(chosen, found, strict=True):
        texts[index] = text
    return texts


async def clip_texts(clips: Sequence[str], transcriber: Transcriber | None,
                     heard: TranscriptionOutcomes | None = None) -> list[str | None]:
    """The speech in each audio clip of ``clips`` (base64 or data: URLs, in order; None
    for one not heard: transcribe.transcripts)."""
    return await transcripts([_decode(clip) or b"" for clip in clips], transcriber, heard)


async def read_inline_clips(texts: list[tuple[int, str]], transcriber: Transcriber | None,
                            heard: TranscriptionOutcomes | None = None
                            ) -> tuple[list[tuple[int, str]], int]:
    """``texts`` ((output index, text) pairs of an answer) with each inline audio clip
    replaced by the speech heard in it, dropped when it holds none or was not heard (its
    base64 is never scored as words); and how many were not heard."""
    return await _read_inline(texts, is_inline_clip,
                              lambda clips: clip_texts(clips, transcriber, heard))


def is_inline_image(text: str) -> bool:
    """Whether ``text`` is a whole image given inline (base64, or a data: URL): an answer
    text that a client shows as a picture, not as words."""
    return len(text) >= SMALLEST_INLINE and _is_image(text)


async def read_inline_images(texts: list[tuple[int, str]], server: ServerConfig,
                             outcomes: Outcomes | None = None
                             ) -> tuple[list[tuple[int, str]], int]:
    """``texts`` ((output index, text) pairs of an answer) with each inline image replaced
    by the text read in it, dropped when it holds none or could not be read; and how many
    could not be read (OCR off, missing, failed or past ``server.ocr.max_images``)."""
    return await _read_inline(texts, is_inline_image,
                              lambda images: image_texts(images, server, outcomes))


async def _read_inline(texts: list[tuple[int, str]], holds: Callable[[str], bool],
                       read: Callable[[list[str]], Awaitable[list[str | None]]]
                       ) -> tuple[list[tuple[int, str]], int]:
    """``texts`` with each one that ``holds`` an inline payload replaced by what ``read``
    finds in it (None: not read), dropped when that is nothing; and how many were not
    read."""
    positions = [position for position, (_, text) in enumerate(texts) if holds(text)]
    if not positions:
        return texts, 0
    found = dict(zip(positions, await read([texts[p][1] for p in positions]), strict=True))
    replaced = [(index, found[p] or "") if p in found else (index, text)
                for p, (index, text) in enumerate(texts)]
    return [pair for pair in replaced if pair[1]], sum(text is None for text in found.values())


def _skipped(outcomes: Outcomes | None, count: int) -> None:
    """Images or pages not given to OCR: past its limits, or it is switched off."""
    if outcomes is not None and count:
        outcomes["skipped"] += count


def _is_image(data: str) -> bool:
    """Whether ``data`` (base64 or a data: URL) starts with an image's header."""
    return image_kind(head_bytes(data)) is not None


@dataclass(frozen=True, slots=True)
class FileRead:
    text: str
    whole: bool  # the text is all of the file (a PDF with pictures never is)
    pdf: bytes = b""  # a PDF with pages to render and read as images: its bytes
    pictured: tuple[int, ...] = ()  # those pages, from 1: they draw images, or hold no text


def _read_all(attachments: list[Attachment], max_pages: int) -> list[FileRead]:
    return [read_file(a.data, max_pages) for a in attachments]


def read_file(data: str, max_pages: int) -> FileRead:
    """What a file given as base64 or a ``data:`` URL says. PDFs are known by their header,
    text by decoding as UTF-8 without NUL bytes, whatever type the request declares."""
    raw = _decode(data)
    if raw is None:
        return FileRead("", False)
    if raw.startswith(b"%PDF-"):
        return _pdf_text(raw, max_pages)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return FileRead("", False)  # audio, an office file...
    if "\x00" in text:
        return FileRead("", False)
    return FileRead(text.strip(), True)


def _decode(data: str) -> bytes | None:
    found = DATA_URL.match(data)
    payload = data[found.end():] if found else data
    if found and ";base64" not in found.group("params").lower():
        return unquote_to_bytes(payload)  # a data: URL of plain (percent-encoded) text
    try:
        return base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _pdf_text(raw: bytes, max_pages: int) -> FileRead:
    from pypdf import PdfReader  # imported on the first PDF: most proxies never see one

    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            return FileRead("", False)
        pages = reader.pages
        read = range(min(len(pages), max_pages))
        texts = [pages[number].extract_text() or "" for number in read]
        pictured = tuple(number + 1 for number in read
                         if not texts[number].strip() or _draws_images(pages[number]))
        whole = len(pages) <= max_pages and not pictured
    except Exception:  # a broken PDF, however it breaks, is a file not read
        return FileRead("", False)
    text = "\n".join(page.strip() for page in texts if page.strip())
    return FileRead(text, whole, raw if pictured else b"", pictured)


def _draws_images(holder: Any, depth: int = 0) -> bool:
    """Whether a page (or a form it draws) has an image among its resources; forms are
    looked into 3 deep."""
    resources = holder.get("/Resources")
    xobjects = resources.get_object().get("/XObject") if resources is not None else None
    for xobject in (xobjects.get_object().values() if xobjects is not None else ()):
        xobject = xobject.get_object()
        if xobject.get("/Subtype") == "/Image" or (
                xobject.get("/Subtype") == "/Form" and depth < 3
                and _draws_images(xobject, depth + 1)):
            return True
    return False
