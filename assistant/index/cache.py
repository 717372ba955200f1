"""A snapshot of a loaded index generation on disk: papers, chunk refs, IDF, the filter table and the BM25 model.

Rebuilding these from a Chroma dump costs seconds at 20,000 papers (the dump itself, sentence splitting,
tokenising every chunk for BM25). A generation never changes after its flip, so the snapshot is keyed by the
collection's name and id and needs no invalidation: a new ingest is a new key. Plain JSON and numpy arrays
(loaded with allow_pickle=False), written to a temp folder and renamed, so a reader sees all or nothing; an
unreadable snapshot is ignored and rebuilt.

Laid out so that a reader decodes only what a question touches (index/lazy.py): `index.json` holds the paper and
chunk ids, the IDF table, the title terms and the filter keys; `papers.jsonl` one paper per line, found by the
offsets in `arrays.npz`, which also holds the chunk refs and the filter table. At 100,000 papers the layout with
every paper in one JSON document took 2.5 s of a cold `ask` to read and decode.

Beside them, `vectors.npy`: every chunk's vector (float16, in chunk order), written by the ingest as it goes. A
filtered search ranks the chunks a filter allows by exact cosine over these rows (retrieve/dense.py) instead of
asking Chroma to evaluate the `where` in SQLite, which took 0.4-1.4 s at 100,000 papers. It is optional: a
snapshot without it (from an older version, or when it could not be written) filters through Chroma as before.
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

import numpy as np

from assistant.config import Settings
from assistant.index.lazy import ChunkRefs, Papers, dumps, loads

log = logging.getLogger(__name__)
VECTORS = "vectors.npy"
VERSION = 2  # bump when the snapshot layout or what it derives (terms, sentence splitting) changes


def _root(settings: Settings) -> Path:
    return settings.data_dir / "index-cache"


def _folder(settings: Settings, collection) -> Path:
    return _root(settings) / f"v{VERSION}-{collection.name}-{collection.id}"


def read(settings: Settings, collection) -> tuple[dict[str, Any], Any, Any] | None:
    """(parts, bm25 model, vectors or None) or None when there is no usable snapshot for this generation. In
    `parts`, "papers" and "chunks" are lazy views (index/lazy.py) and "arrays" the filter table's arrays."""
    folder = _folder(settings, collection)
    if not (folder / "index.json").is_file():
        return None
    try:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        parts = loads((folder / "index.json").read_bytes())
        with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        pids, cids = parts["paper_ids"], parts["chunk_ids"]
        if len(arrays["paper_off"]) != len(pids) + 1 or len(arrays["chunk_paper"]) != len(cids):
            raise ValueError("the arrays do not match the ids")
        parts["papers"] = Papers(pids, folder / "papers.jsonl", arrays["paper_off"])
        parts["chunks"] = ChunkRefs(cids, pids, arrays["chunk_paper"], arrays["sent_off"], arrays["sent_flat"])
        parts["arrays"] = arrays
        bm25 = bm25s.BM25.load(str(folder / "bm25"), mmap=True, allow_pickle=False, show_progress=False)
        return parts, bm25, _vectors(folder, len(cids))
    except Exception as exc:  # noqa: BLE001 - a damaged cache is never fatal: rebuild from the store
        # A file gone mid-read is an ingest replacing the generation (the reader then loads the new one).
        level = logging.INFO if isinstance(exc, FileNotFoundError) else logging.WARNING
        log.log(level, "ignoring the index snapshot in %s (%s: %s)", folder, type(exc).__name__, exc)
        return None


def _dump(fh, parts: dict[str, Any]) -> None:
    """index.json, written item by item, so that the id lists (hundreds of thousands at 100,000 papers) never
    exist again as one string in memory. The papers themselves go to papers.jsonl, a line each (_write_parts)."""
    fh.write("{")
    for n, (key, value) in enumerate(parts.items()):
        fh.write(("," if n else "") + json.dumps(key) + ":")
        if isinstance(value, dict):
            fh.write("{")
            for i, (k, v) in enumerate(value.items()):
                fh.write(
                    ("," if i else "") + json.dumps(k, ensure_ascii=False) + ":" + json.dumps(v, ensure_ascii=False)
                )
            fh.write("}")
        elif isinstance(value, (str, int, float, bool)) or value is None:
            fh.write(json.dumps(value))
        else:
            fh.write("[")
            for i, item in enumerate(value):
                fh.write(("," if i else "") + json.dumps(item, ensure_ascii=False))
            fh.write("]")
    fh.write("}")


def _vectors(folder: Path, chunks: int):
    """The vectors file, memory-mapped (only the rows a search reads are paged in); None if absent or not whole."""
    path = folder / VECTORS
    if not path.is_file():
        return None
    try:
        vecs = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        log.warning("ignoring %s (%s)", path, exc)
        return None
    if vecs.ndim != 2 or vecs.shape[0] != chunks:
        log.warning("ignoring %s: %s rows for %d chunks", path, vecs.shape, chunks)
        return None
    return vecs


class VectorWriter:
    """Appends each batch's vectors to a temp .npy under the snapshot root; `install` moves it into the snapshot.
    Rows go to the file as they come, so the ingest holds none of them. Failure only logs: the file is a speed-up."""

    def __init__(self, settings: Settings, rows: int):
        self.root = _root(settings)
        self.rows = rows
        self.done = 0
        self.path: Path | None = None
        self._fh: Any = None

    def append(self, vecs) -> None:
        if self.done < 0:
            return
        try:
            if self._fh is None:
                self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd, name = tempfile.mkstemp(dir=self.root, prefix=".tmp-vectors-", suffix=".npy")
                self.path, self._fh = Path(name), os.fdopen(fd, "wb")
                header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)), "fortran_order": False}
                np.lib.format.write_array_header_1_0(self._fh, {**header, "shape": (self.rows, int(vecs.shape[1]))})
            self._fh.write(np.ascontiguousarray(vecs, dtype=np.float16).tobytes())
            self.done += len(vecs)
        except OSError as exc:
            log.warning("could not write the vectors file (%s); filtered searches will ask Chroma", exc)
            self.discard()

    def finish(self) -> Path | None:
        """The whole file, or None (and nothing left behind) when a write failed or rows are missing."""
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError:
                self.done = -1
            self._fh = None
        if self.done != self.rows:
            self.discard()
            return None
        return self.path

    def discard(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError:
                pass
            self._fh = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)
        self.done = -1


PENDING = ".ingest-pending"  # the running ingest's snapshot (ingests hold the index lock: one at a time)


def prepare(settings: Settings, parts: dict[str, Any], bm25) -> Path:
    """Write an ingest's snapshot before its embedding starts, so that the ingest can let go of the BM25 model and
    the IDF table (hundreds of MB at 100,000 papers) for the rest of the run; `install` moves it in after the flip.
    A folder a killed ingest left is replaced. Raises OSError, leaving no folder behind."""
    pending = _root(settings) / PENDING
    shutil.rmtree(pending, ignore_errors=True)
    try:
        pending.mkdir(parents=True, mode=0o700)
        _write_parts(pending, parts, bm25)
    except BaseException:
        shutil.rmtree(pending, ignore_errors=True)
        raise
    return pending


def _write_parts(folder: Path, parts: dict[str, Any], bm25) -> None:
    """`parts` as Index.snapshot makes them: "json" (small parts), "papers" (dicts, one per line, in the order of
    the paper ids) and "arrays"."""
    offsets = [0]
    with open(folder / "papers.jsonl", "wb") as fh:
        for paper in parts["papers"]:
            line = dumps(paper) + b"\n"
            fh.write(line)
            offsets.append(offsets[-1] + len(line))
    np.savez(folder / "arrays.npz", paper_off=np.asarray(offsets, dtype=np.int64), **parts["arrays"])
    with open(folder / "index.json", "w", encoding="utf-8") as fh:
        _dump(fh, parts["json"])
    bm25.save(str(folder / "bm25"), show_progress=False)


def write(settings: Settings, collection, parts: dict[str, Any], bm25, vectors: Path | None = None) -> None:
    """Save the snapshot and drop those of older generations. Failure (read-only dir, disk full) only logs.
    `vectors`: a finished VectorWriter file, moved into the snapshot."""
    root = _root(settings)
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
    except OSError as exc:
        log.warning("could not save the index snapshot in %s (%s)", root, exc)
        return
    try:
        _write_parts(tmp, parts, bm25)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        log.warning("could not save the index snapshot in %s (%s)", root, exc)
        return
    install(settings, collection, tmp, vectors)


def install(settings: Settings, collection, folder: Path, vectors: Path | None = None) -> None:
    """Make a written snapshot folder (write's temp folder, or prepare's) the one of `collection`, and drop those
    of older generations. Failure only logs; the folder is removed either way."""
    root = _root(settings)
    target = _folder(settings, collection)
    try:
        try:
            if vectors is not None:
                try:
                    os.replace(vectors, folder / VECTORS)
                except OSError as exc:  # the snapshot is still whole without it
                    log.warning("could not move the vectors file into the snapshot (%s)", exc)
            aside = None
            if target.exists():  # a damaged snapshot: set it aside (a rename cannot replace a full folder)
                aside = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
                os.replace(target, aside / "old")
            os.replace(folder, target)
            if aside is not None:
                shutil.rmtree(aside, ignore_errors=True)
        except OSError:
            if not (target / "index.json").is_file():  # not another process having won the race
                raise
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        # Older generations of this collection, and any older layout, are dead once the pointer moved on.
        same_base = re.compile(rf"v{VERSION}-{re.escape(settings.collection)}-\d{{14}}-")
        for old in root.iterdir():
            stale = (
                same_base.match(old.name)
                or (old.name.startswith("v") and not old.name.startswith(f"v{VERSION}-"))
                or (old.name.startswith(".tmp-") and not _fresh_tmp(old))
            )
            if old != target and stale:
                if old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
                else:  # a vectors file an interrupted ingest left (VectorWriter)
                    old.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not save the index snapshot in %s (%s)", root, exc)


def _fresh_tmp(path: Path) -> bool:
    """A temp folder another process may still be writing (under a minute old)."""
    try:
        return time.time() - path.stat().st_mtime < 60
    except OSError:
        return False
