"""A paper's details: the abstract with the supporting sentences highlighted, its metadata and source files."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from assistant.text import printable
from assistant.types import Evidence, Paper

from ..safe import plain

HIGHLIGHT = "bold reverse"


def highlighted_abstract(abstract: str, sentences: list[str]) -> Text:
    text = plain(abstract)
    for sentence in sentences:
        s = printable(sentence).strip()
        start = text.plain.find(s) if s else -1
        if start >= 0:
            text.stylize(HIGHLIGHT, start, start + len(s))
    return text


class PaperScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q", "dismiss", "Close"),
        Binding("c", "copy", "Copy abstract"),
    ]

    def __init__(self, evidence: Evidence, paper: Paper | None, quotes: list[str]):
        super().__init__()
        self.evidence = evidence
        self.paper = paper
        self.support = [*evidence.sentences, *quotes]

    def compose(self) -> ComposeResult:
        ev, paper = self.evidence, self.paper
        number = f"[{ev.number}] " if ev.number else ""
        meta = []
        if paper and paper.date:
            # Daily-Papers pages give "Jul 30" without a year: add the year when the metadata knows it.
            year = str(paper.year or "")
            meta.append(f"Date: {paper.date}{' ' + year if year and year not in paper.date else ''}")
        if paper and paper.authors:
            meta.append(f"Authors: {paper.authors}")
        if paper and (paper.year or paper.venue):
            meta.append(" · ".join(x for x in (paper.venue, str(paper.year or "")) if x))
        if paper and paper.doi:
            meta.append(f"DOI: {paper.doi}")
        if paper and paper.arxiv_id:
            meta.append(f"arXiv: {paper.arxiv_id}")
        if paper and paper.url:
            meta.append(f"URL: {paper.url}")
        meta.append(f"Closeness to the question: {ev.dense:.2f} in meaning (0 to 1) · paper id {ev.paper_id}")
        sources = list(paper.sources) if paper else ev.sources
        if paper is not None:
            body = highlighted_abstract(paper.abstract, self.support)
        else:
            body = highlighted_abstract(" ".join(ev.sentences), self.support)
            body = plain("(This paper is no longer in the index; the evidence sentences follow.)\n\n", "italic") + body
        with Vertical(id="paper-dialog") as dialog:
            dialog.border_title = "Paper"
            dialog.border_subtitle = "Esc close · c copy"
            yield Static(plain(number + (paper.title if paper else ev.title), "bold"), id="paper-title")
            yield Static(plain("\n".join(meta), "dim"), id="paper-meta")
            with VerticalScroll(id="paper-body"):
                yield Static(body, id="paper-abstract")
            legend = Text.assemble(plain("highlighted", HIGHLIGHT), plain(": the sentences that support the answer"))
            yield Static(legend, id="paper-legend")
            yield Static(plain("Source files: " + (", ".join(sources) or "unknown")), id="paper-sources")

    def on_mount(self) -> None:
        self.query_one("#paper-body").focus()

    def action_copy(self) -> None:
        text = self.paper.abstract if self.paper else " ".join(self.evidence.sentences)
        self.app.copy_to_clipboard(printable(text))
        self.notify("Copied the abstract to the clipboard", markup=False)
