"""Parse corpus files (Daily-Papers pages, JSONL, CSV) into `Paper`s with stable, content-derived ids."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import CorpusError
from assistant.text import one_spaced_line
from assistant.types import Paper

log = logging.getLogger(__name__)

CORPUS_SUFFIXES = {".txt", ".md", ".jsonl", ".csv"}
MAX_FILE_BYTES = 200 * 1024 * 1024
_DATE = re.compile(r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{1,2}(, \d{4})?$")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]?(\s|$)")


@dataclass
class ParseResult:
    papers: list[Paper] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def normalise_title(title: str) -> str:
    t = unicodedata.normalize("NFKC", title).casefold()
    return " ".join(re.sub(r"[^\w\s]", " ", t).split())


def paper_id(title: str) -> str:
    """Stable id from the normalised title: the same paper in two files gets one id."""
    return hashlib.sha1(normalise_title(title).encode()).hexdigest()[:16]


def clean_text(text: str) -> str:
    # Control characters (ANSI escapes, NULs) never reach the index or the terminal.
    return one_spaced_line(unicodedata.normalize("NFC", text))


def read_text(path: Path) -> str:
    """Read a corpus file as UTF-8 (BOM allowed) or fail with a one-line reason."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file or directory") from None
    if size == 0:
        raise CorpusError(f"{path}: file is empty")
    if size > MAX_FILE_BYTES:
        raise CorpusError(f"{path}: file is {size // 2**20} MB, over the {MAX_FILE_BYTES // 2**20} MB limit")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror})") from None
    if b"\x00" in raw[:8192]:
        raise CorpusError(f"{path}: binary file, not a text corpus")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None
    if not text.strip():
        raise CorpusError(f"{path}: file holds only whitespace")
    return text


def _looks_like_abstract(line: str) -> bool:
    if len(line) >= 250:
        return True
    # A short abstract still reads as prose: several sentences.
    return len(line) >= 100 and len(_SENTENCE_END.findall(line)) >= 2


def parse_page(text: str, source: str) -> ParseResult:
    """A Daily-Papers page: header lines, then alternating title / abstract lines."""
    lines = [clean_text(l) for l in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = [l for l in lines if l]
    result = ParseResult()
    date = next((l for l in lines[:12] if _DATE.match(l)), None)
    seen_pair = False
    pending: list[tuple[int, str]] = []  # title-like lines not yet matched with an abstract
    for lineno, line in enumerate(lines, 1):
        if _looks_like_abstract(line):
            if not pending:
                result.warnings.append(f"{source}: abstract with no title before it (line {lineno}), skipped")
                continue
            title = pending.pop()[1]
            if seen_pair:
                for _, orphan in pending:
                    result.warnings.append(f"{source}: title without abstract, skipped: {orphan[:80]!r}")
            pending.clear()
            seen_pair = True
            result.papers.append(Paper(paper_id(title), title, line, (source,), date))
        else:
            pending.append((lineno, line))
    if seen_pair:
        for _, orphan in pending:
            result.warnings.append(f"{source}: title without abstract, skipped: {orphan[:80]!r}")
    return result


def _record_to_paper(rec: dict, source: str, where: str, result: ParseResult) -> None:
    norm = {str(k).strip().lower(): v for k, v in rec.items() if k is not None}
    title = clean_text(str(norm.get("title") or ""))
    abstract = clean_text(str(norm.get("abstract") or ""))
    if not title or not abstract:
        result.warnings.append(f"{source}: {where} has no {'title' if not title else 'abstract'}, skipped")
        return
    extra = {k: clean_text(str(norm[k])) or None for k in ("url", "authors", "date") if norm.get(k)}
    if isinstance(norm.get("authors"), list):
        extra["authors"] = ", ".join(map(str, norm["authors"]))
    result.papers.append(Paper(paper_id(title), title, abstract, (source,), **extra))


def parse_jsonl(text: str, source: str) -> ParseResult:
    result = ParseResult()
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{source}: line {lineno} is not valid JSON ({exc.msg})") from None
        if not isinstance(rec, dict):
            raise CorpusError(f"{source}: line {lineno} is not a JSON object")
        _record_to_paper(rec, source, f"line {lineno}", result)
    return result


def parse_csv(text: str, source: str) -> ParseResult:
    result = ParseResult()
    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip().lower() for f in reader.fieldnames or []}
    if not {"title", "abstract"} <= fields:
        raise CorpusError(
            f"{source}: CSV needs 'title' and 'abstract' columns (found: {', '.join(sorted(fields)) or 'none'})"
        )
    try:
        for rowno, row in enumerate(reader, 2):
            _record_to_paper(row, source, f"row {rowno}", result)
    except csv.Error as exc:
        raise CorpusError(f"{source}: malformed CSV ({exc})") from None
    return result


def parse_file(path: Path) -> ParseResult:
    text = read_text(path)
    source = path.name
    suffix = path.suffix.lower()
    parser = {".jsonl": parse_jsonl, ".csv": parse_csv}.get(suffix, parse_page)
    result = parser(text, source)
    if not result.papers:
        raise CorpusError(f"{path}: no title/abstract pairs found")
    return result


def discover(paths: list[Path]) -> list[Path]:
    """Expand directories into their corpus files (sorted, so ingest order is stable)."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in CORPUS_SUFFIXES)
            if not found:
                raise CorpusError(f"{p}: no corpus files (*.txt, *.md, *.jsonl, *.csv) in this directory")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise CorpusError(f"{p}: no such file or directory")
    names = [f.name for f in files]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise CorpusError(f"two corpus files share the name {sorted(dupes)[0]!r}; sources are tracked by file name")
    return files


def merge(results: list[ParseResult]) -> list[Paper]:
    """One Paper per id; sources accumulate; the longest abstract wins (a later, fuller version)."""
    by_id: dict[str, Paper] = {}
    for res in results:
        for p in res.papers:
            old = by_id.get(p.id)
            if old is None:
                by_id[p.id] = p
                continue
            sources = tuple(dict.fromkeys(old.sources + p.sources))
            keep = p if len(p.abstract) > len(old.abstract) else old
            by_id[p.id] = Paper(
                keep.id,
                keep.title,
                keep.abstract,
                sources,
                old.date or p.date,
                old.url or p.url,
                old.authors or p.authors,
            )
    return list(by_id.values())


def load_corpus(paths: list[Path]) -> tuple[list[Paper], list[str]]:
    results = [parse_file(f) for f in discover(paths)]
    warnings = [w for r in results for w in r.warnings]
    for w in warnings:
        log.warning(w)
    return merge(results), warnings
