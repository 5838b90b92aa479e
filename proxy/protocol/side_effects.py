"""Whether a request asks the upstream to keep or do anything besides answering: such a
request never reaches the upstream before its input verdict, whatever
``upstream.send_during_input_checks`` says. A prompt the policy blocks must leave no trace
and no side effect upstream: no stored response or completion, no conversation item, no
search, fetch, code run or MCP call made by the provider on its behalf."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Tools the client runs itself: the model only names a call, the client decides. Every
# other tool type (web_search, file_search, code_interpreter, mcp, image_generation,
# computer use, shells, a vendor's own...) may be run by the provider, or is not known.
_OPENAI_CLIENT_TOOLS = frozenset({"function", "custom"})


def acts_upstream(dialect: str, body: dict[str, Any]) -> bool:
    """True when ``body`` (a parsed request of ``dialect``, the route's name) has the
    provider store something or run a tool of its own; unknown shapes count as acting."""
    if dialect == "responses":
        # The Responses API stores every response unless told not to; a stored prompt
        # (``prompt``) may bring tools of its own.
        return (body.get("store") is not False or "conversation" in body or "prompt" in body
                or bool(body.get("background")) or _provider_tools(body, _openai_client_tool))
    if dialect == "chat_completions":
        return (body.get("store") is True or "web_search_options" in body
                or _provider_tools(body, _openai_client_tool))
    if dialect == "messages":
        return ("mcp_servers" in body or "container" in body
                or _provider_tools(body, _anthropic_client_tool))
    return dialect != "completions"


def _provider_tools(body: dict[str, Any], client_tool: Callable[[object], bool]) -> bool:
    tools = body.get("tools")
    if tools is None:
        return False
    return not isinstance(tools, list) or not all(client_tool(tool) for tool in tools)


def _openai_client_tool(tool: object) -> bool:
    return isinstance(tool, dict) and tool.get("type") in _OPENAI_CLIENT_TOOLS


def _anthropic_client_tool(tool: object) -> bool:
    """A client tool of the Messages API has no ``type`` (or ``custom``); typed tools are
    the provider's (web search, web fetch, code execution...) or its schema-defined ones."""
    return isinstance(tool, dict) and tool.get("type", "custom") == "custom"
