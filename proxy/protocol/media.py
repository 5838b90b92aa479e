"""What an inline payload (base64, or a ``data:`` URL) holds, by its first bytes. Sans-IO.

The dialects read it to tell a whole audio clip from other base64 (protocol/chat_answer.py),
the pipeline to route inline files (pipeline/attachments.py) and to name a clip's format
for the speech-to-text service (pipeline/transcribe.py).
"""

from __future__ import annotations

import base64
import binascii
import re

DATA_URL = re.compile(r"(?i:data):(?P<type>[^;,]*)(?P<params>(?:;[^;,]*)*),", re.ASCII)
# Base64 characters: a shorter text is never taken for a whole inline image or clip (the
# smallest worth reading is a few dozen bytes).
SMALLEST_INLINE = 64
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def head_bytes(data: str) -> bytes:
    """The first bytes of ``data`` (base64, or a base64 data: URL; b"" for anything else):
    only they are decoded."""
    found = DATA_URL.match(data)
    if found and ";base64" not in found.group("params").lower():
        return b""
    start = found.end() if found else 0
    head = "".join(data[start:start + 64].split())[:32]  # never a copy of the whole text
    if not head or not _BASE64.fullmatch(head):  # words, the common case: no exception
        return b""
    try:
        return base64.b64decode(head, validate=True)
    except (binascii.Error, ValueError):  # a misplaced "=", a length b64decode refuses
        return b""


def audio_kind(raw: bytes) -> str | None:
    """The audio format ``raw`` starts with (wav, mp3, flac, ogg, webm, m4a), or None."""
    if raw[:4] == b"RIFF" and raw[8:12] == b"WAVE":
        return "wav"
    if raw[:3] == b"ID3" or (len(raw) > 1 and raw[0] == 0xFF and raw[1] & 0xE0 == 0xE0
                             and raw[1] & 0x06):  # an MPEG audio frame (layer set)
        return "mp3"
    if raw[:4] == b"fLaC":
        return "flac"
    if raw[:4] == b"OggS":
        return "ogg"
    if raw[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if raw[4:8] == b"ftyp":
        return "m4a"
    return None


def is_inline_clip(text: str) -> bool:
    """Whether ``text`` is a whole audio clip given inline: a text a client plays."""
    return len(text) >= SMALLEST_INLINE and audio_kind(head_bytes(text)) is not None
