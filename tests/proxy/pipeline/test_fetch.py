"""Images and PDFs given by URL (proxy/pipeline/fetch.py): fetched, read (the real
``tesseract``, pypdf), and sent upstream inline, through the real proxy; a real aiohttp
server on 127.0.0.1 serves them (allowed by ``server.fetch.allow_networks``, as an operator's own
image store would be). What may not be fetched (the proxy's own network, redirects into
it, too large, not an image, too slow) stays a URL, unread, counted."""

from __future__ import annotations

import base64
import ipaddress
from typing import Any

import aiohttp
import pytest

from proxy.pipeline.fetch import Networks
from tests.proxy.routes.test_bad_input import metric
from tests.support.pictures import (
    CLEAN_PICTURE,
    LOOPBACK,
    PDFS,
    Pictures,
    serve_pictures,
)


@pytest.fixture
async def pictures(serve_app) -> tuple[Pictures, str]:
    return await serve_pictures(serve_app)


def chat_with_image(url: str) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What does the sign say?"},
        {"type": "image_url", "image_url": {"url": url, "detail": "high"}}]}]}


REQUESTS = {
    "chat/completions": chat_with_image,
    "responses": lambda url: {"model": "m", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "What does the sign say?"},
        {"type": "input_image", "image_url": url}]}]},
    "messages": lambda url: {"model": "m", "max_tokens": 16, "messages": [
        {"role": "user", "content": [{"type": "text", "text": "What does the sign say?"},
                                     {"type": "image", "source": {"type": "url", "url": url}}]}]},
}


def sent_image(path: str, body: dict[str, Any]) -> Any:
    """What the upstream received where the request had its image URL."""
    if path == "chat/completions":
        return body["messages"][0]["content"][1]["image_url"]["url"]
    if path == "responses":
        return body["input"][0]["content"][1]["image_url"]
    return body["messages"][0]["content"][1]["source"]


async def post(base: str, path: str, body: dict[str, Any]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/{path}", json=body, headers={"Authorization": "Bearer sk-secret",
                                                     "Cookie": "session=abc"}) as response:
        return response.status, await response.text()


def fetches(outcome: str) -> str:
    return f'safety_proxy_url_fetches_total{{outcome="{outcome}"}}'


def test_only_public_addresses_and_allowed_networks_are_fetched() -> None:
    public = Networks([])
    for address in ("127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
                    "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1",
                    "::ffff:10.0.0.1"):
        assert not public.permit(ipaddress.ip_address(address)), address
    for address in ("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"):
        assert public.permit(ipaddress.ip_address(address)), address
    inside = Networks(["10.0.0.0/8"])
    assert inside.permit(ipaddress.ip_address("10.1.2.3"))
    assert inside.permit(ipaddress.ip_address("::ffff:10.1.2.3"))
    assert not inside.permit(ipaddress.ip_address("127.0.0.1"))


async def test_a_url_scheme_in_capitals_is_fetched_too(start_proxy, fake_upstream,
                                                       pictures) -> None:
    """URL schemes are case-insensitive, and so are the servers that fetch them."""
    _, images = pictures
    base, _ = await start_proxy(server=LOOPBACK, abuse={"enabled": False})  # three blocks
    url = images.replace("http://", "HTTP://") + "/bad.png"
    for path in sorted(REQUESTS):
        status, _ = await post(base, path, REQUESTS[path](url))
        assert status == 400, path
    assert fake_upstream.requests == []


@pytest.mark.parametrize("path", sorted(REQUESTS))
async def test_an_image_by_url_is_read_and_sent_upstream_inline(
        start_proxy, fake_upstream, pictures, path: str) -> None:
    server, images = pictures
    base, _ = await start_proxy(server=LOOPBACK)
    status, text = await post(base, path, REQUESTS[path](f"{images}/bad.png"))
    assert status == 400 and "BADWORD" not in text
    assert fake_upstream.requests == []  # the sign's words never reached the model
    status, text = await post(base, path, REQUESTS[path](f"{images}/to/clean.png"))
    assert status == 200, text
    (received,) = fake_upstream.requests
    encoded = base64.b64encode(CLEAN_PICTURE).decode()
    assert sent_image(path, received) == (
        {"type": "base64", "media_type": "image/png", "data": encoded} if path == "messages"
        else f"data:image/png;base64,{encoded}")  # the very bytes read: fetched once
    assert [h.get("Authorization") for h in server.seen] == [None] * 3  # bad, redirect, clean
    assert all("Cookie" not in h for h in server.seen)
    assert await metric(base, fetches("fetched")) == 2


async def test_the_proxys_own_network_is_never_fetched(start_proxy, fake_upstream,
                                                      pictures) -> None:
    """With no allowed network, a loopback URL, a name that resolves to loopback, and a
    redirect from an allowed host into a refused one are all refused: the image stays a
    URL, unread, and the policy for unreadable content decides."""
    server, images = pictures
    port = images.rsplit(":", 1)[1]
    base, _ = await start_proxy(server={"fetch": {}})  # on, as by default
    for url in (f"{images}/bad.png", f"http://localhost:{port}/bad.png"):
        status, _ = await post(base, "chat/completions", chat_with_image(url))
        assert status == 200  # unreadable_content.input: allow (the default)
    assert server.seen == []
    assert await metric(base, fetches("refused")) == 2
    assert [sent_image("chat/completions", body) for body in fake_upstream.requests] == [
        f"{images}/bad.png", f"http://localhost:{port}/bad.png"]  # left as they were
    base, _ = await start_proxy(server=LOOPBACK, policy={
        "unreadable_content": {"input": "block"}})
    status, text = await post(base, "chat/completions", chat_with_image(f"{images}/away"))
    assert status == 400 and "unreadable" in text
    assert len(server.seen) == 1  # the redirect was read, its target never fetched
    assert await metric(base, fetches("refused")) == 1


@pytest.mark.parametrize(("name", "fetch", "outcome"), [
    ("text", {}, "unsupported"), ("missing.png", {}, "failed"),
    ("clean.png", {"max_bytes": 100}, "too_large"), ("slow.png", {"timeout_s": 0.3}, "timeout"),
    ("to/to/to/clean.png", {"max_redirects": 2}, "refused")])
async def test_what_cannot_be_fetched_stays_a_url(start_proxy, fake_upstream, pictures,
                                                  name: str, fetch: dict[str, Any],
                                                  outcome: str) -> None:
    _, images = pictures
    base, _ = await start_proxy(server={"fetch": {**LOOPBACK["fetch"], **fetch}})
    status, _ = await post(base, "chat/completions", chat_with_image(f"{images}/{name}"))
    assert status == 200
    assert sent_image("chat/completions", fake_upstream.requests[0]) == f"{images}/{name}"
    assert await metric(base, fetches(outcome)) == 1
    assert await metric(base, fetches("fetched")) == 0


@pytest.mark.parametrize("server_config", [
    {"fetch": {"enabled": False, "allow_networks": ["127.0.0.1/32"]}},
    {"ocr": {"command": ""}, **LOOPBACK}])
async def test_nothing_is_fetched_when_fetching_or_ocr_is_off(
        start_proxy, fake_upstream, pictures, server_config: dict[str, Any]) -> None:
    server, images = pictures
    base, _ = await start_proxy(server=server_config)
    status, _ = await post(base, "chat/completions", chat_with_image(f"{images}/bad.png"))
    assert status == 200 and server.seen == []
    assert await metric(base, fetches("skipped")) == 1


async def test_the_moderations_endpoint_reads_images_by_url(start_proxy, pictures) -> None:
    _, images = pictures
    base, _ = await start_proxy(server=LOOPBACK)

    async def flagged(url: str) -> bool:
        body = {"input": [{"type": "text", "text": "What does this say?"},
                          {"type": "image_url", "image_url": {"url": url}}]}
        async with aiohttp.ClientSession() as session, session.post(
                f"{base}/v1/moderations", json=body) as response:
            assert response.status == 200, await response.text()
            (result,) = (await response.json())["results"]
            return bool(result["flagged"])

    assert await flagged(f"{images}/bad.png") is True
    assert await flagged(f"{images}/clean.png") is False
    assert await metric(base, fetches("fetched")) == 2


DOCUMENTS = {
    "responses": lambda url: {"model": "m", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "Summarise this."},
        {"type": "input_file", "file_url": url}]}]},
    "messages": lambda url: {"model": "m", "max_tokens": 16, "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "Summarise this."},
            {"type": "document", "source": {"type": "url", "url": url}}]}]},
}


@pytest.mark.parametrize("path", sorted(DOCUMENTS))
async def test_a_pdf_by_url_is_read_and_sent_upstream_inline(
        start_proxy, fake_upstream, pictures, path: str) -> None:
    _, files = pictures
    base, _ = await start_proxy(server=LOOPBACK, abuse={"enabled": False})  # two blocks
    for name in ("bad.pdf", "scan.pdf"):  # its text layer; a scanned page, by OCR
        status, text = await post(base, path, DOCUMENTS[path](f"{files}/{name}"))
        assert status == 400 and "BADWORD" not in text, name
    assert fake_upstream.requests == []
    status, text = await post(base, path, DOCUMENTS[path](f"{files}/clean.pdf"))
    assert status == 200, text
    (received,) = fake_upstream.requests
    encoded = base64.b64encode(PDFS["clean.pdf"]).decode()
    if path == "responses":
        assert received["input"][0]["content"][1] == {
            "type": "input_file", "filename": "clean.pdf",
            "file_data": f"data:application/pdf;base64,{encoded}"}
    else:
        assert received["messages"][0]["content"][1]["source"] == {
            "type": "base64", "media_type": "application/pdf", "data": encoded}
    assert await metric(base, fetches("fetched")) == 3


async def test_what_is_fetched_must_be_what_was_asked_for(start_proxy, fake_upstream,
                                                         pictures) -> None:
    """A PDF served for an image and an image served for a PDF are neither read nor
    inlined."""
    _, files = pictures
    base, _ = await start_proxy(server=LOOPBACK)
    status, _ = await post(base, "chat/completions", chat_with_image(f"{files}/bad.pdf"))
    assert status == 200
    status, _ = await post(base, "responses", DOCUMENTS["responses"](f"{files}/bad.png"))
    assert status == 200
    assert sent_image("chat/completions", fake_upstream.requests[0]) == f"{files}/bad.pdf"
    assert fake_upstream.requests[1]["input"][0]["content"][1]["file_url"] == \
        f"{files}/bad.png"
    assert await metric(base, fetches("unsupported")) == 2


async def test_fetches_per_request_are_capped_in_order(start_proxy, fake_upstream,
                                                      pictures) -> None:
    server, files = pictures
    base, _ = await start_proxy(server={"fetch": {**LOOPBACK["fetch"], "max_per_request": 1}})
    body = chat_with_image(f"{files}/clean.png")
    body["messages"][0]["content"].append(
        {"type": "image_url", "image_url": {"url": f"{files}/bad.png"}})
    status, _ = await post(base, "chat/completions", body)
    assert status == 200 and len(server.seen) == 1  # the second image stays a URL
    assert await metric(base, fetches("skipped")) == 1


OTHER_WAYS = {  # each another place an image URL goes: (API path, body for a URL)
    "chat: the URL alone": ("chat/completions", lambda url: {"model": "m", "messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": url}]}]}),
    "chat: in a tool message": ("chat/completions", lambda url: {"model": "m", "messages": [
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
                                                               "function": {"name": "shot",
                                                                            "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": [
            {"type": "image_url", "image_url": {"url": url}}]}]}),
    "responses: a computer screenshot": ("responses", lambda url: {"model": "m", "input": [
        {"type": "computer_call", "call_id": "c2", "action": {"type": "screenshot"},
         "pending_safety_checks": [], "status": "completed"},
        {"type": "computer_call_output", "call_id": "c2", "output": {
            "type": "computer_screenshot", "image_url": url}}]}),
    "responses: in a function output": ("responses", lambda url: {"model": "m", "input": [
        {"type": "function_call", "call_id": "c1", "name": "shot", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": [
            {"type": "input_image", "image_url": url}]}]}),
    "messages: in a tool result": ("messages", lambda url: {"model": "m", "max_tokens": 16,
                                                           "messages": [
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "shot", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                      "content": [{"type": "image", "source": {
                                          "type": "url", "url": url}}]}]}]}),
}


@pytest.mark.parametrize("way", sorted(OTHER_WAYS))
async def test_every_way_to_give_an_image_by_url_is_read(start_proxy, fake_upstream, pictures,
                                                        way: str) -> None:
    _, images = pictures
    path, body = OTHER_WAYS[way]
    base, _ = await start_proxy(server=LOOPBACK)
    status, text = await post(base, path, body(f"{images}/bad.png"))
    assert status == 400 and "BADWORD" not in text, text
    assert fake_upstream.requests == []
    assert await metric(base, fetches("fetched")) == 1


async def test_the_moderations_endpoint_fetches_a_url_in_capitals(start_proxy, pictures) -> None:
    _, images = pictures
    base, _ = await start_proxy(server=LOOPBACK)
    body = {"input": [{"type": "image_url", "image_url": {
        "url": images.replace("http://", "HTTP://") + "/bad.png"}}]}
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/moderations", json=body) as response:
        (result,) = (await response.json())["results"]
    assert result["flagged"] is True
