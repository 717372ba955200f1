"""Word-level helpers shared by lexical retrieval, evidence scoring and citation checks."""

from __future__ import annotations

import functools
import re

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on
once only or other our ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were what when where which while
who whom why will with would you your yours yourself yourselves also which paper study work used using use show shows
propose proposed approach method methods based new one two via""".split()
)

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")


@functools.lru_cache(maxsize=200_000)  # a corpus repeats its words: stemming each once halved terms()' time
def stem(word: str) -> str:
    # A light suffix stripper: enough to match "models"/"model", "trained"/"training".
    for suf in ("ations", "ation", "ings", "ing", "ies", "ed", "es", "s"):
        if word.endswith(suf) and len(word) - len(suf) >= 3:
            return word[: -len(suf)] + ("y" if suf == "ies" else "")
    return word


def terms(text: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def as_written(stems: list[str], text: str) -> list[str]:
    """The words of `text` behind each term: terms are stems for matching ("clas", "nam"), not for showing."""
    written: dict[str, str] = {}
    for w in _WORD.findall(text.lower()):
        written.setdefault(stem(w), w)
    return [written.get(t, t) for t in stems]


def printable(text: str) -> str:
    """Drop control characters (ANSI escapes, BEL, NUL) so text can only ever be shown, never executed."""
    return "".join(ch if ch.isprintable() or ch in "\n\t" else "\ufffd" if ch == "\x1b" else "" for ch in text)


def one_spaced_line(text: str) -> str:
    """Control characters become spaces and all whitespace runs collapse to one space."""
    # Fast path: line breaks and tabs are the only control characters most text has (arXiv wraps its abstracts),
    # and the per-character walk cost more than the LaTeX conversion over 100,000 records.
    plain = text.replace("\n", " ").replace("\t", " ").replace("\r", " ")
    if plain.isprintable():
        return " ".join(plain.split())
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


# Split after . ! ? when the next sentence starts; but not after common abbreviations.
_ABBREV = r"(?<!\be\.g)(?<!\bi\.e)(?<!\bet al)(?<!\bvs)(?<!\bcf)(?<!\bFig)(?<!\bEq)(?<!\bapprox)(?<!\bresp)"
# The cheap test first: the abbreviation look-behinds ran at every character (12x slower, 1 s per 5,000 abstracts).
_SPLIT = re.compile(r"(?<=[.!?])" + _ABBREV + r"[\"')\]]?\s+(?=[A-Z0-9\"'(\[])")
MAX_SENTENCE_WORDS = 60


def split_sentences(text: str) -> list[str]:
    """Sentences of an abstract; overlong runs are cut into word windows so every piece stays quotable."""
    out: list[str] = []
    for sent in _SPLIT.split(text.strip()):
        words = sent.split()
        for i in range(0, len(words), MAX_SENTENCE_WORDS):
            piece = " ".join(words[i : i + MAX_SENTENCE_WORDS])
            if piece:
                out.append(piece)
    return out


def plural(n: int, word: str, many: str | None = None) -> str:
    """ "1 paper", "2 papers", "1,000 chunks"."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"
