"""A real proxy running the compose stack's config (real toxicity and refusal checks, plus
one declared tenant) in front of the real demo upstream, both on free loopback ports."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from proxy.app import create_app
from proxy.config.loader import parse
from proxy.demo.upstream import create_demo_upstream
from tests.conftest import ServeApp
from tests.proxy.observability.support import DEPLOY

TENANT, TENANT_HEADER = "acme", "x-tenant-id"  # one declared tenant: per-tenant series exist


@dataclass(frozen=True)
class Stack:
    proxy_url: str
    upstream_url: str


@pytest.fixture
async def stack(serve_app: ServeApp) -> Stack:
    upstream_url = await serve_app(create_demo_upstream())
    text = (DEPLOY / "proxy.compose.yaml").read_text()
    text = text.replace("http://demo-upstream:8081/v1", f"{upstream_url}/v1")
    # One process here: the in-memory store stands in for the stack's Redis.
    text = text.replace("url: redis://redis:6379/0", "url: memory")
    text += (f"\ntenants:\n  header: {TENANT_HEADER}\n  trust_header: true\n"
             f"  known:\n    {TENANT}: {{}}\n")
    loaded = parse(text.encode(), "proxy.compose.yaml (test)")
    proxy_url = await serve_app(create_app(loaded))
    return Stack(proxy_url, upstream_url)
