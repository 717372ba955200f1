"""Answer texts built from checked parts: a short answer stated first, the supporting sentence quoted and cited;
for list questions one line per fitting paper. Nothing here is generated, so nothing here needs verifying."""

from __future__ import annotations

import re

from assistant.retrieve.question import Question
from assistant.text import terms
from assistant.types import Citation, Evidence

_MARKER = re.compile(r"\[\s*(?:sources?\s*)?\d+(?:\s*[,;-]\s*\d+)*\s*\]", re.I)
MAX_PHRASE_WORDS = 20


def _unmarked(quote: str) -> str:
    """A quoted sentence without its own bracketed numbers: "[7]" inside a quote would read as one of our
    citations, yet points into a bibliography the user cannot see (or was planted to mislead)."""
    return re.sub(r"\s+([.,;:])", r"\1", " ".join(_MARKER.sub("", quote).split()))


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def single(lead: str | None, quotes: list[str], ev: Evidence, verdict: str | None = None) -> tuple[str, list[Citation]]:
    """The verdict of a yes/no question first ("Yes.", "No.", "The abstracts do not settle it."), then `lead`
    when there is one, then the supporting sentence(s) of one paper, quoted and cited."""
    n = ev.number
    quoted = " … ".join(f'"{_unmarked(q)}"' for q in quotes)
    cite = [Citation(n, ev.paper_id, ev.title, quotes[0], 1.0)]  # the primary quote: highlighted in the app
    if verdict:
        head = f"{verdict} " + (f"{_cap(lead).rstrip(' .')} [{n}]." if lead else "")
        return f"{head.rstrip()}\n{quoted} [{n}]", cite
    if lead:
        return f"{_cap(lead).rstrip(' .')} [{n}].\n{quoted} [{n}]", cite
    return f"According to [{n}]: {quoted}", cite


def listing(items: list[tuple[Evidence, str]]) -> tuple[str, list[Citation]]:
    head = "1 indexed paper fits:" if len(items) == 1 else f"{len(items)} indexed papers fit:"
    lines = [head]
    cites = []
    for ev, quote in items:
        lines.append(f'- {ev.title} [{ev.number}]: "{_unmarked(quote)}"')
        cites.append(Citation(ev.number, ev.paper_id, ev.title, quote, 1.0))
    return "\n".join(lines), cites


def checked_phrase(raw: str, sentence: str, q: Question) -> str | None:
    """The model's short answer, kept only when it is a span of the supporting sentence that says something
    the question did not (a copy of the question's own words answers nothing), and is shorter than the
    sentence itself."""
    text = _MARKER.sub("", raw).strip().splitlines()[0] if raw.strip() else ""
    text = text.strip(" \"'“”`*.:;,")
    for prefix in ("answer:", "the answer is", "a:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :].strip(" \"'“”:")
    if not text or len(text.split()) > MAX_PHRASE_WORDS:
        return None
    if " ".join(text.lower().split()) not in " ".join(sentence.lower().split()):
        return None
    new = set(terms(text)) - set(q.topic) - set(q.name_terms)
    if not new:
        return None
    if len(text) >= 0.8 * len(sentence):
        return None
    return text
