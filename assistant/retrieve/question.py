"""What a question asks for: its kind, the names it mentions, and whether it leans on an earlier turn.

Rules, not a model: each kind changes which sentence answers it and how the answer is laid out.
- list:       "which papers ...", "any papers on ...", "list papers that ..."   -> every fitting paper
- acronym:    "what does X stand for", "what is X short for"                     -> the expansion
- count:      "how many / how much / what percentage / by how much ..."          -> a sentence with the number
- definition: "what is X", "what are X", "what does X do"                        -> the defining sentence
- fact:       anything else (which model, what dataset, why ...)                 -> the best-matching sentence
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from assistant.text import terms

Kind = Literal["list", "acronym", "count", "definition", "fact"]

_LIST = re.compile(
    r"^\s*(?:(?:which|what)\s+(?:other\s+)?(?:papers?|works|studies|articles)\b"
    r"|(?:are\s+there\s+|is\s+there\s+)?any\s+(?:papers?|works|studies)\b"
    r"|(?:list|name|find|show|give\s+me)\s+(?:all\s+|the\s+|some\s+)?(?:papers?|works|studies)\b"
    r"|(?:papers?|works|studies)\s+(?:on|about|that|which)\b)",
    re.I,
)
_ACRONYM = re.compile(r"\bstands?\s+for\b|\bshort\s+for\b|\babbreviat|\bacronym\b|\bexpansion\s+of\b", re.I)
_COUNT = re.compile(
    r"\bhow\s+(?:many|much|large|big|long|fast|often|high|low|small)\b|\bby\s+how\s+much\b"
    r"|\bwhat\s+(?:percentage|fraction|proportion|number|share|speed-?up|accuracy|score|rate)\b|\bhow\s+well\b",
    re.I,
)
_DEFINITION = re.compile(
    r"^\s*(?:what|who)\s+(?:is|are|was|were)\s+(?:the\s+|a\s+|an\s+)?(?P<x>[^?]{1,60}?)\s*\??\s*$"
    r"|^\s*what\s+(?:does|do|did)\s+(?P<y>[^?]{1,60}?)\s+(?:do|propose|introduce|present|study|claim|show)\s*\??\s*$",
    re.I,
)
# Words that ask, not words that say what about: they must not decide retrieval coverage or sentence choice.
FRAME = frozenset(
    terms(
        "papers paper works studies study articles corpus which what who whom whose how many much does do did "
        "stand stands short abbreviation acronym mean means describe explain tell list name find show give "
        "any there about on use uses using used introduce introduces propose proposes present presents "
        "report reports claim claims anything something authors kind type deal deals look looks focus focuses "
        "investigate investigates explore explores examine examines analyze analyse address addresses tackle "
        "consider considers try tries"
    )
)
# A name as written: an acronym (LIMO, GPT-4V), CamelCase (DeMamba, AndroidControl), letters with digits
# (ManiSkill2, o1), or a word with an inner capital. The first word of a question is not a name for being
# capitalised; an all-caps word is.
_NAME = re.compile(r"(?<![\w-])(?:[A-Za-z]*[A-Z][a-z0-9]*[A-Z][\w-]*|[A-Z]{2,}[\w-]*|[A-Za-z]+-?\d[\w-]*|\w+[A-Z]\w*)")
# Pointers back to an earlier turn: "they", "their benchmark", "the paper", "it", "and on HumanEval?".
_ANAPHORA = re.compile(
    r"\b(?:they|their|them|theirs|it|its|itself|he|she|his|her)\b"
    r"|\b(?:the|this|that|these|those)\s+(?:paper|authors?|method|model|approach|framework|benchmark|dataset|system"
    r"|work|study|same)\b"
    r"|^\s*(?:and|also|what\s+about|how\s+about|and\s+what|what\s+else)\b",
    re.I,
)


@dataclass(frozen=True)
class Question:
    text: str
    kind: Kind
    names: list[str] = field(default_factory=list)  # as written: ["LIMO", "GPT-4V"]
    topic: list[str] = field(default_factory=list)  # content terms that say what about (frame words dropped)
    subject: str | None = None  # "X" in "what is X" / "what does X stand for"
    refers_back: bool = False  # uses a pronoun or "the paper" that needs an earlier turn
    polar: bool = False  # a yes/no question (set by answer/plan.py, answer/judge/polar.py decides)

    @property
    def name_terms(self) -> list[str]:
        out: list[str] = []
        for n in self.names:
            for t in terms(n):
                if t not in out:
                    out.append(t)
        return out


def analyse(text: str) -> Question:
    kind: Kind
    subject = None
    if _LIST.search(text):
        kind = "list"
    elif _ACRONYM.search(text):
        kind = "acronym"
        m = re.search(
            r"(?:does|do|is|did)\s+(?:the\s+)?(?P<x>[\w^+-]+(?:\s+\w+)?)\s+(?:\w+\s+)?(?:stand|short)", text, re.I
        )
        subject = m.group("x") if m else None
    elif _COUNT.search(text):
        kind = "count"
    elif m := _DEFINITION.match(text):
        kind = "definition"
        subject = (m.group("x") or m.group("y") or "").strip() or None
    else:
        kind = "fact"
    names = []
    # The first word counts too: people type keywords that start with the name ("GenCLIP inference strategy"),
    # and a sentence's opening capital alone never matches _NAME (it needs a second capital or a digit).
    for n in _NAME.findall(text):
        n = n.strip("-")
        if re.fullmatch(r"\d+(?:\.\d+)?[KMBT]|top-\d+|\d+[a-z]*", n, re.I):
            continue  # a model size ("3B") or a rank ("top-1") names nothing
        if n and n not in names:
            names.append(n)
    topic = [t for t in dict.fromkeys(terms(text)) if t not in FRAME]
    # "it"/"this" inside "what is it" refer back; a question that names its own subject does not need the
    # earlier turn just for containing "the benchmark".
    refers_back = bool(_ANAPHORA.search(text))
    return Question(text, kind, names, topic, subject, refers_back)


# Where a question lists what it is about: "rheum papers? myositis, spondylitis, vasculitis", "GBS / bacterial
# vaginosis / CMV", "inference cost - fewer passes, fewer tokens". Each listed item is a facet of the question.
_FACET_BREAK = re.compile(r"[,;/?:()\[\]]|\s[-–—]+\s|\s(?:and|or|vs\.?|versus|plus)\s", re.I)


def facets(q: Question) -> list[list[str]]:
    """The question's topic terms grouped by the listed items they come from, when it lists two or more; else
    one group, the whole topic. A paper on one item of a list covers little of the whole question's topic."""
    topic = set(q.topic)
    groups: list[list[str]] = []
    for part in _FACET_BREAK.split(q.text):
        got = [t for t in dict.fromkeys(terms(part)) if t in topic]
        if got and got not in groups:
            groups.append(got)
    return groups if len(groups) >= 2 else [list(q.topic)]
