"""What the demo model says. Markers in the last user message choose the answer:

- ``[[refuse]]``: a refusal (shows the refusal-rate metric).
- ``[[offend]]``: a polite opening, then an offensive sentence (shows output blocking and
  stream cuts).
- ``[[long]]``: a long, harmless answer (shows window-by-window streaming).
- anything else: a short, friendly answer that quotes the prompt's start.
"""

from __future__ import annotations

REFUSAL = "I'm sorry, but I can't help with that request. It goes against my guidelines."
OFFENSIVE = ("Sure, here is what I honestly think about that. "
             "You are a stupid fucking idiot and nobody wants to hear from you.")
LONG = " ".join(
    f"Paragraph {i}: the safety proxy checks this answer window by window while it streams, "
    "so a long and perfectly harmless reply passes through unchanged." for i in range(1, 9))


def demo_answer(prompt: str) -> str:
    if "[[refuse]]" in prompt:
        return REFUSAL
    if "[[offend]]" in prompt:
        return OFFENSIVE
    if "[[long]]" in prompt:
        return LONG
    quoted = " ".join(prompt.split())[:60]
    return (f"Hello! You said: \"{quoted}\". This is the safety-proxy demo model; "
            "it gives every prompt a short, friendly reply.")


def last_user_text(messages: object) -> str:
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""
