"""Is this a question about the literature, and which kind: survey, compare or consensus?

- survey:    "what have papers found about X", "summarize the work on X", "which approaches/benchmarks ... used",
             "what limitations ... according to these papers", "what's known about X";
- compare:   "compare A and B", "A vs B", "how do A and B differ", "difference between A and B";
- consensus: a yes/no question about a general claim: "does X always help?", "do studies agree that ...",
             "is there evidence that ...".
A question that names one paper by a rare name ("which methods does LIMO use?") stays a single-paper question:
the caller checks that (plan.Planner.named_papers). These are patterns of how literature questions are asked,
not of any one question; the training data's literature questions (bench/data/qa/*-lit) measure them.
"""

from __future__ import annotations

import re
from typing import Literal

LiteratureKind = Literal["survey", "compare", "consensus"]

_PAPERS = r"(?:papers?|studies|works|articles|researchers|authors|literature)"
_SURVEY = re.compile(
    rf"^\s*(?:what|which)\s+(?:have|do|did|does)\s+(?:the\s+|these\s+)?{_PAPERS}\s+"
    r"(?:found|find|say|show|shown|report|reported|propose|proposed|suggest|conclude|tell)\b"
    r"|\bwhat(?:'s|\s+is)\s+(?:known|the\s+evidence)\s+(?:about|on|for)\b"
    r"|\bsummari[sz]e\b|\boverview\s+of\b|\bstate\s+of\s+the\s+art\b|\bliterature\s+(?:on|about)\b"
    r"|^\s*(?:which|what)\s+(?:main\s+|different\s+|key\s+|common\s+)?(?:approaches|methods|techniques|benchmarks|"
    r"datasets|strategies|limitations|challenges|findings|kinds\s+of|types\s+of)\b"
    rf"|\b(?:according\s+to|across|in)\s+(?:these|the)\s+{_PAPERS}\b"
    rf"|^\s*(?:what\s+do|how\s+do)\s+(?:these\s+|the\s+)?{_PAPERS}\b"
    rf"|^\s*{_PAPERS}\s+(?:on|about)\b[^?]*\?\s*$",
    re.I,
)
_COMPARE = re.compile(
    r"^\s*(?:compare|contrast)\b|\b(?:vs\.?|versus)\s|\bdifferences?\s+between\b"
    r"|^\s*how\s+(?:do|does|did)\s+.+\s+and\s+.+\s+(?:differ|compare)\b",
    re.I,
)
_CONSENSUS = re.compile(
    r"^\s*(?:does|do|is|are|can|will|would|should|has|have)\b[^?]*\b(?:always|generally|in\s+general|usually|"
    r"typically|consistently|necessarily|universally|ever)\b"
    rf"|\b(?:do|does)\s+(?:the\s+|these\s+)?{_PAPERS}\s+(?:agree|disagree|show|find|support|conclude)\b"
    r"|\bis\s+there\s+(?:evidence|consensus|agreement)\b",
    re.I,
)


def literature_kind(text: str) -> LiteratureKind | None:
    if _COMPARE.search(text):
        return "compare"
    if _CONSENSUS.search(text):
        return "consensus"
    if _SURVEY.search(text):
        return "survey"
    return None


# What to strip from a survey question to search for its topic: "what have papers found about simplicity bias?"
# is searched as "simplicity bias".
_FRAME = re.compile(
    rf"^\s*(?:what|which)\s+(?:have|do|did|does)\s+(?:the\s+|these\s+)?{_PAPERS}\s+\w+\s+(?:about|on|regarding|for)?\s*"
    r"|^\s*(?:please\s+)?summari[sz]e\s+(?:the\s+)?(?:work|research|papers|literature|findings)?\s*(?:on|about)?\s*"
    r"|^\s*what(?:'s|\s+is)\s+known\s+(?:about|on)\s*"
    rf"|\s*(?:according\s+to|across|in)\s+(?:these|the)\s+{_PAPERS}\s*",
    re.I,
)


def topic_text(text: str) -> str:
    stripped = _FRAME.sub(" ", text).strip(" ?")
    return stripped if len(stripped.split()) >= 1 else text


_SPLIT = re.compile(r"\s*(?:,\s*and\s+|\s+and\s+|\s+vs\.?\s+|\s+versus\s+|\s+with\s+|,\s*|\s+to\s+)\s*", re.I)
_LEAD = re.compile(
    r"^\s*(?:compare|contrast)\s+(?:the\s+)?|^\s*how\s+(?:do|does|did)\s+|^\s*(?:what\s+(?:is|are)\s+)?(?:the\s+)?"
    r"differences?\s+between\s+",
    re.I,
)
_TAIL = re.compile(r"\s+(?:differ|compare)\b.*$|\?\s*$|\s+(?:in|on|for)\s+(?:terms\s+of|their)\b.*$", re.I)


def compared_parts(text: str) -> list[str]:
    """The two or three things a compare question names: "compare LIMO and ReFT" -> ["LIMO", "ReFT"]."""
    body = _TAIL.sub("", _LEAD.sub("", text)).strip(" ?.")
    parts = [p.strip(" ?.") for p in _SPLIT.split(body) if p and p.strip(" ?.")]
    return parts[:3]
