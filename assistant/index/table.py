"""The filterable fields of every paper of one index generation, as arrays (see retrieve/filters.py for the
filters themselves): a `where` becomes a boolean mask over papers and chunks in well under a millisecond at 100,000
papers. The snapshot stores these arrays, so a filtered cold `ask` does not derive them from every paper."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from assistant.ingest.metadata import filter_keys

PREFIXES = ("src:", "au:", "ve:")


class PaperTable:
    """The filterable fields of every paper of one loaded index, as arrays: a `where` becomes a boolean mask over
    papers (and chunks) in well under a millisecond at 100,000 papers."""

    def __init__(self, papers: Mapping, chunk_paper_ids: list[str] | None = None):
        self.pids = list(papers)
        pos = {pid: i for i, pid in enumerate(self.pids)}
        self.years = np.zeros(len(self.pids), dtype=np.int32)
        members: dict[str, list[int]] = {}
        for i, p in enumerate(papers.values()):
            keys = filter_keys(p)
            self.years[i] = keys.pop("year", 0)
            for k in keys:
                members.setdefault(k, []).append(i)
            for s in p.sources:
                members.setdefault(f"src:{s}", []).append(i)
        self.keys = list(members)
        self._key_pos = {k: n for n, k in enumerate(self.keys)}
        lengths = [len(members[k]) for k in self.keys]
        self.key_off = np.zeros(len(self.keys) + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.key_off[1:])
        self.key_rows = np.fromiter((i for k in self.keys for i in members[k]), np.int32, int(self.key_off[-1]))
        self.chunk_paper = (
            np.asarray([pos[pid] for pid in chunk_paper_ids], dtype=np.int64) if chunk_paper_ids is not None else None
        )

    def members(self, key: str) -> np.ndarray | None:
        """Positions of the papers that carry a filter key (au:..., ve:..., src:...)."""
        n = self._key_pos.get(key)
        return None if n is None else self.key_rows[self.key_off[n] : self.key_off[n + 1]]

    def arrays(self) -> dict[str, np.ndarray]:
        """What the snapshot stores (besides self.keys and the paper order); from_arrays reads it back."""
        return {"years": self.years, "key_off": self.key_off, "key_rows": self.key_rows}

    @classmethod
    def from_arrays(
        cls, pids: list[str], keys: list[str], arrays: Mapping[str, np.ndarray], chunk_paper: np.ndarray | None
    ) -> PaperTable:
        table = cls.__new__(cls)
        table.pids, table.keys = pids, keys
        table._key_pos = {k: n for n, k in enumerate(keys)}
        table.years, table.key_off, table.key_rows = arrays["years"], arrays["key_off"], arrays["key_rows"]
        if len(table.years) != len(pids) or len(table.key_off) != len(keys) + 1:
            raise ValueError("the filter arrays do not match the papers")
        table.chunk_paper = chunk_paper
        return table

    def paper_mask(self, where: dict[str, Any]) -> np.ndarray | None:
        """Which papers match; None when the `where` uses something other than the keys above (then the caller
        falls back to what the dense side found)."""
        n = len(self.pids)
        if "$and" in where or "$or" in where:
            if len(where) != 1:
                return None
            op = "$and" if "$and" in where else "$or"
            found = [self.paper_mask(c) for c in where[op]]
            masks = [m for m in found if m is not None]
            if len(masks) < len(found) or not masks:
                return None
            out = masks[0].copy()
            for m in masks[1:]:
                out = out & m if op == "$and" else out | m
            return out
        if len(where) != 1:
            return self.paper_mask({"$and": [{k: v} for k, v in where.items()]})
        ((key, value),) = where.items()
        if key == "year":
            return self._years(value)
        if key.startswith(PREFIXES) and value in (True, {"$eq": True}):
            out = np.zeros(n, dtype=bool)
            idx = self.members(key)
            if idx is not None:
                out[idx] = True
            return out
        return None

    def _years(self, cond: Any) -> np.ndarray | None:
        y = self.years
        known = y > 0  # a paper without a year matches no year filter, as in Chroma
        if not isinstance(cond, dict):
            return known & (y == cond) if isinstance(cond, int) else None
        out = known.copy()
        for op, v in cond.items():
            if not isinstance(v, int):
                return None
            if op == "$gte":
                out &= y >= v
            elif op == "$lte":
                out &= y <= v
            elif op == "$gt":
                out &= y > v
            elif op == "$lt":
                out &= y < v
            elif op == "$eq":
                out &= y == v
            else:
                return None
        return out

    def chunk_mask(self, where: dict[str, Any]) -> np.ndarray | None:
        mask = self.paper_mask(where)
        if mask is None or self.chunk_paper is None:
            return None
        return mask[self.chunk_paper]

    def matching(self, where: dict[str, Any]) -> list[str] | None:
        mask = self.paper_mask(where)
        return None if mask is None else [pid for pid, m in zip(self.pids, mask) if m]
