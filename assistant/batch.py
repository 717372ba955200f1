"""`assistant batch INPUT [-o OUTPUT]`: answer a file of questions with one model load, resumably.

Input (``-`` reads stdin; the format comes from the suffix, else from the content):

- text (``.txt``): one question per line; blank lines and lines starting with ``#`` are skipped.
- JSONL (``.jsonl``/``.ndjson``/``.json``, or content whose first line starts with ``{``): objects with
  ``question`` and optionally ``id``; every other field is carried through to the output. Blank lines and lines
  starting with ``#`` are skipped.
  A malformed line (not JSON, not an object, no string ``question``) does not stop the batch: it becomes a failed
  item whose ``error`` names the line number, e.g. ``line 7: not valid JSON (Expecting ',' delimiter, column 31)``.
- CSV (``.csv``, or content whose header row has a ``question`` column): a ``question`` column (any case), an
  optional ``id`` column, other columns carried through. Empty rows are skipped.

A missing, unreadable or empty input, one with no questions, or a CSV without a ``question`` column is a
:class:`BatchInputError` (one line on stderr, exit code 2) before any model is loaded.

Output (``-o FILE``; ``-`` or no ``-o`` is stdout; ``--format`` or the suffix ``.csv``/``.md``; default JSONL):

- JSONL: one object per question, written and flushed as each question completes:
  ``id, question, text, citations [{number, paper_id, title, quote, support}], abstained,
  retrieved [{number, paper_id, title}], model, timings {retrieval_s, first_token_s, generation_s, total_s,
  prompt_tokens, completion_tokens, tokens_per_s}, error`` plus the input's extra fields (the batch's own fields win
  a name clash). ``id`` is the input's id, else ``q-`` and 12 hex digits of the SHA-256 of the question, so it is
  stable across runs. A failed item has ``error`` set, ``text``/``timings``/``model`` null and no citations.
- CSV: a header row, then ``id, question, text, abstained, error, citations`` (one ``[n] title — "quote"`` per
  line), ``total_s, first_token_s, completion_tokens, model`` and the carried-through columns.
- Markdown (``md``): a readable report, one section per question, with a summary.

Progress (a rich bar with rate and ETA when stderr is a terminal and not ``--quiet``), warnings and the final
summary (answered, abstained, failed, p50 latency) go to stderr only, never into the output.

Resume: re-running with the same output file skips the questions already *successfully* answered there (matched by
``id``; questions without an id by the hash of their text), and appends the rest. Failed items do not count as done:
a re-run retries them (after, say, restarting a model server) and their old failed lines are dropped, as is a partial
last line left by a killed run. The file is put back in input order at the end of a resumed run, so a batch that was
interrupted and resumed ends up with the same lines as one that was not; lines for questions no longer in the input
are kept. ``--overwrite`` starts over. Writing to stdout never resumes.
For CSV and Markdown files, the line-by-line record (and resume state) is a JSONL journal beside the output,
``OUTPUT.journal.jsonl``; the CSV/Markdown file itself is (re)written from the journal when the run ends, and the
journal is kept so the next run can resume (delete it, or pass ``--overwrite``, to start over).

A killed batch loses at most the questions in flight: one, or ``--concurrency`` of them.

Per-question failures (empty question, question too long or not fitting the context, a generation or store error)
are recorded in that line's ``error`` and the batch goes on. Exit code: 0 when every question was answered (an
abstention counts as answered), 1 when any failed, 2 for bad input, 130 when interrupted; a failure to start (no
index, no model) exits with that error's code.

``--concurrency N`` runs N questions at a time, which only helps with a model server (``--llm-url``); answers are
still written in input order (later completions wait for earlier ones), so resume stays exact. With the in-process
llama.cpp model (one context, one answer at a time) it warns and runs sequentially. Note that llama_cpp.server must be
started with ``--interrupt_requests False`` for concurrent clients, or it cuts a running answer short when the next
request arrives (such answers are recorded as failed, not as truncated text).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .config import Settings
from .errors import AssistantError
from .text import printable

log = logging.getLogger(__name__)
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
RESULT_FIELDS = ("id", "question", "text", "citations", "abstained", "retrieved", "model", "timings", "error")
CSV_FIELDS = ("id", "question", "text", "abstained", "error", "citations", "total_s", "first_token_s",
              "completion_tokens", "model")


class BatchInputError(AssistantError):
    """The question file cannot be used (missing, empty, no questions, no `question` column) or bad batch flags."""

    exit_code = 2


# -- input ------------------------------------------------------------------
@dataclass
class Item:
    line: int
    question: str | None
    id: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # a parse error: recorded as failed without asking the model

    @property
    def key(self) -> str:
        """What resume matches on: the id when given, else a hash of the question."""
        if self.id is not None and str(self.id) != "":
            return str(self.id)
        if self.question is None:
            return f"line-{self.line}"
        return "q-" + hashlib.sha256(self.question.strip().encode()).hexdigest()[:12]

    @property
    def out_id(self) -> Any:
        return self.id if self.id is not None and str(self.id) != "" else self.key


def detect_format(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    meaningful = [ln for ln in lines if not ln.startswith("#")]
    if meaningful and meaningful[0].startswith("{"):
        return "jsonl"
    if lines:
        header = next(csv.reader([lines[0]]), [])
        if any(cell.strip().lower() == "question" for cell in header):
            return "csv"
    return "text"


def read_questions(source: str, stdin: TextIO | None = None) -> list[Item]:
    if source == "-":
        name = "stdin"
        text = (stdin or sys.stdin).read()
        fmt = None
    else:
        path = Path(source)
        name = str(path)
        if not path.exists():
            raise BatchInputError(f"{path}: no such question file")
        if path.is_dir():
            raise BatchInputError(f"{path} is a folder; give a question file (txt, JSONL or CSV)")
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise BatchInputError(f"{path}: not UTF-8 text; give a txt, JSONL or CSV question file") from None
        except OSError as exc:
            raise BatchInputError(f"{path}: cannot read ({exc.strerror or exc})") from None
        suffix = path.suffix.lower()
        fmt = "jsonl" if suffix in JSONL_SUFFIXES else "csv" if suffix == ".csv" else "text" if suffix == ".txt" else None
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise BatchInputError(f"{name} is empty; give one question per line, JSONL or CSV")
    fmt = fmt or detect_format(text)
    items = {"jsonl": _parse_jsonl, "csv": _parse_csv, "text": _parse_text}[fmt](text, name)
    if not items:
        raise BatchInputError(f"{name} holds no questions")
    seen: dict[str, int] = {}
    for it in items:
        if it.key in seen and it.error is None:
            log.warning("%s line %d repeats the %s of line %d; resume treats them as one question",
                        name, it.line, "id" if it.id not in (None, "") else "question", seen[it.key])
        seen.setdefault(it.key, it.line)
    return items


def _parse_text(text: str, name: str) -> list[Item]:
    return [Item(n, ln.strip()) for n, ln in enumerate(text.splitlines(), 1)
            if ln.strip() and not ln.strip().startswith("#")]


def _parse_jsonl(text: str, name: str) -> list[Item]:
    items = []
    for n, ln in enumerate(text.splitlines(), 1):
        if not ln.strip() or ln.lstrip().startswith("#"):
            continue
        try:
            obj = json.loads(ln)
        except ValueError as exc:
            msg = f"{exc.msg}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else str(exc)
            items.append(Item(n, None, error=f"line {n}: not valid JSON ({msg})"))
            continue
        if not isinstance(obj, dict):
            items.append(Item(n, None, error=f"line {n}: expected a JSON object, got {type(obj).__name__}"))
            continue
        qid = obj.get("id")
        extra = {k: v for k, v in obj.items() if k not in ("id", "question")}
        question = obj.get("question")
        if question is None:
            items.append(Item(n, None, qid, extra, error=f'line {n}: no "question" field'))
        elif not isinstance(question, str):
            items.append(Item(n, None, qid, extra, error=f'line {n}: "question" must be a string'))
        else:
            items.append(Item(n, question, qid, extra))
    return items


def _parse_csv(text: str, name: str) -> list[Item]:
    reader = csv.DictReader(io.StringIO(text))
    columns = {(c or "").strip().lower(): c for c in reader.fieldnames or []}
    if "question" not in columns:
        raise BatchInputError(f"{name}: no 'question' column in the CSV header "
                              f"({', '.join(c for c in reader.fieldnames or [] if c) or 'empty'})")
    qcol, idcol = columns["question"], columns.get("id")
    items = []
    for row in reader:
        values = {k: v for k, v in row.items() if k is not None}
        if not any((v or "").strip() for v in values.values()):
            continue
        extra = {k: v for k, v in values.items() if k not in (qcol, idcol)}
        qid = (values.get(idcol) or "").strip() or None if idcol else None
        items.append(Item(reader.line_num, values.get(qcol) or "", qid, extra))
    return items


# -- records ----------------------------------------------------------------
def success_record(item: Item, answer) -> dict[str, Any]:
    d = answer.to_dict()
    return {
        **item.extra, "id": item.out_id, "question": item.question, "text": d["text"],
        "citations": [{k: c[k] for k in ("number", "paper_id", "title", "quote", "support")} for c in d["citations"]],
        "abstained": d["abstained"],
        "retrieved": [{"number": e["number"], "paper_id": e["paper_id"], "title": e["title"]} for e in d["evidence"]],
        "model": d["model"], "timings": d["timings"], "error": None,
    }


def failure_record(item: Item, error: str) -> dict[str, Any]:
    return {**item.extra, "id": item.out_id, "question": item.question, "text": None, "citations": [],
            "abstained": False, "retrieved": [], "model": None, "timings": None, "error": error}


def record_key(rec: dict[str, Any]) -> str:
    return str(rec.get("id"))


def is_record(obj: Any) -> bool:
    return isinstance(obj, dict) and all(k in obj for k in ("id", "question", "error"))


# -- output -----------------------------------------------------------------
def output_format(fmt: str | None, output: str) -> str:
    if fmt:
        return fmt
    suffix = Path(output).suffix.lower() if output != "-" else ""
    return {".csv": "csv", ".md": "md", ".markdown": "md"}.get(suffix, "jsonl")


class JsonlSink:
    def __init__(self, fh: TextIO):
        self.fh = fh

    def write(self, rec: dict[str, Any]) -> None:
        self.fh.write(json.dumps(rec, ensure_ascii=False) + "\n")  # one write, then flush: a kill loses <= 1 line
        self.fh.flush()

    def end(self, summary: str) -> None:
        pass


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class CsvSink:
    def __init__(self, fh: TextIO, extra_columns: list[str]):
        self.fh = fh
        self.extra = [c for c in extra_columns if c not in CSV_FIELDS]
        self.writer = csv.writer(fh, lineterminator="\n")
        self.writer.writerow([*CSV_FIELDS, *self.extra])
        fh.flush()

    def write(self, rec: dict[str, Any]) -> None:
        t = rec.get("timings") or {}
        cites = "\n".join(f'[{c["number"]}] {c["title"]} — "{c["quote"]}"' for c in rec.get("citations") or [])
        secs = [round(t[k], 3) if isinstance(t.get(k), float) else None for k in ("total_s", "first_token_s")]
        row = [rec.get("id"), rec.get("question"), rec.get("text"), rec.get("abstained"), rec.get("error"), cites,
               *secs, t.get("completion_tokens"), rec.get("model")]
        self.writer.writerow([_cell(v) for v in row] + [_cell(rec.get(c)) for c in self.extra])
        self.fh.flush()

    def end(self, summary: str) -> None:
        pass


class MarkdownSink:
    def __init__(self, fh: TextIO, title: str):
        self.fh = fh
        fh.write(f"# Batch answers: {printable(title)}\n\n")
        fh.flush()

    def write(self, rec: dict[str, Any]) -> None:
        q = printable(" ".join(str(rec.get("question") or "").split())) or "(no question)"
        out = [f"## {printable(str(rec.get('id')))}: {q}", ""]
        if rec.get("error"):
            out += [f"**Failed:** {printable(rec['error'])}", ""]
        else:
            out += [printable(rec.get("text") or ""), ""]
            cites = [f"{c['number']}. **{printable(c['title'])}** — “{printable(c['quote'])}”"
                     for c in rec.get("citations") or []]
            t = rec.get("timings") or {}
            out += [*cites, *([""] if cites else []),
                    f"_{'abstained · ' if rec.get('abstained') else ''}{t.get('total_s', 0):.2f} s · "
                    f"{printable(str(rec.get('model') or ''))}_", ""]
        self.fh.write("\n".join(out) + "\n")
        self.fh.flush()

    def end(self, summary: str) -> None:
        self.fh.write(f"---\n\n{summary}\n")
        self.fh.flush()


def make_sink(fmt: str, fh: TextIO, items: list[Item], title: str):
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
        raise BatchInputError(f"{path}: cannot read the earlier output to resume ({exc}); pass --overwrite") from None
    lines = raw.split("\n")
    kept, dropped = [], False
    for n, ln in enumerate(lines, 1):
        if not ln.strip():
            continue
        last = n == len(lines)  # no newline after it: a write cut short by a kill
        try:
            obj = json.loads(ln)
        except ValueError:
            obj = None
        if last and not raw.endswith("\n"):
            log.info("%s: dropping a partial last line (a killed run); its question is asked again", path)
            dropped = True
            continue
        if not is_record(obj):
            raise BatchInputError(f"{path} line {n} is not batch output; pass --overwrite to replace the file, "
                                  "or choose another -o")
        if obj.get("error"):
            dropped = True  # failed earlier: retried now
            continue
        kept.append(obj)
    return kept, dropped


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
class _Progress:
    def __init__(self, enabled: bool, total: int):
        self.bar = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)
        from rich.text import Text

        class RateColumn(ProgressColumn):
            def render(self, task):  # noqa: D102
                return Text(f"{task.speed:.2f} q/s" if task.speed else "… q/s")

        self.bar = Progress(TextColumn("answering"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), transient=True,
                            console=Console(stderr=True, markup=False, highlight=False))
        self.task = self.bar.add_task("answering", total=total)
        self.bar.start()

    def advance(self) -> None:
        if self.bar:
            self.bar.advance(self.task)

    def stop(self) -> None:
        if self.bar:
            self.bar.stop()


# -- the run ------------------------------------------------------------------
@dataclass
class _Tally:
    answered: int = 0
    abstained: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def add(self, rec: dict[str, Any]) -> None:
        if rec.get("error"):
            self.failed += 1
            self.failures.append(f"{rec.get('id')}: {rec['error']}")
            return
        self.answered += 1
        self.abstained += bool(rec.get("abstained"))
        self.latencies.append((rec.get("timings") or {}).get("total_s", 0.0))


def run_batch(args, settings: Settings, pipeline=None, *, stdin: TextIO | None = None,
              stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Answer every question of `args.input`; `pipeline` (anything with `.ask`) is built from settings if None."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    quiet = bool(getattr(args, "quiet", False))
    output = getattr(args, "output", None) or "-"
    fmt = output_format(getattr(args, "format", None), output)
    workers = getattr(args, "concurrency", 1) or 1
    if workers < 1:
        raise BatchInputError("--concurrency must be at least 1")
    items = read_questions(args.input, stdin)

    # Where results go, and what an earlier run already answered.
    kept: list[dict[str, Any]] = []
    journal_path = out_path = None
    if output != "-":
        out_path = Path(output)
        if out_path.is_dir():
            raise BatchInputError(f"{out_path} is a folder; -o needs a file name")
        if not out_path.parent.is_dir():
            raise BatchInputError(f"{out_path.parent}: no such folder for the output")
        journal_path = out_path if fmt == "jsonl" else out_path.with_name(out_path.name + ".journal.jsonl")
        if getattr(args, "overwrite", False):
            journal_path.unlink(missing_ok=True)
            out_path.unlink(missing_ok=True)
        kept, dropped = load_journal(journal_path)
        if dropped:  # drop failed and partial lines now, so the file never holds two lines for one question
            write_atomic(journal_path, lambda fh: [JsonlSink(fh).write(r) for r in kept])
    done = {record_key(r) for r in kept}
    pending = [it for it in items if it.key not in done]
    if kept and not quiet:
        print(f"resuming {output}: {len(items) - len(pending)} of {len(items)} questions already answered",
              file=stderr)

    if pending and workers > 1 and not _is_server(settings, pipeline):
        log.warning("--concurrency %d needs a model server (--llm-url); the in-process model answers one question "
                    "at a time, so the batch runs sequentially", workers)
        workers = 1
    tally = _Tally()
    title = "stdin" if args.input == "-" else Path(args.input).name
    t0 = time.perf_counter()
    interrupted = False
    if pending:
        if pipeline is None:
            from .session import make_pipeline

            pipeline = make_pipeline(settings)
        if out_path is None:
            fh, close = stdout, False
        else:
            fh, close = open(journal_path, "a", encoding="utf-8"), True
        sink = make_sink(fmt if out_path is None else "jsonl", fh, items, title)
        progress = _Progress(stderr.isatty() and not quiet, len(pending))
        try:
            def emit(rec: dict[str, Any]) -> None:
                sink.write(rec)
                kept.append(rec)
                tally.add(rec)
                progress.advance()
                log.info("%s: %s", rec["id"], "failed: " + rec["error"] if rec["error"] else "answered")

            interrupted = _answer_all(pipeline, pending, workers, emit)
        finally:
            progress.stop()
            if close:
                fh.close()
    elapsed = time.perf_counter() - t0

    summary = _summary(tally, len(items) - len(pending), elapsed, output, interrupted)
    if out_path is None:
        if pending:
            sink.end(summary)
    elif fmt == "jsonl":
        if not interrupted and [record_key(r) for r in in_input_order(kept, items)] != [record_key(r) for r in kept]:
            ordered = in_input_order(kept, items)
            write_atomic(out_path, lambda fh: [JsonlSink(fh).write(r) for r in ordered])
    else:
        ordered = in_input_order(kept, items)

        def render(fh: TextIO) -> None:
            s = make_sink(fmt, fh, items, title)
            for r in ordered:
                s.write(r)
            s.end(_summary(_tally_of(ordered), 0, None, None, interrupted))
        write_atomic(out_path, render)
    if not quiet or tally.failed or interrupted:
        print(summary, file=stderr)
        for line in tally.failures[:5]:
            print(f"  failed {printable(line)}", file=stderr)
        if len(tally.failures) > 5:
            print(f"  … and {len(tally.failures) - 5} more (see the error field)", file=stderr)
    if interrupted:
        return 130
    return 1 if tally.failed else 0


def _tally_of(records: list[dict[str, Any]]) -> _Tally:
    t = _Tally()
    for r in records:
        t.add(r)
    return t


def _summary(t: _Tally, skipped: int, elapsed: float | None, output: str | None, interrupted: bool) -> str:
    parts = [f"{t.answered} answered ({t.abstained} abstained), {t.failed} failed"]
    if skipped:
        parts.append(f"{skipped} skipped (answered before)")
    if t.latencies:
        parts.append(f"p50 latency {statistics.median(t.latencies):.2f} s")
    if elapsed and t.answered + t.failed:
        parts.append(f"{(t.answered + t.failed) / elapsed:.2f} questions/s")
    line = ("batch interrupted: " if interrupted else "batch: ") + "; ".join(parts)
    if interrupted and output and output != "-":
        line += "; run the same command again to resume"
    elif t.failed and output and output != "-":
        line += "; run the same command again to retry the failed ones"
    return line


def _is_server(settings: Settings, pipeline) -> bool:
    if settings.llm_url:
        return True
    if pipeline is None:
        return False
    from .server_client import OpenAICompatibleGenerator

    return isinstance(getattr(pipeline, "generator", None), OpenAICompatibleGenerator)


def _answer_all(pipeline, items: list[Item], workers: int, emit) -> bool:
    """Answer `items`, calling `emit` in input order; True when interrupted (Ctrl-C)."""
    cancel = threading.Event()

    def answer(item: Item) -> dict[str, Any] | None:
        if item.error:
            return failure_record(item, item.error)
        if cancel.is_set():
            return None
        try:
            ans = pipeline.ask(item.question, cancel=cancel)
        except AssistantError as exc:
            return failure_record(item, str(exc))
        except Exception as exc:  # a bug or an unexpected library error: record it, go on
            log.debug("question %s failed", item.key, exc_info=True)
            return failure_record(item, f"unexpected {type(exc).__name__}: {exc}")
        if cancel.is_set() or getattr(ans, "cancelled", False):
            return None  # cut short by Ctrl-C: not written, asked again on resume
        return success_record(item, ans)

    if workers == 1:
        try:
            for item in items:
                rec = answer(item)
                if rec is not None:
                    emit(rec)
        except KeyboardInterrupt:
            cancel.set()
            return True
        return False

    restore = _serialise_retrieval(pipeline)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="batch")
    window: deque = deque()  # futures in input order; completions beyond the head wait here
    todo = iter(items)
    try:
        def fill() -> None:
            while len(window) < 2 * workers:
                item = next(todo, None)
                if item is None:
                    return
                window.append(pool.submit(answer, item))

        fill()
        while window:
            rec = window.popleft().result()
            if rec is not None:
                emit(rec)
            fill()
    except KeyboardInterrupt:
        cancel.set()
        return True
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        restore()
    return False


def _serialise_retrieval(pipeline):
    """Workers overlap generation (the slow, remote part); retrieval (embedder, Chroma, BM25) runs one at a time."""
    retriever = getattr(pipeline, "retriever", None)
    if retriever is None:
        return lambda: None
    lock = threading.Lock()
    search = retriever.search

    def locked(*args, **kwargs):
        with lock:
            return search(*args, **kwargs)

    retriever.search = locked
    return lambda: vars(retriever).pop("search", None)
