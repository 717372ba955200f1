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

import logging
import statistics
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from assistant.batch.inputs import BatchInputError, Item, read_questions  # noqa: F401  (re-exported)
from assistant.batch.outputs import (
    JsonlSink,
    failure_record,
    in_input_order,
    load_journal,
    make_sink,
    output_format,
    record_key,
    success_record,
    write_atomic,
)
from assistant.config import Settings
from assistant.errors import AssistantError
from assistant.text import printable

log = logging.getLogger(__name__)


class _Progress:
    def __init__(self, enabled: bool, total: int):
        self.bar = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class RateColumn(ProgressColumn):
            def render(self, task):  # noqa: D102
                return Text(f"{task.speed:.2f} q/s" if task.speed else "… q/s")

        self.bar = Progress(
            TextColumn("answering"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            transient=True,
            console=Console(stderr=True, markup=False, highlight=False),
        )
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


def run_batch(
    args,
    settings: Settings,
    pipeline=None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
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
        print(f"resuming {output}: {len(items) - len(pending)} of {len(items)} questions already answered", file=stderr)

    if pending and workers > 1 and not _is_server(settings, pipeline):
        log.warning(
            "--concurrency %d needs a model server (--llm-url); the in-process model answers one question "
            "at a time, so the batch runs sequentially",
            workers,
        )
        workers = 1
    tally = _Tally()
    title = "stdin" if args.input == "-" else Path(args.input).name
    t0 = time.perf_counter()
    interrupted = False
    if pending:
        if pipeline is None:
            from assistant.answer.session import make_pipeline

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
    from assistant.generate.openai_compat import OpenAICompatibleGenerator

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
