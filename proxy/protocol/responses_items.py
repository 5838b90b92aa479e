"""Where the Responses API keeps model-readable text: one table of ``Spot``s per item, tool
and ``text.format`` type, read alike for requests and answers by ``responses_walk``.

A ``Spot`` names one place in an object: dotted keys, ``[]`` after a key to go through a
list (``summary[].text``); absent or null places hold nothing. Its ``shape`` says what sits
there:

- ``text``: a string;
- ``json``: a string, or any other JSON value scored whole as a definition (its keys and
  strings, one per line; path ending in ``KEY``: scored, never rewritten): tool schemas,
  free-form arguments;
- ``content``: a string, or a list of content parts each scored under its own part type;
- ``output``: the same, every text under the spot's kind (tool outputs);
- ``tools``: a list of tool definitions; ``format``: a ``text.format`` object;
- ``part``: one content part object (a computer screenshot), read as content parts are;
- ``image``: an image as base64 (a generated image): in a request an inline image whose
  text is read (attachments.py), in an answer a text the pipeline reads the same way;
- ``blob``: content no text classifier reads (encrypted reasoning, a file by URL):
  unreadable.

``streamed``: an answer stream sends this field as delta events; an output item's other
fields are read from its ``response.output_item`` events.

An item's keys that no spot names and ``NOT_TEXT`` does not list (a vendor's field, a field
newer than these tables) are scored as ``extension``: every string in them.
"""

from __future__ import annotations

from dataclasses import dataclass

A, T, D = "assistant", "tool", "definition"
MESSAGE_ROLES = frozenset({"user", "system", "developer", "assistant"})
PART_TEXT = {"input_text": "text", "output_text": "text", "refusal": "refusal",
             "summary_text": "text", "reasoning_text": "text"}
UNREADABLE_PARTS = frozenset({"input_image", "input_file", "input_audio",
                              "computer_screenshot"})
# Item keys that carry no text the model reads: ids, enums, flags, numbers, settings.
NOT_TEXT = frozenset({
    "id", "type", "role", "status", "phase", "call_id", "caller", "namespace", "created_by",
    "async", "execution", "server_label", "approval_request_id", "approve", "container_id",
    "fingerprint", "pending_safety_checks", "acknowledged_safety_checks", "environment",
    "max_output_length", "background", "output_format", "quality", "size", "svg_usage",
})


@dataclass(frozen=True, slots=True)
class Spot:
    path: str
    kind: str = ""
    role: str = A  # "*": the message's own role
    shape: str = "text"
    streamed: bool = False


def _tool(*extra: Spot) -> tuple[Spot, ...]:
    return (Spot("name", "tool_name", D), Spot("description", "tool_description", D), *extra)


ITEM_SPOTS: dict[str, tuple[Spot, ...]] = {
    "message": (Spot("content", "message_text", "*", "content", streamed=True),),
    "function_call": (Spot("name", "function_call_name"),
                      Spot("arguments", "function_call_arguments", streamed=True)),
    "function_call_output": (Spot("output", "function_call_output", T, "output"),),
    "custom_tool_call": (Spot("name", "custom_tool_call_name"),
                         Spot("input", "custom_tool_call_input", streamed=True)),
    "custom_tool_call_output": (Spot("output", "custom_tool_call_output", T, "output"),),
    "reasoning": (Spot("summary[].text", "reasoning_summary", streamed=True),
                  Spot("content[].text", "reasoning_content", streamed=True),
                  Spot("encrypted_content", shape="blob")),
    "compaction": (Spot("encrypted_content", shape="blob"),),
    "compaction_trigger": (),
    "file_search_call": (Spot("queries[]", "file_search_query"),
                         Spot("results[].text", "file_search_result", T)),
    "web_search_call": (Spot("action.query", "web_search_query"),
                        Spot("action.queries[]", "web_search_query"),
                        Spot("action.pattern", "web_search_query")),
    "computer_call": (Spot("action.text", "computer_action_text"),
                      Spot("actions[].text", "computer_action_text")),
    "computer_call_output": (Spot("output", role=T, shape="part"),),  # a screenshot
    "tool_search_call": (Spot("arguments", "tool_search_arguments", shape="json"),),
    "tool_search_output": (Spot("tools", role=D, shape="tools"),),
    "additional_tools": (Spot("tools", role=D, shape="tools"),),
    "configuration_update": (Spot("text.format", role=D, shape="format"),),
    "image_generation_call": (Spot("revised_prompt", "image_generation_prompt"),
                              Spot("result", shape="image")),
    "code_interpreter_call": (Spot("code", "code_interpreter_code", streamed=True),
                              Spot("outputs[].logs", "code_interpreter_logs", T),
                              Spot("outputs[].url", role=T, shape="blob")),
    "local_shell_call": (Spot("action.command[]", "shell_command"),),
    "local_shell_call_output": (Spot("output", "shell_output", T),),
    "shell_call": (Spot("action.commands[]", "shell_command", streamed=True),),
    "shell_call_output": (Spot("output[].stdout", "shell_output", T, streamed=True),
                          Spot("output[].stderr", "shell_output", T, streamed=True)),
    "apply_patch_call": (Spot("operation.diff", "apply_patch_diff"),),
    "apply_patch_call_output": (Spot("output", "apply_patch_output", T),),
    "mcp_list_tools": (Spot("tools[].name", "tool_name", D),
                       Spot("tools[].description", "tool_description", D),
                       Spot("tools[].input_schema", "tool_schema", D, "json"),
                       Spot("tools[].annotations", "tool_schema", D, "json"),
                       Spot("error", "mcp_list_tools_error", T)),
    "mcp_approval_request": (Spot("name", "mcp_call_name"),
                             Spot("arguments", "mcp_call_arguments")),
    "mcp_approval_response": (Spot("reason", "mcp_approval_reason", "user"),),
    "mcp_call": (Spot("name", "mcp_call_name"),
                 Spot("arguments", "mcp_call_arguments", streamed=True),
                 Spot("output", "mcp_call_output", T),
                 Spot("error", "mcp_call_output", T, "json")),
    "program": (Spot("code", "program_code"),),
    "program_output": (Spot("result", "program_output", T),),
}

# Built-in tools with no free text the model reads map to (); server-side tool content
# (retrieved files, web pages, an MCP server's own tool list) never passes through a request.
TOOL_SPOTS: dict[str, tuple[Spot, ...]] = {
    "function": _tool(Spot("parameters", "tool_schema", D, "json"),
                      Spot("output_schema", "tool_schema", D, "json")),
    "custom": _tool(Spot("format.definition", "tool_grammar", D)),
    "namespace": _tool(Spot("tools", role=D, shape="tools")),
    "tool_search": (Spot("description", "tool_description", D),
                    Spot("parameters", "tool_schema", D, "json")),
    "mcp": (Spot("server_label", "tool_name", D),
            Spot("server_description", "tool_description", D)),
    "shell": (Spot("environment.skills[].name", "tool_name", D),
              Spot("environment.skills[].description", "tool_description", D),
              Spot("environment.skills[].source.data", role=D, shape="blob")),
    **dict.fromkeys(("file_search", "computer", "computer_use_preview", "web_search",
                     "web_search_2025_08_26", "web_search_preview",
                     "web_search_preview_2025_03_11", "code_interpreter",
                     "programmatic_tool_calling", "image_generation", "local_shell",
                     "apply_patch"), ()),
}

FORMAT_SPOTS: dict[str, tuple[Spot, ...]] = {
    "text": (), "json_object": (),
    "json_schema": (Spot("name", "text_format_name", D),
                    Spot("description", "text_format_description", D),
                    Spot("schema", "text_format_schema", D, "json")),
}
