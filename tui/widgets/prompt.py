"""The question input: Enter submits, Up/Down walk through earlier questions (the draft is kept)."""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from textual.widgets import Input


class PromptInput(Input):
    BINDINGS = [
        Binding("up", "history(-1)", "Previous question", show=False),
        Binding("down", "history(1)", "Next question", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            placeholder="Ask about the indexed papers… (Enter to send, ↑/↓ history)", max_length=2000, **kwargs
        )
        self.history: list[str] = []
        self._pos: int | None = None
        self._draft = ""

    def remember(self, question: str) -> None:
        if question and (not self.history or self.history[-1] != question):
            self.history.append(question)
        self._pos = None

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        if self._pos is None:
            if step > 0:
                return
            self._draft, self._pos = self.value, len(self.history)
        self._pos = max(0, self._pos + step)
        if self._pos >= len(self.history):
            self._pos, self.value = None, self._draft
        else:
            self.value = self.history[self._pos]
        self.cursor_position = len(self.value)
