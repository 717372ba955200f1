"""Does the chosen sentence answer what was asked, or does it only share a topic word with the question?

Retrieval decides that the corpus covers a question; a rare name found in one paper ("LoRA") is enough there.
What is asked about that name must be in the same paper too:
1. Every name the question gives (acronyms, CamelCase, names with digits: GPT-3, MATH) is used by the answering
   paper, not just by some paper of the corpus.
2. When the question was let through for naming a paper: what is asked about it (the question's topic terms
   other than its names, the paper's own name words and asking verbs such as "get", "beat") is found in the paper: IDF-weighted share >= MIN_ASKED (a term the corpus never uses weighs like the rarest),
   and the sentence itself holds at least one of those terms or one of the names.
3. A count answer counts what was asked: the number stands next to one of the question's topic terms.
Calibrated on dev + realistic-dev (answerable) and calibration/offcorpus.jsonl (questions that share words with
papers but are not answered by them): bench/calibrate_fit.py prints the sweep.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from assistant.answer.extract import count_phrase_near, counted_terms
from assistant.retrieve.coverage import Vocabulary
from assistant.retrieve.question import Question
from assistant.text import terms

MIN_ASKED = 0.4
# A name that many papers use (MRI, ICU, GPU, LLM) is a common word of the field: it does not say which paper is
# meant, so the answering paper need not use it (its weight still counts among what is asked). Roman numerals
# ("Part II") are not names either.
COMMON_NAME_SHARE = 0.02
_ROMAN = re.compile(r"^[IVX]+$")
# Verbs that ask ("what accuracy does X get", "which model does X beat") rather than say what about, and words that
# qualify what is asked rather than name it ("what extra tokens ... besides text").
ASKING_VERBS = frozenset(
    terms(
        "get gets reach reaches achieve achieves obtain obtains score scores beat beats build builds include includes "
        "cover covers contain contains have has need needs require requires make makes take takes give gives work "
        "works help helps perform performs report reports mention mentions serve serves try tries rely relies "
        "employ employs adopt adopts apply applies run runs end ends up come comes mean means say says "
        "extra besides beside additional additionally other others else also apart exactly actually specifically "
        "particular particularly kind kinds type types sort sorts"
    )
)


@dataclass
class Fit:
    ok: bool
    reason: str


def _name_in_paper(vocab: Vocabulary, name: str, pid: str) -> bool:
    if pid in vocab.papers_naming(name):
        return True
    if "-" in name and name.rsplit("-", 1)[1].isalpha() and pid in vocab.papers_naming(name.rsplit("-", 1)[0]):
        return True  # "GPT-4-generated" is GPT-4
    have = vocab.paper_terms(pid)
    parts = terms(name)
    return bool(parts) and all(vocab.has(t, have) or any(h.startswith(t) for h in have) for t in parts)


def _loose(term: str, have: set[str]) -> bool:
    """The paper uses the term or a form of it the light stemmer does not join ("minimize" / "minimizing")."""
    if term in have:
        return True
    if len(term) < 5:
        return False
    root = term[: max(5, len(term) - 2)]
    return any(h.startswith(root) for h in have)


# "What does AgentRefine teach ...", "Which model does CogACT beat?", "What gap does DRM try to minimize?": the
# verb right after the named subject asks; it is not part of what is asked about.


def _asking_verbs(q: Question) -> set[str]:
    out: set[str] = set()
    for name in q.names:
        m2 = re.search(
            r"\b(?:does|do|did|can|could|will|would)\s+(?:the\s+|a\s+|an\s+)?"
            + re.escape(name)
            + r"\s+(?P<v>[a-z]+)\b",
            q.text,
        )
        if m2:
            out.update(terms(m2.group("v")))
    return out


def asked_terms(q: Question, title: str) -> list[str]:
    naming = set(q.name_terms) | set(terms(title)) | _asking_verbs(q)
    return [t for t in q.topic if t not in naming and t not in ASKING_VERBS and not t.isdigit()]


def check(
    q: Question,
    sentence: str,
    pid: str,
    title: str,
    vocab: Vocabulary,
    min_asked: float = MIN_ASKED,
    matched: list[str] | None = None,
) -> Fit:
    """`matched`: the names or rare terms for which retrieval judged the corpus to cover the question (coverage
    rule 2). That says nothing of the rest of the question, so the rest is checked here; coverage by dense +
    lexical score (rule 3, `matched` empty) already weighed every term."""
    by_name = bool(matched)
    have = vocab.paper_terms(pid)
    common = max(3, COMMON_NAME_SHARE * len(vocab.index.papers))
    for name in q.names:
        if _ROMAN.match(name) or len(vocab.papers_naming(name)) >= common:
            continue
        if not _name_in_paper(vocab, name, pid):
            return Fit(False, f"the answering paper does not mention {name}")
    for term in matched or []:
        if term not in q.names and not vocab.has(term, have):
            return Fit(False, f"the answering paper does not mention {term}")
    asked = asked_terms(q, title)
    if asked and by_name:
        mass = sum(vocab.weight(t) for t in asked) or 1.0
        share = sum(vocab.weight(t) for t in asked if _loose(t, have)) / mass
        if share < min_asked:
            return Fit(False, f"the paper has {share:.2f} of what is asked ({', '.join(asked)})")
        in_sentence = set(terms(sentence))
        if not any(_loose(t, in_sentence) for t in asked) and not any(t in in_sentence for t in q.name_terms):
            return Fit(False, "the sentence holds none of what is asked")
    counted = counted_terms(q) if q.kind == "count" else []
    # "How many X": a number must stand next to X ("Three [1]." from three benchmarks does not count parameters).
    if counted and count_phrase_near(replace(q, topic=counted), sentence, title) is None:
        return Fit(False, "the sentence counts something other than what is asked")
    return Fit(True, "answers what is asked")
