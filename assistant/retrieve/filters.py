"""Filters by source file, author, year and venue, applied inside retrieval on both sides.

A filter is a `where` in Chroma's syntax over the keys of PaperTable (index/table.py: `src:<file>`, `au:<name
word>`, `ve:<venue word>`, an int `year`). The loaded index turns it into a mask over its papers and chunks in
well under a millisecond, and both sides search only the chunks it keeps: the dense side ranks them by exact cosine
or through an HNSW query (retrieve/dense.py), the lexical side masks BM25. So both rankings draw from the same
papers and top-k stays full however few papers match. Chroma's own rows carry only `paper_id` and `year` (the
flags cost a third of every add: index/store.py chunk_metadata), so when a search must go to Chroma (an index
without a vectors file), chroma_where turns the flags into the list of papers that carry them.

    --author Vaswani        every word of the name among a paper's author names (accents and case folded)
    --year 2023..2024       inclusive; open ranges 2024.. and ..2020; a single year 2023
    --venue NeurIPS         every word among the venue's words ("Advances in Neural Information Processing
                            Systems" also answers to NeurIPS/NIPS: ingest/metadata.py VENUE_ALIASES)
"""

from __future__ import annotations

import re
from typing import Any

from assistant.errors import ConfigError
from assistant.index.table import PREFIXES as _PREFIXES
from assistant.index.table import PaperTable
from assistant.ingest.metadata import name_tokens, venue_tokens

__all__ = ["PaperTable", "build_where", "chroma_where", "combine", "describe", "parse_years", "table_for"]

_RANGE = re.compile(r"^\s*(\d{4})?\s*(?:\.\.|–|—)\s*(\d{4})?\s*$")


def parse_years(text: str) -> tuple[int | None, int | None]:
    """'2023..2024' -> (2023, 2024); '2024..' -> (2024, None); '..2020' -> (None, 2020); '2023' -> (2023, 2023)."""
    t = text.strip()
    if re.fullmatch(r"\d{4}", t):
        return int(t), int(t)
    m = _RANGE.match(t)
    if not m or not (m.group(1) or m.group(2)):
        raise ConfigError(f"--year {text!r}: give YEAR, FROM..TO, FROM.. or ..TO (e.g. --year 2023..2024)")
    lo, hi = (int(g) if g else None for g in m.groups())
    if lo is not None and hi is not None and lo > hi:
        raise ConfigError(f"--year {text!r}: the range ends before it starts")
    return lo, hi


def build_where(
    source: str | None = None, author: str | None = None, year: str | None = None, venue: str | None = None
) -> dict[str, Any] | None:
    """The Chroma `where` for the command-line filters; None when none is given. Bad input is a ConfigError."""
    clauses: list[dict[str, Any]] = []
    if source:
        clauses.append({f"src:{source}": True})
    if author is not None:
        words = name_tokens(author)
        if not words:
            raise ConfigError(f"--author {author!r}: give a name (initials alone match nothing)")
        clauses += [{f"au:{w}": True} for w in words]
    if year:
        lo, hi = parse_years(year)
        if lo is not None:
            clauses.append({"year": {"$gte": lo}})
        if hi is not None:
            clauses.append({"year": {"$lte": hi}})
    for flag, value in (("--author", author), ("--venue", venue)):
        if value is not None and len(value) > MAX_FILTER_CHARS:
            raise ConfigError(f"{flag}: {len(value):,} characters; give a few words (at most {MAX_FILTER_CHARS})")
    if venue is not None:
        aliases = _alias_words(venue)  # once: per word it made a 69 KB value take 28 s
        words = [w for w in venue_tokens(venue) if w not in aliases]
        if not words:
            raise ConfigError(f"--venue {venue!r}: give a word of the venue's name (e.g. --venue NeurIPS)")
        clauses += [{f"ve:{w}": True} for w in words]
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


MAX_FILTER_CHARS = 500  # a venue or an author name is a line, not a document


def _alias_words(text: str) -> set[str]:
    """Short names venue_tokens adds for a long name: the query asks for the words given, not their aliases."""
    given = set(re.findall(r"\w+", text.casefold()))
    return set(venue_tokens(text)) - given


def combine(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    if not a or not b:
        return a or b
    parts = [*(a.get("$and") or [a]), *(b.get("$and") or [b])]
    return {"$and": parts}


def describe(where: dict[str, Any] | None) -> str:
    """The filter in the words of the command line: 'author vaswani, year 2024..'."""
    out: list[str] = []
    years: dict[str, int] = {}
    for clause in (where or {}).get("$and") or ([where] if where else []):
        for key, value in clause.items():
            if key == "year" and isinstance(value, dict):
                years.update(value)
            elif key.startswith(_PREFIXES):
                kind = {"src:": "source", "au:": "author", "ve:": "venue"}[key[: key.index(":") + 1]]
                out.append(f"{kind} {key.split(':', 1)[1]}")
            else:
                out.append(f"{key} {value}")
    if years:
        lo, hi = years.get("$gte", years.get("$gt", "")), years.get("$lte", years.get("$lt", ""))
        out.append(f"year {lo if lo == hi else f'{lo}..{hi}'}")
    return ", ".join(out)


def chroma_where(where: dict[str, Any], table: PaperTable) -> dict[str, Any]:
    """`where` as Chroma can evaluate it on the keys its rows carry: each author, venue or source flag becomes a
    `paper_id` list from the table; `year` and keys of Chroma's own pass through."""
    for op in ("$and", "$or"):
        if op in where and len(where) == 1:
            return {op: [chroma_where(c, table) for c in where[op]]}
    if len(where) != 1:
        return chroma_where({"$and": [{k: v} for k, v in where.items()]}, table)
    ((key, value),) = where.items()
    if not key.startswith(_PREFIXES) or value not in (True, {"$eq": True}):
        return where
    rows = table.members(key)
    # No paper carries it: an id no chunk has, since Chroma rejects an empty list.
    return {"paper_id": {"$in": [table.pids[int(i)] for i in rows] if rows is not None and len(rows) else [""]}}


def table_for(index) -> PaperTable:
    """The PaperTable of a loaded index generation (from its snapshot, or built on its first filtered search)."""
    return index.table
