"""Every key name the state layer uses, and nothing else builds one.

A principal part must be a lowercase hex digest (the keyed hash from identify.py), so a raw
API key or user id cannot end up in a key name even by mistake. Texts appear only as
sha256 digests.

Layout: ``<prefix>:<kind>:<rest>``. On a Redis Cluster a key's slot is the hash of the text
between its first ``{`` and ``}`` (the hash tag), and a script may only touch keys of one
slot. So:
  - a principal's keys (strikes, throttle, ban, in-flight) end in ``{<principal>}``: one
    slot per principal, and every script (keys in scripts.py) touches one principal;
  - the bans index and the review stream end in ``{global}``: one slot (one node) for
    both, written only when a request is flagged or blocked or a ban is set;
  - verdict keys carry no tag: they spread over every node (single-key commands only).
The prefix cannot hold braces (StoreConfig), so the tag is always the one given here. The
same layout serves a single Redis (tags mean nothing there): one code path.

Bounds: strikes, throttle, ban, in-flight and verdict keys carry a TTL; the bans index and
the events stream are trimmed on every write (and the index has a TTL as well).
"""

from __future__ import annotations

import hashlib
import re

_PRINCIPAL = re.compile(r"^[0-9a-f]{16,128}$")
GLOBAL_TAG = "{global}"


def check_principal(principal: str) -> str:
    if not _PRINCIPAL.fullmatch(principal):
        raise ValueError("a principal must be a hex keyed hash")
    return principal


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class Keys:
    def __init__(self, prefix: str = "safety-proxy") -> None:
        self.prefix = prefix

    def _principal_key(self, kind: str, principal: str) -> str:
        return f"{self.prefix}:{kind}:{{{check_principal(principal)}}}"

    def strikes(self, principal: str) -> str:
        """Sorted set: member "<nonce>|<weight>", score = strike time in ms."""
        return self._principal_key("strikes", principal)

    def throttle(self, principal: str) -> str:
        """String: throttled-until ms, PX = throttle duration."""
        return self._principal_key("throttle", principal)

    def ban(self, principal: str) -> str:
        """String: banned-until ms, PX = ban duration."""
        return self._principal_key("ban", principal)

    def in_flight(self, principal: str) -> str:
        """Sorted set: member = slot id, score = the slot's expiry ms (proxy clock); PX =
        the slot TTL, renewed by each new slot."""
        return self._principal_key("inflight", principal)

    @property
    def bans(self) -> str:
        """Sorted set: principal -> banned-until ms; expired members trimmed on write."""
        return f"{self.prefix}:bans:{GLOBAL_TAG}"

    @property
    def events(self) -> str:
        """Stream of flagged and blocked decisions, MAXLEN ~ events.max_len."""
        return f"{self.prefix}:events:{GLOBAL_TAG}"

    @property
    def client_keys(self) -> str:
        """Hash: client key hash -> its record (JSON); no TTL: a key lives until revoked
        or expired (its record says until when). Bounded by the keys an operator makes."""
        return f"{self.prefix}:clientkeys:{GLOBAL_TAG}"

    def verdict(self, check: str, version: str, text: str) -> str:
        """String: JSON scores of one text by one classifier version, PX = cache TTL."""
        return f"{self.verdict_head(check, version)}{text_digest(text)}"

    def verdict_head(self, check: str, version: str) -> str:
        """What every ``verdict`` key of a check and version starts with (the text's
        digest follows)."""
        return f"{self.prefix}:verdict:{check}:{version}:"
