"""A file server on 127.0.0.1 for the tests of what the proxy fetches by URL
(proxy/pipeline/fetch.py): pictures and PDFs with and without the scripted check's
trigger word, and the awkward answers a fetcher meets."""

from __future__ import annotations

import asyncio

from aiohttp import web

from tests.support.image import scanned_pdf, text_png
from tests.support.pdf import text_pdf

BAD_PICTURE = text_png("The plan: BADWORD on Monday.")
CLEAN_PICTURE = text_png("Sunny beach at noon.")
PDFS = {"bad.pdf": text_pdf("The plan: BADWORD on Monday."),
        "scan.pdf": scanned_pdf("The plan: BADWORD on Monday."),
        "clean.pdf": text_pdf("Sunny beach at noon.")}
LOOPBACK = {"fetch": {"allow_networks": ["127.0.0.1/32"]}}


class Pictures:
    """A file server: ``/bad.png``, ``/clean.png``, ``/bad.pdf``, ``/scan.pdf`` (a picture
    of the bad words), ``/clean.pdf``, ``/text`` (neither), ``/slow.png``,
    ``/to/<path>`` (a redirect to that path on the same host), ``/away`` (a redirect to
    127.0.0.2, outside the allowed network); it notes each request's headers."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        self.redirect_to = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{name:.*}", self.serve)
        return app

    async def serve(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(dict(request.headers))
        name = request.match_info["name"]
        if name.startswith("to/"):
            raise web.HTTPFound(f"/{name[3:]}")
        if name == "away":
            raise web.HTTPFound(self.redirect_to)
        if name == "slow.png":
            await asyncio.sleep(2)
        pictures = {"bad.png": BAD_PICTURE, "clean.png": CLEAN_PICTURE,
                    "slow.png": CLEAN_PICTURE, "text": b"just words, BADWORD", **PDFS}
        if name not in pictures:
            raise web.HTTPNotFound()
        return web.Response(body=pictures[name], content_type="image/png")


async def serve_pictures(serve_app) -> tuple[Pictures, str]:
    """A started server and its base URL (``serve_app``: the conftest fixture's)."""
    server = Pictures()
    base = await serve_app(server.app())
    port = base.rsplit(":", 1)[1]
    server.redirect_to = f"http://127.0.0.2:{port}/bad.png"
    return server, base
