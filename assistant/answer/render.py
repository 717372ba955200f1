"""Plain-text and JSON renderings of an Answer for the CLI and batch reports (markup-free by design)."""

from __future__ import annotations

import json

from assistant.text import printable
from assistant.types import Answer


def references(answer: Answer) -> str:
    lines = []
    for c in answer.citations:
        lines.append(f"[{c.number}] {c.title}")
        if c.quote and c.quote not in answer.text:  # an extractive answer already quotes it
            lines.append(f'    "{c.quote}"')
    return printable("\n".join(lines))


def as_text(answer: Answer) -> str:
    parts = [printable(answer.text)]
    if answer.citations:
        parts += ["", "References:", references(answer)]
    return "\n".join(parts)


def as_json(answer: Answer, **extra) -> str:
    return json.dumps({**extra, **answer.to_dict()}, ensure_ascii=False)


def as_markdown(answer: Answer, heading: str | None = None) -> str:
    out = [f"## {heading or printable(answer.question)}", "", printable(answer.text), ""]
    for c in answer.citations:
        out.append(f"{c.number}. **{printable(c.title)}** — “{printable(c.quote)}”")
    return "\n".join(out).rstrip() + "\n"
