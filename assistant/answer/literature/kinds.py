"""How a literature question is read once its kind is known (judge/literature_kind.py decides the kind): the
topic a survey searches for ("what have papers found about simplicity bias?" -> "simplicity bias") and the two or
three things a compare question names ("compare LIMO and ReFT" -> ["LIMO", "ReFT"]). A question that names one
paper by a rare name ("which methods does LIMO use?") stays a single-paper question: the caller checks that
(plan.Planner.named_papers).
"""

from __future__ import annotations

import re

from assistant.answer.judge.literature_kind import PAPERS as _PAPERS
from assistant.answer.judge.literature_kind import LiteratureKind, literature_kind  # noqa: F401  (the callers' one import)

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
