"""The sources pane: the papers behind the selected answer, cited ones first. Enter or a number key opens one."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from assistant.answer.references import reference
from assistant.types import Answer, Evidence

from ..safe import plain


def ordered_evidence(answer: Answer) -> list[Evidence]:
    cited = {c.paper_id for c in answer.citations}
    return sorted(answer.evidence, key=lambda e: (e.paper_id not in cited, e.number or 99))


class SourcesList(OptionList):
    BINDINGS = [Binding(str(n), f"open_number({n})", f"Open source {n}", show=False) for n in range(1, 10)]

    class Open(Message):
        def __init__(self, answer: Answer, evidence: Evidence) -> None:
            super().__init__()
            self.answer = answer
            self.evidence = evidence

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.answer: Answer | None = None
        self._items: list[Evidence] = []

    def show_answer(self, answer: Answer | None) -> None:
        self.answer = answer
        self._items = ordered_evidence(answer) if answer else []
        cited = {c.paper_id for c in answer.citations} if answer else set()
        self.clear_options()
        options = []
        for i, ev in enumerate(self._items):
            label = Text.assemble(
                plain(f"[{ev.number}] " if ev.number else "[·] ", "bold"), plain(reference(ev.title, ev.meta))
            )
            label.append_text(plain("\n  cited" if ev.paper_id in cited else "\n  retrieved", "italic dim"))
            options.append(Option(label, id=f"ev-{i}"))
        self.add_options(options)
        if options:
            self.highlighted = 0

    def _open(self, ev: Evidence) -> None:
        if self.answer is not None:
            self.post_message(self.Open(self.answer, ev))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._open(self._items[event.option_index])

    def action_open_number(self, number: int) -> None:
        for ev in self._items:
            if ev.number == number:
                self._open(ev)
                return
        self.app.bell()
