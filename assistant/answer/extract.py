"""Pick, inside one paper, the sentence that answers what was asked, and the short answer in it.

The sentence is chosen for the question's kind: a number for "how many", the expansion for "stand for", the
defining sentence for "what is". Terms that only name the paper (its acronym, its title words) say which paper,
not which sentence, so they weigh little here.
"""

from __future__ import annotations

import re

from assistant.retrieve.question import Question
from assistant.text import terms

_NUMBER = re.compile(
    r"(?<![\w.])(?:\d+(?:[.,]\d+)*\+?\s*(?:%|x|×|times|-fold)?|twofold|threefold|double|triple|one|two|three|four|five|six|seven|eight|nine|ten|"
    r"eleven|twelve|twenty|thirty|forty|fifty|hundred|thousand|million|billion)(?![\w])",
    re.I,
)
_DEFINE = re.compile(
    r"\b(?:we\s+(?:propose|introduce|present|develop|design|construct|describe)|proposed|is\s+an?\b|are\s+an?\b"
    r"|called|named|dubbed|termed|refers?\s+to|which\s+is|,\s+an?\s)",
    re.I,
)
_WORD = re.compile(r"[A-Za-z0-9]+")
_BOILERPLATE = re.compile(
    r"https?://|github\.com|\b(?:code|data|dataset|models?)\s+(?:and\s+\w+\s+)?(?:is|are|will\s+be)\s+"
    r"(?:publicly\s+)?(?:available|released|avail\w*)",
    re.I,
)

# Words that count the same thing: "How many examples" is answered by "817 curated training samples". (Stems.)
_SAME_UNIT = ({"exampl", "sampl", "instanc"},)
_FOLLOWING = re.compile(r"(?:\s+[\w-]+){0,4}")
# A leading concessive clause gives what others hold, not the paper's own figure: "While conventional wisdom
# suggests that reasoning demands extensive data (>100,000 examples), we demonstrate ..."
_CONCESSIVE = re.compile(
    r"^\W*(?:while|whereas|although|though|unlike|despite|contrary\s+to|in\s+contrast\s+to|compared\s+(?:to|with))\b"
    r"(?:\([^)]*\)|[^,;(])*",
    re.I,
)


def same_unit(term: str) -> set[str]:
    """The stems that count what `term` counts (itself included)."""
    return next((g for g in _SAME_UNIT if term in g), {term})


def with_units(ts: list[str]) -> list[str]:
    """The terms, each followed by the other stems that count the same thing."""
    return list(dict.fromkeys(u for t in ts for u in (t, *sorted(same_unit(t)))))


def _words_after(sentence: str, end: int) -> str:
    """Up to four words after position `end`, with their leading spaces."""
    words = _FOLLOWING.match(sentence, end)
    return words.group() if words else ""


def _enumerator(sentence: str, m: re.Match[str]) -> bool:
    """ "(1)", "(2)": a list marker, not a quantity."""
    return sentence[max(0, m.start() - 1) : m.start()] == "(" and sentence[m.end() : m.end() + 1] == ")"


def _counts_unit(sentence: str, m: re.Match[str], counted: list[str]) -> bool:
    """The number is followed, within four words, by what the question counts ("817 curated training samples")."""
    return any(t in counted for t in terms(_words_after(sentence, m.end())))


def _conceded(sentence: str, pos: int) -> bool:
    m = _CONCESSIVE.match(sentence)
    return m is not None and pos < m.end()


# "Which bias does X reduce?", "What new dataset does X build?": the noun after the wh-word is what the answer is
# (the sentence that names "simplicity bias" answers, the one that names X only says which paper).
_WH_NOUN = re.compile(
    r"^\s*(?:which|what)\s+(?:(?:new|other|extra|additional|main|kind\s+of|type\s+of|sort\s+of)\s+)*"
    r"(?!(?:is|are|was|were|does|do|did|can|could|will|would|should|has|have|had|about|of|if|the|a|an)\b)"
    r"(?P<noun>[A-Za-z][\w-]*)",
    re.I,
)


def answer_type(q: Question) -> list[str]:
    m = _WH_NOUN.search(q.text)
    return [t for t in terms(m.group("noun")) if t not in q.name_terms] if m else []


def _weights(q: Question, idf: dict[str, float], naming: set[str]) -> dict[str, float]:
    top = max(idf.values(), default=1.0)
    return {t: idf.get(t, top) * (0.25 if t in naming else 1.0) for t in q.topic}


CLOSING = 2


def closing(sentences: list[str]) -> list[str]:
    """The abstract's conclusion: its last sentences that are not boilerplate (code links, availability)."""
    body = [s for s in sentences if not _BOILERPLATE.search(s)] or sentences
    return body[-CLOSING:]


def _subject_pattern(q: Question) -> re.Pattern[str] | None:
    if not q.subject:
        return None
    return re.compile(r"(?<![\w-])" + re.escape(q.subject.rstrip("s?")) + r"s?(?![\w-])", re.I)


def _number_near_topic(sent: str, nums: list[re.Match[str]], topic: list[str]) -> bool:
    words = [(m.start(), terms(m.group())) for m in _WORD.finditer(sent)]
    topic_pos = [pos for pos, ts in words if any(t in topic for t in ts)]
    return any(abs(m.start() - pos) < 40 for m in nums for pos in topic_pos)


_JOINING = frozenset("and or of the for in on to with a an by from at as".split())


def expansion(acronym: str, sentence: str) -> str | None:
    """The long form of `acronym` in the sentence: "Aligning TeacheR with StudenT PreferencEs (ARTE)",
    "ARTE (Aligning ...)", "ARTE, dubbed Aligning ...", "OMEGA-Out-of-distribution ... Axes-a benchmark".
    The acronym's letters must be, in order, word-initial letters or capitals of consecutive words (words in
    between may be skipped, as in Schwartz & Hearst), the first at the start of the long form."""
    acro = re.sub(r"[^A-Za-z0-9]", "", acronym)
    if len(acro) > 2 and acro.endswith("s") and acro[:-1].isupper():
        acro = acro[:-1]  # "CBMs" is the plural of CBM
    if len(acro) < 2:
        return None
    name = re.escape(acronym)
    for m in re.finditer(r"\(\s*" + name + r"\s*[),;]", sentence):
        words = sentence[: m.start()].split()[-(2 * len(acro) + 3) :]
        for strict in (True, False):
            for start in range(len(words) - 1, -1, -1):
                if words[start].lower() in _JOINING:
                    continue  # "the Abstraction and Reasoning Corpus (ARC)": "and" does not start the long form
                n = _forward(acro, words[start:], strict)
                if n and len(words) - start - n <= 1:  # "Skills-in-Context prompting (SKiC)"
                    return _clean(" ".join(words[start : start + n]))
    after = re.compile(
        r"(?<![\w-])" + name + r"(?:\s*\(|\s*[-–—:]\s*|,?\s+(?:dubbed|called|named|short\s+for|which\s+stands\s+for"
        r"|stands\s+for|i\.e\.,?)\s+)([^()\[\],;.:]{3,200})"
    )
    for m in after.finditer(sentence):
        words = m.group(1).split()
        n = _forward(acro, words) or _forward(acro, words, strict=False)
        if n:
            return _clean(" ".join(words[:n]))
    return None


def _forward(acro: str, words: list[str], strict: bool = True) -> int:
    """How many words, from the first, spell the acronym (0: they do not). Strict: only the initials of words
    and of their hyphenated parts, capitals and digits count; otherwise (Skills -> "SK") any letter in order."""
    if not words or words[0][:1].lower() != acro[0].lower():
        return 0
    i = 0
    for j, w in enumerate(words):
        if strict:
            letters = [p[0] for p in w.split("-") if p] + [c for c in w[1:] if c.isupper() or c.isdigit()]
            letters = sorted(set(letters), key=w.find)
        else:
            letters = list(w)
        for c in letters:
            if i < len(acro) and c.lower() == acro[i].lower():
                i += 1
        if i == len(acro):
            return j + 1
        if j > len(acro) + 4:
            return 0
    return 0


def _clean(long: str) -> str:
    # "Axes-a controlled ..." -> "Axes": a dash that joins the long form to the next words is not part of it.
    return re.sub(r"[-–—][a-z]{1,3}$", "", long.strip(" ,;:-–—"))


def short_answer(q: Question, sentence: str, title: str = "") -> str | None:
    """The answer phrase inside the sentence, by rule, where a rule can find it: the expansion of an acronym,
    or the number (with the words it counts) for "how many"."""
    if q.kind == "acronym" and q.subject:
        long = expansion(q.subject, sentence)
        return f"{q.subject} stands for {long}" if long else None
    if q.kind == "count":
        return count_phrase_near(q, sentence, title)
    return None


def count_phrase_near(q: Question, sentence: str, title: str = "") -> str | None:
    """The count phrase only when its number stands next to what the question counts ("Three [1]." for "how
    many parameters" from a sentence about three benchmarks counts something else)."""
    found = _count_phrase(q, sentence, title)
    return found[1] if found and found[0] else None


_QUALIFIER = re.compile(
    r"(?:\b(?:over|about|around|nearly|almost|roughly|approximately|more\s+than|less\s+than|up\s+to|at\s+least)\s+)?"
    r"(?:\b(?:one|two|three|four|five|six|seven|eight|nine|ten|a)\s+)?$",
    re.I,
)


_HOW_MANY = re.compile(
    r"\bhow\s+many\s+(?P<x>(?:[\w-]+\s+){1,4}?)(?:do|does|did|are|is|were|was|have|has|had|can|could|will|would)\b"
    r"|\bhow\s+many\s+(?P<y>[\w-]+)",
    re.I,
)


def counted_terms(q: Question) -> list[str]:
    """What "how many" counts: "layers" in "How many layers does FIRST have?", "object models", "steps on
    average" (any of these words next to the number counts)."""
    m = _HOW_MANY.search(q.text)
    asked = terms(m.group("x") or m.group("y")) if m else []
    return with_units(asked)


def _qualifier_positions(q: Question, sentence: str, title: str) -> list[int]:
    """Where the sentence names what the question narrows the count to ("on MATH" in "What accuracy does LIMO
    reach on MATH?"): the question's names other than the paper's own (those in its title), as written."""
    out = []
    in_title = set(terms(title))
    for name in q.names:
        if set(terms(name)) & in_title:
            continue
        out += [m.start() for m in re.finditer(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])", sentence)]
    return out


def _count_phrase(q: Question, sentence: str, title: str = "") -> tuple[bool, str] | None:
    best = None
    best_rank: tuple[bool, bool, bool, int] = (False, False, False, 0)
    marks = _qualifier_positions(q, sentence, title)
    counted = counted_terms(q)
    topic = set(with_units(q.topic))  # "817 curated training samples" counts examples too
    # A number the question already gives ("... reach 57.1% accuracy on AIME?") is context, not the count asked for.
    given = {g.group().strip().lower() for g in _NUMBER.finditer(q.text) if g.group()[0].isdigit()}
    for m in _NUMBER.finditer(sentence):
        if not m.group().strip() or m.group().strip().lower() in {"one"} | given:
            continue
        if _conceded(sentence, m.start()) or _enumerator(sentence, m):
            continue
        # "over one million ..." : keep the words that qualify the number
        lead = _QUALIFIER.search(sentence[: m.start()])
        start = lead.start() if lead and lead.group().strip() else m.start()
        if lead and m.group()[0].isdigit() and lead.group().lower().startswith("over"):
            start = m.start()  # "tasks over 833 apps": "over" is a preposition before a written number
        phrase_words = (sentence[start : m.end()].strip() + _words_after(sentence, m.end())).split()
        head = len(sentence[start : m.end()].split())
        # Keep the number and the words up to the last topic term it counts ("817 curated training samples").
        cut = head
        for j, w in enumerate(phrase_words[head:], head + 1):
            if set(terms(w)) & topic:
                cut = j
        phrase = " ".join(phrase_words[:cut]).strip(" ,;:.")
        # Counted words after the number ("20 ... tasks") or just before it ("steps required by 3.8").
        before = sentence[:start].split()[-5:]
        near = cut > head or any(set(terms(w)) & topic for w in before)
        # The number the "how many" word follows ("12 experts") counts it; else, with a qualifier in the question,
        # the number closest to where the sentence names it wins.
        after = terms(" ".join(phrase_words[head:]))
        counts = any(t in after + terms(" ".join(before)) for t in counted)
        gap = min((abs(pos - m.start()) for pos in marks), default=None)
        rank = (any(t in after for t in counted), counts, near, -gap if gap is not None else 0)
        if best is None or rank > best_rank:
            best, best_rank = (near or counts, phrase), rank
    return best
