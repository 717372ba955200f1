"""Find and parse corpus files (Daily-Papers pages, JSONL, CSV, and the reference formats of ingest/formats/:
BibTeX, RIS, CSL-JSON, arXiv metadata) into `Paper`s with stable, content-derived ids."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import CorpusError
from assistant.ingest.formats import REFERENCE_SUFFIXES, is_arxiv_record, parse_reference
from assistant.ingest.formats.common import ParseResult, markup_to_text
from assistant.ingest.identity import MergeNote, merge, normalise_title, paper_id
from assistant.ingest.metadata import normalise_arxiv, normalise_doi, year_of
from assistant.text import one_spaced_line
from assistant.types import Paper

log = logging.getLogger(__name__)

CORPUS_SUFFIXES = {".txt", ".md", ".jsonl", ".csv", *REFERENCE_SUFFIXES}
MAX_FILE_BYTES = 200 * 1024 * 1024
_DATE = re.compile(r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{1,2}(, \d{4})?$")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]?(\s|$)")


def clean_text(text: str) -> str:
    # Control characters (ANSI escapes, NULs) never reach the index or the terminal.
    return one_spaced_line(unicodedata.normalize("NFC", text))


def read_text(path: Path) -> str:
    """Read a corpus file as UTF-8 (BOM allowed) or fail with a one-line reason."""
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise CorpusError(f"{path}: no such file or directory") from exc
    if size == 0:
        raise CorpusError(f"{path}: file is empty")
    if size > MAX_FILE_BYTES:
        raise CorpusError(f"{path}: file is {size // 2**20} MB, over the {MAX_FILE_BYTES // 2**20} MB limit")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror})") from exc
    if b"\x00" in raw[:8192]:
        raise CorpusError(f"{path}: binary file, not a text corpus")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from exc
    if not text.strip():
        raise CorpusError(f"{path}: file holds only whitespace")
    return text


def _looks_like_abstract(line: str) -> bool:
    if len(line) >= 250:
        return True
    # A short abstract still reads as prose: several sentences.
    return len(line) >= 100 and len(_SENTENCE_END.findall(line)) >= 2


_SENTENCE_GAP = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def _decode_clear_latex(abstract: str) -> str:
    """Decode LaTeX sentence by sentence, and only where it is unmistakable (formats/common.py _CLEAR_LATEX): in
    the other sentences of a page "~2x" means about twice and "$5 million" is money, not markup."""
    return " ".join(markup_to_text(s) for s in _SENTENCE_GAP.split(abstract))


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
            # Daily-Papers text keeps arXiv's LaTeX ("Lion (Evo\\textbf{Lved Sign Momentum})"): clear markup is
            # decoded in the abstract; the title, which the paper's id is made from, stays as written.
            result.papers.append(Paper(paper_id(title), title, _decode_clear_latex(line), (source,), date))
        else:
            pending.append((lineno, line))
    if seen_pair:
        for _, orphan in pending:
            result.warnings.append(f"{source}: title without abstract, skipped: {orphan[:80]!r}")
    return result


def _record_to_paper(rec: dict, source: str, where: str, result: ParseResult) -> None:
    norm = {str(k).strip().lower(): v for k, v in rec.items() if k is not None}
    title = clean_text(str(norm.get("title") or ""))
    # A JSONL/CSV record is the user's own text: shown as written (arXiv's JSON lines are decoded by their parser).
    abstract = clean_text(str(norm.get("abstract") or ""))
    if not title or not abstract:
        result.warnings.append(f"{source}: {where} has no {'title' if not title else 'abstract'}, skipped")
        return
    extra: dict = {k: clean_text(str(norm[k])) or None for k in ("url", "authors", "date", "venue") if norm.get(k)}
    if isinstance(norm.get("authors"), list):
        extra["authors"] = "; ".join(clean_text(str(a)) for a in norm["authors"])  # names may hold commas
    extra["year"] = year_of(norm.get("year")) or year_of(norm.get("date"))
    extra["doi"] = normalise_doi(str(norm.get("doi") or ""))
    extra["arxiv_id"] = normalise_arxiv(str(norm.get("arxiv_id") or norm.get("arxiv") or "")) or normalise_arxiv(
        extra.get("url")
    )
    result.papers.append(Paper(paper_id(title), title, abstract, (source,), **extra))


def _arxiv_lines(text: str) -> bool:
    """Whether JSON lines are arXiv's metadata snapshot (judged by the first record)."""
    first = next((l for l in text.splitlines() if l.strip()), "")
    try:
        return is_arxiv_record(json.loads(first))
    except (ValueError, RecursionError):
        return False


def parse_jsonl(text: str, source: str) -> ParseResult:
    if _arxiv_lines(text):
        from assistant.ingest.formats.arxiv import parse_arxiv_lines

        return parse_arxiv_lines(text, source)
    result = ParseResult()
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{source}: line {lineno} is not valid JSON ({exc.msg})") from exc
        except RecursionError as exc:  # 200,000 `[`: a CorpusError, so a folder ingest skips just this file
            raise CorpusError(f"{source}: line {lineno} is JSON nested too deeply to read") from exc
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
        raise CorpusError(f"{source}: malformed CSV ({exc})") from exc
    return result


def parse_file(path: Path, source: str | None = None) -> ParseResult:
    text = read_text(path)
    source = source or path.name
    suffix = path.suffix.lower()
    if suffix == ".json" and text.lstrip()[:1] == "{" and not _arxiv_lines(text):
        suffix = ".jsonl"  # JSON lines of {title, abstract, ...} named .json
    if suffix in REFERENCE_SUFFIXES:
        result = parse_reference(suffix, text, source)
        if not result.papers:
            raise CorpusError(f"{path}: no entry with a title and an abstract ({result.summary(source)})")
        return result
    parser = {".jsonl": parse_jsonl, ".csv": parse_csv}.get(suffix, parse_page)
    result = parser(text, source)
    if not result.papers:
        raise CorpusError(f"{path}: no title/abstract pairs found")
    return result


@dataclass(frozen=True)
class CorpusFile:
    path: Path
    source: str  # the name sources are tracked by: the file name, or its path below the folder given
    named: bool  # given on the command line (must parse) rather than found in a folder (may be skipped)


def _walk(root: Path, problems: list[str]) -> list[CorpusFile]:
    """Corpus files under `root`, subfolders included, sorted. Symlinked folders are followed once: a folder seen
    before (by device and inode) is not entered again, so a link loop ends. Hidden entries are skipped."""
    found: list[CorpusFile] = []
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()

    def onerror(exc: OSError) -> None:
        problems.append(f"{exc.filename}: cannot read this folder ({exc.strerror or exc})")

    for folder, dirs, files in os.walk(root, followlinks=True, onerror=onerror):
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen_dirs:
            dirs[:] = []  # a symlink back to a folder already walked
            continue
        seen_dirs.add((st.st_dev, st.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if name.startswith(".") or path.suffix.lower() not in CORPUS_SUFFIXES:
                continue
            try:
                fst = path.stat()
            except OSError:  # a dangling symlink
                problems.append(f"{path}: no such file or directory (a broken link?)")
                continue
            if (fst.st_dev, fst.st_ino) in seen_files or not path.is_file():
                continue
            seen_files.add((fst.st_dev, fst.st_ino))
            found.append(CorpusFile(path, path.relative_to(root).as_posix(), named=False))
    return found


def discover(paths: list[Path], problems: list[str] | None = None) -> list[CorpusFile]:
    """Expand folders (recursively) into their corpus files; ingest order is stable. Folders that cannot be read
    and broken links are appended to `problems` (an error when it is None)."""
    files: list[CorpusFile] = []
    for p in paths:
        if p.is_dir():
            local: list[str] = []
            found = _walk(p, local)
            if local and problems is None:
                raise CorpusError(local[0])
            if problems is not None:
                problems.extend(local)
            if not found:
                raise CorpusError(
                    f"{p}: no corpus files (*.txt, *.md, *.jsonl, *.csv, *.bib, *.ris, *.json) in this folder or below"
                )
            files.extend(found)
        elif p.is_file():
            files.append(CorpusFile(p, p.name, named=True))
        elif p.exists():  # a FIFO, a device (/dev/zero, /dev/null), a socket: there, but not a file to read
            raise CorpusError(f"{p} is not a regular file (a FIFO or a device); give corpus files or folders")
        else:
            raise CorpusError(f"{p}: no such file or directory")
    names = [f.source for f in files]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise CorpusError(f"two corpus files share the name {sorted(dupes)[0]!r}; sources are tracked by file name")
    return files


@dataclass
class Corpus:
    """What a run read: one ParseResult per file, in order (not merged yet: merging with the index's papers
    happens once, in build._plan), the parser's warnings and the files skipped."""

    results: list[ParseResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "path: reason" of each file that could not be read
    counts: list[dict] = field(default_factory=list)  # per reference-format file: entries, papers, skipped records

    @property
    def files(self) -> list[str]:
        return sorted({s for r in self.results for p in r.papers for s in p.sources})

    def papers(self, notes: list[MergeNote] | None = None) -> list[Paper]:
        return merge((r.papers for r in self.results), notes)


def read_corpus(paths: list[Path], strict: bool = False) -> Corpus:
    """Read every file before anything is written. A file found in a folder that cannot be parsed is skipped with
    a warning (strict: it aborts the run, as does any file named explicitly)."""
    problems: list[str] | None = None if strict else []
    corpus = Corpus()
    for f in discover(paths, problems):
        try:
            result = parse_file(f.path, f.source)
            corpus.results.append(result)
            if result.format:
                corpus.counts.append(result.counts(f.source))
        except CorpusError as exc:
            if strict or f.named:
                raise
            corpus.skipped.append(str(exc))
    corpus.skipped = (problems or []) + corpus.skipped
    if not corpus.results:
        raise CorpusError(corpus.skipped[0] if corpus.skipped else "no corpus files")
    corpus.warnings = [w for r in corpus.results for w in r.warnings]
    corpus.warnings += [f"{reason}; file skipped (--strict makes this an error)" for reason in corpus.skipped]
    for w in corpus.warnings:  # the ingest summary prints them; the log gets them with -v
        log.info(w)
    return corpus


def load_corpus(paths: list[Path], strict: bool = False) -> tuple[list[Paper], list[str]]:
    corpus = read_corpus(paths, strict)
    return corpus.papers(), corpus.warnings


__all__ = ["Corpus", "CorpusFile", "MergeNote", "ParseResult", "merge", "normalise_title", "paper_id"]
