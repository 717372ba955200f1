"""BibTeX and BibLaTeX (.bib): Zotero, JabRef, Mendeley and Better BibTeX exports, through bibtexparser 2.

@string macros are resolved, comments and @preamble ignored, LaTeX turned into Unicode (formats/common.py).
bibtexparser keeps going after a block it cannot parse; each such block is reported as malformed with its line.
"""

from __future__ import annotations

import logging

from assistant.ingest.formats.common import ParseResult, add_record, latex_to_text

# Where the venue is, by entry type: BibTeX's journal/booktitle, BibLaTeX's journaltitle/eventtitle; preprints
# (@misc, @online, @unpublished) name the server in publisher, howpublished or eprinttype.
_VENUE_FIELDS = ("journal", "journaltitle", "booktitle", "eventtitle", "series")
_PREPRINT_FIELDS = ("howpublished", "publisher", "eprinttype", "archiveprefix", "organization")
_PREPRINT_TYPES = {"misc", "online", "unpublished", "preprint", "techreport", "report", "electronic"}


def _field(entry, *names: str) -> str:
    fields = {k.lower(): f.value for k, f in entry.fields_dict.items()}
    for name in names:
        value = fields.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return ""


def _names(entry) -> list[str]:
    """'Last, First' for each author (or editor), from bibtexparser's split name parts."""
    field = next((f for k, f in entry.fields_dict.items() if k.lower() in ("author", "editor")), None)
    if field is None:
        return []
    out = []
    for parts in field.value if isinstance(field.value, list) else []:
        if isinstance(parts, str):  # a name the middleware could not split
            out.append(latex_to_text(parts))
            continue
        last = " ".join([*parts.von, *parts.last])
        first = " ".join([*parts.first, *parts.jr])
        name = f"{last}, {first}" if first else last
        out.append(latex_to_text(name))
    return out


def _arxiv(entry) -> str:
    prefix = _field(entry, "archiveprefix", "eprinttype").lower()
    eprint = _field(entry, "eprint")
    return eprint if eprint and (prefix == "arxiv" or not prefix) else ""


def parse_bibtex(text: str, source: str) -> ParseResult:
    import bibtexparser
    from bibtexparser import middlewares as mw

    # bibtexparser logs each failed block itself; they are reported in the file's summary instead.
    logging.getLogger("bibtexparser").setLevel(logging.CRITICAL)
    library = bibtexparser.parse_string(text, append_middleware=[mw.SeparateCoAuthors(), mw.SplitNameParts()])
    result = ParseResult(format="BibTeX")
    for block in library.failed_blocks:
        result.entries += 1
        first = (block.raw or "").strip().splitlines()[:1]
        what = "a duplicate citation key" if type(block).__name__ == "DuplicateBlockKeyBlock" else "cannot be parsed"
        result.malformed.append(f"line {(block.start_line or 0) + 1} ({first[0][:40] if first else ''}: {what})")
    for entry in library.entries:
        kind = entry.entry_type.lower()
        venue = _field(entry, *_VENUE_FIELDS)
        if not venue and kind in _PREPRINT_TYPES:
            venue = _field(entry, *_PREPRINT_FIELDS)
            if venue.lower() == "arxiv":
                venue = "arXiv"
        add_record(
            result,
            source,
            entry.key,
            title=latex_to_text(_field(entry, "title")),
            abstract=latex_to_text(_field(entry, "abstract")),
            authors=_names(entry),
            year=_field(entry, "year", "date"),
            venue=latex_to_text(venue) if venue else None,
            doi=_field(entry, "doi"),
            url=_field(entry, "url"),
            arxiv_id=_arxiv(entry),
        )
    return result
