"""Sans-IO windowing of a streamed answer, per choice.

Text arrives in deltas per choice. Once a choice has ``window_chars`` of unchecked text,
that text, prefixed with the last ``context_chars`` of the text already checked, is a
window to check; so a phrase split across two windows is seen whole in the second one.
``commit()`` marks the windows handed out as checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class _ChoiceText:
    checked: str = ""
    pending: str = ""


@dataclass(slots=True)
class Window:
    choice: int
    text: str


@dataclass(slots=True)
class WindowTracker:
    window_chars: int
    context_chars: int
    _choices: dict[int, _ChoiceText] = field(default_factory=dict)
    _handed_out: dict[int, int] = field(default_factory=dict)  # choice -> pending chars taken
    _full: bool = False  # some choice has window_chars pending: kept by add and commit

    def add(self, choice: int, text: str) -> None:
        current = self._choices.get(choice)
        if current is None:
            current = self._choices[choice] = _ChoiceText()
        current.pending += text
        if len(current.pending) >= self.window_chars:
            self._full = True

    def full(self) -> bool:
        return self._full

    def take(self, final: bool = False) -> list[Window]:
        """Windows to check now: every full choice (every non-empty one when ``final``)."""
        windows = []
        for index, choice in self._choices.items():
            if len(choice.pending) >= self.window_chars or (final and choice.pending):
                context = choice.checked[-self.context_chars:] if self.context_chars else ""
                windows.append(Window(index, context + choice.pending))
                self._handed_out[index] = len(choice.pending)
        return windows

    def commit(self) -> None:
        for index, taken in self._handed_out.items():
            choice = self._choices[index]
            choice.checked += choice.pending[:taken]
            choice.pending = choice.pending[taken:]
        self._handed_out.clear()
        self._full = any(len(c.pending) >= self.window_chars for c in self._choices.values())

    def answers(self) -> dict[int, str]:
        """The whole answer so far, per choice."""
        return {index: c.checked + c.pending for index, c in self._choices.items()}
