"""Chat transcript widgets: a question, and an answer that streams in as Markdown and then shows its references."""

from __future__ import annotations

from dataclasses import replace

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

from assistant.answer.render import comparison_markdown
from assistant.text import printable
from assistant.types import Answer

from ..safe import plain

STOPPED_EARLY = "*(stopped before the answer began)*"


def keep_partial(answer: Answer, streamed: str) -> Answer:
    """A stopped answer keeps the text the user saw stream in (citation checks may have rewritten it)."""
    if not answer.cancelled:
        return answer
    text = printable(streamed).strip()
    if not text:
        return replace(answer, text=STOPPED_EARLY, abstained=False, citations=[])
    cited = [c for c in answer.citations if f"[{c.number}]" in text]
    return replace(answer, text=text, abstained=False, citations=cited)


def answer_markdown(answer: Answer) -> str:
    """Markdown is not console markup, so model text is safe here once control characters are gone. A compare
    answer is shown as a table: one column per paper, one row per aspect, each cell the quoted sentence."""
    if answer.table is None or not answer.table.rows:
        return printable(answer.text)
    return "\n".join(comparison_markdown(answer.text, answer.table, answer.summary))


def meta_text(answer: Answer) -> Text:
    lines: list[Text] = []
    if answer.cancelled and answer.text != STOPPED_EARLY:
        lines.append(plain("Stopped: the partial answer is kept (its citations were not checked).", "italic"))
    elif answer.abstained:
        n = len(answer.evidence)
        lines.append(plain(f"Not answered from the abstracts; {n} retrieved paper(s) listed in Sources.", "italic"))
        if answer.abstain_reason:
            lines.append(plain(f"Why: {answer.abstain_reason}", "italic"))
    for c in answer.citations:
        line = plain(f"[{c.number}] ", "bold")
        line.append_text(plain(c.title))
        lines.append(line)
    return Text("\n").join(lines)


class QuestionMessage(Static):
    """A question in the transcript; `queued` while it waits for the answer being written (Esc cancels it)."""

    DEFAULT_CSS = """
    QuestionMessage.-queued {
        color: $text-muted;
        text-style: italic;
    }
    """

    def __init__(self, question: str, queued: bool = False) -> None:
        super().__init__(plain(question), classes="question")
        self.question = question
        self.set_queued(queued)

    def set_queued(self, queued: bool) -> None:
        self.set_class(queued, "-queued")
        self.border_title = "You · queued (Esc cancels)" if queued else "You"

    @property
    def queued(self) -> bool:
        return self.has_class("-queued")


class AnswerMessage(Vertical):
    """One answer. `add_token` streams raw tokens; `finish` replaces them with the verified answer."""

    class Selected(Message):
        def __init__(self, message: AnswerMessage) -> None:
            super().__init__()
            self.message = message

    def __init__(self, answer: Answer | None = None) -> None:
        super().__init__(classes="answer")
        self.answer = answer
        self._stream: MarkdownStream | None = None
        self.streamed = ""
        self.border_title = "Assistant"

    def compose(self) -> ComposeResult:
        yield Markdown(answer_markdown(self.answer) if self.answer else "", open_links=False)
        yield Static(meta_text(self.answer) if self.answer else plain("Retrieving…", "italic"), classes="meta")

    @property
    def meta(self) -> Static:
        return self.query_one(".meta", Static)

    async def add_token(self, piece: str) -> None:
        if self._stream is None:
            self._stream = Markdown.get_stream(self.query_one(Markdown))
            self.meta.update(plain("Writing… (Esc to stop)", "italic"))
        self.streamed += piece
        await self._stream.write(printable(piece))

    async def _stop_stream(self) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None

    async def finish(self, answer: Answer) -> None:
        await self._stop_stream()
        self.answer = answer
        await self.query_one(Markdown).update(answer_markdown(answer))
        self.meta.update(meta_text(answer))

    async def discard(self) -> None:
        await self._stop_stream()
        await self.remove()

    def on_click(self) -> None:
        self.post_message(self.Selected(self))
