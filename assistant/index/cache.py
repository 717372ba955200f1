"""A snapshot of a loaded index generation on disk: papers, chunk refs, sentences, IDF and the BM25 model.

Rebuilding these from a Chroma dump costs seconds at 20,000 papers (the dump itself, sentence splitting,
tokenising every chunk for BM25). A generation never changes after its flip, so the snapshot is keyed by the
collection's name and id and needs no invalidation: a new ingest is a new key. Plain JSON and numpy arrays
(loaded with allow_pickle=False), written to a temp folder and renamed, so a reader sees all or nothing; an
unreadable snapshot is ignored and rebuilt.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from assistant.config import Settings

log = logging.getLogger(__name__)
VERSION = 1  # bump when the snapshot layout or what it derives (terms, sentence splitting) changes


def _root(settings: Settings) -> Path:
    return settings.data_dir / "index-cache"


def _folder(settings: Settings, collection) -> Path:
    return _root(settings) / f"v{VERSION}-{collection.name}-{collection.id}"


def read(settings: Settings, collection) -> tuple[dict[str, Any], Any] | None:
    """(parts, bm25 model) or None when there is no usable snapshot for this generation."""
    folder = _folder(settings, collection)
    if not (folder / "index.json").is_file():
        return None
    try:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        parts = json.loads((folder / "index.json").read_text(encoding="utf-8"))
        bm25 = bm25s.BM25.load(str(folder / "bm25"), mmap=False, allow_pickle=False, show_progress=False)
        return parts, bm25
    except Exception as exc:  # noqa: BLE001 - a damaged cache is never fatal: rebuild from the store
        log.warning("ignoring the index snapshot in %s (%s: %s)", folder, type(exc).__name__, exc)
        return None


def write(settings: Settings, collection, parts: dict[str, Any], bm25) -> None:
    """Save the snapshot and drop those of older generations. Failure (read-only dir, disk full) only logs."""
    root = _root(settings)
    target = _folder(settings, collection)
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
        try:
            (tmp / "index.json").write_text(json.dumps(parts, ensure_ascii=False), encoding="utf-8")
            bm25.save(str(tmp / "bm25"), show_progress=False)
            aside = None
            if target.exists():  # a damaged snapshot: set it aside (a rename cannot replace a full folder)
                aside = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
                os.replace(target, aside / "old")
            os.replace(tmp, target)
            if aside is not None:
                shutil.rmtree(aside, ignore_errors=True)
        except OSError:
            if not (target / "index.json").is_file():  # not another process having won the race
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        # Older generations of this collection, and any older layout, are dead once the pointer moved on.
        same_base = re.compile(rf"v{VERSION}-{re.escape(settings.collection)}-\d{{14}}-")
        for old in root.iterdir():
            stale = (
                same_base.match(old.name)
                or (old.name.startswith("v") and not old.name.startswith(f"v{VERSION}-"))
                or (old.name.startswith(".tmp-") and not _fresh_tmp(old))
            )
            if old != target and stale:
                shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        log.warning("could not save the index snapshot in %s (%s)", root, exc)


def _fresh_tmp(path: Path) -> bool:
    """A temp folder another process may still be writing (under a minute old)."""
    try:
        return time.time() - path.stat().st_mtime < 60
    except OSError:
        return False
