"""Vectors an ingest has computed but not yet committed, so an interrupted ingest resumes instead of starting over.

Embedding is most of an ingest's time (minutes at 20,000 papers). The new generation only becomes visible at the
pointer flip, so a killed run used to lose every vector. Each streamed batch is also written here, keyed by the
SHA-1 of the chunk text, under a folder per embedding model id (a different model never reuses a vector). A batch
is one .npz file (keys + vectors, no pickle), written to a temp name and renamed, so a kill leaves whole batches or
nothing; a damaged file is ignored. The folder is emptied once an ingest commits: by then the vectors live in the
index, and the next run reuses them from there.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import numpy as np

from assistant.config import Settings

log = logging.getLogger(__name__)


def cache_root(settings: Settings) -> Path:
    return settings.data_dir / "embed-cache"


def text_key(text: str) -> bytes:
    return hashlib.sha1(text.encode()).digest()


class EmbedCache:
    def __init__(self, settings: Settings, model_id: str):
        self.folder = cache_root(settings) / hashlib.sha1(model_id.encode()).hexdigest()[:16]
        self._where: dict[bytes, tuple[Path, int]] = {}
        self._loaded = False

    def __len__(self) -> int:
        self._load()
        return len(self._where)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("*.npz")):
            try:
                with np.load(path, allow_pickle=False) as z:
                    keys = z["keys"]
                    if z["vecs"].shape[0] != len(keys):
                        raise ValueError("keys and vectors differ in length")
            except Exception as exc:  # noqa: BLE001 - a torn or foreign file only costs its vectors
                log.warning("ignoring the embedding cache file %s (%s: %s)", path, type(exc).__name__, exc)
                continue
            for row, key in enumerate(keys.tolist()):
                self._where.setdefault(key, (path, row))

    def get(self, texts: list[str]) -> dict[int, np.ndarray]:
        """Cached vectors by position in `texts`."""
        self._load()
        wanted: dict[Path, list[tuple[int, int]]] = {}
        for i, text in enumerate(texts):
            hit = self._where.get(text_key(text))
            if hit is not None:
                wanted.setdefault(hit[0], []).append((i, hit[1]))
        out: dict[int, np.ndarray] = {}
        for path, pairs in wanted.items():
            try:
                with np.load(path, allow_pickle=False) as z:
                    vecs = z["vecs"]
            except Exception as exc:  # noqa: BLE001 - deleted or damaged since it was listed: embed again
                log.warning("cannot read the embedding cache file %s (%s)", path, exc)
                continue
            for i, row in pairs:
                out[i] = np.array(vecs[row], dtype=np.float32)
        return out

    def put(self, texts: list[str], vecs: np.ndarray) -> None:
        """Save one batch for a later run. Failure (disk full, read-only) only logs: the cache is a speed-up, never
        required. The run that writes a batch does not index it: it has those vectors already, and at 200,000
        chunks the index held ~45 MB to the end of the ingest, its peak."""
        if not texts:
            return
        keys = np.array([text_key(t) for t in texts], dtype="S20")
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".npz")
            try:
                with os.fdopen(fd, "wb") as fh:
                    np.savez(fh, keys=keys, vecs=np.asarray(vecs, dtype=np.float32))
                    fh.flush()
                    os.fsync(fh.fileno())
                path = self.folder / f"{uuid.uuid4().hex}.npz"
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as exc:
            log.warning("could not save embeddings to %s (%s)", self.folder, exc)

    def clear(self, settings: Settings) -> None:
        """After a commit: every cached vector is in the index now (or belonged to an abandoned run)."""
        shutil.rmtree(cache_root(settings), ignore_errors=True)
        self._where.clear()
