"""`assistant batch`: flags in; progress, the resume note and the summary out. The work is assistant/batch/runner.py.

Exit codes: 0 every question answered (abstentions count), 1 some failed, 2 bad input or flags, 5 another batch is
writing the same output, 10 the output could not be written (a full disk: the summary and the resume hint come
first), 130 interrupted by Ctrl-C (SIGINT), 143 by SIGTERM (128 + 15, what a shell reports for a process killed by
it). An interrupted batch, by either signal, prints the same summary with the resume hint.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from assistant.batch.inputs import BatchInputError, read_questions
from assistant.batch.outputs import output_format
from assistant.batch.runner import BatchSummary, answer_batch
from assistant.cli.filters import ScopedPipeline, where_from
from assistant.config import Settings
from assistant.errors import WriteError
from assistant.text import printable

SIGINT_EXIT, SIGTERM_EXIT = 130, 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C, so that the batch stops the same way (main.py: exit 143)."""

    exit_code = SIGTERM_EXIT


@contextmanager
def sigterm_as_interrupt() -> Iterator[dict[str, bool]]:
    """While inside, SIGTERM raises Terminated; yields a dict whose "terminated" tells whether it came."""
    state = {"terminated": False}
    if threading.current_thread() is not threading.main_thread():  # signal handlers live in the main thread only
        yield state
        return

    def handler(signum, frame):
        state["terminated"] = True
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Progress:
    """A rich bar with rate and ETA on a terminal; nothing otherwise."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar: Any = None
        self.task: Any = None

    def start(self, total: int) -> None:
        if not self.enabled or not total:
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


def run_batch(
    args,
    settings: Settings,
    pipeline=None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """`assistant batch` from parsed flags; returns the exit code. `pipeline` (anything with `.ask`) is built from
    settings when None."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    quiet = bool(getattr(args, "quiet", False))
    output = getattr(args, "output", None) or "-"
    concurrency = getattr(args, "concurrency", None)
    concurrency = 1 if concurrency is None else concurrency  # not `or 1`: that made 0 mean 1 while -3 was refused
    if concurrency < 1:
        raise BatchInputError("--concurrency must be at least 1")
    items = read_questions(args.input, stdin)
    where = where_from(args)
    if where:  # --author/--year/--venue/--source: every question's retrieval keeps to them
        from assistant.index.store import require_store

        if pipeline is None:
            require_store(settings)
        pipeline = ScopedPipeline(settings, where, pipeline)
    progress = _Progress(stderr.isatty() and not quiet)

    def on_start(skipped: int, pending: int) -> None:
        if skipped and not quiet:
            print(f"resuming {output}: {skipped} of {skipped + pending} questions already answered", file=stderr)
        progress.start(pending)

    try:
        with sigterm_as_interrupt() as signals:
            summary = answer_batch(
                settings,
                items,
                output=None if output == "-" else Path(output),
                stream=stdout,
                fmt=output_format(getattr(args, "format", None), output),
                title="stdin" if args.input == "-" else Path(args.input).name,
                overwrite=bool(getattr(args, "overwrite", False)),
                concurrency=concurrency,
                pipeline=pipeline,
                on_start=on_start,
                on_record=lambda rec: progress.advance(),
                source=None if args.input == "-" else Path(args.input),
            )
    finally:
        progress.stop()
    print_summary(summary, quiet, stderr)
    if summary.write_error:
        raise WriteError(summary.write_error)  # main prints it as one `error:` line, exit 10
    if summary.interrupted:
        return SIGTERM_EXIT if signals["terminated"] else SIGINT_EXIT
    return 1 if summary.failed else 0


def print_summary(summary: BatchSummary, quiet: bool, stderr: TextIO) -> None:
    if quiet and not summary.failed and not summary.interrupted and not summary.write_error:
        return
    print(summary.line(), file=stderr)
    for line in summary.failures[:5]:
        print(f"  failed {printable(line)}", file=stderr)
    if len(summary.failures) > 5:
        print(f"  … and {len(summary.failures) - 5} more (see the error field)", file=stderr)
