"""Unit tests of the answer stage's rules: question kinds, names and pointers back, acronym expansions, counted
numbers, the model-phrase check, list layout, the stricter citation check, and the eval's two formats."""

from __future__ import annotations

import json

import pytest

from assistant.answer.citations import support
from assistant.answer.compose import checked_phrase, listing, single
from assistant.answer.extract import expansion, short_answer
from assistant.eval import contains_answer, load_items, score_turn, summarise
from assistant.retrieve.question import analyse, facets
from assistant.types import Answer, Citation, Evidence


@pytest.mark.parametrize(
    "question,kind",
    [
        ("Which papers study concept bottleneck models?", "list"),
        ("any papers on adversarial attacks against graph neural networks?", "list"),
        ("What does ARTE stand for?", "acronym"),
        ("How many tasks does MMAU have?", "count"),
        ("What accuracy does LIMO get on MATH?", "count"),
        ("What is PassUntil?", "definition"),
        ("Which larger model does CogACT beat in simulation?", "fact"),
    ],
)
def test_question_kinds(question, kind):
    assert analyse(question).kind == kind


def test_a_listed_topic_splits_into_facets_and_a_plain_one_stays_whole():
    listed = analyse("rheum papers? myositis, spondylitis, vasculitis, paget")
    assert len(facets(listed)) == 5 and all(len(f) == 1 for f in facets(listed))
    dashed = analyse("tricks for cutting inference cost - fewer forward passes, fewer prompt tokens")
    assert len(facets(dashed)) == 3
    plain = analyse("what have papers found about simplicity bias?")
    assert facets(plain) == [plain.topic]
    assert facets(analyse("?")) == [[]]  # nothing to split: one empty group, never an error


def test_names_and_pointers_back():
    q = analyse("What does DeMamba detect and how big is the GenVideo benchmark?")
    assert q.names == ["DeMamba", "GenVideo"] and not q.refers_back
    assert analyse("Which model do the 3B FLAD-trained models beat?").names == ["FLAD-trained"]  # 3B is a size
    assert analyse("How many videos are in their benchmark?").refers_back
    assert analyse("How does that paper define intelligence?").refers_back
    # a relative "that" is not a pointer back, and the first word is not a name for being capitalised
    q = analyse("What is the name of the optimizer found through symbolic search that keeps only a momentum state?")
    assert not q.refers_back and q.names == []
    assert analyse("What does ARTE stand for?").subject == "ARTE"
    assert "stand" not in analyse("What does ARTE stand for?").topic  # question words do not count as topic


@pytest.mark.parametrize(
    "acronym,sentence,long",
    [
        (
            "ARTE",
            "Thus, we propose ARTE, dubbed Aligning TeacheR with StudenT PreferencEs, a framework.",
            "Aligning TeacheR with StudenT PreferencEs",
        ),
        (
            "CBMs",
            "Existing methods, such as concept bottleneck models (CBMs), have been used.",
            "concept bottleneck models",
        ),
        (
            "OMEGA",
            "we introduce OMEGA-Out-of-distribution Math Problems Evaluation with 3 Generalization Axes-a benchmark",
            "Out-of-distribution Math Problems Evaluation with 3 Generalization Axes",
        ),
        ("SKiC", "we propose Skills-in-Context prompting (SKiC), which", "Skills-in-Context"),
        (
            "ARC",  # "and" spells the A too, but a joining word does not start the long form
            "we present a benchmark, the Abstraction and Reasoning Corpus (ARC), built upon priors",
            "Abstraction and Reasoning Corpus",
        ),
        ("LIMO", "LIMO achieves 57.1% accuracy on AIME.", None),
        ("DRM", "We propose a new method (DRM) for this.", None),  # letters that do not spell it
    ],
)
def test_acronym_expansions(acronym, sentence, long):
    assert expansion(acronym, sentence) == long


def test_count_phrases_keep_the_number_and_what_it_counts():
    q = analyse("How many tasks does MMAU have?")
    s = "With a total of 20 meticulously designed tasks encompassing over 3K distinct prompts, MMAU provides it."
    assert short_answer(q, s) == "20 meticulously designed tasks"
    q = analyse("How many videos are in their benchmark?")
    s = "It has a large volume of videos, including over one million AI-generated and real videos collected."
    assert short_answer(q, s) == "over one million AI-generated and real videos"
    assert short_answer(analyse("What does ARTE stand for?"), s) is None


def test_model_phrase_is_kept_only_as_a_new_span_of_the_sentence():
    q = analyse("What gap does DRM try to minimize?")
    s = "DRM minimizes the adaptivity gap between source and target domains."
    assert checked_phrase("the adaptivity gap [1].", s, q) == "the adaptivity gap"
    assert checked_phrase("the generalization gap", s, q) is None  # not in the sentence
    assert checked_phrase("DRM", s, q) is None  # only the question's own words
    assert checked_phrase(s, s, q) is None  # the whole sentence is no short answer
    assert checked_phrase("", s, q) is None


def test_composed_answers_state_the_fact_first_and_quote_the_evidence():
    ev = Evidence("p1", "MMAU", 1.0, 0.5, [], number=1)
    text, cites = single("20 meticulously designed tasks", ["With 20 meticulously designed tasks, MMAU ..."], ev)
    assert text.startswith("20 meticulously designed tasks [1].\n") and '"With 20' in text
    assert cites[0].quote.startswith("With 20") and cites[0].paper_id == "p1"
    text, _ = single(None, ["First.", "Second."], ev)
    assert text == 'According to [1]: "First." … "Second."'
    text, cites = listing(
        [
            (Evidence("a", "Paper A", 1, 1, [], number=1), "A does X."),
            (Evidence("b", "Paper B", 1, 1, [], number=2), "B does X."),
        ]
    )
    assert text.splitlines() == ["2 indexed papers fit:", '- Paper A [1]: "A does X."', '- Paper B [2]: "B does X."']
    assert [c.number for c in cites] == [1, 2]


def test_citation_check_rejects_typos_and_misspelt_names_but_passes_paraphrase():
    src = "Concept Bottleneck Models (CBMs) map the inputs onto a set of interpretable concepts to make predictions."
    assert support("Concept Bottleness Models map inputs onto interpretable concepts.", src) == 0.0
    assert (
        support("They map the inputs onto a set of interpretable concepts, as Concept Bottleneck Models do.", src) > 0.7
    )
    assert support("CBMs map inputs to interpretable concepts used for predictions.", src) >= 0.7
    assert support("Concept Bottleneck Models reach 91% accuracy.", src) == 0.0  # an invented number


def test_eval_reads_both_formats_and_scores_whole_words(tmp_path):
    f = tmp_path / "set.jsonl"
    rows = [
        {"id": "a", "question": "q1?", "gold_title": "Paper One", "answer": "20", "answer_aliases": []},
        {"id": "b", "question": "q2?", "gold_title": "", "answer": ""},
        {"id": "c", "kind": "list", "question": "which papers?", "gold_titles": ["Paper One", "Paper Two"]},
        {
            "id": "d",
            "kind": "conversation",
            "turns": [
                {"question": "t1", "gold_title": "Paper One", "answer": "x", "role": "first"},
                {"question": "t2", "gold_title": "", "answer": "", "role": "outside"},
            ],
        },
    ]
    f.write_text("\n".join(json.dumps(r) for r in rows))
    items = load_items(f)
    assert [i.kind for i in items] == ["paraphrase", "outside", "list", "conversation"]
    assert [t.role for t in items[3].turns] == ["first", "outside"]
    assert contains_answer("It has 20 tasks.", ["20"]) and not contains_answer("It has 200 tasks.", ["20"])
    ans = Answer("which papers?", "...", [Citation(1, "p", "Paper One", "", 1.0), Citation(2, "q", "Other", "", 1.0)])
    row = score_turn(items[2].turns[0], ans, "list")
    assert row["recall"] == 0.5 and row["precision"] == 0.5
    refused = Answer("q2?", "no", abstained=True)
    rows_out = [{"id": "b", "kind": "outside", **score_turn(items[1].turns[0], refused, "outside")}]
    assert summarise(rows_out)["by_kind"]["outside"]["refused"] == "1/1"


def test_count_phrase_prefers_the_number_next_to_what_is_counted():
    q = analyse("By how many steps does it shorten the path on average?")
    s = "Results across five long-horizon tasks show that it reduces the average number of steps required by 3.8."
    assert short_answer(q, s) == "3.8"
