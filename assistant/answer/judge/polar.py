"""Recognise yes/no questions: "Does X beat Y?", "Is X safe?", "whether ...", and titles phrased as questions
("Double balloon enteroscopy: is it efficacious and safe in a community setting?")."""

from __future__ import annotations

import re

_AUX = (
    r"(?:do|does|did|is|are|was|were|can|could|should|will|would|has|have|had|may|might|must|shall"
    r"|isn't|aren't|doesn't|don't|didn't|wasn't|weren't|can't|won't)"
)
# The clause a yes/no question starts with: the whole question, or the part after a title's colon or dash.
_POLAR = re.compile(
    r"(?:^|[:;?.,]\s+|\s[-–—]\s+|--)" + _AUX + r"\s+(?!you\s+(?:tell|explain|list|show|give|name|find|describe))\S",
    re.I,
)
# "Aripiprazole: a new risk factor for pathological gambling?": a title whose question part states a claim.
_TITLE_CLAIM = re.compile(r"(?:[:.]\s+|--|\s[-–—]\s|,\s+(?=an?\s))[^:?]{3,200}\?\s*$")
_WH = re.compile(r"\b(?:what|which|who|whom|whose|how|where|when|why)\b", re.I)
_WHETHER = re.compile(r"\bwhether\b", re.I)
# "Can you tell me which ...", "Do you know what ...": a wh-question in polite form, not a yes/no one.
_POLITE_WH = re.compile(
    r"^\s*(?:can|could|would|will|do|does)\s+(?:you|anyone|someone)\s+(?:\w+\s+){0,3}?"
    r"(?:what|which|who|how|where|when|why)\b",
    re.I,
)
_ALTERNATIVE = re.compile(r"\bor\b(?!\s+not\b)", re.I)  # "Is X or Y better?" asks to choose, not yes/no


def is_polar(question: str) -> bool:
    q = question.strip()
    if not q or _POLITE_WH.search(q):
        return False
    if _WHETHER.search(q):
        return True
    m = _POLAR.search(q)
    if not m:
        claim = _TITLE_CLAIM.search(q)
        return claim is not None and not _WH.search(claim.group())
    if _WH.search(q[: m.start() + 1]) and m.start() > 0:
        return False  # "Which scores, computed early, are proposed ...?" is a wh-question with a comma
    rest = q[m.start() :]
    # "Is X or Y better?" asks to pick one; "is it safe or not?" is still yes/no.
    choice = (
        _ALTERNATIVE.search(rest) is not None
        and not re.search(r"\bor\s+not\b", rest, re.I)
        and rest.count(",") == 0
        and re.search(r"\b(?:better|more|which|prefer\w*)\b", rest, re.I) is not None
    )
    return not choice
