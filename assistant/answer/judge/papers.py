"""Which retrieved papers a list answer includes: a fitted logistic decision per candidate paper.

It replaces two hand-set floors (dense + coverage >= 0.8 and >= 0.7 of the best, half of the two rarest topic
terms): those quantities are features now, with the paper's rank, its distance from the best candidate and whether
the question names it. judge/train.py fits it on the training set's list questions (every fitting paper labelled)
and picks the threshold that maximises F1 on the train split; calibration/papers.json holds both.
"""

from __future__ import annotations

from assistant.answer.judge import learned
from assistant.retrieve.coverage import Vocabulary
from assistant.retrieve.question import Question, facets
from assistant.types import Evidence

BASE = (
    "dense",
    "coverage",
    "score_share",
    "score_below_best",
    "key_terms",
    "named",
    "rank",
    "title_share",
    "facet_coverage",
    "facet_key",
)
# Each candidate against the others of its question. The literature trees use them (they weigh a standing by the
# question it comes with); the list and compare-part decisions are logistic fits on fewer questions, which ranked
# worse with them on validation (a list of the six concept-bottleneck papers kept three).
RELATIVE = ("dense_z", "coverage_z", "dense_below_best", "coverage_below_best")
NAMES = BASE + RELATIVE
FEATURES = {"papers": BASE, "compare_papers": BASE, "literature_papers": NAMES}


def features(
    q: Question, evidence: list[Evidence], named: list[str], vocab: Vocabulary, name: str = "papers"
) -> list[list[float]]:
    """One row per candidate, of the features decision `name` was fitted on (FEATURES: a prefix of NAMES)."""
    key = sorted(q.topic, key=lambda t: -vocab.weight(t))[:2]
    groups = facets(q)
    rarest = [max(g, key=vocab.weight) for g in groups if g]
    covered = [vocab.coverage(q, ev.paper_id) for ev in evidence]
    dense = [ev.dense for ev in evidence]
    scores = [d + c for d, c in zip(dense, covered)]
    top = max(scores, default=0.0) or 1.0
    # How similar everything retrieved is varies by question (a topic the corpus is full of against a stray word),
    # so a paper's standing among the candidates says more than its absolute score. 5-fold cross-validation over
    # the literature questions (trees): average precision 0.686 -> 0.701.
    dense_z, covered_z = _standard(dense), _standard(covered)
    rows = []
    for rank, (ev, s) in enumerate(zip(evidence, scores)):
        have = vocab.paper_terms(ev.paper_id)
        title = vocab.title_terms(ev.paper_id)
        rows.append(
            [
                ev.dense,
                covered[rank],
                s / top,
                top - s,
                sum(vocab.has(t, have) for t in key) / (len(key) or 1),
                float(ev.paper_id in named),
                rank / max(1, len(evidence) - 1),
                sum(t in title for t in q.topic) / (len(q.topic) or 1),
                # A paper on one listed item ("myositis" of "rheum papers? myositis, spondylitis, ...") covers little
                # of the whole topic: how well it covers its best item, and whether it has any item's rarest term.
                max((vocab.share(g, ev.paper_id) for g in groups), default=0.0),
                float(any(vocab.has(t, have) for t in rarest)),
                dense_z[rank],
                covered_z[rank],
                max(dense) - dense[rank],
                max(covered) - covered[rank],
            ][: len(FEATURES[name])]
        )
    return rows


def _standard(values: list[float]) -> list[float]:
    """Each value in standard deviations from the mean of its list (0 where they are all alike)."""
    if not values:
        return []
    mean = sum(values) / len(values)
    sd = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    return [(v - mean) / sd if sd > 1e-9 else 0.0 for v in values]


def model(name: str = "papers") -> learned.Logistic | learned.Trees:
    """`papers` for list answers (logistic); `literature_papers` for survey and consensus answers (fitted on those;
    boosted trees, whose ranking of candidates beats the logistic fit's on validation); `compare_papers` for the
    parts of a compare question (logistic, fitted on those)."""
    return learned.load(name, FEATURES[name])


def keep(
    q: Question,
    evidence: list[Evidence],
    named: list[str],
    vocab: Vocabulary,
    name: str = "papers",
    fallback: bool = True,
) -> list[tuple[Evidence, float]]:
    """The candidates the decision keeps, with their probability, best first; at least the best one unless
    `fallback` is off (a literature answer refuses when no paper passes)."""
    m = model(name)
    scored = [(ev, m.probability(x)) for ev, x in zip(evidence, features(q, evidence, named, vocab, name))]
    kept = [(ev, p) for ev, p in scored if p >= m.threshold]
    if not kept and scored:
        best = max(scored, key=lambda t: t[1])
        # Nothing passes: a list keeps its best candidate; a literature answer keeps it only above the floor
        # fitted so that few answerable questions are refused, else it refuses.
        kept = [best] if fallback or best[1] >= m.floor else []
    return sorted(kept, key=lambda t: -t[1])
