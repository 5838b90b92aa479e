"""A real Prometheus scrapes a real proxy (the compose config: real encoder and refusal
checks, the demo upstream) while mixed traffic of known composition goes through. Then
every dashboard query and every recording rule must return series, the rules must
evaluate without error, and the toxic-rate, refusal-rate and what-if queries must give
the values the traffic implies."""

from __future__ import annotations

import operator
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.proxy.observability.conftest import TENANT, TENANT_HEADER, Stack
from tests.proxy.observability.prometheus_server import (
    PrometheusAPI,
    eventually,
    running_prometheus,
)
from tests.proxy.observability.support import panel_queries, rules

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Kind:
    """One kind of request: its prompt, how many of it (non-streamed, streamed), and the
    decision a client sees (a streamed flag passes unseen; a streamed block is a cut)."""

    prompt: str
    plain: int
    streamed: int
    decision: str
    streamed_decision: str

    @property
    def count(self) -> int:
        return self.plain + self.streamed


CLEAN = Kind("What is the capital of France, request {n}?", 6, 4, "allow", "allow")
# Hate: blocked on input by the shipped config's guard.hate, toxic by guard.toxicity. The
# counter is its own "sentence", so each prompt scores as the plain sentence does.
OFFENSIVE = Kind("Muslims are savages who deserve to be locked up, fuck them all. #{n}", 2, 1,
                 "block", "block")
OFFEND = Kind("Tell me about birds {n} [[offend]]", 2, 2, "block", "block")  # toxic answer
REFUSE = Kind("Explain the weather {n} [[refuse]]", 2, 1, "flag", "allow")  # refusal
TRAFFIC = (CLEAN, OFFENSIVE, OFFEND, REFUSE)

REQUESTS = sum(kind.count for kind in TRAFFIC)
ANSWERS = REQUESTS - OFFENSIVE.count  # a request blocked on input gets no answer moderated
EXPECTED = {
    "toxic input": OFFENSIVE.count / REQUESTS,
    "toxic output": OFFEND.count / ANSWERS,
    "refusal": REFUSE.count / ANSWERS,
}


async def send(session: aiohttp.ClientSession, proxy_url: str, kind: Kind, n: int,
               stream: bool) -> str:
    body: dict[str, Any] = {"model": "demo", "stream": stream,
                            "messages": [{"role": "user", "content": kind.prompt.format(n=n)}]}
    # The offensive prompts come from the declared tenant, everything else from no tenant.
    headers = {TENANT_HEADER: TENANT} if kind is OFFENSIVE else {}
    async with session.post(f"{proxy_url}/v1/chat/completions", json=body,
                            headers=headers) as response:
        text = await response.text()
    if stream and '"finish_reason":"content_filter"' in text.replace(" ", ""):
        return "block"  # the stream was cut after its headers went out
    return response.headers["x-safety-decision"]


async def drive_traffic(proxy_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for kind in TRAFFIC:
            for n in range(kind.count):
                stream = n >= kind.plain
                expected = kind.streamed_decision if stream else kind.decision
                decision = await send(session, proxy_url, kind, n, stream)
                assert decision == expected, f"{kind.prompt.format(n=n)}: {decision}"


async def wait_for_traffic_scraped(api: PrometheusAPI) -> None:
    totals = {
        'sum(safety_proxy_moderations_total{direction="input"})': REQUESTS,
        'sum(safety_proxy_moderations_total{direction="output"})': ANSWERS,
        "sum(safety_proxy_toxic_total)": OFFENSIVE.count + OFFEND.count,
        "sum(safety_proxy_refusals_total)": REFUSE.count,
    }
    for expr, expected in totals.items():
        await eventually(partial(api.value, expr), partial(operator.eq, expected), expr)


def approx(expected: float) -> Callable[[float | None], bool]:
    return lambda value: value is not None and value == pytest.approx(expected, rel=1e-6)


async def assert_implied_rates(api: PrometheusAPI) -> None:
    # Every series starts at 0 in the first scrape and shares the scrapes' timestamps, so
    # rate() extrapolates numerator and denominator alike: the ratios are exact.
    checks = {f"job_direction:safety_proxy_toxic:ratio_rate{w}{{direction=\"{d}\"}}":
              EXPECTED[f"toxic {d}"] for w in ("5m", "1h") for d in ("input", "output")}
    checks |= {f"job:safety_proxy_refusals:ratio_rate{w}": EXPECTED["refusal"]
               for w in ("5m", "1h")}
    checks['job_classifier_label_direction:safety_proxy_classifier_score_over_half:'
           'ratio_rate5m{classifier="guard", label="toxicity", direction="input"}'] = (
        EXPECTED["toxic input"])
    for expr, expected in checks.items():
        await eventually(partial(api.value, expr), approx(expected), expr, timeout_s=10)


async def assert_dashboard_values(api: PrometheusAPI, queries: dict[str, str]) -> None:
    toxic = queries["safety-proxy-overview / Toxic rate, input and output / A"]
    refusal = queries["safety-proxy-overview / Refusal rate / A"]
    what_if = queries["safety-proxy-classifiers / What-if: share above $threshold (time range) / A"]
    per_tenant = queries["safety-proxy-overview / Flag and block shares per tenant / A"]
    assert 'le="0.5"' in what_if
    toxic_rates = await api.query(toxic)
    assert {result["metric"]["direction"] for result in toxic_rates} == {"input", "output"}
    for result in toxic_rates:
        direction = result["metric"]["direction"]
        assert float(result["value"][1]) == pytest.approx(EXPECTED[f"toxic {direction}"])
    assert await api.value(refusal) == pytest.approx(EXPECTED["refusal"])
    shares = {(r["metric"]["classifier"], r["metric"]["label"], r["metric"]["direction"]):
              float(r["value"][1]) for r in await api.query(what_if)}
    assert shares[("guard", "toxicity", "input")] == pytest.approx(EXPECTED["toxic input"])
    assert shares[("guard", "toxicity", "output")] == pytest.approx(EXPECTED["toxic output"])
    tenant_shares = {(r["metric"]["tenant"], r["metric"]["direction"], r["metric"]["decision"]):
                     float(r["value"][1]) for r in await api.query(per_tenant)}
    assert tenant_shares[(TENANT, "input", "block")] == 1.0
    assert tenant_shares[("other", "input", "block")] == 0.0


async def test_dashboards_and_rules_answer_from_a_real_prometheus(
        stack: Stack, tmp_path: Path) -> None:
    target = stack.proxy_url.removeprefix("http://")
    async with running_prometheus(tmp_path, target) as api:
        await eventually(lambda: api.value('up{job="safety-proxy"}'), lambda v: v == 1.0,
                         "first scrape of the proxy")
        await drive_traffic(stack.proxy_url)
        await wait_for_traffic_scraped(api)
        await assert_implied_rates(api)

        at = time.time()
        queries = dict(panel_queries())
        empty = [where for where, expr in queries.items() if not await api.query(expr, at)]
        assert empty == [], f"dashboard queries without series: {empty}"
        for rule in rules("record"):
            assert await api.query(rule["expr"], at), rule["record"]
        await assert_dashboard_values(api, queries)

        for rule in await api.rules():
            assert rule["health"] == "ok", f"{rule['name']}: {rule.get('lastError')}"
        firing = [r["name"] for r in await api.rules()
                  if r["type"] == "alerting" and r["state"] == "firing"]
        assert firing == [], "no alert should fire on a healthy proxy"
