"""Saved conversations, newest first: Enter reopens one, Delete removes it."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from assistant.answer.conversations import ConversationInfo, ConversationStore

from ..safe import one_line, plain


def label(info: ConversationInfo) -> Text:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.updated))
    return Text.assemble(
        plain(f"{when}  ", "dim"),
        plain(one_line(info.title, 90)),
        plain(f"  ({info.turns} turn{'s' if info.turns != 1 else ''})", "dim"),
    )


class ConversationsScreen(ModalScreen[str | None]):
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close"),
        Binding("delete,d", "delete", "Delete"),
    ]

    def __init__(self, store: ConversationStore):
        super().__init__()
        self.store = store
        self.items: list[ConversationInfo] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="conversations-dialog") as box:
            box.border_title = "Saved conversations"
            box.border_subtitle = "Enter open · Del delete · Esc close"
            yield Static(plain("No saved conversations yet."), id="no-conversations")
            yield OptionList(id="conversation-list")

    def on_mount(self) -> None:
        self.refresh_list()
        self.query_one(OptionList).focus()

    def refresh_list(self) -> None:
        self.items = self.store.list()
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([Option(label(c), id=c.id) for c in self.items])
        self.query_one("#no-conversations").display = not self.items
        if self.items:
            options.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_delete(self) -> None:
        index = self.query_one(OptionList).highlighted
        if index is None or index >= len(self.items):
            return
        self.store.delete(self.items[index].id)
        self.notify("Conversation deleted", markup=False)
        self.refresh_list()
