"""arXiv's metadata snapshot: one JSON object per line (`id`, `title`, `abstract`, `authors`, `authors_parsed`,
`categories`, `journal-ref`, `doi`, `versions`, `update_date`), as distributed in arxiv-metadata-oai-snapshot.json.

Titles and abstracts carry LaTeX (math, accents) and hard line breaks; both become plain text. The year is that
of the first version (the id's YYMM for new-style ids), not `update_date`, which moves with every revision.
"""

from __future__ import annotations

import json
import re
from typing import Any

from assistant.ingest.formats.common import ParseResult, add_record, latex_to_text

_NEW_ID = re.compile(r"^(\d{2})(\d{2})\.\d{4,5}")


def _authors(rec: dict) -> list[str]:
    parsed = rec.get("authors_parsed")
    if isinstance(parsed, list) and parsed:
        out = []
        for p in parsed:
            if isinstance(p, list) and p:
                last = str(p[0])
                first = " ".join(str(x) for x in p[1:] if x)
                out.append(latex_to_text(f"{last}, {first}" if first else last))
        return out
    flat = rec.get("authors")
    if isinstance(flat, str):
        return [latex_to_text(a) for a in re.split(r",\s*|\s+and\s+", flat) if a.strip()]
    return []


def _year(rec: dict) -> Any:
    versions = rec.get("versions")
    if isinstance(versions, list) and versions and isinstance(versions[0], dict) and versions[0].get("created"):
        return versions[0]["created"]
    m = _NEW_ID.match(str(rec.get("id", "")))
    if m:
        return 2000 + int(m.group(1))
    return rec.get("update_date")


def add_arxiv_record(result: ParseResult, rec: dict, source: str, label: str) -> None:
    aid = str(rec.get("id") or "").strip()
    add_record(
        result,
        source,
        f"arXiv:{aid}" if aid else label,
        title=latex_to_text(str(rec.get("title") or "")),
        abstract=latex_to_text(str(rec.get("abstract") or "")),
        authors=_authors(rec),
        year=_year(rec),
        venue=latex_to_text(str(rec["journal-ref"])) if rec.get("journal-ref") else "arXiv",
        doi=str(rec.get("doi") or "") or None,
        url=f"https://arxiv.org/abs/{aid}" if aid else None,
        arxiv_id=aid or None,
    )


def parse_arxiv_lines(text: str, source: str) -> ParseResult:
    result = ParseResult(format="arXiv metadata")
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            result.entries += 1
            result.malformed.append(f"line {lineno} (not JSON: {getattr(exc, 'msg', 'nested too deeply')})")
            continue
        if not isinstance(rec, dict):
            result.entries += 1
            result.malformed.append(f"line {lineno} (not a JSON object)")
            continue
        add_arxiv_record(result, rec, source, f"line {lineno}")
    return result
