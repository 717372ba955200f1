"""Plain-text and JSON renderings of an Answer for the CLI and batch reports (markup-free by design)."""

from __future__ import annotations

import json
from typing import Any

from assistant.answer.references import reference
from assistant.text import printable
from assistant.types import Answer


def paper_meta(answer: Answer, paper_id: str) -> dict[str, Any]:
    """The metadata of a cited paper, from the evidence it was retrieved with (empty for an older answer)."""
    return next((e.meta for e in answer.evidence if e.paper_id == paper_id and e.meta), {})


def references(answer: Answer) -> str:
    lines = []
    for c in answer.citations:
        lines.append(f"[{c.number}] {reference(c.title, paper_meta(answer, c.paper_id))}")
        if c.quote and c.quote not in answer.text:  # an extractive answer already quotes it
            lines.append(f'    "{c.quote}"')
    return printable("\n".join(lines))


def why_not(answer: Answer) -> str:
    """The one line that says why a question was not answered (empty when it was)."""
    return printable(f"Not answered: {answer.abstain_reason}") if answer.abstained and answer.abstain_reason else ""


def as_text(answer: Answer) -> str:
    parts = [printable(answer.text)]
    if why_not(answer):
        parts.append(why_not(answer))
    if answer.citations:
        parts += ["", "References:", references(answer)]
    return "\n".join(parts)


def as_json(answer: Answer, **extra) -> str:
    return json.dumps({**extra, **answer.to_dict()}, ensure_ascii=False)


def as_markdown(answer: Answer, heading: str | None = None) -> str:
    out = [f"## {heading or printable(answer.question)}", "", printable(answer.text), ""]
    for c in answer.citations:
        ref = reference(c.title, paper_meta(answer, c.paper_id))
        out.append(f"{c.number}. **{printable(ref)}** — “{printable(c.quote)}”")
    return "\n".join(out).rstrip() + "\n"
