"""BibTeX and BibLaTeX (.bib): Zotero, JabRef, Mendeley and Better BibTeX exports, through bibtexparser 2.

@string macros are resolved here (strings.py-like, below): concatenation (`a # " b"`) and macros that use other
macros, with the expanded size capped per field (MAX_FIELD) and per file (MAX_EXPANDED), so that a 1 MB @string
used 3,000 times costs a skipped entry with its reason, not gigabytes. Comments and @preamble are ignored, LaTeX
turned into Unicode (formats/common.py). bibtexparser keeps going after a block it cannot parse; each such block
is reported as malformed with its line.
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


MAX_FIELD = 256 * 1024  # characters of one field after its macros are expanded (an abstract is a few KB)
MAX_EXPANDED = 32 * 1024 * 1024  # characters that macro expansion may add over one file
MAX_DEPTH = 16  # macros that use macros


class ExpansionTooLarge(ValueError):
    pass


def _pieces(value: str) -> list[str]:
    """`a # "b" # {c}` -> ["a", '"b"', "{c}"]: split on # outside braces and quotes."""
    out, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(value):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(0, depth - 1)
        elif ch == '"' and depth == 0:
            quoted = not quoted
        elif ch == "#" and depth == 0 and not quoted:
            out.append(value[start:i].strip())
            start = i + 1
    out.append(value[start:].strip())
    return [p for p in out if p]


class _Strings:
    """@string macros, expanded on demand with the size caps; a macro's value is computed once."""

    def __init__(self, strings: dict[str, str]):
        self.raw = {k.lower(): v for k, v in strings.items()}
        self.done: dict[str, str] = {}
        self.failed: dict[str, str] = {}
        self.expanded = 0

    def value(self, raw: str, depth: int = 0) -> str:
        if depth > MAX_DEPTH:
            raise ExpansionTooLarge(f"@string macros nest more than {MAX_DEPTH} deep")
        parts = []
        size = 0
        for piece in _pieces(raw):
            if piece[:1] in '{"' and len(piece) >= 2:
                text = piece[1:-1]
            elif piece.lower() in self.raw:
                text = self.macro(piece.lower(), depth + 1)
                self.expanded += len(text)
                if self.expanded > MAX_EXPANDED:
                    raise ExpansionTooLarge(f"@string expansion over {MAX_EXPANDED // (1024 * 1024)} MB in this file")
            else:
                text = piece  # a number, a month name or an undefined macro: as written
            size += len(text)
            if size > MAX_FIELD:
                raise ExpansionTooLarge(f"a field over {MAX_FIELD // 1024} KB once its @string macros are expanded")
            parts.append(text)
        return "".join(parts)

    def macro(self, key: str, depth: int) -> str:
        if key in self.failed:  # known too large: not expanded again for every entry that uses it
            raise ExpansionTooLarge(self.failed[key])
        if key not in self.done:
            try:
                self.done[key] = self.value(self.raw[key], depth)
            except ExpansionTooLarge as exc:
                self.failed[key] = str(exc)
                raise
        return self.done[key]


def parse_bibtex(text: str, source: str) -> ParseResult:
    import bibtexparser
    from bibtexparser import middlewares as mw

    # bibtexparser logs each failed block itself; they are reported in the file's summary instead.
    logging.getLogger("bibtexparser").setLevel(logging.CRITICAL)
    # Parsed raw (no middleware): the macros are expanded here with their caps, then names are split.
    library = bibtexparser.parse_string(text, parse_stack=[])
    strings = _Strings({s.key: s.value for s in library.strings})
    result = ParseResult(format="BibTeX")
    for entry in list(library.entries):
        try:
            for f in entry.fields:
                f.value = strings.value(f.value) if isinstance(f.value, str) else f.value
        except ExpansionTooLarge as exc:
            library.remove(entry)
            result.entries += 1
            result.malformed.append(f"line {(entry.start_line or 0) + 1} ({entry.key[:40]}: {exc})")
    library = mw.SplitNameParts().transform(mw.SeparateCoAuthors().transform(library))
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
