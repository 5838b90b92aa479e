"""What the demo model says. Markers in the last user message choose the answer:

- ``[[refuse]]``: a refusal (shows the refusal-rate metric).
- ``[[offend]]``: a polite opening, then an offensive sentence (shows output blocking and
  stream cuts).
- ``[[long]]``: a long, harmless answer (shows window-by-window streaming).
- anything else: a short, friendly answer that quotes the prompt's start.
"""

from __future__ import annotations

from dataclasses import dataclass

REFUSAL = "I'm sorry, but I can't help with that request. It goes against my guidelines."
OFFENSIVE = ("Sure, here is what I honestly think about that. "
             "Shut up, you stupid bitch, nobody cares what you think, idiot.")
LONG = " ".join(
    f"Paragraph {i}: the safety proxy checks this answer window by window while it streams, "
    "so a long and perfectly harmless reply passes through unchanged." for i in range(1, 9))


@dataclass(frozen=True, slots=True)
class Ask:
    """One request to the demo model, whatever its API: the answer to give, the model name
    to echo, and how many identical choices to return (``n``, OpenAI APIs only)."""

    answer: str
    model: str
    choices: int = 1

    @property
    def words(self) -> int:
        """The answer's length in words: the demo's token count for ``usage``."""
        return len(self.answer.split())


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


def answer_pieces(answer: str) -> list[str]:
    """The answer as a stream sends it: word by word, each piece but the last keeping its
    trailing space, so the pieces join back into ``answer`` exactly."""
    pieces = [word + " " for word in answer.split(" ")]
    pieces[-1] = pieces[-1].rstrip(" ")
    return pieces


def last_user_text(messages: object) -> str:
    """The text of the last ``role: user`` entry of a list of messages (Chat Completions
    messages, Responses input items, Anthropic messages): its string content, or its text
    parts joined by spaces; "" when there is none."""
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(part["text"] for part in content
                                if isinstance(part, dict) and isinstance(part.get("text"), str))
    return ""
