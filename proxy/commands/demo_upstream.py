"""``safety-proxy demo-upstream``: the deterministic fake model as its own server."""

from __future__ import annotations

import argparse

from aiohttp import web

from proxy.commands.serve import _use_uvloop
from proxy.demo.upstream import create_demo_upstream


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("demo-upstream", help="run the demo model API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--delay-ms", type=float, default=0.0,
                        help="pause between streamed chunks")
    parser.add_argument("--first-token-ms", type=float, default=0.0,
                        help="pause before every answer (a model's time to first token)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    _use_uvloop()
    app = create_demo_upstream(args.delay_ms, args.first_token_ms)
    web.run_app(app, host=args.host, port=args.port,
                access_log=None, print=lambda _: print(
                    f"demo upstream on http://{args.host}:{args.port}/v1", flush=True))
    return 0
