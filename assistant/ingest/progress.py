"""Plain progress lines for an ingest whose stderr is a log file or a pipe (or with -v): a bar would be noise there,
and silence for minutes looks like a hang."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

EVERY_CHUNKS = 2000
EVERY_S = 5.0


class LineProgress:
    """A (done, total) callback that prints a line every `every` chunks or `interval` seconds, and at the end."""

    def __init__(
        self,
        label: str = "ingest",
        stream: TextIO | None = None,
        every: int | None = None,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.label, self.stream, self.clock = label, stream, clock
        self.every = every or EVERY_CHUNKS
        self.interval = interval or EVERY_S
        self.start: float | None = None
        self.last_t = 0.0
        self.last_done = 0
        self.lines = 0

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if self.start is None:
            self.start, self.last_t = now, now
        finished = done >= total
        if not finished and done - self.last_done < self.every and now - self.last_t < self.interval:
            return
        if finished and self.lines and done == self.last_done:
            return  # the end was already reported
        self.last_t, self.last_done = now, done
        self.lines += 1
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        left = f", about {_duration((total - done) / rate)} left" if rate and not finished else ""
        pct = 100 * done // total if total else 100
        speed = f", {rate:.{1 if rate < 10 else 0}f}/s" if rate else ""  # no rate from a single report
        print(
            f"{self.label}: {done:,}/{total:,} chunks ({pct}%){speed}{left}",
            file=self.stream or sys.stderr,
            flush=True,
        )


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"
