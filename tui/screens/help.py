"""Key bindings and how the assistant works."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# Paper Assistant

Ask questions about the indexed research-paper abstracts. Answers cite their sources as **[n]**;
everything runs on this machine.

| Key | Action |
|---|---|
| Enter | send the question |
| ↑ / ↓ | earlier questions (in the input) |
| Esc | stop the answer being written (the partial answer is kept) |
| Tab / Shift+Tab | move between the input and the sources list |
| Enter or 1-9 (sources list) | open a paper: abstract, highlighted evidence, source files |
| Ctrl+↑ / Ctrl+↓ | select an earlier / later answer (the sources pane follows) |
| PageUp / PageDown | scroll the conversation |
| Ctrl+N | new conversation |
| Ctrl+O | reopen a saved conversation |
| Ctrl+S | export the conversation to Markdown (with references) |
| Ctrl+Y | copy the last answer |
| Ctrl+T | light / dark theme |
| Ctrl+R | reload the index and the model |
| Ctrl+P | command palette |
| F1 or ? | this help |
| Ctrl+Q | quit |

Follow-up questions ("what data did they use?") see the previous turn: the previous question is part of
the search and the papers it cited are preferred.

Conversations are saved in the data directory (`conversations/`, private to your user);
exports go to `exports/` there.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,f1", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog") as box:
            box.border_title = "Help"
            box.border_subtitle = "Esc close"
            yield Markdown(HELP, open_links=False)
