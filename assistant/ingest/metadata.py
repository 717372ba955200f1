"""Bibliographic metadata: DOI and arXiv id normalisation (a paper's identity), author and venue names, years, and
the filter keys each chunk carries into Chroma.

Authors are kept as one string, names separated by "; ", each "Last, First" when the source splits names (BibTeX,
RIS, CSL-JSON, arXiv's authors_parsed) and as given otherwise (older JSONL/CSV files: "A. Smith, B. Jones").
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

from assistant.types import Paper

_DOI = re.compile(r"\b(10\.\d{4,9}/\S+)", re.IGNORECASE)
_DOI_VALID = re.compile(r"10\.\d{4,9}/[^\s{}@%\\\"'`\x00-\x1f\x7f-\x9f]+")
_DOI_PREFIX = re.compile(r"^(?:https?://)?(?:dx\.)?(?:doi\.org/)|^doi:\s*", re.IGNORECASE)
# New-style ids (2302.06675, optionally v4) and old-style ones (hep-th/9901001, math.GT/0309136).
_ARXIV_ID = re.compile(r"^(?:arxiv:\s*)?(\d{4}\.\d{4,5}|[a-z-]+(?:\.[a-z]{2})?/\d{7})(?:v\d+)?$", re.IGNORECASE)
_ARXIV_IN_TEXT = re.compile(
    r"(?:arxiv\.org/(?:abs|pdf)/|huggingface\.co/papers/|arxiv:\s*|10\.48550/arxiv\.)"
    r"(\d{4}\.\d{4,5}|[a-z-]+(?:\.[a-z]{2})?/\d{7})(?:v\d+)?",
    re.IGNORECASE,
)
_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|20\d\d)(?!\d)")
_WORD = re.compile(r"\w+")
MAX_FILTER_KEYS = 64  # name words per field and paper in the filter table: a 3,000-author paper stays small
_VENUE_STOP = {"of", "the", "in", "on", "for", "and", "to", "a", "an"}

# Long venue names and the short names people write and search for. The short name is what references show.
VENUE_ALIASES = (
    ("neural information processing systems", "NeurIPS", ("neurips", "nips")),
    ("international conference on machine learning", "ICML", ("icml",)),
    ("international conference on learning representations", "ICLR", ("iclr",)),
    # A journal before the conference whose name it contains: "Transactions of the Association for ..." is TACL.
    ("transactions of the association for computational linguistics", "TACL", ("tacl",)),
    ("association for computational linguistics", "ACL", ("acl",)),
    ("empirical methods in natural language processing", "EMNLP", ("emnlp",)),
    ("computer vision and pattern recognition", "CVPR", ("cvpr",)),
    ("international conference on computer vision", "ICCV", ("iccv",)),
    ("european conference on computer vision", "ECCV", ("eccv",)),
    ("aaai conference on artificial intelligence", "AAAI", ("aaai",)),
    ("knowledge discovery and data mining", "KDD", ("kdd",)),
    ("transactions on machine learning research", "TMLR", ("tmlr",)),
    ("journal of machine learning research", "JMLR", ("jmlr",)),
)


def normalise_doi(value: str | None) -> str | None:
    """'https://doi.org/10.18653/V1/2022.ACL-LONG.244' -> '10.18653/v1/2022.acl-long.244' (DOIs are case-blind)."""
    if not value:
        return None
    text = _DOI_PREFIX.sub("", value.strip())
    m = _DOI.search(text)
    if not m:
        return None
    doi = m.group(1).rstrip(".,;)]").lower()
    # The DOI grammar (a prefix 10.NNNN, a slash, printable characters) minus what would let a DOI break out of
    # a BibTeX field or a line: braces, @, %, backslash, quotes, whitespace and control characters.
    return doi if _DOI_VALID.fullmatch(doi) else None


def normalise_arxiv(value: str | None) -> str | None:
    """'arXiv:2302.06675v4', 'https://arxiv.org/abs/2302.06675', '10.48550/arXiv.2302.06675' -> '2302.06675'."""
    if not value:
        return None
    text = value.strip()
    m = _ARXIV_ID.match(text)
    if m:
        return m.group(1).lower()
    m = _ARXIV_IN_TEXT.search(text)
    return m.group(1).lower() if m else None


def arxiv_of(paper: Paper) -> str | None:
    """The paper's arXiv id: its own field, else one in its URL or its arXiv DOI."""
    return paper.arxiv_id or normalise_arxiv(paper.url) or normalise_arxiv(paper.doi)


def identities(paper: Paper) -> list[str]:
    """The keys that make two records the same paper. An arXiv DOI (10.48550/arXiv.X) is the arXiv id X: a
    preprint exported with its DOI and the same preprint listed by id are one paper."""
    out = []
    arxiv = arxiv_of(paper)
    doi = normalise_doi(paper.doi)
    if doi and doi.startswith("10.48550/arxiv."):
        doi = None
    if doi:
        out.append("doi:" + doi)
    if arxiv:
        out.append("arxiv:" + arxiv)
    return out


def year_of(value: Any) -> int | None:
    """A year from 2023, '2023', '2023-08-07', 'Mon, 7 Aug 2023 04:47:42 GMT', [[2023, 8]] (CSL date-parts)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if 1500 <= value <= 2100 else None
    if isinstance(value, list):
        return year_of(value[0]) if value else None
    m = _YEAR.search(str(value))
    return int(m.group(1)) if m else None


def fold(text: str) -> str:
    """Case and accents folded: 'Lukošiūtė' matches 'lukosiute', 'Schölkopf' matches 'Scholkopf'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().replace("ł", "l")


def name_tokens(text: str) -> list[str]:
    """Words of a person's name that identify it: initials ('A.', 'V') are left out."""
    return list(_name_tokens(text))


def venue_tokens(text: str) -> list[str]:
    return list(_venue_tokens(text))


# Cached: names and venues repeat across a library, and the filter table of a 100,000-paper index folds them all
# on its first filtered search (2 s uncached).
@functools.lru_cache(maxsize=100_000)
def _name_tokens(text: str) -> tuple[str, ...]:
    # One letter is an initial ('A.'), but one CJK character is a whole surname (王, 李).
    return tuple(t for t in _WORD.findall(fold(text)) if (len(t) > 1 or not t.isascii()) and not t.isdigit())


@functools.lru_cache(maxsize=10_000)
def _venue_tokens(text: str) -> tuple[str, ...]:
    words = [t for t in _WORD.findall(fold(text)) if t not in _VENUE_STOP]
    folded = " ".join(_WORD.findall(fold(text)))
    for long, _, short in VENUE_ALIASES:
        if long in folded:
            words += short
    return tuple(dict.fromkeys(words))


def split_authors(authors: str | None) -> list[str]:
    """The names in an authors string: "; "-separated (as stored), else a plain 'A, B and C' list."""
    if not authors:
        return []
    if ";" in authors:
        return [a.strip() for a in authors.split(";") if a.strip()]
    # BibTeX's "Last, First and Last, First": each name keeps its one comma.
    by_and = [p.strip() for p in re.split(r"\s+and\s+", authors) if p.strip()]
    if all(_last_first(p) for p in by_and) or (len(by_and) > 1 and all("," not in p for p in by_and)):
        return by_and
    parts = re.split(r",\s*|\s+and\s+", authors)
    return [p.strip() for p in parts if p.strip()]


def _last_first(name: str) -> bool:
    """ "Hinton, Geoffrey E." is one name (a surname, then given names or initials), not two authors."""
    if name.count(",") != 1:
        return False
    last, first = (s.strip() for s in name.split(",", 1))
    given = first.split()
    initials = re.compile(r"^[A-Z]\.(?:-?[A-Z]\.)*$")
    return (
        0 < len(last.split()) <= 3
        and not any(initials.match(w) for w in last.split())  # "A. Smith, B. Jones" is two names
        and 0 < len(given) <= 3
        and all(w[:1].isupper() for w in given)
    )


def last_name(name: str) -> str:
    if "," in name:
        return name.split(",", 1)[0].strip()
    words = name.split()
    return words[-1] if words else name


def display_name(name: str) -> str:
    """'Vaswani, Ashish' -> 'Ashish Vaswani'."""
    if "," in name:
        last, first = (s.strip() for s in name.split(",", 1))
        return f"{first} {last}".strip()
    return name


def short_authors(authors: str | None) -> str:
    """'Vaswani', 'Vaswani and Shazeer', 'Vaswani et al.' (the author part of a reference)."""
    names = [last_name(n) for n in split_authors(authors)]
    if not names:
        return ""
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} and {names[1]}"
    return f"{names[0]} et al."


def short_venue(venue: str | None) -> str:
    """'Advances in Neural Information Processing Systems' -> 'NeurIPS'; unknown venues stay as they are."""
    if not venue:
        return ""
    folded = " ".join(_WORD.findall(fold(venue)))
    for long, short, _ in VENUE_ALIASES:
        if long in folded:
            return short
    return venue


def paper_meta(paper: Paper) -> dict[str, Any]:
    """The bibliographic fields a paper has (empty ones left out), for evidence, JSON output and exports."""
    meta = {
        "authors": paper.authors,
        "year": paper.year,
        "venue": paper.venue,
        "doi": paper.doi,
        "arxiv_id": arxiv_of(paper),
        "url": paper.url,
    }
    return {k: v for k, v in meta.items() if v}


def filter_keys(paper: Paper) -> dict[str, Any]:
    """The keys a filter matches for this paper: `au:<name word>` and `ve:<venue word>` flags and an int `year`
    (index/table.py PaperTable holds them for every paper; retrieve/filters.py builds a `where` on them)."""
    keys: dict[str, Any] = {}
    if paper.year:
        keys["year"] = paper.year
    authors = list(dict.fromkeys(t for n in split_authors(paper.authors) for t in name_tokens(n)))
    for t in authors[:MAX_FILTER_KEYS]:
        keys["au:" + t] = True
    for t in venue_tokens(paper.venue or "")[:MAX_FILTER_KEYS]:
        keys["ve:" + t] = True
    return keys
