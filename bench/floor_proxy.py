"""The floor under the proxy: a reference target for bench/overhead.py.

The least a reverse proxy built on the proxy's own stack (aiohttp's server, the proxy's
upstream client ``proxy.pipeline.upstream_http.Pool``, uvloop) can do: every POST is
relayed to the upstream as it came (body and headers, no hop-by-hop ones) and its answer
relayed back, a stream piece by piece as it arrives. Nothing is parsed, checked, counted or
logged. What a proxy adds beyond this target's own added latency is its own work; what this
target adds is the framework's.

    python -m bench.floor_proxy --upstream http://127.0.0.1:8001 --port 8010
"""

from __future__ import annotations

import argparse

import yarl
from aiohttp import web

from proxy.commands.serve import _use_uvloop
from proxy.pipeline.upstream import HOP_BY_HOP  # never relayed either way
from proxy.pipeline.upstream_http import Pool

POOL = web.AppKey("pool", Pool)


def make_app(upstream: str) -> web.Application:
    app = web.Application()

    async def pool(app: web.Application):  # type: ignore[no-untyped-def]
        app[POOL] = Pool(limit=512, connect_timeout_s=10, read_timeout_s=300)
        yield
        await app[POOL].close()

    async def relay(request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        answer = await app[POOL].request("POST", yarl.URL(upstream + request.raw_path,
                                                          encoded=True),
                                         headers, await request.read())
        try:
            relayed = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
            if answer.content_type != "text/event-stream":
                return web.Response(body=await answer.read(), status=answer.status,
                                    headers=relayed)
            response = web.StreamResponse(status=answer.status, headers=relayed)
            await response.prepare(request)
            async for chunk in answer.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response
        finally:
            answer.release()

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.cleanup_ctx.append(pool)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/{tail:.*}", relay)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="the upstream's origin, no path")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    _use_uvloop()  # the event loop `safety-proxy serve` runs on
    web.run_app(make_app(args.upstream.rstrip("/")), host="127.0.0.1", port=args.port,
                access_log=None, print=None)


if __name__ == "__main__":
    main()
