"""The status line: a spinner while loading, then model, device, corpus size and the last answer's speed."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import LoadingIndicator, Static

from assistant.models.catalogue import SUGGESTED
from assistant.models.installed import DEFAULT_GGUF
from assistant.types import Timings

from ..safe import plain


class StatusBar(Horizontal):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base = Text()
        self.last = Text()
        self.tip = Text()
        self.tip_shown = False  # the tip for a capable model is shown once per session, until the first answer

    def compose(self) -> ComposeResult:
        yield LoadingIndicator(id="spinner")
        yield Static(id="status-text")

    def _show(self, text: Text, busy: bool) -> None:
        self.query_one("#spinner").display = busy
        self.query_one("#status-text", Static).update(text)
        self.set_class(busy, "-busy")

    def busy(self, message: str, spin: bool = True) -> None:
        """spin=False while answering: the animated indicator redraws constantly and takes CPU from the model."""
        self._show(plain(message), spin)

    def problem(self, message: str) -> None:
        self._show(plain(message, "bold"), False)
        self.add_class("-problem")

    def ready(self, model: str, device: str, papers: int) -> None:
        self.remove_class("-problem")
        self.base = Text.assemble(plain(model, "bold"), plain(f" · {device} · {papers} papers"))
        self.tip = Text()
        if model == DEFAULT_GGUF and not self.tip_shown:  # the bundled 135M model: say how to get a capable one
            self.tip_shown = True
            self.tip = plain(
                f" · tip: a more capable model in one command: assistant models pull {SUGGESTED}", "italic"
            )
        self._show(self.base + self.last + self.tip, False)

    def timings(self, t: Timings, made_by: str = "", model_words: bool = False) -> None:
        if t.completion_tokens:
            tps = f", {t.tokens_per_s:.1f} tok/s" if t.tokens_per_s else ""
            speed = f"first token {t.first_token_s:.2f} s{tps}, "
            if made_by == "model":
                speed = "written by the model, checked: " + speed
            elif made_by == "extractive" and model_words:  # the short answer is the model's, a span of the quote
                speed = "quoted, short answer by the model: " + speed
            elif made_by == "extractive":  # the model wrote, its text failed the check: the quote stands
                speed = "from the evidence (the model's text did not pass the check; " + speed.rstrip(", ") + "), "
        else:
            speed = "from the evidence (no model tokens), "
        self.last = plain(f" · last answer: {speed}total {t.total_s:.1f} s")
        self.tip = Text()
        self._show(self.base + self.last, False)

    def idle(self) -> None:
        self._show(self.base + self.last, False)
