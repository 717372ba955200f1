"""Which records are the same paper, and the id each distinct paper gets.

A title alone does not identify a paper: JSONL exports repeat titles ("Attention Is All You Need" thousands of
times, with different abstracts and URLs). Records that share a normalised title are the same paper only when
their abstracts are nearly identical (a re-listing, a typo fixed) or they carry the same arXiv id (a revised
abstract). Anything else with that title is a different paper and stays separate.

A DOI or an arXiv id (ingest/metadata.py normalises both) is a paper's identity when a record has one: records
that share one are the same paper whatever their titles say (a .bib, a Zotero CSL-JSON export and an arXiv listing
of one paper), and two records with different DOIs, or different arXiv ids, are different papers even when title
and abstract agree. Records without either fall back to the title and abstract rule above.

Ids: the first paper with a title keeps `paper_id(title)` (evaluation maps gold titles to ids that way); later
distinct papers with that title get `paper_id(title)-<arXiv id, else a hash of the URL, else of the abstract>`.
Ids already in the index are kept, so re-ingesting a file never renumbers papers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from difflib import SequenceMatcher
from typing import Any

from assistant.ingest.metadata import arxiv_of, identities, normalise_doi
from assistant.types import Paper

NEAR = 0.9  # word-level similarity of two abstracts of the same paper (the seeds' one re-listing: 0.98)
SCAN_ALL = 32  # a title group up to this size is compared pairwise; larger ones only through anchors
ANCHOR_WORDS = 8
_ARXIV = re.compile(
    r"(?:arxiv\.org/(?:abs|pdf)/|huggingface\.co/papers/|arxiv:\s*)(\d{4}\.\d{4,5}|[a-z-]+(?:\.[a-z]{2})?/\d{7})",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class MergeNote:
    """One record that did not become a paper of its own as it was, reported per source file."""

    source: str  # the file of the record
    # "merged": a near-copy of a paper already seen (abstract text dropped); "renamed": a different paper with a
    # title in use; "same": the record is a paper already seen, matched by DOI/arXiv id or an identical abstract
    # (nothing dropped; counted in the per-file summary, never listed one by one)
    kind: str
    title: str
    paper_id: str  # the paper it became part of ("merged") or the id it got ("renamed")
    other: str  # source file(s) of the paper it met
    dropped: int = 0  # characters of abstract text no longer indexed (merged only: the shorter abstract)
    by_id: bool = False  # matched by DOI or arXiv id rather than by title and abstract

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalise_title(title: str) -> str:
    import unicodedata

    t = unicodedata.normalize("NFKC", title).casefold()
    return " ".join(re.sub(r"[^\w\s]", " ", t).split())


def paper_id(title: str) -> str:
    """Stable id from the normalised title: the same paper in two files gets one id."""
    return hashlib.sha1(normalise_title(title).encode()).hexdigest()[:16]


def arxiv_id(url: str | None) -> str | None:
    m = _ARXIV.search(url or "")
    return m.group(1).lower() if m else None


_FIELDS = ("date", "url", "authors", "year", "venue", "doi", "arxiv_id")


def _conflicts(v: _Variant, p: Paper) -> bool:
    """Two DOIs, or two arXiv ids, that differ: different papers, however alike their texts."""
    if v.doi and p.doi and normalise_doi(v.doi) != normalise_doi(p.doi):
        return True
    a, b = v.arxiv, arxiv_of(p)
    return bool(a and b and a != b)


def _norm(text: str) -> str:
    return normalise_title(text)  # case, punctuation and spacing do not make two abstracts differ


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]


@dataclass(eq=False)  # identity, not value: variants are dict keys
class _Variant:
    """One distinct paper under a title: its records so far and the one whose text is kept. Only hashes of the
    normalised abstracts are stored: word lists of every paper cost 250 MB at 20,000 papers."""

    first: Paper
    keep: Paper
    sources: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)  # ids the records came with (index ids are kept)
    meta: dict = field(default_factory=dict)  # the first value of each field in _FIELDS any record had
    id: str = ""
    seen: set[int] = field(default_factory=set)  # hashes of the normalised abstracts met

    def __post_init__(self) -> None:
        self.meta = {k: getattr(self.first, k) for k in _FIELDS}

    @property
    def doi(self) -> str | None:
        return self.meta["doi"]

    @property
    def arxiv(self) -> str | None:
        return self.meta["arxiv_id"] or arxiv_id(self.meta["url"])

    def words(self) -> list[str]:
        return _norm(self.keep.abstract).split()

    def absorb(self, p: Paper, norm: str) -> int:
        """Add a record of the same paper; the longer abstract wins (a later, fuller version). Returns the
        characters of abstract dropped (0 when this text was kept or already counted)."""
        self.sources += [s for s in p.sources if s not in self.sources]
        self.ids.append(p.id)
        if p.venue and p.venue != "arXiv" and self.meta["venue"] in (None, "arXiv"):
            # The published version's venue and year beat the preprint's, whichever file came first.
            self.meta["venue"], self.meta["year"] = p.venue, p.year or self.meta["year"]
        for k in _FIELDS:  # other metadata: the first record that has a field gives it
            if not self.meta[k]:
                self.meta[k] = getattr(p, k)
        if hash(norm) in self.seen:
            return 0
        self.seen.add(hash(norm))
        if len(p.abstract) > len(self.keep.abstract):
            dropped, self.keep = len(self.keep.abstract), p
            return dropped
        return len(p.abstract)

    def paper(self) -> Paper:
        k = self.keep
        return Paper(self.id, k.title, k.abstract, tuple(self.sources), **self.meta)


def nearly_identical(a: list[str], b: list[str]) -> bool:
    if a == b:
        return True
    if not a or not b or min(len(a), len(b)) / max(len(a), len(b)) < NEAR:
        return False  # the ratio below cannot reach NEAR
    m = SequenceMatcher(None, a, b, autojunk=False)
    return m.real_quick_ratio() >= NEAR and m.quick_ratio() >= NEAR and m.ratio() >= NEAR


class _Group:
    """The distinct papers sharing one normalised title, with lookups that keep big groups linear."""

    def __init__(self, base: str):
        self.base = base
        self.variants: list[_Variant] = []
        self.by_arxiv: dict[str, _Variant] = {}
        self.by_text: dict[int, _Variant] = {}
        self.by_anchor: dict[tuple[str, ...], list[_Variant]] | None = None  # built once the group is big

    @staticmethod
    def _anchors(words: list[str]) -> list[tuple[str, ...]]:
        return [("^", *words[:ANCHOR_WORDS]), ("$", *words[-ANCHOR_WORDS:])]

    def find(self, p: Paper, norm: str) -> _Variant | None:
        v = self._find(p, norm)
        return None if v is not None and _conflicts(v, p) else v

    def _find(self, p: Paper, norm: str) -> _Variant | None:
        arxiv = arxiv_of(p)
        if arxiv and arxiv in self.by_arxiv:
            return self.by_arxiv[arxiv]
        exact = self.by_text.get(hash(norm))
        if exact is not None or not self.variants:
            return exact
        words = norm.split()
        if self.by_anchor is None:
            candidates: Iterable[_Variant] = self.variants
        else:
            # Two abstracts 90 % alike almost always share their first or last words; a near-copy edited at both
            # ends is kept as a separate paper (and reported as such), never silently merged.
            candidates = dict.fromkeys(v for a in self._anchors(words) for v in self.by_anchor.get(a, []))
        return next((v for v in candidates if nearly_identical(v.words(), words)), None)

    def add(self, p: Paper, norm: str) -> _Variant:
        v = _Variant(p, p, list(p.sources), [p.id])
        self.variants.append(v)
        if self.by_anchor is None and len(self.variants) > SCAN_ALL:
            self.by_anchor = {}
            for old in self.variants[:-1]:
                self._index_anchors(old, old.words())
        self.index(v, p, norm)
        return v

    def index(self, v: _Variant, p: Paper, norm: str) -> None:
        """Make `p`'s text and arXiv id lead to `v`."""
        v.seen.add(hash(norm))
        self.by_text.setdefault(hash(norm), v)
        arxiv = arxiv_of(p)
        if arxiv:
            self.by_arxiv.setdefault(arxiv, v)
        if self.by_anchor is not None:
            self._index_anchors(v, norm.split())

    def _index_anchors(self, v: _Variant, words: list[str]) -> None:
        assert self.by_anchor is not None
        for a in self._anchors(words):
            self.by_anchor.setdefault(a, []).append(v)

    def assign_ids(self, prior: list[Paper]) -> None:
        used: set[str] = set()

        def take(v: _Variant, pid: str) -> None:
            v.id = pid
            used.add(pid)

        # Ids the index already uses stay with their papers, whatever order the files come in this time.
        for p in prior:
            v = self.find(p, _norm(p.abstract))
            if v is not None and not v.id and p.id not in used:
                take(v, p.id)
        for v in self.variants:  # a suffixed id given by an earlier merge of the same records
            kept = next((i for i in v.ids if i.startswith(self.base + "-")), None)
            if not v.id and kept and kept not in used:
                take(v, kept)
        for v in self.variants:
            if v.id:
                continue
            if self.base not in used:
                v.id = self.base
            else:
                arxiv = arxiv_of(v.first)
                text = _norm(v.first.abstract)
                disc = arxiv.replace("/", "_") if arxiv else _short_hash(v.first.url or text)
                v.id = f"{self.base}-{disc}"
                if v.id in used:  # two papers sharing a URL but not an abstract
                    v.id = f"{self.base}-{_short_hash(text)}"
                n = 2
                while v.id in used:
                    v.id, n = f"{self.base}-{_short_hash(text)}-{n}", n + 1
            take(v, v.id)


def merge(
    results: Iterable[Iterable[Paper]], notes: list[MergeNote] | None = None, prior: Iterable[Paper] = ()
) -> list[Paper]:
    """One Paper per distinct paper, in first-seen order; sources accumulate. Records merged with a differing
    abstract, and different papers that share a title, are appended to `notes`. `prior` (the papers in the index)
    only lends ids: a paper that is already indexed keeps its id."""
    groups: dict[str, _Group] = {}
    order: list[_Variant] = []
    renamed: list[tuple[_Variant, Paper]] = []
    merged: list[tuple[_Variant, Paper, int, str, bool]] = []
    by_ident: dict[str, _Variant] = {}  # "doi:..." / "arxiv:..." -> the paper, across title groups
    for papers in results:
        for p in papers:
            key = normalise_title(p.title)
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Group(paper_id(p.title))
            norm = _norm(p.abstract)
            idents = identities(p)
            v = next((by_ident[i] for i in idents if i in by_ident), None)
            by_id = v is not None and not _conflicts(v, p)
            if not by_id:
                v = group.find(p, norm)
            if v is None:
                v = group.add(p, norm)
                order.append(v)
                for i in idents:
                    by_ident.setdefault(i, v)
                if len(group.variants) > 1:
                    renamed.append((v, p))
                continue
            before = list(v.sources)
            dropped = v.absorb(p, norm)
            for i in idents:
                by_ident.setdefault(i, v)
            if groups[normalise_title(v.first.title)] is group:  # one met by id under another title stays in its own
                group.index(v, p, norm)
            if dropped or any(s not in before for s in p.sources):
                merged.append((v, p, dropped, ", ".join(before), by_id))
    prior_by_group: dict[str, list[Paper]] = {}
    for p in prior:
        prior_by_group.setdefault(normalise_title(p.title), []).append(p)
    for key, group in groups.items():
        group.assign_ids(prior_by_group.get(key, []))
    if notes is not None:
        for v, p, dropped, other, by_id in merged:
            kind = "merged" if dropped else "same"
            notes.append(MergeNote(p.sources[0] if p.sources else "", kind, p.title, v.id, other, dropped, by_id))
        for v, p in renamed:
            first = groups[normalise_title(p.title)].variants[0]
            notes.append(
                MergeNote(p.sources[0] if p.sources else "", "renamed", p.title, v.id, ", ".join(first.sources))
            )
    return [v.paper() for v in order]


def summarise(notes: list[MergeNote], examples: int = 2) -> list[str]:
    """One line per source file and kind, for the ingest summary (a 5,000-row file gives two lines, not 5,000)."""
    by: dict[tuple[str, str], list[MergeNote]] = {}
    for n in notes:
        by.setdefault((n.source, n.kind), []).append(n)
    lines = []
    for (source, kind), group in by.items():
        if kind == "same":
            continue  # counted in the per-file summary (IngestReport.file_lines)
        eg = "; ".join(f"{n.title[:60]!r} as {n.paper_id}" for n in group[:examples])
        more = f" and {len(group) - examples} more" if len(group) > examples else ""
        if kind == "merged":
            chars = sum(n.dropped for n in group)
            lines.append(
                f"{source}: {len(group):,} paper(s) merged with a nearly identical copy already seen "
                f"(in {group[0].other}); {chars:,} characters of the shorter abstract(s) dropped: {eg}{more}"
            )
        else:
            lines.append(
                f"{source}: {len(group):,} paper(s) share a title with a different paper and are indexed "
                f"separately: {eg}{more}"
            )
    return lines


def count_merges(files: list[dict], notes: list[MergeNote]) -> list[dict]:
    """Each file's counts with how many of its papers were papers already read: `already`, `by_id` (matched by DOI
    or arXiv id; the rest by title and abstract) and `from` (the files they were read from)."""
    out = []
    for f in files:
        mine = [n for n in notes if n.source == f["source"] and n.kind in ("same", "merged")]
        others = dict.fromkeys(o for n in mine for o in n.other.split(", ") if o)
        out.append({**f, "already": len(mine), "by_id": sum(n.by_id for n in mine), "from": list(others)})
    return out


def file_lines(files: list[dict]) -> list[str]:
    """One line per reference-format file (see count_merges): entries, papers, papers already read, skips."""
    lines = []
    for f in files:
        head = f"{f['source']} ({f['format']}): {f['entries']:,} entries, {f['papers']:,} papers"
        if f.get("already"):
            n, by_id = f["already"], f["by_id"]
            how = [f"{by_id:,} by DOI or arXiv id"] if by_id else []
            how += [f"{n - by_id:,} by title and abstract"] if n > by_id else []
            shown = ", ".join(f["from"][:3]) + (f" and {len(f['from']) - 3} more" if len(f["from"]) > 3 else "")
            head += f", {n:,} of them already read (from {shown}; {', '.join(how)})"
        lines.append("; ".join([head, *f["skips"]]))
    return lines
