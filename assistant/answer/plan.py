"""Before answering: what is asked, which turn it continues, what evidence answers it, and whether the corpus
covers it at all. One decision shared by `ask`, `batch`, the chat app and its read-ahead.

Follow-up or new topic, per turn (the conversation is only used when the question needs it):
1. No earlier answered turn -> new topic.
2. The question names something (an acronym, CamelCase, a name with digits) that the paper of the previous
   turn does not mention -> new topic: it is retrieved on its own and may be refused.
3. It points back ("they", "it", "their benchmark", "the paper", "and on X?") -> follow-up, unless on its own
   it names another paper by a rare title term or name.
4. It stands on its own and the corpus covers it -> new topic. It does not, but the previous paper does
   with the previous question as context -> follow-up.
A follow-up is answered from the previous turn's paper, with the sentence chosen for the new question.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace

from assistant.answer.judge import followup
from assistant.answer.judge.polar import is_polar
from assistant.config import Settings
from assistant.retrieve.coverage import RARE_DF, Coverage, judge
from assistant.retrieve.hybrid import Retriever
from assistant.retrieve.question import Question, analyse
from assistant.text import terms
from assistant.types import Answer, Evidence, renumbered

LIST_CANDIDATES = 15
LIST_NAMED = 10  # papers a list question's name may pick out


def read_question(text: str) -> Question:
    """What the question asks (retrieve/question.py) and whether it wants a yes or no (judge/polar.py)."""
    q = analyse(text)
    return replace(q, polar=q.kind != "list" and is_polar(text))


@dataclass
class Plan:
    question: Question
    evidence: list[Evidence]
    coverage: Coverage
    retrieval_s: float
    followup_of: str | None = None  # paper id of the earlier turn this one continues
    boost: list[str] = field(default_factory=list)

    @property
    def covered(self) -> bool:
        return self.coverage.covered


def topic_paper(history: list[Answer]) -> tuple[str | None, str | None]:
    """(paper id, question) of the latest answered turn: what "they" or "it" can refer to."""
    for turn in reversed(history):
        if not turn.abstained and turn.citations:
            return turn.citations[0].paper_id, turn.question
    return None, None


class Planner:
    def __init__(self, settings: Settings, retriever: Retriever):
        self.settings = settings
        self.retriever = retriever

    def named_papers(self, q: Question) -> list[str]:
        """Papers that the question's names (or its "what is X" subject) identify: few papers use them (a list
        question may name a benchmark that more papers use). "FLAD-trained" also looks for FLAD."""
        vocab = self.retriever.vocab
        limit = LIST_NAMED if q.kind == "list" else RARE_DF
        out: list[str] = []
        for name in [*q.names, *([q.subject] if q.subject else [])]:
            hits = vocab.papers_naming(name)
            if not hits and "-" in name:
                hits = vocab.papers_naming(name.split("-")[0])
            if 0 < len(hits) <= limit:
                out += [pid for pid in sorted(hits) if pid not in out]
        return out

    def _new_names(self, q: Question, pid: str) -> list[str]:
        vocab = self.retriever.vocab
        have = vocab.paper_terms(pid)
        out = []
        for name in q.names:
            name_terms = [t for t in q.name_terms if t in set(terms(name))]
            if all(followup.uses(t, have) for t in name_terms):
                continue  # the previous paper uses it
            hits = vocab.papers_naming(name)
            # A name the corpus never uses, or one that picks out one or two other papers; a generic acronym
            # used by several papers ("CNN") can still be part of a follow-up.
            if not any(vocab.known(t) for t in name_terms) or 0 < len(hits) <= 2:
                out.append(name)
        return out

    def plan(self, text: str, history: list[Answer], where: dict | None = None, k: int | None = None) -> Plan:
        t0 = time.perf_counter()
        q = read_question(text)
        k = k or self.settings.top_k
        cited = cited_paper(text, history)
        if cited is not None and cited in self.retriever.index.papers:
            # "tell me more about [3]": the third paper the previous answer cited.
            q = replace(q, refers_back=True)
            prior = next(t.question for t in reversed(history) if not t.abstained and t.citations)
            evidence, _ = self.retriever.search(f"{prior} {text}", k=k, where=where, boost=[cited])
            evidence = renumbered(sorted(evidence, key=lambda e: e.paper_id != cited))
            coverage = Coverage(True, "follow-up on a cited paper", paper_id=cited)
            return Plan(q, evidence, coverage, time.perf_counter() - t0, cited, [cited])
        among = cited_set(text, history)
        if among:
            # "which of them use RL?": a list over the papers the previous answer cited, and those only.
            q = replace(q, kind="list")
            evidence, _ = self.retriever.search(text, k=max(k, LIST_CANDIDATES * 2), where=where, boost=among)
            evidence = renumbered([ev for ev in evidence if ev.paper_id in among])
            covered = Coverage(bool(evidence), "a question about the papers of the previous answer")
            return Plan(q, evidence, covered, time.perf_counter() - t0, None, among)
        if q.kind == "list":
            k = max(k, LIST_CANDIDATES)
        evidence, coverage, boost = self.standalone(q, where, k)
        prev_pid, prev_q = topic_paper(history)
        if (
            prev_pid is not None
            and prev_pid in self.retriever.index.papers
            and q.kind != "list"
            and followup.continues(self.followup_x(q, coverage, evidence, prev_pid))
        ):
            evidence, _ = self.retriever.search(f"{prev_q} {text}", k=k, where=where, boost=[prev_pid])
            # the paper the turn refers to comes first
            evidence = renumbered(sorted(evidence, key=lambda e: e.paper_id != prev_pid))
            coverage = Coverage(True, "follow-up on the previous paper", paper_id=prev_pid)
            return Plan(q, evidence, coverage, time.perf_counter() - t0, prev_pid, [prev_pid])
        return Plan(q, evidence, coverage, time.perf_counter() - t0, None, boost)

    def standalone(self, q: Question, where: dict | None, k: int) -> tuple[list[Evidence], Coverage, list[str]]:
        """The question on its own: its evidence (papers it names boosted), coverage, and the named papers."""
        boost = self.named_papers(q)
        evidence, _ = self.retriever.search(q.text, k=k, where=where, boost=boost)
        return evidence, judge(q, evidence, self.retriever.vocab, min_score=self.settings.abstain_threshold), boost

    def followup_x(self, q: Question, standalone: Coverage, evidence: list[Evidence], previous: str) -> list[float]:
        """The follow-up decision's features for this question after an answer from paper `previous`."""
        sims = self.retriever.sentence_sims(q.text, previous)
        context = followup.Context(
            previous,
            standalone,
            evidence[0].dense if evidence else 0.0,
            max(sims, default=0.0),
            self._new_names(q, previous),
        )
        return followup.features(q, self.retriever.vocab, context)


_CITED = re.compile(r"\[(\d{1,2})\]")
_AMONG = re.compile(r"^\s*(?:and\s+)?(?:which|what|how\s+many)\s+of\s+(?:them|these|those)\b", re.I)


def _last_answered(history: list[Answer]) -> Answer | None:
    return next((t for t in reversed(history) if not t.abstained and t.citations), None)


def cited_paper(text: str, history: list[Answer]) -> str | None:
    """The paper id of "[n]" in the question, numbered as the latest answered turn cited it."""
    m = _CITED.search(text)
    last = _last_answered(history)
    if m is None or last is None:
        return None
    return next((c.paper_id for c in last.citations if c.number == int(m.group(1))), None)


def cited_set(text: str, history: list[Answer]) -> list[str]:
    """The papers "which of them ..." means: all that the latest answered turn cited (when it cited several)."""
    last = _last_answered(history)
    if last is None or len(last.citations) < 2 or not _AMONG.search(text):
        return []
    return list(dict.fromkeys(c.paper_id for c in last.citations))
