"""Batch output: result records, JSONL/CSV/Markdown sinks, the resume journal (see batch.py)."""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TextIO

from assistant.answer.render import comparison_markdown
from assistant.batch.inputs import CSV_FIELDS, BatchInputError, Item, id_key
from assistant.errors import AssistantError
from assistant.text import printable

log = logging.getLogger(__name__)


class BatchBusyError(AssistantError):
    """Another batch holds the lock on the same output file."""

    exit_code = 5  # like IndexBusyError: something else is running, wait for it


def success_record(item: Item, answer) -> dict[str, Any]:
    from assistant.answer.references import reference

    d = answer.to_dict()
    meta = {e["paper_id"]: e.get("meta") or {} for e in d["evidence"]}
    cites = [{k: c[k] for k in ("number", "paper_id", "title", "quote", "support")} for c in d["citations"]]
    for c in cites:  # "Vaswani et al. 2017, Attention Is All You Need, NeurIPS" where the metadata is known
        c["reference"] = reference(c["title"], meta.get(c["paper_id"]))
    return {
        **item.extra,
        "id": item.out_id,
        "question": item.question,
        "text": d["text"],
        "citations": cites,
        "abstained": d["abstained"],
        "abstain_reason": d["abstain_reason"] or None,
        "retrieved": [
            {"number": e["number"], "paper_id": e["paper_id"], "title": e["title"], "meta": meta[e["paper_id"]]}
            for e in d["evidence"]
        ],
        "model": d["model"],
        "kind": d["kind"],
        "made_by": d["made_by"],  # model | extractive | list | not_stated | refusal
        "model_words": d["model_words"],
        "verdict": d["verdict"],
        "verdict_by": d["verdict_by"],
        "groups": d["groups"],  # literature answers: [{label, findings: [{number, title, quote, second, stance}]}]
        "table": d["table"],  # compare answers: {aspects, rows: [[number, title, cells]], differs}
        "summary": d["summary"],  # literature answers: the model's verified overview across the papers, or ""
        "timings": d["timings"],
        "error": None,
    }


def failure_record(item: Item, error: str) -> dict[str, Any]:
    return {
        **item.extra,
        "id": item.out_id,
        "question": item.question,
        "text": None,
        "citations": [],
        "abstained": False,
        "abstain_reason": None,
        "retrieved": [],
        "model": None,
        "kind": None,
        "made_by": None,
        "model_words": False,
        "verdict": None,
        "verdict_by": None,
        "groups": [],
        "table": None,
        "summary": "",
        "timings": None,
        "error": error,
    }


def record_key(rec: dict[str, Any]) -> str:
    return id_key(rec.get("id"))  # the same key as Item.key: the id 1 and the id "1" are two questions


def is_record(obj: Any) -> bool:
    return isinstance(obj, dict) and all(k in obj for k in ("id", "question", "error"))


# -- output -----------------------------------------------------------------
def output_format(fmt: str | None, output: str) -> str:
    if fmt:
        return fmt
    suffix = Path(output).suffix.lower() if output != "-" else ""
    return {".csv": "csv", ".md": "md", ".markdown": "md", ".bib": "bib"}.get(suffix, "jsonl")


class JsonlSink:
    def __init__(self, fh: TextIO):
        self.fh = fh

    def write(self, rec: dict[str, Any]) -> None:
        self.fh.write(json.dumps(rec, ensure_ascii=False) + "\n")  # one write, then flush: a kill loses <= 1 line
        self.fh.flush()

    def end(self, summary: str) -> None:
        pass


# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...), +cmd|...): CSV injection.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(text: str) -> str:
    """OWASP's defence against CSV injection: a leading single quote makes the cell text, shown as typed."""
    return "'" + text if text.startswith(FORMULA_START) else text


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return csv_safe(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))


_MD_INLINE = re.compile(r"([\\`*_\[\]<>|~])")  # emphasis, code, links/images, HTML, table pipes, strikethrough
_MD_LINE_START = re.compile(r"^(#|>|-|\+|=|(?P<num>\d+)[.)])")  # headings, quotes, lists, setext underlines


def md_escape(text: str) -> str:
    """Untrusted text as one line of literal Markdown: whitespace (newlines too) collapsed, markup characters
    backslash-escaped, so a title or an answer can neither format the report nor break out of a table cell."""
    line = _MD_INLINE.sub(r"\\\1", " ".join(printable(text).split()))
    m = _MD_LINE_START.match(line)
    if m:
        cut = m.end("num") if m.group("num") else 0
        line = line[:cut] + "\\" + line[cut:]
    return line


def md_lines(text: str) -> str:
    """Untrusted text of several lines (a literature answer's groups) as literal Markdown that keeps its lines:
    each line escaped as md_escape does, lines joined by hard breaks, blank lines kept as paragraph breaks."""
    paragraphs = [p for p in printable(text).split("\n\n") if p.strip()]
    return "\n\n".join("  \n".join(md_escape(line) for line in p.splitlines() if line.strip()) for p in paragraphs)


class CsvSink:
    def __init__(self, fh: TextIO, extra_columns: list[str]):
        self.fh = fh
        self.extra = [c for c in extra_columns if c not in CSV_FIELDS]
        self.writer = csv.writer(fh, lineterminator="\n")
        self.writer.writerow([_cell(c) for c in (*CSV_FIELDS, *self.extra)])
        fh.flush()

    def write(self, rec: dict[str, Any]) -> None:
        t = rec.get("timings") or {}
        cites = "\n".join(
            f'[{c["number"]}] {c.get("reference") or c["title"]} — "{c["quote"]}"' for c in rec.get("citations") or []
        )
        secs = [round(t[k], 3) if isinstance(t.get(k), float) else None for k in ("total_s", "first_token_s")]
        row = [
            rec.get("id"),
            rec.get("question"),
            rec.get("text"),
            rec.get("abstained"),
            rec.get("abstain_reason"),
            rec.get("error"),
            cites,
            *secs,
            t.get("completion_tokens"),
            rec.get("model"),
        ]
        self.writer.writerow([_cell(v) for v in row] + [_cell(rec.get(c)) for c in self.extra])
        self.fh.flush()

    def end(self, summary: str) -> None:
        pass


class MarkdownSink:
    """Every value from the input, the corpus or the model goes through md_escape: it is shown, never rendered."""

    def __init__(self, fh: TextIO, title: str):
        self.fh = fh
        fh.write(f"# Batch answers: {md_escape(title)}\n\n")
        fh.flush()

    def write(self, rec: dict[str, Any]) -> None:
        q = md_escape(str(rec.get("question") or "")) or "(no question)"
        conv = f" (conversation {md_escape(str(rec['conversation']))})" if rec.get("conversation") else ""
        out = [f"## {md_escape(str(rec.get('id')))}: {q}{conv}", ""]
        if rec.get("error"):
            out += [f"**Failed:** {md_escape(rec['error'])}", ""]
        else:
            text = str(rec.get("text") or "")
            table = rec.get("table")
            if table and table.get("rows"):  # a compare answer: its lead, then the papers side by side
                out += [*comparison_markdown(text, table, str(rec.get("summary") or ""), md_escape, md_escape), ""]
            else:
                out += [md_lines(text), ""]
            cites = [
                f"{c['number']}. **{md_escape(str(c.get('reference') or c['title']))}** — “{md_escape(str(c['quote']))}”"
                for c in rec.get("citations") or []
            ]
            t = rec.get("timings") or {}
            out += [
                *cites,
                *([""] if cites else []),
                *(
                    [f"_Not answered: {md_escape(str(rec['abstain_reason']))}_", ""]
                    if rec.get("abstain_reason")
                    else []
                ),
                f"_{'abstained · ' if rec.get('abstained') else ''}{t.get('total_s', 0):.2f} s · "
                f"{md_escape(str(rec.get('model') or ''))}_",
                "",
            ]
        self.fh.write("\n".join(out) + "\n")
        self.fh.flush()

    def end(self, summary: str) -> None:
        self.fh.write(f"---\n\n{summary}\n")
        self.fh.flush()


class BibSink:
    """The papers a batch cites, as BibTeX entries (answer/references.py) in first-cited order, written at the end:
    a bibliography ready to paste into a manuscript."""

    def __init__(self, fh: TextIO):
        self.fh = fh
        self.papers: dict[str, tuple[str, dict[str, Any]]] = {}

    def write(self, rec: dict[str, Any]) -> None:
        meta = {r.get("paper_id"): r.get("meta") or {} for r in rec.get("retrieved") or []}
        for c in rec.get("citations") or []:
            self.papers.setdefault(c["paper_id"], (str(c["title"]), meta.get(c["paper_id"]) or {}))

    def end(self, summary: str) -> None:
        from assistant.answer.references import bibtex

        self.fh.write(
            f"% {' '.join(summary.split())}\n% {len(self.papers)} cited papers\n\n{bibtex(list(self.papers.values()))}"
        )
        self.fh.flush()


def make_sink(fmt: str, fh: TextIO, items: list[Item], title: str):
    if fmt == "bib":
        return BibSink(fh)
    if fmt == "csv":
        extra: list[str] = []
        for it in items:
            extra += [k for k in it.extra if k not in extra]
        return CsvSink(fh, extra)
    if fmt == "md":
        return MarkdownSink(fh, title)
    return JsonlSink(fh)


# -- the journal (JSONL output file, or the sidecar of a CSV/Markdown file) ---
def load_journal(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """The successful records already in `path`, and whether anything else (failed, partial) was dropped."""
    if not path.exists():
        return [], False
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchInputError(f"{path}: cannot read the earlier output to resume ({exc}); pass --overwrite") from exc
    lines = raw.split("\n")
    kept, dropped = [], False
    for n, ln in enumerate(lines, 1):
        if not ln.strip():
            continue
        last = n == len(lines)  # no newline after it: a write cut short by a kill
        try:
            obj = json.loads(ln)
        except (ValueError, RecursionError):  # nested too deeply is as unreadable as not JSON
            obj = None
        if last and not raw.endswith("\n"):
            log.info("%s: dropping a partial last line (a killed run); its question is asked again", path)
            dropped = True
            continue
        if not is_record(obj):
            raise BatchInputError(
                f"{path} line {n} is not batch output; pass --overwrite to replace the file, or choose another -o"
            )
        if obj.get("error"):
            dropped = True  # failed earlier: retried now
            continue
        kept.append(obj)
    return kept, dropped


def lock_path(output: Path) -> Path:
    return output.with_name(output.name + ".lock")


@contextmanager
def output_lock(output: Path) -> Iterator[None]:
    """An OS lock (flock) on `output` for the whole run, so two batches never append to one file. It fails at once
    rather than wait, and a killed holder releases it."""
    from filelock import FileLock, Timeout

    path = lock_path(output)
    lock = FileLock(str(path), timeout=0, mode=0o600)
    try:
        lock.acquire()
    except Timeout as exc:
        raise BatchBusyError(
            f"another batch is writing {output} (lock {path}); wait for it to finish, or choose another -o"
        ) from exc
    except OSError as exc:
        raise BatchInputError(f"{path}: cannot lock the output ({exc.strerror or exc})") from exc
    try:
        yield
    finally:
        # Removed while still held, so no empty OUTPUT.lock is left beside the answers; a run that opened the
        # old file meanwhile finds it locked and fails at once (timeout 0), as it would have anyway.
        with suppress(OSError):
            path.unlink()
        lock.release()


def write_atomic(path: Path, render) -> None:
    """Write via a temporary file in the same folder, then rename: readers never see half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            render(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def in_input_order(records: list[dict[str, Any]], items: list[Item]) -> list[dict[str, Any]]:
    pos: dict[str, int] = {}
    for n, it in enumerate(items):
        pos.setdefault(it.key, n)
    return sorted(records, key=lambda r: pos.get(record_key(r), len(items)))  # stable: unknown ones last


# -- progress ---------------------------------------------------------------
