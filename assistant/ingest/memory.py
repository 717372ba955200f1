"""Keeping an ingest's resident memory down where glibc's allocator would hold on to it (a no-op elsewhere).

An ingest frees hundreds of MB as it goes (each batch's chunks and papers once written) while Chroma's index
grows. glibc keeps freed memory for reuse instead of returning it, and keeps it per arena: the chroma-add
thread and the runtimes' threads each allocate from an arena of their own, so Chroma's growth could not reuse
what the main thread freed, and both added up.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import time

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # mallopt parameter (malloc.h)
_TRIM_SHARE = 0.02  # of the run's time, at most, spent in malloc_trim
_trim = {"spent": 0.0, "since": 0.0}


@functools.cache
def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, musl): nothing to tune
        return None


def share_one_malloc_arena() -> None:
    """One malloc arena for every thread (MALLOC_ARENA_MAX=1), so that what one thread frees another can reuse.
    Called by `assistant ingest` before the embedder and Chroma start their threads; later calls change nothing
    for threads that already have an arena. At 50,000 records the end of an ingest held 68 MiB less (1,040 ->
    972 MiB), in the same time: the threads rarely allocate at once."""
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt") and not libc.mallopt(_M_ARENA_MAX, 1):
        log.debug("mallopt(M_ARENA_MAX, 1) was refused")


def start_trim_budget() -> None:
    """The trim budget is per run."""
    _trim.update(spent=0.0, since=0.0)


def release_freed_memory() -> None:
    """Give memory freed by the embedder's runtime back to the OS. glibc keeps it: at 20,000 papers that held
    150+ MB for the rest of the run (the ingest peaked at 1.2 GB). A trim walks the whole heap (0.5 s with the
    embedder and Chroma loaded: 7 % of an ingest when done after every batch), so a call trims only while
    trimming has cost under _TRIM_SHARE of the time since the run's first call."""
    libc = _libc()
    if libc is None or not hasattr(libc, "malloc_trim"):
        return
    now = time.perf_counter()
    if not _trim["since"]:
        _trim["since"] = now
    if _trim["spent"] > _TRIM_SHARE * (now - _trim["since"]):
        return
    libc.malloc_trim(0)
    _trim["spent"] += time.perf_counter() - now
