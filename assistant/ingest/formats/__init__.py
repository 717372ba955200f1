"""Readers for the files researchers keep their libraries in: BibTeX/BibLaTeX (.bib), RIS (.ris), CSL-JSON (the
array Zotero exports, .json) and arXiv's metadata snapshot (one JSON object per line, .json/.jsonl).

Each reader turns a file into a ParseResult: the papers, and per file how many entries it held and which were
skipped (no abstract, no title, malformed). One bad entry is reported and skipped; it never loses the file.
"""

from __future__ import annotations

import json

from assistant.errors import CorpusError
from assistant.ingest.formats.common import ParseResult

REFERENCE_SUFFIXES = {".bib", ".bibtex", ".ris", ".json"}


def is_arxiv_record(rec: object) -> bool:
    """An object of arXiv's metadata snapshot: an id, and fields only that snapshot has."""
    return isinstance(rec, dict) and "id" in rec and ("authors_parsed" in rec or "update_date" in rec)


def parse_reference(suffix: str, text: str, source: str) -> ParseResult:
    if suffix in (".bib", ".bibtex"):
        from assistant.ingest.formats.bibtex import parse_bibtex

        return parse_bibtex(text, source)
    if suffix == ".ris":
        from assistant.ingest.formats.ris import parse_ris

        return parse_ris(text, source)
    return parse_json(text, source)


def parse_json(text: str, source: str) -> ParseResult:
    """A .json file: a CSL-JSON array (Zotero, Mendeley), or JSON lines (arXiv's snapshot is named .json)."""
    from assistant.ingest.formats.arxiv import parse_arxiv_lines
    from assistant.ingest.formats.csl import parse_csl

    head = text.lstrip()[:1]
    if head == "[":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
        except RecursionError as exc:
            raise CorpusError(f"{source}: JSON nested too deeply to read") from exc
        return parse_csl(data, source)
    if head == "{":
        return parse_arxiv_lines(text, source)
    raise CorpusError(f"{source}: neither a CSL-JSON array nor JSON lines of arXiv metadata")


__all__ = ["REFERENCE_SUFFIXES", "ParseResult", "is_arxiv_record", "parse_reference"]
