"""Which generation is active, read straight from the embedded store's SQLite file, without starting Chroma.

Starting the Chroma client (its import, its Rust bindings, opening the store) cost 1.1 s of a cold `ask`, and a
question answered from the index snapshot (index/cache.py) needs nothing else from Chroma. The pointer
collection's metadata and the generation's id and metadata are three indexed reads of `chroma.sqlite3`, opened
read-only. Anything unexpected (another schema, a server, a locked or damaged file, two databases with the same
collection name) returns None and the caller asks the client, which stays the authority: a test checks that both
read the same generation.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from assistant.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerationRef:
    """What a reader needs of a generation before it opens it: its name, id and metadata (a Chroma collection has
    the same three attributes, so either can key the snapshot)."""

    name: str
    id: str
    metadata: dict[str, Any] = field(default_factory=dict)


def read_active(settings: Settings, pointer_name: str) -> GenerationRef | None:
    if settings.chroma_url:
        return None
    path = settings.data_dir / "chroma" / "chroma.sqlite3"
    if not path.is_file():
        return None
    try:
        con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return None
    try:
        pointer = _metadata(con, pointer_name)
        name = pointer.get("active") if pointer else None
        if not isinstance(name, str):
            return None
        rows = con.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchall()
        if len(rows) != 1:
            return None
        return GenerationRef(name, str(rows[0][0]), _metadata(con, name) or {})
    except sqlite3.Error as exc:  # a schema this code does not know, a lock held too long: ask Chroma
        log.debug("reading the active generation from SQLite failed (%s); asking Chroma", exc)
        return None
    finally:
        con.close()


def _metadata(con: sqlite3.Connection, name: str) -> dict[str, Any] | None:
    ids = con.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchall()
    if len(ids) != 1:
        return None
    out: dict[str, Any] = {}
    for key, s, i, f, b in con.execute(
        "SELECT key, str_value, int_value, float_value, bool_value FROM collection_metadata WHERE collection_id = ?",
        (ids[0][0],),
    ):
        out[key] = s if s is not None else i if i is not None else f if f is not None else bool(b)
    return out
