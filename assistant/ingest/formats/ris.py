"""RIS (.ris): EndNote, Zotero, Mendeley and publisher exports, through rispy.

Each record (up to its `ER  -` line) is read on its own, so one that rispy cannot read, or that lacks its `TY  -`
line, is reported as malformed and the rest of the file is still indexed.
"""

from __future__ import annotations

import re

from assistant.ingest.formats.common import ParseResult, add_record, markup_to_text

_END = re.compile(r"^ER  -.*$", re.MULTILINE)
_TAG = re.compile(r"^[A-Z][A-Z0-9]  -", re.MULTILINE)
_BOUNDARY = re.compile(r"^(?:ER  -.*|TY  -)", re.MULTILINE)


def _first(rec: dict, *keys: str) -> str:
    for k in keys:
        v = rec.get(k)
        if isinstance(v, list):
            v = next((x for x in v if isinstance(x, str) and x.strip()), "")
        if isinstance(v, str) and v.strip():
            return v
    return ""


def parse_ris(text: str, source: str) -> ParseResult:
    import rispy

    result = ParseResult(format="RIS")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # A record ends at its ER line, or where the next record's TY line starts: a record that lost its ER line
    # would otherwise swallow the next one (counted 2 of 3, silently).
    spans: list[tuple[int, int]] = []
    start = 0
    open_record = False
    for m in _BOUNDARY.finditer(text):
        if m.group().startswith("ER"):
            spans.append((start, m.end()))
            start, open_record = m.end() + 1, False
        elif open_record:
            spans.append((start, m.start()))
            result.warnings.append(
                f"{source}: line {text.count(chr(10), 0, m.start()) + 1}: the record before has no 'ER  -' line; "
                "read up to this 'TY  -'"
            )
            start = m.start()
        else:
            open_record = True
    if text[start:].strip():  # a last record without its ER line
        spans.append((start, len(text)))
    pos, lineno = 0, 1
    for begin, end in spans:
        tag = _TAG.search(text, begin, end)
        if tag is None:
            continue  # blank lines and stray text between records
        lineno += text.count("\n", pos, tag.start())
        pos = tag.start()
        body = text[tag.start() : end]
        if not _END.search(body):
            body += "\nER  - \n"
        try:
            records = rispy.loads(body)
        except Exception as exc:  # noqa: BLE001 - rispy raises bare exceptions for damaged records
            result.entries += 1
            result.malformed.append(f"line {lineno} ({type(exc).__name__}: {str(exc)[:60]})")
            continue
        if not records:
            result.entries += 1
            result.malformed.append(f"line {lineno} (no 'TY  -' line starts the record)")
            continue
        for rec in records:
            title = markup_to_text(_first(rec, "title", "primary_title", "short_title"))
            add_record(
                result,
                source,
                f"line {lineno}" if not title else repr(title[:60]),
                title=title,
                abstract=markup_to_text(_first(rec, "abstract", "notes_abstract")),
                authors=[a for a in (rec.get("authors") or rec.get("first_authors") or []) if isinstance(a, str)],
                year=_first(rec, "year", "publication_year", "date"),
                # Zotero writes the journal or proceedings as T2; others use JO, JF or J2.
                venue=_first(rec, "secondary_title", "journal_name", "alternate_title3", "alternate_title1")
                or ("arXiv" if _first(rec, "publisher").lower() == "arxiv" else None),
                doi=_first(rec, "doi"),
                url=_first(rec, "urls", "url"),
            )
    return result
