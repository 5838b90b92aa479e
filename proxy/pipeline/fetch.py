"""Images and PDFs a request gives by URL: fetched by the proxy, read like inline ones,
and sent upstream inline in place of their URL, so the model sees the very bytes that were
checked (a server cannot show the proxy one picture or document and the model another).

Contract (``server.fetch``):
- only ``http``/``https`` URLs, and only addresses on the public internet or in
  ``allow_networks``: a host's every resolved address is checked, the connection goes to
  a checked one (the resolver below), a literal IP host is checked before connecting, and
  each redirect (at most ``max_redirects``) is checked again, so no URL reaches the
  proxy's own network (loopback, private, link-local, cloud metadata addresses);
- no proxy settings from the environment, no cookies, no credentials of the request: a
  plain GET with the proxy's own user agent;
- what comes back must be what was asked for (an image, or a PDF, by its header, whatever
  the content type says), of at most ``max_bytes``, within ``timeout_s`` for the whole
  fetch; anything else leaves the URL as it was, unread (``policy.unreadable_content``
  decides, as before), and counted by outcome; URLs and content are never logged (a URL
  can carry a token);
- at most ``max_per_request`` of a request are fetched, in order, side by side: images
  only when OCR is on, PDFs only when files are read (``server.max_attachment_pages``).
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
from collections import Counter
from collections.abc import Sequence
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from proxy.config.schema import FetchConfig, ServerConfig
from proxy.pipeline.ocr import image_kind
from proxy.protocol.dialect import Attachment, Linked, ParsedRequest, is_web_url

# What became of each image or PDF given by URL (metrics.FETCH_OUTCOMES).
FetchOutcomes = Counter[str]
_MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif",
                "webp": "image/webp", "bmp": "image/bmp", "tiff": "image/tiff"}
PDF = "application/pdf"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HEADERS = {"User-Agent": "safety-proxy (content check)", "Accept": "image/*, application/pdf"}
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The URL, or an address it resolves or redirects to, may not be fetched."""


class TooLarge(Exception):
    pass


class Networks:
    """Which addresses may be fetched: public ones, and those in ``allowed``."""

    def __init__(self, allowed: list[str]) -> None:
        self.allowed = [ipaddress.ip_network(network, strict=False) for network in allowed]

    def permit(self, address: _Address) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback
        return address.is_global or any(address in network for network in self.allowed)

    def check_host(self, host: str) -> None:
        """Refused for a literal address not permitted (names go through the resolver)."""
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return
        if not self.permit(address):
            raise Refused()


class _CheckedResolver(AbstractResolver):
    """Resolves as usual, then keeps only the permitted addresses: the connector connects
    to what this returns, so a name cannot lead anywhere else (DNS rebinding included)."""

    def __init__(self, networks: Networks) -> None:
        self.networks = networks
        self.inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        kept = [entry for entry in found
                if self.networks.permit(ipaddress.ip_address(entry["host"]))]
        if not kept:
            raise Refused()
        return kept

    async def close(self) -> None:
        await self.inner.close()


class Fetcher:
    """One pooled client for a fetch config (the app keeps one per config: resources.py)."""

    def __init__(self, config: FetchConfig) -> None:
        self.config = config
        self.networks = Networks(config.allow_networks)
        self.session: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self.session is None:
            # A slow host holds a connection until timeout_s: per host, so one client's
            # slow URLs cannot take every connection from other requests' fetches.
            connector = aiohttp.TCPConnector(resolver=_CheckedResolver(self.networks),
                                             limit=64, limit_per_host=8, ttl_dns_cache=60)
            self.session = aiohttp.ClientSession(
                connector=connector, trust_env=False, headers=_HEADERS,
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=self.config.timeout_s))
        return self.session

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def fetch(self, url: str, outcomes: FetchOutcomes | None = None, *,
                    document: bool = False) -> bytes | None:
        """The image (a PDF when ``document``) at ``url``, or None when it may not or
        could not be fetched, or is something else; ``outcomes`` counts which."""
        raw, outcome = await self._fetch(url)
        if raw is not None and not (raw.startswith(b"%PDF-") if document
                                    else image_kind(raw)):
            raw, outcome = None, "unsupported"
        if outcomes is not None:
            outcomes[outcome] += 1
        return raw

    async def _fetch(self, url: str) -> tuple[bytes | None, str]:
        try:
            async with asyncio.timeout(self.config.timeout_s):
                raw = await self._follow(url)
        except Refused:
            return None, "refused"
        except TooLarge:
            return None, "too_large"
        except TimeoutError:
            return None, "timeout"
        except (aiohttp.ClientError, OSError, ValueError):
            return None, "failed"
        return raw, "fetched"

    async def _follow(self, url: str) -> bytes:
        for _ in range(self.config.max_redirects + 1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise Refused()
            self.networks.check_host(parts.hostname)
            async with self._session().get(url, allow_redirects=False) as response:
                if response.status in _REDIRECTS and "Location" in response.headers:
                    url = str(response.url.join(URL(response.headers["Location"])))
                    continue
                response.raise_for_status()
                return await self._body(response)
        raise Refused()  # too many redirects

    async def _body(self, response: aiohttp.ClientResponse) -> bytes:
        if (response.content_length or 0) > self.config.max_bytes:
            raise TooLarge()
        body = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > self.config.max_bytes:
                raise TooLarge()
        return bytes(body)


async def fetch_linked(parsed: ParsedRequest, server: ServerConfig, fetcher: Fetcher,
                       outcomes: FetchOutcomes | None = None) -> None:
    """Fetches ``parsed``'s images and PDFs given by URL (``_fetch_some``), writes each one
    fetched into the body in place of its URL and adds it to the attachments to read; the
    rest stay URLs, unread."""
    for link, raw in await _fetch_some(parsed.linked, server, fetcher, outcomes):
        if raw is not None:
            _inline(parsed, link, raw)


async def fetch_images(urls: Sequence[str], server: ServerConfig, fetcher: Fetcher,
                       outcomes: FetchOutcomes | None = None) -> list[str]:
    """``urls`` (of images) with each http(s) one fetched (``_fetch_some``) as a ``data:``
    URL; the rest as they were."""
    links = [Linked("user", (), url) for url in urls if is_web_url(url)]
    found = {link.url: raw for link, raw in await _fetch_some(links, server, fetcher, outcomes)}
    return [_data_url(raw) if (raw := found.get(url)) else url for url in urls]


async def _fetch_some(links: Sequence[Linked], server: ServerConfig, fetcher: Fetcher,
                      outcomes: FetchOutcomes | None) -> list[tuple[Linked, bytes | None]]:
    """Each link that is read (images only with OCR on, PDFs only when files are read) up
    to ``server.fetch.max_per_request``, in order, fetched side by side; the others are
    counted ``skipped``."""
    wanted = [link for link in links
              if (server.max_attachment_pages > 0 if link.document else server.ocr.command)]
    chosen = wanted[:server.fetch.max_per_request] if server.fetch.enabled else []
    if outcomes is not None and len(links) > len(chosen):
        outcomes["skipped"] += len(links) - len(chosen)
    found = await asyncio.gather(*(fetcher.fetch(link.url, outcomes, document=link.document)
                                   for link in chosen))
    return list(zip(chosen, found, strict=True))


def media_type(raw: bytes) -> str:
    """An image's media type by its header; a PDF's; else application/octet-stream."""
    if raw.startswith(b"%PDF-"):
        return PDF
    kind = image_kind(raw)
    return _MEDIA_TYPES[kind] if kind else "application/octet-stream"


def _data_url(raw: bytes) -> str:
    return f"data:{media_type(raw)};base64,{base64.b64encode(raw).decode('ascii')}"


def _inline(parsed: ParsedRequest, link: Linked, raw: bytes) -> None:
    kind = media_type(raw)
    parsed.put(link.path, link.inline(base64.b64encode(raw).decode("ascii"), kind,
                                      parsed.at(link.path)))
    path = link.data_path()
    parsed.attachments.append(Attachment(link.role, path, parsed.at(path), kind))
