"""Answer or refuse: one fitted logistic decision over what retrieval and the chosen sentence show.

It replaces the chain of gates that each could refuse alone (retrieval coverage's threshold, "no paper mentions
X", "the paper has 0.00 of what is asked", "the sentence holds none of what is asked"): those tests are now
features, weighed together with MiniLM similarities and the sentence ranker's confidence. judge/train.py fits it
on the training questions (bench/data/qa): answerable ones, off-corpus ones, and questions whose paper was held
out of the index (they share the corpus's words but nothing answers them). calibration/answerable.json holds the
weights, the threshold and the training data's hash.

When the question names a paper and the decision is still "refuse", the answer says that this paper's abstract
does not state it and shows its closest sentence (judge outcome "not_stated"), rather than a bare refusal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.answer.extract import count_phrase_near, counted_terms
from assistant.answer.judge import learned
from assistant.answer.judge.injection import unquotable
from assistant.retrieve.coverage import Vocabulary
from assistant.retrieve.question import Question
from assistant.text import as_written, terms
from assistant.types import Evidence

NAMES = (
    "dense",
    "dense_gap",
    "coverage",
    "dense_plus_coverage",
    "rare_match",
    "names",
    "names_unknown",
    "names_in_paper",
    "asked_share",
    "asked_in_sentence",
    "sentence_prob",
    "sentence_similarity",
    "count_near",
    "is_count",
    "is_definition",
    "is_polar",
    "is_followup",
    "topic_terms",
    "unknown_topic_mass",
    "title_share",
    "unknown_topic_terms",
    "absent_known_mass",
    "second_dense",
)

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


def _name_in_paper(vocab: Vocabulary, name: str, pid: str) -> bool:
    if pid in vocab.papers_naming(name):
        return True
    if "-" in name and name.rsplit("-", 1)[1].isalpha() and pid in vocab.papers_naming(name.rsplit("-", 1)[0]):
        return True  # "GPT-4-generated" is GPT-4
    have = vocab.paper_terms(pid)
    parts = terms(name)
    if parts and all(vocab.has(t, have) for t in parts):
        return True
    # A paper word that extends the name ("Llama" in "llama2"), matched on the name as written: its stemmed term
    # can be a prefix of an unrelated word ("MultiMed" stems to "multim", which begins "multimodal").
    words = re.findall(r"[a-z0-9]+", name.lower())
    return bool(words) and all(any(h.startswith(w) for h in have) for w in words)


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


# What each feature, when it speaks most against answering, tells the user.
REASONS = {
    "dense": "no indexed abstract is close to the question in meaning",
    "dense_gap": "no indexed abstract stands out for the question",
    "coverage": "the closest abstract lacks most of the question's terms",
    "dense_plus_coverage": "no indexed abstract is close to the question",
    "rare_match": "the question names nothing that an indexed paper is about",
    "names": "the question's names do not identify an indexed paper",
    "names_unknown": "no indexed paper mentions {unknown}",
    "names_in_paper": "the closest paper does not mention {absent}",
    "asked_share": "the closest paper has little of what is asked ({asked})",
    "asked_in_sentence": "no sentence of the closest paper holds what is asked ({asked})",
    "sentence_prob": "no sentence of the closest paper looks like an answer",
    "sentence_similarity": "no sentence of the closest paper is close to the question",
    "count_near": "no number in the closest paper counts what is asked",
    "topic_terms": "the question says too little to match an abstract",
    "unknown_topic_mass": "the corpus never uses {unknown_terms}",
    "title_share": "the closest paper's title shares little with the question",
    "unknown_topic_terms": "the corpus never uses {unknown_terms}",
    "absent_known_mass": "the closest paper lacks {absent_terms}, which other indexed papers use",
}


@dataclass(frozen=True)
class Decision:
    answer: bool
    probability: float
    reason: str  # one line: why it answers, or why not
    named: bool  # the question names the paper it would answer from
    foreign: bool = False  # the corpus uses none of the question's topic words ("how do i renew my passport")


def features(
    q: Question,
    evidence: list[Evidence],
    sentence: str,
    sentence_prob: float,
    sentence_sim: float,
    vocab: Vocabulary,
    followup: bool,
) -> tuple[list[float], dict[str, str]]:
    """The feature vector for answering from evidence[0] with `sentence`, and the words a reason may quote."""
    ev = evidence[0]
    pid = ev.paper_id
    sentences = vocab.index.sentences.get(pid) or []
    bad = unquotable(sentences)
    # What the paper says, without its text addressed to a model: an instruction never makes a question look
    # answered ("Was it retracted?" of an abstract whose only "retracted" is in an injected sentence).
    have = (
        set(terms(ev.title + " " + " ".join(s for s in sentences if s not in bad))) if bad else vocab.paper_terms(pid)
    )
    x = dict.fromkeys(NAMES, 0.0)
    x["dense"] = ev.dense
    x["dense_gap"] = ev.dense - (evidence[1].dense if len(evidence) > 1 else 0.0)
    x["coverage"] = vocab.coverage(q, pid)
    x["dense_plus_coverage"] = max(e.dense + vocab.coverage(q, e.paper_id) for e in evidence[:3])
    matched = vocab.rare_matches(q, pid)
    x["rare_match"] = float(bool(matched))
    x["names"] = float(len(q.names))  # counts as they are: the fit standardises every feature
    name_terms = [t for t in q.name_terms if not t.isdigit()]
    unknown = [t for t in name_terms if not vocab.name_known(t)]
    x["names_unknown"] = len(unknown) / len(name_terms) if name_terms else 0.0
    common = max(3, COMMON_NAME_SHARE * len(vocab.index.papers))
    checked = [n for n in q.names if not _ROMAN.match(n) and len(vocab.papers_naming(n)) < common]
    absent = [n for n in checked if not _name_in_paper(vocab, n, pid)]
    x["names_in_paper"] = 1.0 - len(absent) / len(checked) if checked else 1.0
    asked = asked_terms(q, ev.title)
    if asked:
        mass = sum(vocab.weight(t) for t in asked) or 1.0
        x["asked_share"] = sum(vocab.weight(t) for t in asked if _loose(t, have)) / mass
        in_sentence = set(terms(sentence))
        x["asked_in_sentence"] = float(
            any(_loose(t, in_sentence) for t in asked) or any(t in in_sentence for t in q.name_terms)
        )
    else:
        x["asked_share"] = x["asked_in_sentence"] = 1.0
    x["sentence_prob"] = sentence_prob
    x["sentence_similarity"] = sentence_sim
    if q.kind == "count" and counted_terms(q):
        x["count_near"] = float(count_phrase_near(q, sentence, ev.title) is not None)
    else:
        x["count_near"] = 1.0
    x["is_count"] = float(q.kind == "count")
    x["is_definition"] = float(q.kind in ("definition", "acronym"))
    x["is_polar"] = float(q.polar)
    x["is_followup"] = float(followup)
    x["topic_terms"] = float(len(q.topic))
    topic = q.topic or terms(q.text)
    mass = sum(vocab.weight(t) for t in topic) or 1.0
    never = [t for t in topic if not vocab.known(t)]
    x["unknown_topic_mass"] = sum(vocab.weight(t) for t in never) / mass
    title = vocab.title_terms(pid)
    x["title_share"] = sum(t in title for t in topic) / len(topic) if topic else 0.0
    x["unknown_topic_terms"] = float(len(never))
    # What the corpus knows but this paper lacks: the question is about something else the corpus holds.
    x_absent = [t for t in topic if vocab.known(t) and not vocab.has(t, have) and t not in q.name_terms]
    x["absent_known_mass"] = sum(vocab.weight(t) for t in x_absent) / mass
    x["second_dense"] = evidence[1].dense if len(evidence) > 1 else 0.0
    # Empty where there is nothing to name: a reason is only given when it can say what it is about.
    words = {
        "unknown": ", ".join(sorted({n for n in q.names if any(t in unknown for t in terms(n))})),
        "absent": ", ".join(absent),
        "asked": ", ".join(as_written(asked[:4], q.text)),
        "unknown_terms": ", ".join(as_written(never[:4], q.text)),
        "absent_terms": ", ".join(as_written(sorted(set(x_absent), key=lambda t: -vocab.weight(t))[:4], q.text)),
    }
    words["about"] = "yes" if _about(q, matched, ev, vocab) else ""
    words["foreign"] = "yes" if topic and len(never) == len(topic) else ""
    return [x[k] for k in NAMES], words


def _about(q: Question, matched: list[str], ev: Evidence, vocab: Vocabulary) -> bool:
    """The question picks out a paper that is about what it names: a rare title term, or a rare name that the
    paper's title carries or its abstract uses more than in passing (in two sentences or more)."""
    sentences = vocab.index.sentences.get(ev.paper_id) or []
    for m in matched:
        if m not in q.names:
            return True  # a rare term of the paper's title
        pattern = re.compile(r"(?<![\w-])" + re.escape(m) + r"(?![A-Za-z])")
        if pattern.search(ev.title) or sum(bool(pattern.search(s)) for s in sentences) >= 2:
            return True
    return False


def model() -> learned.Logistic:
    return learned.logistic("answerable", NAMES)


def decide(x: list[float], words: dict[str, str]) -> Decision:
    m = model()
    p = m.probability(x)
    # The question is about this paper (a rare name it is about, or a rare title term): say what its abstract
    # does not state, with its closest sentence, rather than refuse as if nothing were indexed.
    named, foreign = bool(words.get("about")), bool(words.get("foreign"))
    if p >= m.threshold:
        return Decision(True, p, f"answerable (p={p:.2f})", named, foreign)
    worst = next(
        (
            name
            for value, name in m.contributions(x)
            if value < 0 and name in REASONS and all(words.get(k) for k in _placeholders(REASONS[name]))
        ),
        "dense",
    )
    return Decision(False, p, f"{REASONS[worst].format(**words)} (p={p:.2f})", named, foreign)


def _placeholders(text: str) -> list[str]:
    return re.findall(r"\{(\w+)\}", text)
