"""What every reader shares: the parse result with its per-file counts, LaTeX to Unicode, and record -> Paper."""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field

from assistant.ingest.identity import paper_id
from assistant.ingest.metadata import normalise_arxiv, normalise_doi, year_of
from assistant.text import one_spaced_line, printable
from assistant.types import Paper

log = logging.getLogger(__name__)
_UNESCAPED_PERCENT = re.compile(r"(?<!\\)%")
_LATEX_HINT = re.compile(r"[\\{}$~]|``|''|--")
# In formats whose text is plain Unicode (RIS, CSL-JSON), only unmistakable markup is decoded: an abstract Zotero
# imported from arXiv keeps "\\textbf{...}" or "$\\alpha$", while "50% of $5" must stay as written.
_CLEAR_LATEX = re.compile(r"\\[A-Za-z]+\s*\{|\$[^$]*[\\^_][^$]*\$")
EXAMPLES = 3  # skipped entries named in the summary line


@dataclass
class ParseResult:
    papers: list[Paper] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    format: str = ""  # "BibTeX", "RIS", "CSL-JSON", "arXiv metadata"; empty for pages, JSONL and CSV
    entries: int = 0  # records the file held (papers + skipped)
    no_abstract: list[str] = field(default_factory=list)  # labels (citation key or title) of records skipped
    no_title: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)  # "line N: reason"

    def skips(self) -> list[str]:
        """'1 without an abstract, skipped: vaswani_attention_2017', one per kind of skipped record."""
        out = []
        for what, labels in (
            ("without an abstract", self.no_abstract),
            ("without a title", self.no_title),
            ("malformed", self.malformed),
        ):
            if labels:
                more = f" and {len(labels) - EXAMPLES:,} more" if len(labels) > EXAMPLES else ""
                out.append(f"{len(labels):,} {what}, skipped: {', '.join(labels[:EXAMPLES])}{more}")
        return out

    def counts(self, source: str) -> dict:
        """What the ingest summary says about this file (IngestReport.file_lines adds the merges)."""
        return {
            "source": source,
            "format": self.format,
            "entries": self.entries,
            "papers": len(self.papers),
            "skips": self.skips(),
        }

    def summary(self, source: str) -> str:
        """'library.bib (BibTeX): 9 entries, 8 papers; 1 without an abstract, skipped: vaswani_attention_2017'."""
        head = f"{source} ({self.format}): {self.entries:,} entries, {len(self.papers):,} papers"
        return "; ".join([head, *self.skips()])


def clean(text: str) -> str:
    # Control characters (ANSI escapes, NULs) never reach the index or the terminal.
    return one_spaced_line(unicodedata.normalize("NFC", text))


_converter = None
_PLAIN_MARKUP = (("---", "—"), ("--", "–"), ("``", "“"), ("''", "”"), ("~", " "), ("{", ""), ("}", ""))


def markup_to_text(text: str) -> str:
    """Plain text, unless it holds clear LaTeX markup (see _CLEAR_LATEX): then as latex_to_text."""
    return latex_to_text(text) if _CLEAR_LATEX.search(text) else clean(text)


def latex_to_text(text: str) -> str:
    """LaTeX markup as Unicode text: accents ({\\"o} -> ö), braces, \\emph{}, ``quotes'', dashes, simple math
    ($\\alpha$ -> α). A bare % is text here: exports write \\% for it, and taking it for a LaTeX comment would drop
    the rest of the line. Text without any markup is returned as it is."""
    global _converter
    # Our own BibTeX export spells braces so (answer/references.py); pylatexenc knows them as \{ and \}.
    text = text.replace("\\textbraceleft", "\\{").replace("\\textbraceright", "\\}")
    if not _LATEX_HINT.search(text):
        return clean(text)
    if "\\" not in text and "$" not in text:
        # No macro and no math: braces, dashes, quotes and ~ only. Done by hand, since the parser costs 5 ms
        # an abstract (250 s over 50,000 of arXiv's) for what these replacements do in microseconds.
        for old, new in _PLAIN_MARKUP:
            text = text.replace(old, new)
        return clean(text)
    pieces = _top_level_sentences(text)
    if len(pieces) > 1:
        # The parser costs ~13 ms per abstract, ~1 µs a character whatever the markup: only the sentences
        # holding markup go through it (one in ten arXiv abstracts carries some, mostly in one sentence).
        return " ".join(filter(None, (latex_to_text(piece) for piece in pieces)))
    if _converter is None:
        from pylatexenc.latex2text import LatexNodes2Text

        logging.getLogger("pylatexenc").setLevel(logging.ERROR)  # it logs every unknown macro
        _converter = LatexNodes2Text(math_mode="text", strict_latex_spaces="macros")
    try:
        return clean(_converter.latex_to_text(_UNESCAPED_PERCENT.sub(r"\\%", text)))
    except Exception as exc:  # noqa: BLE001 - pylatexenc is tolerant, but a text it cannot read stays as it was
        log.debug("LaTeX left as is (%s: %s)", type(exc).__name__, exc)
        return clean(text)


_SENTENCE_GAP = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
# Markup that may span sentences (environments, display math, line breaks): such text is converted whole.
_SPANNING = re.compile(r"\\begin|\\\[|\\\(|\$\$|\\\\")
_BRACE_OR_DOLLAR = re.compile(r"\\.|[{}$]", re.S)


def _top_level_sentences(text: str) -> list[str]:
    """`text` cut at sentence ends that lie outside braces and math (`$...$`); one piece when it cannot be cut."""
    if len(text) < 160 or _SPANNING.search(text):
        return [text]
    depth, math, last, pieces = 0, False, 0, []
    marks = [(m.start(), m.group()) for m in _BRACE_OR_DOLLAR.finditer(text)]
    k = 0
    for gap in _SENTENCE_GAP.finditer(text):
        while k < len(marks) and marks[k][0] < gap.start():
            mark = marks[k][1]
            if mark == "{":
                depth += 1
            elif mark == "}":
                depth -= 1
            elif mark == "$":
                math = not math
            k += 1
        if depth == 0 and not math:
            pieces.append(text[last : gap.start()])
            last = gap.end()
    pieces.append(text[last:])
    return pieces


def add_record(
    result: ParseResult,
    source: str,
    label: str,
    *,
    title: str,
    abstract: str,
    authors: list[str] = (),  # type: ignore[assignment]
    year: object = None,
    venue: str | None = None,
    doi: str | None = None,
    url: str | None = None,
    arxiv_id: str | None = None,
    date: str | None = None,
) -> None:
    """Count one record and keep it as a Paper when it has a title and an abstract (texts already decoded)."""
    result.entries += 1
    title, abstract = clean(title), clean(abstract)
    if not title:
        result.no_title.append(label)
        return
    if not abstract:
        result.no_abstract.append(label)
        return
    names = [clean(a) for a in authors if clean(a)]
    good_doi = normalise_doi(doi)
    if doi and doi.strip() and good_doi is None:
        # Kept without it rather than skipped: the paper is fine, its DOI is not one (or would break a .bib file).
        result.warnings.append(f"{source}: {label}: DOI {printable(doi)[:60]!r} is not a valid DOI, left out")
    result.papers.append(
        Paper(
            paper_id(title),
            title,
            abstract,
            (source,),
            date=clean(date) if date else None,
            url=clean(url) if url else None,
            authors="; ".join(names) or None,
            year=year_of(year),
            venue=clean(venue) if venue and clean(venue) else None,
            doi=good_doi,
            arxiv_id=normalise_arxiv(arxiv_id) or normalise_arxiv(url) or normalise_arxiv(doi),
        )
    )
