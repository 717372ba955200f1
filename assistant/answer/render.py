"""Plain-text and JSON renderings of an Answer for the CLI and batch reports (markup-free by design)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from assistant.answer.references import reference
from assistant.text import printable
from assistant.types import Answer, Comparison


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


def _cell(text: str) -> str:
    """A table cell's text on one line, its pipes escaped so that it cannot end the cell."""
    return " ".join(printable(text).replace("|", "\\|").split())


def comparison_table(table: Comparison | dict, escape: Callable[[str], str] = _cell) -> list[str]:
    """A compare answer's table as Markdown: one column per paper, one row per aspect, each cell the quoted
    sentence, and what sets each paper apart. `table` is the Comparison or its JSON form (batch records);
    `escape` makes each cell safe for where it goes."""
    t: dict[str, Any] = (
        table if isinstance(table, dict) else {"aspects": table.aspects, "rows": table.rows, "differs": table.differs}
    )
    rows = [(int(n), str(title), [str(c) for c in cells]) for n, title, cells in t["rows"]]
    lines = [
        "| | " + " | ".join(f"\\[{n}\\] {escape(title.split(':')[0])}" for n, title, _ in rows) + " |",
        "|---" * (len(rows) + 1) + "|",
    ]
    for a, aspect in enumerate(t["aspects"]):
        lines.append(f"| **{escape(aspect)}** | " + " | ".join(escape(cells[a]) or "—" for _, _, cells in rows) + " |")
    if t.get("differs"):
        lines.append("| **sets it apart** | " + " | ".join(escape(str(d)) for d in t["differs"]) + " |")
    return lines


def comparison_markdown(
    text: str,
    table: Comparison | dict,
    summary: str = "",
    line: Callable[[str], str] = printable,
    cell: Callable[[str], str] = _cell,
) -> list[str]:
    """A compare answer as Markdown, wherever it is shown (chat app, chat export, batch report): its lead line, the
    model's verified overview if there is one, then the table in place of the per-aspect lists. `line` and `cell`
    make the text safe for where it goes."""
    lead = text.splitlines()[0] if text else ""
    return [line(lead), "", *([line(summary), ""] if summary else []), *comparison_table(table, cell)]


def as_json(answer: Answer, **extra) -> str:
    return json.dumps({**extra, **answer.to_dict()}, ensure_ascii=False)


def as_markdown(answer: Answer, heading: str | None = None) -> str:
    body = printable(answer.text)
    if answer.table is not None and answer.table.rows:
        body = "\n".join(comparison_markdown(answer.text, answer.table, answer.summary))
    out = [f"## {heading or printable(answer.question)}", "", body, ""]
    for c in answer.citations:
        ref = reference(c.title, paper_meta(answer, c.paper_id))
        out.append(f"{c.number}. **{printable(ref)}** — “{printable(c.quote)}”")
    return "\n".join(out).rstrip() + "\n"
