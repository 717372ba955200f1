"""assistant/ingest/memory.py: one malloc arena for an ingest's threads (glibc only)."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Threads that allocate, then glibc's own per-arena report (malloc_stats prints one "Arena N:" block each).
SCRIPT = """
import ctypes, sys, threading
if sys.argv[1] == "share":
    from assistant.ingest.memory import share_one_malloc_arena
    share_one_malloc_arena()
def work():
    keep = [bytearray(200) for _ in range(5000)]
    del keep
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
ctypes.CDLL("libc.so.6").malloc_stats()
"""


def _arenas(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], cwd=ROOT, capture_output=True, text=True, check=True)
    return sum(line.startswith("Arena ") for line in out.stderr.splitlines())


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")
def test_after_share_one_malloc_arena_new_threads_allocate_from_the_main_arena():
    assert _arenas("own") > 1  # the default this guards against: a thread gets an arena of its own
    assert _arenas("share") == 1
