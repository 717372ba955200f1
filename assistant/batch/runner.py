"""Answer a file of questions with one model load, resumably: the library behind `assistant batch INPUT [-o OUTPUT]`.

:func:`answer_batch` takes typed parameters and returns a :class:`BatchSummary`; it never prints (the command line,
assistant/cli/batch.py, parses the flags and prints the progress and the summary).

Input (``-`` reads stdin; the format comes from the suffix, else from the content):

- text (``.txt``): one question per line; blank lines and lines starting with ``#`` are skipped.
- JSONL (``.jsonl``/``.ndjson``/``.json``, or content whose first line starts with ``{``): objects with
  ``question`` and optionally ``id``; every other field is carried through to the output. Blank lines and lines
  starting with ``#`` are skipped.
  A malformed line (not JSON, not an object, no string ``question``) does not stop the batch: it becomes a failed
  item whose ``error`` names the line number, e.g. ``line 7: not valid JSON (Expecting ',' delimiter, column 31)``.
- CSV (``.csv``, or content whose header row has a ``question`` column): a ``question`` column (any case), an
  optional ``id`` column, other columns carried through. Empty rows are skipped.

Conversations: a JSONL ``conversation`` field or a CSV ``conversation`` column groups rows into one conversation.
Its turns are answered in input order, each with the earlier answers of that conversation as ``history`` (so a
follow-up such as "what data did they use?" is retrieved together with the previous question, as in the chat app);
rows without it stay independent. Output records carry the value. A turn whose earlier turn failed is recorded as
failed without asking the model, and a re-run retries both in order. On resume the turns already answered are rebuilt
as history from their output records. Different conversations may run concurrently; one conversation never does.

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
  line), ``total_s, first_token_s, completion_tokens, model`` and the carried-through columns. A cell that starts
  with ``=``, ``+``, ``-``, ``@``, tab or CR gets a leading ``'`` so a spreadsheet shows it instead of running it
  as a formula (OWASP, CSV injection).
- Markdown (``md``): a readable report, one section per question, with a summary. Questions, titles, quotes and
  answers are escaped: they are shown as written and cannot add headings, links, HTML or table cells.

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

One run at a time per output file: the run holds an OS lock on ``OUTPUT.lock`` (beside the output), and a second run
on the same output fails at once with :class:`BatchBusyError` (exit code 5) instead of appending to the same file.

Per-question failures (empty question, question too long or not fitting the context, a generation or store error)
are recorded in that line's ``error`` and the batch goes on. Exit code (see assistant/cli/batch.py): 0 when every
question was answered (an abstention counts as answered), 1 when any failed, 2 for bad input, 5 when another batch
writes the same output, 130 when interrupted by Ctrl-C (SIGINT), 143 by SIGTERM (both print the summary and the
resume hint); a failure to start (no index, no model) exits with that error's code.

``--concurrency N`` runs N questions at a time, which only helps with a model server (``--llm-url``); answers are
still written in input order (later completions wait for earlier ones), so resume stays exact. With the in-process
llama.cpp model (one context, one answer at a time) it warns and runs sequentially. Note that llama_cpp.server must be
started with ``--interrupt_requests False`` for concurrent clients, or it cuts a running answer short when the next
request arrives (such answers are recorded as failed, not as truncated text).
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from assistant.batch.inputs import BatchInputError, Item, read_questions  # noqa: F401  (re-exported)
from assistant.batch.outputs import (
    JsonlSink,
    in_input_order,
    load_journal,
    lock_path,
    make_sink,
    output_lock,
    record_key,
    write_atomic,
)
from assistant.batch.schedule import Turns, answer_all
from assistant.config import Settings
from assistant.errors import WriteError

log = logging.getLogger(__name__)
OnStart = Callable[[int, int], None]  # (questions answered by an earlier run, questions to answer now)
OnRecord = Callable[[dict[str, Any]], None]  # each record, as it is written


@dataclass
class BatchSummary:
    """What a run did; `line()` is the one-line summary the command prints (and the Markdown report ends with)."""

    total: int = 0  # questions in the input
    skipped: int = 0  # answered by an earlier run (resume)
    answered: int = 0  # this run, abstentions included
    abstained: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # "id: error"
    elapsed_s: float | None = None
    interrupted: bool = False
    output: str | None = None  # the output file; "-" for a stream
    write_error: str | None = None  # why the run stopped early: the output could not be written (disk full...)

    def add(self, rec: dict[str, Any]) -> None:
        if rec.get("error"):
            self.failed += 1
            self.failures.append(f"{rec.get('id')}: {rec['error']}")
            return
        self.answered += 1
        self.abstained += bool(rec.get("abstained"))
        self.latencies.append((rec.get("timings") or {}).get("total_s", 0.0))

    def line(self) -> str:
        parts = [f"{self.answered} answered ({self.abstained} abstained), {self.failed} failed"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped (answered before)")
        if self.latencies:
            parts.append(f"p50 latency {statistics.median(self.latencies):.2f} s")
        if self.elapsed_s and self.answered + self.failed:
            parts.append(f"{(self.answered + self.failed) / self.elapsed_s:.2f} questions/s")
        if self.write_error:
            text = "batch stopped: " + "; ".join(parts)
            if self.output and self.output != "-":
                text += (
                    "; the answers written so far are kept: free some space and run the same command again to resume"
                )
            return text
        text = ("batch interrupted: " if self.interrupted else "batch: ") + "; ".join(parts)
        if self.interrupted and self.output and self.output != "-":
            text += "; run the same command again to resume"
        elif self.failed and self.output and self.output != "-":
            text += "; run the same command again to retry the failed ones"
        return text


def _summary_of(records: list[dict[str, Any]], interrupted: bool) -> BatchSummary:
    s = BatchSummary(interrupted=interrupted)
    for r in records:
        s.add(r)
    return s


def answer_batch(
    settings: Settings,
    items: list[Item],
    *,
    output: Path | None = None,
    stream: TextIO | None = None,
    fmt: str = "jsonl",
    title: str = "questions",
    overwrite: bool = False,
    concurrency: int = 1,
    pipeline: Any = None,
    on_start: OnStart | None = None,
    on_record: OnRecord | None = None,
    source: Path | None = None,
) -> BatchSummary:
    """Answer `items` (see read_questions) into `output` (resumable, locked) or, when None, into `stream`.

    `pipeline` is anything with `.ask(question, cancel=..., history=...)`; when None it is built from `settings`, and
    only if some question is left to answer. `source` is the question file, when there is one: an output (or its
    journal or lock) that is that file, by any name or link, is refused. `on_start` is called once the earlier answers are known, `on_record`
    for each record written. Ctrl-C (KeyboardInterrupt, which the command line also raises for SIGTERM) ends the run
    early with `interrupted` set; what was written stays, and a re-run resumes."""
    if concurrency < 1:
        raise BatchInputError("--concurrency must be at least 1")
    if output is None and stream is None:
        raise ValueError("answer_batch needs an output file or a stream")
    if pipeline is None:
        from assistant.index.store import require_store

        require_store(settings)  # no index: stop before the lock, the output or a model load write anything
    if output is None:
        return _run(settings, items, None, stream, fmt, title, overwrite, concurrency, pipeline, on_start, on_record)
    if output.is_dir():
        raise BatchInputError(f"{output} is a folder; -o needs a file name")
    if not output.parent.is_dir():
        raise BatchInputError(f"{output.parent}: no such folder for the output")
    if source is not None:
        _not_the_input(output, fmt, source)
    try:
        with output_lock(output):
            return _run(
                settings, items, output, None, fmt, title, overwrite, concurrency, pipeline, on_start, on_record
            )
    except OSError as exc:  # before any answer (the lock, --overwrite, the resume rewrite): nothing was lost
        raise WriteError(f"cannot write {exc.filename or output} ({exc.strerror or exc})") from exc


def _run(
    settings: Settings,
    items: list[Item],
    out_path: Path | None,
    stream: TextIO | None,
    fmt: str,
    title: str,
    overwrite: bool,
    workers: int,
    pipeline: Any,
    on_start: OnStart | None,
    on_record: OnRecord | None,
) -> BatchSummary:
    # Where results go, and what an earlier run already answered.
    kept: list[dict[str, Any]] = []
    journal_path: Path | None = None
    if out_path is not None:
        journal_path = out_path if fmt == "jsonl" else out_path.with_name(out_path.name + ".journal.jsonl")
        if overwrite:
            journal_path.unlink(missing_ok=True)
            out_path.unlink(missing_ok=True)
        kept, dropped = load_journal(journal_path)
        if dropped:  # drop failed and partial lines now, so the file never holds two lines for one question
            _rewrite_jsonl(journal_path, kept)
    done = {record_key(r) for r in kept}
    pending = [it for it in items if it.key not in done]
    summary = BatchSummary(total=len(items), skipped=len(items) - len(pending), output=str(out_path or "-"))
    if on_start:
        on_start(summary.skipped, len(pending))

    if pending and workers > 1 and not _is_server(settings, pipeline):
        log.warning(
            "--concurrency %d needs a model server (--llm-url); the in-process model answers one question "
            "at a time, so the batch runs sequentially",
            workers,
        )
        workers = 1
    t0 = time.perf_counter()
    sink = None
    if pending:
        if pipeline is None:
            from assistant.answer.session import make_pipeline

            pipeline = make_pipeline(settings)
        with ExitStack() as stack:
            if journal_path is None:
                assert stream is not None
                fh: TextIO = stream
            else:
                fh = stack.enter_context(open(journal_path, "a", encoding="utf-8"))
            sink = make_sink(fmt if journal_path is None else "jsonl", fh, items, title)

            def emit(rec: dict[str, Any]) -> None:
                sink.write(rec)
                kept.append(rec)
                summary.add(rec)
                log.info("%s: %s", rec["id"], "failed: " + rec["error"] if rec["error"] else "answered")
                if on_record:
                    on_record(rec)

            try:
                summary.interrupted = answer_all(pipeline, pending, workers, emit, Turns(items, kept))
            except OSError as exc:
                # A full disk (or the output's file system gone read-only) mid-run: stop, keep what was written
                # (a partial last line is dropped on resume), and say so with the summary instead of a traceback.
                summary.write_error = f"cannot write {journal_path or 'the output'} ({exc.strerror or exc})"
    summary.elapsed_s = time.perf_counter() - t0
    if summary.write_error:
        return summary  # no final rewrite: it needs the space that is missing, and resume does it

    if out_path is None:
        if sink is not None:
            sink.end(summary.line())
    elif fmt == "jsonl":
        ordered = in_input_order(kept, items)
        if not summary.interrupted and [record_key(r) for r in ordered] != [record_key(r) for r in kept]:
            _rewrite_jsonl(out_path, ordered)
    else:
        ordered = in_input_order(kept, items)

        def render(fh: TextIO) -> None:
            s = make_sink(fmt, fh, items, title)
            for r in ordered:
                s.write(r)
            s.end(_summary_of(ordered, summary.interrupted).line())

        write_atomic(out_path, render)
    return summary


def _not_the_input(output: Path, fmt: str, source: Path) -> None:
    """Writing answers over the questions would destroy them: resume rewrites the output, --overwrite deletes it.
    samefile compares device and inode, so another name, a symlink or a hard link to the input is caught too."""
    candidates = [output, lock_path(output)]
    if fmt != "jsonl":
        candidates.append(output.with_name(output.name + ".journal.jsonl"))
    for path in candidates:
        try:
            same = path.exists() and source.exists() and os.path.samefile(path, source)
        except OSError:
            same = False
        if same:
            what = "the output" if path == output else f"the output's {path.name}"
            raise BatchInputError(
                f"{output}: {what} would be the question file {source} itself; choose another -o (the questions "
                "are left as they are)"
            )


def _rewrite_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    def render(fh: TextIO) -> None:
        sink = JsonlSink(fh)
        for r in records:
            sink.write(r)

    write_atomic(path, render)


def _is_server(settings: Settings, pipeline) -> bool:
    if settings.llm_url:
        return True
    if pipeline is None:
        return False
    from assistant.generate.openai_compat import OpenAICompatibleGenerator

    return isinstance(getattr(pipeline, "generator", None), OpenAICompatibleGenerator)
