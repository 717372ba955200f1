"""Does a model-written answer replace the extractive one? Only when all of it is checked and it says what the
extraction found:
1. every sentence passes the citation check against the source it cites (none is dropped), and the first rests
   on the answering paper;
2. it names the kind of thing asked for when the quote does ("Which encoder ...?": the answer says which encoder),
   and it carries the extracted answer: the rule's short answer (its numbers and most of its words), or else checked
   content the question does not already contain (at least MIN_NEW content words): a sentence that only restates
   the question ("X discovers concepts [1].") or a one-word reply ("HACKED [1].") answers nothing;
3. it repeats nothing an abstract addressed to an assistant (those sentences are never in the prompt, so a claim
   resting only on them has no source and fails 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from assistant.answer.citations import MARKER, numbers, parse_claims, verify
from assistant.retrieve.question import Question
from assistant.text import terms
from assistant.types import Citation, Evidence

MIN_NEW = 2
MIN_WORDS = 3
LEAD_SHARE = 0.6


@dataclass
class Accepted:
    text: str
    citations: list[Citation]
    evidence: list[Evidence] = field(default_factory=list)


def accept(
    raw: str, evidence: list[Evidence], q: Question, lead: str | None, refusal: str, required: list[str] | None = None
) -> Accepted | None:
    """`required`: terms the answer must use, the kind of thing asked for where the quote names it ("which
    encoder" -> "text encoder")."""
    raw = raw.strip()
    if not raw or not evidence or refusal.lower().rstrip(".") in raw.lower():
        return None
    claims = parse_claims(raw)
    if not claims:
        return None
    text, citations = verify(raw, evidence, fallback=False)
    kept = parse_claims(text)
    if len(kept) != len(claims) or not citations or citations[0].paper_id != evidence[0].paper_id:
        return None  # a sentence was dropped, or the answer does not rest on the answering paper
    said = terms(MARKER.sub(" ", text))  # "[1]" is not a word of the answer
    if len(said) < MIN_WORDS or (required and not set(required) & set(said)):
        return None
    asked = set(q.topic) | set(q.name_terms) | set(terms(q.text))
    if lead:
        want = [t for t in terms(lead) if t not in asked]
        if not numbers(lead) <= numbers(text):
            return None
        if want and sum(t in said for t in want) < LEAD_SHARE * len(want):
            return None
    elif len({t for t in said if t not in asked}) < MIN_NEW:
        return None
    return Accepted(text, citations)
