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

| Key | Action | Key | Action |
|---|---|---|---|
| Enter | send the question | ↑ / ↓ | earlier questions |
| Esc | stop the answer (kept) | Tab | input ↔ sources list |
| Enter, 1-9 (sources) | open a paper | Ctrl+↑ / ↓ | earlier / later answer |
| PageUp / Down | scroll | Ctrl+N | new conversation |
| Ctrl+O | reopen a conversation | Ctrl+S | export to Markdown |
| Ctrl+Y | copy the last answer | Ctrl+T | light / dark |
| Ctrl+R | reload index and model | Ctrl+P | command palette |
| F1 or ? | this help | Ctrl+Q | quit |

A question is a follow-up when a fitted decision says it continues the previous answer's paper: it points back
("what data did they use?", "and on MATH?") or fits that paper better than any other; it is then answered from
that paper. "tell me more about [3]" means the third paper the last answer cited; "which of them ..." lists
among those papers. Literature questions ("what have papers found about X", "compare A and B", "does X always
help?") get grouped answers from several papers. A refusal says why under the answer.

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
