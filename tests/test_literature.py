"""Literature answers (survey, compare, consensus) on the bundled corpus with the real embedder and Chroma."""

from __future__ import annotations

import json
import re

import pytest

from assistant.answer.conversations import answer_from_dict
from assistant.answer.literature.kinds import compared_parts, literature_kind, topic_text
from assistant.answer.literature.synthesis import checked
from assistant.answer.pipeline import Pipeline
from assistant.config import Settings
from tests.conftest import ScriptedGenerator


@pytest.mark.parametrize(
    "question, kind",
    [
        ("What have papers found about grokking?", "survey"),
        ("summarize the work on prompt optimization", "survey"),
        ("which benchmarks are used to evaluate video question answering?", "survey"),
        ("compare LIMO and ReFT", "compare"),
        ("how does LIMO stack up against ReFT", "compare"),
        ("differences between DeMamba and DeTeCtive", "compare"),
        ("How do DeMamba and GenVideo differ?", "compare"),
        ("Does chain-of-thought always help?", "consensus"),
        ("is there evidence that larger models generalize better?", "consensus"),
        ("What does LIMO stand for?", None),
        ("how many layers does the model have", None),
        ("Which papers study concept bottleneck models?", None),  # a list question: one line per paper
    ],
)
def test_literature_kinds(question, kind):
    assert literature_kind(question) == kind


@pytest.mark.e2e
@pytest.mark.parametrize(
    "question",
    ["Is Lion more memory-efficient than Adam?", "which methods does LIMO use?", "what limitations does ReFT have"],
)
def test_a_question_about_one_paper_is_answered_from_that_paper(pipe, question):
    """Whatever its shape, a question that names one indexed paper, or that one paper alone speaks to, gets a
    single answer: that paper's sentence, not a literature answer of one group."""
    a = pipe.ask(question)
    assert not a.groups and a.table is None and len({c.paper_id for c in a.citations}) == 1


def test_topics_and_compared_parts():
    assert topic_text("What have papers found about simplicity bias?") == "simplicity bias"
    assert topic_text("summarize the work on in-context learning") == "in-context learning"
    assert compared_parts("compare LIMO and ReFT") == ["LIMO", "ReFT"]
    assert compared_parts("How do DeMamba, GenVideo and OVQA differ?") == ["DeMamba", "GenVideo", "OVQA"]
    assert compared_parts("lion vs adafactor?") == ["lion", "adafactor"]


@pytest.fixture(scope="module")
def pipe(seeded_dir, real_embedder):
    from assistant.index.lexical import Index
    from assistant.index.store import Store
    from assistant.retrieve.hybrid import Retriever

    settings = Settings(data_dir=seeded_dir)
    return Pipeline(settings, Retriever(settings, real_embedder, Index.load(Store(settings))), ScriptedGenerator([]))


def _sentences(pipe, pid):
    return set(pipe.retriever.index.sentences[pid])


@pytest.mark.e2e
def test_a_survey_cites_several_papers_grouped_with_a_quote_each(pipe):
    a = pipe.ask("Summarize the work on in-context learning")
    assert a.kind == "survey" and not a.abstained and len(a.citations) >= 3 and a.groups
    numbers = [f.number for g in a.groups for f in g.findings]
    assert sorted(numbers) == list(range(1, len(a.citations) + 1))  # every cited paper in exactly one group
    for g in a.groups:
        for f in g.findings:
            assert f.quote in _sentences(pipe, f.paper_id) and f'"{f.quote}"' in a.text
            # the runner-up sentence, when nearly as likely, follows the quote on the same line
            assert not f.second or f.second in _sentences(pipe, f.paper_id) and f.second != f.quote
            assert f'"{f.second or f.quote}" [{f.number}]' in a.text
    assert a.text.splitlines()[0].startswith(f"{len(a.citations)} indexed papers speak to this")
    back = answer_from_dict(json.loads(json.dumps(a.to_dict())))
    assert back.groups == a.groups and back.kind == "survey"


@pytest.mark.e2e
def test_a_listed_topic_naming_one_paper_among_its_items_is_still_a_survey(pipe):
    # "LIMO" names one paper; the other listed items are topics, so the question is about several papers.
    a = pipe.ask("reasoning data: LIMO, self-synthesized rationales, reinforcement learning for math")
    assert a.kind == "survey" and not a.abstained and len(a.citations) >= 3
    assert any(c.title.startswith("LIMO") for c in a.citations)
    assert pipe.ask("what does LIMO stand for?").kind != "survey"  # a name alone is still one paper's question


@pytest.mark.e2e
def test_compare_puts_the_named_papers_side_by_side(pipe):
    a = pipe.ask("compare LIMO and ReFT")
    assert a.kind == "compare" and a.table is not None and not a.abstained
    titles = [row[1] for row in a.table.rows]
    assert titles[0].startswith("LIMO") and titles[1].startswith("ReFT")
    assert a.table.aspects == ("problem", "method", "data", "result") and len(a.table.differs) == 2
    for (_, _, cells), c in zip(a.table.rows, a.citations):
        assert all(cell in _sentences(pipe, c.paper_id) for cell in cells if cell)
        assert len(set(cells)) == len(cells)  # a sentence is not used for two aspects
    assert answer_from_dict(json.loads(json.dumps(a.to_dict()))).table == a.table


@pytest.mark.e2e
def test_consensus_groups_papers_by_stance_with_a_tally(pipe):
    a = pipe.ask("Does chain-of-thought always help?")
    assert a.kind == "consensus" and a.groups and not a.abstained
    stances = {f.stance for g in a.groups for f in g.findings}
    assert stances <= {"supports", "mixed or qualified", "against"} and None not in stances
    counts = {g.label: len(g.findings) for g in a.groups}
    weight = {g.label: sum(1 / f.number for f in g.findings) for g in a.groups}  # cited in relevance order
    n, top = len(a.citations), max(weight, key=weight.__getitem__)
    lead = a.text.splitlines()[0]
    assert str(n) in lead and a.verdict_by == "papers"
    if len(counts) == 1:
        assert f"All {n} indexed papers" in lead
    else:
        assert all(f"{k} {g}" in lead for g, k in counts.items())
    # The overall verdict is the stance with more than half the weight (each paper 1/rank), else "maybe".
    if 2 * weight[top] > sum(weight.values()):
        assert a.verdict == {"supports": "yes", "mixed or qualified": "maybe", "against": "no"}[top]
    else:
        assert a.verdict == "maybe" and lead.startswith("The papers disagree")


@pytest.mark.e2e
def test_an_off_corpus_survey_is_refused(pipe):
    a = pipe.ask("What have papers found about protein folding with AlphaFold?")
    assert a.abstained and a.abstain_reason and not a.groups


@pytest.mark.e2e
def test_follow_ups_on_the_set_of_cited_papers(pipe):
    survey = pipe.ask("Summarize the work on in-context learning")
    among = pipe.ask("which of them use meta-learning?", history=[survey])
    cited = {c.paper_id for c in survey.citations}
    assert among.kind == "list" and among.citations and {c.paper_id for c in among.citations} <= cited
    third = survey.citations[2]
    more = pipe.ask("tell me more about [3]", history=[survey])
    assert more.followup_of == third.paper_id and more.citations[0].paper_id == third.paper_id


class EchoingModel(ScriptedGenerator):
    """Answers a synthesis prompt with its first quote's words, cited, then a claim no quote holds."""

    name = "echo"
    n_params = 10**9

    def stream(self, messages, max_tokens, cancel=None):
        self.calls.append(messages)
        lines = [ln for ln in messages[-1]["content"].splitlines() if re.match(r"\[\d+\] ", ln)]
        n, quote = lines[0].split("] ", 1)
        yield f"{quote.rstrip('.')} {n}]. All of them were retracted for fabricated results {n}]."


def test_a_group_summary_keeps_only_sentences_its_cited_quotes_support():
    quotes = {
        3: "Grokking can be achieved even without weight decay at an appropriate pruning rate.",
        5: "Grokking appears during one-pass pretraining of a 7B model.",
    }
    raw = (
        "Grokking can be achieved without weight decay [3]. "  # supported by its quote: kept
        "Grokking appears during pretraining of a 7B model and without weight decay [3, 5]. "  # both quotes: kept
        "Grokking appears in 12B models [5]. "  # a number no quote holds
        "Grokking was achieved without weight decay [4]. "  # a paper outside the group
        "Grokking is universal. "  # uncited, and no quote holds it
        "Grokking appears during one-pass pretraining. "  # uncited, but one quote holds it: cited to it
        "Grokking can be achieved at an [3]."  # a fragment
    )
    assert checked(raw, quotes) == (
        "Grokking can be achieved without weight decay [3]. "
        "Grokking appears during pretraining of a 7B model and without weight decay [3, 5]. "
        "Grokking appears during one-pass pretraining [5]."
    )
    assert (
        checked("Grokking appears during one-pass pretraining of a 7B model [3, 5].", quotes) == ""
    )  # [3] is decoration


@pytest.mark.e2e
def test_a_capable_model_summarises_each_group_and_what_fails_the_check_is_left_out(seeded_dir, real_embedder):
    from assistant.index.lexical import Index
    from assistant.index.store import Store
    from assistant.retrieve.hybrid import Retriever

    settings = Settings(data_dir=seeded_dir, answer_style="generative")
    model = EchoingModel()
    pipe = Pipeline(settings, Retriever(settings, real_embedder, Index.load(Store(settings))), model)
    a = pipe.ask("Summarize the work on in-context learning")
    written = [g for g in a.groups if g.summary]
    assert written and model.calls and a.made_by == "model" and a.model_words
    for g in written:
        first = g.findings[0]
        assert g.made_by == "model" and g.summary == f"{first.quote.rstrip('.')} [{first.number}]."
        assert "retracted" not in a.text and g.summary in a.text
    for g in a.groups:  # every group keeps its quotes: the summary adds to the floor, never replaces it
        # (a paper's runner-up quote, when nearly as likely, stands between its quote and its number)
        assert all(re.search(rf'"{re.escape(f.quote)}"( … "[^"]*")? \[{f.number}\]', a.text) for f in g.findings)
    assert answer_from_dict(json.loads(json.dumps(a.to_dict()))).groups == a.groups
    # A comparison has no groups of several papers: one overview across the compared papers, checked the same way.
    c = pipe.ask("compare LIMO and ReFT")
    assert c.kind == "compare" and c.summary and c.made_by == "model" and c.summary in c.text
    assert "retracted" not in c.text and answer_from_dict(json.loads(json.dumps(c.to_dict()))).summary == c.summary
    # The bundled 135M model is not capable (judge/styles.py): no summary is asked for.
    plain = Pipeline(Settings(data_dir=seeded_dir), pipe.retriever, ScriptedGenerator([]))
    assert not any(g.summary for g in plain.ask("Summarize the work on in-context learning").groups)


@pytest.mark.e2e
def test_a_pasted_title_is_a_question_about_that_paper(pipe):
    """Every indexed title asked as it is gets a single answer (or refusal) about that paper, never a survey."""
    titles = [p.title for p in pipe.retriever.index.papers.values()]
    assert all(pipe.literature_kind(t, None) is None for t in titles)
    pid = next(iter(pipe.retriever.index.papers))
    assert pipe.retriever.index.paper_titled(f"what does {pipe.retriever.index.papers[pid].title} find?") == pid
