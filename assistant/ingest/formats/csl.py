"""CSL-JSON (.json): the array of items Zotero, Mendeley and citation.js export ("Export Library -> CSL JSON").

Texts are plain Unicode here (CSL has no markup language of its own); only unmistakable LaTeX, as Zotero keeps it
in abstracts imported from arXiv, is decoded (formats/common.py markup_to_text).
"""

from __future__ import annotations

from typing import Any

from assistant.errors import CorpusError
from assistant.ingest.formats.common import ParseResult, add_record, markup_to_text

_PREPRINT_TYPES = {"article", "manuscript", "report", "post", "webpage"}


def _name(person: Any) -> str:
    if not isinstance(person, dict):
        return str(person) if isinstance(person, str) else ""
    if person.get("literal"):
        return str(person["literal"])
    family = " ".join(str(person[k]) for k in ("non-dropping-particle", "family") if person.get(k))
    given = " ".join(str(person[k]) for k in ("given", "suffix") if person.get(k))
    return f"{family}, {given}" if family and given else family or given


def _issued(item: dict) -> Any:
    issued = item.get("issued") or item.get("original-date") or {}
    if isinstance(issued, dict):
        return issued.get("date-parts") or issued.get("raw") or issued.get("literal")
    return issued


def _text(item: dict, *keys: str) -> str:
    for k in keys:
        v = item.get(k)
        if isinstance(v, (str, int)) and str(v).strip():
            return str(v)
    return ""


def parse_csl(data: Any, source: str) -> ParseResult:
    if not isinstance(data, list):
        raise CorpusError(f"{source}: a CSL-JSON file is an array of items")
    result = ParseResult(format="CSL-JSON")
    for n, item in enumerate(data, 1):
        if not isinstance(item, dict):
            result.entries += 1
            result.malformed.append(f"item {n} (not a JSON object)")
            continue
        venue = _text(item, "container-title", "event-title", "collection-title")
        if not venue and str(item.get("type", "")) in _PREPRINT_TYPES:
            venue = _text(item, "publisher")  # Zotero: a preprint's server ("arXiv") is its publisher
        number = _text(item, "number")
        authors = item.get("author")
        authors = authors if isinstance(authors, list) else []
        add_record(
            result,
            source,
            _text(item, "id", "citation-key") or f"item {n}",
            title=markup_to_text(_text(item, "title")),
            abstract=markup_to_text(_text(item, "abstract")),
            authors=[_name(a) for a in authors],
            year=_issued(item),
            venue=venue or None,
            doi=_text(item, "DOI", "doi"),
            url=_text(item, "URL", "url"),
            arxiv_id=number if number.lower().startswith("arxiv") else None,
        )
    return result
