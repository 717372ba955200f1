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

from assistant.ingest.metadata import display_name, last_name, short_authors, short_venue, split_authors

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
    """A value for a BibTeX field: LaTeX's special characters escaped, accents as LaTeX, title case kept."""
    from pylatexenc.latexencode import unicode_to_latex

    return unicode_to_latex(text, non_ascii_only=False, replacement_latex_protection="braces-all")


def _key(meta: dict[str, Any], title: str, used: set[str]) -> str:
    """'vaswani2017attention', as Google Scholar makes them; a letter is added when two papers would share one."""
    names = split_authors(meta.get("authors"))
    first = last_name(names[0]) if names else "anon"
    words = [w for w in re.findall(r"[a-z0-9]+", _ascii(title).lower()) if w not in {"a", "an", "the", "on", "of"}]
    base = re.sub(r"[^a-z0-9]", "", _ascii(first).lower()) + str(meta.get("year") or "") + (words[0] if words else "")
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
    if meta.get("year"):
        fields.append(("year", str(meta["year"])))
    if meta.get("doi"):
        fields.append(("doi", str(meta["doi"])))
    if arxiv:
        fields += [("eprint", str(arxiv)), ("archivePrefix", "arXiv")]
    if meta.get("url"):
        fields.append(("url", str(meta["url"]).replace("}", "%7D").replace("{", "%7B")))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@{kind}{{{_key(meta, title, used)},\n{body}\n}}\n"


def bibtex(papers: list[tuple[str, dict[str, Any]]]) -> str:
    """BibTeX for (title, metadata) pairs, in the order given."""
    used: set[str] = set()
    return "\n".join(bibtex_entry(title, meta, used) for title, meta in papers)
