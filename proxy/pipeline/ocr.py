"""Text in an image, read by Tesseract: a vision model reads the words in a picture, so a
request can carry text to it as an image ("typographic" and screenshot jailbreaks), or as
a PDF page that is a picture (a scan) or that draws one (models read PDF pages as images
too): such a page is rendered by Poppler's pdftoppm, then read the same way.

Contract:
- ``image_kind(raw)`` says whether bytes are an image Tesseract reads (PNG, JPEG, GIF,
  WebP, BMP, TIFF, by their header, whatever type the request declares);
- ``read_image(raw, settings)`` returns the text Tesseract finds (stripped; "" when none;
  a reading that looks like gibberish, as turned text does, is read again with
  orientation detection, and both are returned),
  ``read_pdf_page(pdf, page, settings)`` the text on a rendered page; None when it could
  not be read: no command (or none on this machine: a warning, once per command), a
  failed or killed process, a timeout (the process is killed). Never raises for the
  file's sake;
- each program runs as a process of its own (a crafted file cannot take the proxy down),
  with one OpenMP thread, at most one per CPU at a time (the rest wait their turn), an
  environment of PATH alone (the proxy's own, with its keys, never reaches it), the file
  on its standard input and nothing on disk, and, on Linux, an address space of
  ``max_memory_mb`` (set before it is sent the file, so a decompression bomb fails
  there, not in the machine's memory); nothing of a file or its text is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import shutil
import weakref
from collections import Counter
from functools import cache

import structlog

from proxy.config.schema import OcrConfig
from proxy.pipeline.normalize_cipher import COMMON_WORDS

log = structlog.get_logger("safety_proxy.ocr")
_WORDS = re.compile(r"[a-z]{2,}")
# What became of each image or PDF page given to OCR, by metrics.OCR_OUTCOMES: text found,
# none, the program failed, it ran past timeout_s, no program on this machine, or not tried
# (past server.ocr's limits, or switched off: counted by attachments.py).
Outcomes = Counter[str]

_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"), (b"GIF87a", "gif"),
               (b"GIF89a", "gif"), (b"BM", "bmp"), (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"))


def image_kind(raw: bytes) -> str | None:
    """The image format ``raw`` starts with, or None."""
    if not raw:  # most answer texts: words, no bytes at all
        return None
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "webp"
    return next((kind for signature, kind in _SIGNATURES if raw.startswith(signature)), None)


_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary())


def _turns() -> asyncio.Semaphore:
    """The running loop's turns: one Tesseract process per CPU at a time."""
    loop = asyncio.get_running_loop()
    if loop not in _TURNS:
        _TURNS[loop] = asyncio.Semaphore(os.cpu_count() or 1)
    return _TURNS[loop]


@cache
def executable(command: str) -> str | None:
    """The command's full path, or None (warned once) when this machine has none."""
    if not command:
        return None
    found = shutil.which(command)
    if found is None:
        log.warning("ocr_unavailable", command=command,
                    detail="the text in images is not read: install Tesseract and Poppler "
                           "(Debian: tesseract-ocr, poppler-utils) or set server.ocr")
    return found


async def read_image(raw: bytes, settings: OcrConfig,
                     outcomes: Outcomes | None = None) -> str | None:
    """The text in the image ``raw``; None when it could not be read. ``outcomes``
    counts what became of it."""
    out = await _run(settings.command, _arguments(settings, "3"), raw, settings, outcomes)
    if out is None:
        return None
    text = out.decode("utf-8", "replace").strip()
    if garbled(text):  # text turned on its side or upside down reads as gibberish
        turned = await _run(settings.command, (*_arguments(settings, "1"), "-c",
                                               "min_orientation_margin=0"), raw, settings)
        if turned is not None:
            text = "\n".join(filter(None, (text, turned.decode("utf-8", "replace").strip())))
    _count(outcomes, "text" if text else "empty")
    return text


def _arguments(settings: OcrConfig, page_mode: str) -> tuple[str, ...]:
    return ("stdin", "stdout", "-l", settings.languages, "--psm", page_mode)


def garbled(text: str) -> bool:
    """Whether a reading looks like gibberish: three words or more, under one in five of
    them common (English prose has two in five or more); what text turned on its side or
    upside down reads as ("dew ay} pue sjoo}"): read again with Tesseract's orientation
    detection, which turns it back when it holds a few lines. A list of names, or text in
    another language, is read again too, and costs that pass."""
    words = _WORDS.findall(text.lower())
    return len(words) >= 3 and sum(word in COMMON_WORDS for word in words) < len(words) / 5


async def read_pdf_page(pdf: bytes, page: int, settings: OcrConfig,
                        outcomes: Outcomes | None = None) -> str | None:
    """The text on page ``page`` (from 1) of the PDF ``pdf`` as it looks: rendered by
    ``settings.pdf_command`` (Poppler's pdftoppm, grey, its longer side 2,000 pixels
    whatever the page's size), then read as an image; None when either step failed."""
    rendered = await _run(settings.pdf_command, ("-f", str(page), "-l", str(page),
                                                 "-scale-to", "2000", "-gray", "-png", "-"),
                          pdf, settings, outcomes)
    if rendered == b"":
        _count(outcomes, "failed")  # nothing rendered
    return await read_image(rendered, settings, outcomes) if rendered else None


def _count(outcomes: Outcomes | None, outcome: str) -> None:
    if outcomes is not None:
        outcomes[outcome] += 1


async def _run(command: str, arguments: tuple[str, ...], data: bytes,
               settings: OcrConfig, outcomes: Outcomes | None = None) -> bytes | None:
    """``command``'s standard output, given ``data`` on its standard input, run as the
    module doc says; None (logged, never the data; counted) when it could not run or
    finish."""
    program = executable(command)
    if program is None:
        _count(outcomes, "unavailable")
        return None
    step = os.path.basename(program)
    async with _turns():
        try:
            process = await asyncio.create_subprocess_exec(
                program, *arguments, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
                env={"PATH": os.environ.get("PATH", ""), "OMP_THREAD_LIMIT": "1"})
        except OSError as exc:  # not executable, no memory to start it...
            log.warning("ocr_failed", program=step, error=type(exc).__name__,
                        input_bytes=len(data))
            _count(outcomes, "failed")
            return None
        _limit_memory(process.pid, settings.max_memory_mb)
        try:
            async with asyncio.timeout(settings.timeout_s):
                out, _ = await process.communicate(data)
        except TimeoutError:
            log.warning("ocr_timeout", program=step, timeout_s=settings.timeout_s,
                        input_bytes=len(data))
            _count(outcomes, "timeout")
            return None
        finally:
            if process.returncode is None:  # timed out, or the request was cancelled
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
    if process.returncode != 0:
        log.warning("ocr_failed", program=step, exit_code=process.returncode,
                    input_bytes=len(data))
        _count(outcomes, "failed")
        return None
    return out


def _limit_memory(pid: int, megabytes: int) -> None:
    """Caps the process's address space (Linux; elsewhere it runs uncapped)."""
    limit = megabytes * 1024 * 1024
    with contextlib.suppress(AttributeError, ProcessLookupError, OSError):
        resource.prlimit(pid, resource.RLIMIT_AS, (limit, limit))
