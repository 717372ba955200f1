"""References from paper metadata: the one-line form answers show, and BibTeX entries for `batch --format bib`.

    reference("Attention Is All You Need", {"authors": "Vaswani, Ashish; Shazeer, Noam; ...", "year": 2017,
              "venue": "Advances in Neural Information Processing Systems"})
    -> "Vaswani et al. 2017, Attention Is All You Need, NeurIPS"

A paper without metadata (a Daily-Papers page) is its title alone, as before.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from assistant.ingest.metadata import (
    display_name,
    last_name,
    normalise_arxiv,
    normalise_doi,
    short_authors,
    short_venue,
    split_authors,
    year_of,
)
from assistant.text import one_spaced_line

_CONFERENCE = re.compile(r"proceedings|conference|workshop|symposium|meeting|congress", re.IGNORECASE)
_CONFERENCE_SHORT = {"NeurIPS", "ICML", "ICLR", "ACL", "EMNLP", "CVPR", "ICCV", "ECCV", "AAAI", "KDD"}


def reference(title: str, meta: dict[str, Any] | None) -> str:
    meta = meta or {}
    who = " ".join(x for x in (short_authors(meta.get("authors")), str(meta.get("year") or "")) if x)
    venue = short_venue(meta.get("venue"))
    if venue == "arXiv" and meta.get("arxiv_id"):
        venue = f"arXiv:{meta['arxiv_id']}"
    elif not venue and meta.get("arxiv_id"):
        venue = f"arXiv:{meta['arxiv_id']}"
    return ", ".join(x for x in (who, title, venue) if x)


def _latex(text: str) -> str:
    """A value for a BibTeX field: LaTeX's special characters escaped, accents as LaTeX, title case kept; control
    characters and line breaks become spaces, so that no value can end its field or its entry."""
    from pylatexenc.latexencode import unicode_to_latex

    # BibTeX counts braces even when escaped (\{), so a stray brace could close the field: braces are spelled as
    # LaTeX's text commands instead, and every other special character is escaped by pylatexenc.
    pieces = re.split(r"([{}])", one_spaced_line(text))
    return "".join(
        _BRACES.get(p) or unicode_to_latex(p, non_ascii_only=False, replacement_latex_protection="braces-all")
        for p in pieces
    )


_BRACES = {"{": "{\\textbraceleft}", "}": "{\\textbraceright}"}


# What a URL may carry inside a BibTeX field as it is: the URL characters of RFC 3986 but the ones that end or
# escape a BibTeX/TeX value. Everything else (braces, backslash, %, quotes, spaces, controls) is percent-encoded,
# and an existing %XX escape is re-encoded as %25XX, which a reader decodes back to the same URL.
_URL_SAFE = "-._~:/?#[]!$&'()*+,;=@"


def _url(value: str) -> str:
    from urllib.parse import quote

    return quote(value.strip(), safe=_URL_SAFE)


def _key(meta: dict[str, Any], title: str, used: set[str]) -> str:
    """'vaswani2017attention', as Google Scholar makes them; a letter is added when two papers would share one."""
    names = split_authors(meta.get("authors"))
    first = last_name(names[0]) if names else "anon"
    words = [w for w in re.findall(r"[a-z0-9]+", _ascii(title).lower()) if w not in {"a", "an", "the", "on", "of"}]
    base = (
        re.sub(r"[^a-z0-9]", "", _ascii(first).lower())
        + str(year_of(meta.get("year")) or "")
        + (words[0] if words else "")
    )
    key, n = base or "paper", 0
    while key in used:
        n += 1
        key = f"{base}{chr(ord('a') + n - 1)}" if n <= 26 else f"{base}{n}"
    used.add(key)
    return key


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def bibtex_entry(title: str, meta: dict[str, Any], used: set[str]) -> str:
    """One @inproceedings/@article/@misc entry. Conferences go to booktitle and journals to journal; a preprint is
    @misc with its arXiv id as eprint."""
    venue = meta.get("venue") or ""
    arxiv = meta.get("arxiv_id")
    if venue and venue != "arXiv":
        kind = "inproceedings" if _CONFERENCE.search(venue) or short_venue(venue) in _CONFERENCE_SHORT else "article"
    else:
        kind = "misc"
    fields: list[tuple[str, str]] = [("title", "{" + _latex(title) + "}")]
    names = split_authors(meta.get("authors"))
    if names:
        fields.append(("author", " and ".join(_latex(n) if "," in n else _latex(display_name(n)) for n in names)))
    if kind == "inproceedings":
        fields.append(("booktitle", _latex(venue)))
    elif kind == "article":
        fields.append(("journal", _latex(venue)))
    year = year_of(meta.get("year"))
    if year:
        fields.append(("year", str(year)))
    doi = normalise_doi(str(meta.get("doi") or ""))  # again here: an index written before DOIs were validated
    if doi:
        fields.append(("doi", doi))
    arxiv = normalise_arxiv(str(arxiv or ""))
    if arxiv:
        fields += [("eprint", arxiv), ("archivePrefix", "arXiv")]
    if meta.get("url"):
        fields.append(("url", _url(str(meta["url"]))))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@{kind}{{{_key(meta, title, used)},\n{body}\n}}\n"


def bibtex(papers: list[tuple[str, dict[str, Any]]]) -> str:
    """BibTeX for (title, metadata) pairs, in the order given."""
    used: set[str] = set()
    return "\n".join(bibtex_entry(title, meta, used) for title, meta in papers)
