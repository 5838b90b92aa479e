"""Every key name the state layer uses, and nothing else builds one.

A principal part must be a lowercase hex digest (the keyed hash from identify.py), so a raw
API key or user id cannot end up in a key name even by mistake. Texts appear only as
sha256 digests.

Bounds: strikes, throttle, ban, in-flight and verdict keys carry a TTL; the bans index and
the events stream are trimmed on every write (and the index has a TTL as well).
"""

from __future__ import annotations

import hashlib
import re

_PRINCIPAL = re.compile(r"^[0-9a-f]{16,128}$")


def check_principal(principal: str) -> str:
    if not _PRINCIPAL.fullmatch(principal):
        raise ValueError("a principal must be a hex keyed hash")
    return principal


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class Keys:
    def __init__(self, prefix: str = "safety-proxy") -> None:
        self.prefix = prefix

    def strikes(self, principal: str) -> str:
        """Sorted set: member "<nonce>|<weight>", score = strike time in ms."""
        return f"{self.prefix}:strikes:{check_principal(principal)}"

    def throttle(self, principal: str) -> str:
        """String: throttled-until ms, PX = throttle duration."""
        return f"{self.prefix}:throttle:{check_principal(principal)}"

    def ban(self, principal: str) -> str:
        """String: banned-until ms, PX = ban duration."""
        return f"{self.prefix}:ban:{check_principal(principal)}"

    def in_flight(self, principal: str) -> str:
        """Sorted set: member = slot id, score = the slot's expiry ms (proxy clock); PX =
        the slot TTL, renewed by each new slot."""
        return f"{self.prefix}:inflight:{check_principal(principal)}"

    @property
    def bans(self) -> str:
        """Sorted set: principal -> banned-until ms; expired members trimmed on write."""
        return f"{self.prefix}:bans"

    @property
    def events(self) -> str:
        """Stream of flagged and blocked decisions, MAXLEN ~ events.max_len."""
        return f"{self.prefix}:events"

    def verdict(self, check: str, version: str, text: str) -> str:
        """String: JSON scores of one text by one classifier version, PX = cache TTL."""
        return f"{self.prefix}:verdict:{check}:{version}:{text_digest(text)}"
