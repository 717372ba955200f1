"""The one place that talks to Chroma: embedded persistent store by default, a Chroma server optionally.

Every ingest writes a fresh collection and then flips a pointer (the metadata of a tiny
`<base>-active` collection, one SQLite transaction), so readers always see a whole index:
the old one or the new one, never a half-written mix.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from assistant.config import Settings
from assistant.errors import IndexMissingError, StoreError
from assistant.index.pointer import read_active
from assistant.types import Chunk, Paper

log = logging.getLogger(__name__)
SCHEMA = 2  # 2: chunk 0 packs its paper into one key; no filter flags (chunk_metadata)


@dataclass
class IndexInfo:
    collection: str
    embed_model: str
    chunk_tokens: int
    chunk_overlap: int
    papers: int
    chunks: int
    created: float


def store_exists(settings: Settings) -> bool:
    """Whether there is a store to open. Reading never creates one: an absent embedded store is "no index".
    A server always counts; so does a `chroma` path that is not a folder (opening it then reports the damage)."""
    if settings.chroma_url:
        return True
    path = settings.data_dir / "chroma"
    return path.exists() and (not path.is_dir() or (path / "chroma.sqlite3").exists())


def require_store(settings: Settings) -> None:
    """Raise IndexMissingError, writing nothing, when there is no store to read."""
    if not store_exists(settings):
        raise IndexMissingError(f"no index yet in {settings.data_dir}; build one with: assistant ingest seeds/")


LOW_SPACE_BYTES = 4 << 20  # below this much free space, SQLite and Chroma's segments cannot write a batch


def storage_trouble(path: Path, exc: BaseException | None = None) -> str | None:
    """Why writing at `path` fails when it is not damage: "disk full" or "read-only", else None.

    Chroma and SQLite wrap the OS error in their own ("Failed to apply logs to the metadata segment", "database or
    disk is full", "attempt to write a readonly database"), so the chain, the text and the file system are all
    asked. Telling these apart matters: the advice for a damaged store (move it aside, rebuild) would throw away
    a healthy index."""
    seen: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in seen:
        seen.append(e)
        e = e.__cause__ or e.__context__
    codes = {getattr(e, "errno", None) for e in seen}
    text = " ".join(str(e) for e in seen).lower()
    if errno.ENOSPC in codes or errno.EDQUOT in codes or "disk is full" in text or "no space left" in text:
        return "disk full"
    if errno.EROFS in codes or "readonly database" in text or "read-only file system" in text:
        return "read-only"
    where = Path(path)
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        st = os.statvfs(where)
    except OSError:
        return None
    if st.f_flag & os.ST_RDONLY:
        return "read-only"
    if st.f_bavail * st.f_frsize < LOW_SPACE_BYTES:
        return "disk full"
    if exc is not None and not os.access(where, os.W_OK):
        return "read-only"
    return None


def trouble_message(path: Path, trouble: str, what: str) -> str:
    """One line for a store that cannot be written, saying that the index itself is intact."""
    if trouble == "disk full":
        return f"{path}: {what}: the disk is full; the index is intact: free some space and run the command again"
    return (
        f"{path}: {what}: the store is read-only (a read-only file system or no write permission; Chroma writes "
        "even to read); the index is intact: make it writable, or copy the data dir elsewhere and pass --data-dir"
    )


def _client(settings: Settings):
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    try:
        import chromadb
        from chromadb.config import Settings as ChromaSettings
    except ImportError as exc:  # pragma: no cover - a broken install
        raise StoreError(f"chromadb is not installed ({exc}); run: pip install chromadb") from exc
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise StoreError(f"chroma_url {settings.chroma_url!r} is not an http(s)://host:port URL")
        try:
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                headers=settings.chroma_headers or None,
                settings=chroma_settings,
            )
        except Exception as exc:
            raise StoreError(f"cannot reach the Chroma server at {settings.chroma_url}: {exc}") from exc
    path = settings.data_dir / "chroma"
    try:
        if not store_exists(settings):  # only writers get here without a store (see Store.client): create it
            settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except PermissionError as exc:
        raise StoreError(f"{path}: permission denied; choose another --data-dir") from exc
    except Exception as exc:
        trouble = storage_trouble(path, exc)
        if trouble:
            raise StoreError(trouble_message(path, trouble, "cannot open the Chroma store")) from exc
        raise StoreError(
            f"{path}: cannot open the Chroma store ({type(exc).__name__}: {exc}); "
            "move it aside and run `assistant ingest` to rebuild"
        ) from exc


def chunk_metadata(chunk: Chunk, paper: Paper) -> dict[str, Any]:
    """Every chunk: its paper, its sentences and its paper's year. Chunk 0 also carries the paper itself, packed
    into one JSON key (`paper`), so the index alone rebuilds the corpus (server mode) and every chunk's text
    (chunk_text). Each key is a row in Chroma's SQLite, and an add costs by the row: with the author, venue and
    source flags and the paper's fields as keys of their own (18.8 a chunk) an add cost 0.63-0.67 ms a chunk, with
    these (3.5) 0.44 (BENCHMARKS.md). Filters never read Chroma's metadata besides `year` and `paper_id`
    (retrieve/filters.py chroma_where). Chroma stores no documents: its full-text index of them was 40 % of an
    add, and nothing searched it. The chunk's number is in its id."""
    meta: dict[str, Any] = {"paper_id": paper.id, "sentences": json.dumps(list(chunk.sentences))}
    if paper.year:
        meta["year"] = paper.year  # the one filter Chroma can evaluate itself, however many papers match
    if chunk.index == 0:
        meta["paper"] = json.dumps(paper.to_dict(), ensure_ascii=False)
    return meta


class Store:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._client = None

    @property
    def client(self):
        """The Chroma client, creating the store when there is none: for writers (ingest, remove) only."""
        if self._client is None:
            self._client = _client(self.settings)
        return self._client

    def _reader(self):
        """The client, or None when there is no store: reading never creates one."""
        if self._client is None and not store_exists(self.settings):
            return None
        return self.client

    @property
    def pointer_name(self) -> str:
        return f"{self.settings.collection}-active"

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (IndexMissingError, StoreError):
            raise
        except Exception as exc:
            trouble = None if self.settings.chroma_url else storage_trouble(self.settings.data_dir / "chroma", exc)
            if trouble:
                raise StoreError(
                    trouble_message(self.settings.data_dir / "chroma", trouble, f"Chroma {what} failed")
                ) from exc
            raise StoreError(f"Chroma {what} failed: {type(exc).__name__}: {exc}") from exc

    # -- the pointer ------------------------------------------------------
    def active_ref(self):
        """The active generation as a GenerationRef read from SQLite without starting Chroma (index/pointer.py),
        or else its Chroma collection. IndexMissingError when there is none."""
        return read_active(self.settings, self.pointer_name) or self.active()

    def active_name(self) -> str | None:
        ref = read_active(self.settings, self.pointer_name)
        if ref is not None:
            return ref.name
        client = self._reader()  # a store that cannot be opened (corrupt, unreadable) is a StoreError, not "no index"
        if client is None:
            return None
        try:
            col = client.get_collection(self.pointer_name)
        except Exception:
            return None
        return (col.metadata or {}).get("active")

    def info(self) -> IndexInfo | None:
        name = self.active_name()
        if name is None:
            return None
        client = self.client  # a store that cannot be opened is a StoreError, not "no index"
        try:
            col = client.get_collection(name)
        except Exception:
            return None
        m = col.metadata or {}
        return IndexInfo(
            name,
            m.get("embed_model", "?"),
            int(m.get("chunk_tokens", 0)),
            int(m.get("chunk_overlap", 1)),
            int(m.get("papers", 0)),
            int(m.get("chunks", 0)),
            float(m.get("created", 0)),
        )

    def active(self):
        name = self.active_name()
        if name is None:
            raise IndexMissingError(
                f"no index yet in {self.settings.data_dir}; build one with: assistant ingest seeds/"
            )
        client = self.client  # a store that cannot be opened is a StoreError, not a missing collection
        try:
            return client.get_collection(name)
        except Exception as exc:
            raise IndexMissingError(
                f"the index collection {name!r} is missing; rebuild with: assistant ingest seeds/"
            ) from exc

    def set_active(self, name: str) -> None:
        def flip():
            col = self.client.get_or_create_collection(self.pointer_name, metadata={"active": name})
            col.modify(metadata={"active": name, "flipped": time.time()})

        self._call("pointer update", flip)

    # -- writing a new generation -------------------------------------------
    def create_generation(self, metadata: dict[str, Any]):
        name = f"{self.settings.collection}-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
        meta = {"hnsw:space": "cosine", "schema": SCHEMA, "created": time.time(), **metadata}
        return self._call("create collection", self.client.create_collection, name, metadata=meta)

    def add(self, col, ids: list[str], embeddings, metadatas: list[dict]) -> None:
        step = max(1, min(self._call("batch size", self.client.get_max_batch_size), 5000))
        for i in range(0, len(ids), step):
            self._call(
                "add",
                col.add,
                ids=ids[i : i + step],
                embeddings=embeddings[i : i + step],
                metadatas=metadatas[i : i + step],
            )

    def drop_stale(self, keep: str | None) -> None:
        """Delete generations other than the active one (left by finished or interrupted ingests)."""
        prefix = f"{self.settings.collection}-"
        for col in self.client.list_collections():
            name = col if isinstance(col, str) else col.name
            if name.startswith(prefix) and name not in (keep, self.pointer_name) and name[len(prefix) :][:1].isdigit():
                log.info("dropping old index generation %s", name)
                try:
                    self.client.delete_collection(name)
                except Exception as exc:  # another ingest may own it; harmless
                    log.debug("could not drop %s: %s", name, exc)

    # -- reading ----------------------------------------------------------
    def dump(self, col=None, embeddings: bool = False) -> dict[str, Any]:
        col = col or self.active()
        include = ["documents", "metadatas"] + (["embeddings"] if embeddings else [])
        total = self._call("count", col.count)
        out: dict[str, list] = {"ids": [], "documents": [], "metadatas": [], "embeddings": []}
        step = 5000
        for offset in range(0, total, step):
            got = self._call("get", col.get, include=include, limit=step, offset=offset)
            out["ids"] += got["ids"]
            out["documents"] += got["documents"]
            out["metadatas"] += got["metadatas"]
            if embeddings:
                out["embeddings"] += list(got["embeddings"])
        return out

    def query(self, col, embedding, n: int, where: dict | None = None) -> dict[str, Any]:
        """Ids and distances only: the loaded index has every chunk's metadata, and fetching it from SQLite for
        every hit was most of an unfiltered query's time."""
        return self._call(
            "query",
            col.query,
            query_embeddings=[embedding],
            n_results=n,
            where=where,
            include=["distances"],
        )


def papers_from_dump(dump: dict[str, Any]) -> dict[str, Paper]:
    """The papers of a generation from its chunk-0 metadata: packed in `paper`, or, in generations written before
    schema 2, as keys of their own."""
    papers: dict[str, Paper] = {}
    for meta in dump["metadatas"]:
        if "paper" in meta:
            paper = Paper.from_dict(json.loads(meta["paper"]))
            papers[paper.id] = paper
        elif "abstract" in meta:
            papers[meta["paper_id"]] = Paper(
                meta["paper_id"],
                meta["title"],
                meta["abstract"],
                tuple(json.loads(meta["sources"])),
                meta.get("date"),
                meta.get("url"),
                meta.get("authors"),
                meta.get("year"),
                meta.get("venue"),
                meta.get("doi"),
                meta.get("arxiv_id"),
            )
    return papers


def carries_paper(meta: dict[str, Any]) -> bool:
    """Whether a chunk's metadata holds its paper (chunk 0, either layout)."""
    return "paper" in meta or "abstract" in meta


def data_dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0
