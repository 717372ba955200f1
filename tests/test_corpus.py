"""Corpus parsing and chunking: the seeds, odd encodings, orphans, JSONL/CSV, property tests."""

from __future__ import annotations

import json

import pytest
from conftest import SEEDS
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from assistant.errors import CorpusError
from assistant.ingest.chunking import chunk_paper
from assistant.ingest.corpus import load_corpus, paper_id, parse_file, parse_page
from assistant.text import split_sentences

ABSTRACT = (
    "We study things in depth. Our method improves results by 12.5% on three benchmarks. "
    "We release code and data for others to build on. " * 3
).strip()


def test_seeds_parse_to_216_unique_papers_with_merged_sources():
    papers, warnings = load_corpus([SEEDS])
    assert len(papers) == 216
    multi = [p for p in papers if len(p.sources) > 1]
    assert len(multi) == 41
    assert all(len(set(p.sources)) == len(p.sources) for p in multi)
    assert warnings == []
    by_title = {p.title: p for p in papers}
    info = by_title["Information-Theoretic Generalization Bounds for Deep Neural Networks"]
    assert info.date == "Jul 30" and info.abstract.startswith("Deep neural networks (DNNs)")


def test_ids_are_stable_and_content_derived():
    a, _ = load_corpus([SEEDS])
    b, _ = load_corpus([SEEDS])
    assert [p.id for p in a] == [p.id for p in b]
    assert paper_id("Attention Is All You Need") == paper_id("  attention is all you need ")


def test_crlf_bom_trailing_spaces_and_varying_headers(tmp_path):
    text = "\ufeffnew\r\n\r\nSubscribe  \r\n\r\nJul 30\r\n\r\nA Title   \r\n\r\n" + ABSTRACT + "   \r\n"
    f = tmp_path / "page.txt"
    f.write_bytes(text.encode("utf-8"))
    res = parse_file(f)
    assert [(p.title, p.abstract) for p in res.papers] == [("A Title", ABSTRACT)]
    assert res.papers[0].date == "Jul 30"


def test_title_without_abstract_is_reported_and_does_not_shift_pairs():
    text = "\n".join(
        [
            "Header",
            "",
            "First Title",
            ABSTRACT,
            "Orphan Title",
            "Second Title",
            ABSTRACT.upper(),
            "Third",
            ABSTRACT[::-1],
        ]
    )
    res = parse_page(text, "p.txt")
    assert [p.title for p in res.papers] == ["First Title", "Second Title", "Third"]
    assert len(res.warnings) == 1 and "Orphan Title" in res.warnings[0]


def test_jsonl_and_csv(tmp_path):
    j = tmp_path / "a.jsonl"
    j.write_text(
        json.dumps({"title": "J Paper", "abstract": ABSTRACT, "url": "http://x/1", "authors": ["A", "B"]}) + "\n\n"
    )
    c = tmp_path / "b.csv"
    c.write_text('Title,Abstract,date\n"C Paper","' + ABSTRACT + '",2024-01-01\n"No abstract",,\n')
    papers, warnings = load_corpus([j, c])
    assert {p.title for p in papers} == {"J Paper", "C Paper"}
    # A list of names is kept "; "-separated: a name may hold a comma ("Vaswani, Ashish").
    assert next(p for p in papers if p.title == "J Paper").authors == "A; B"
    assert next(p for p in papers if p.title == "C Paper").year == 2024
    assert any("row 3" in w for w in warnings)


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "empty"),
        (b"   \n\n", "only whitespace"),
        (b"\x00\x01\x02binary", "binary"),
        (b"caf\xe9 latin-1", "not UTF-8"),
        (b"Only a header\n\nAnother short line\n", "no title/abstract pairs"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path, content, message):
    f = tmp_path / "bad.txt"
    f.write_bytes(content)
    with pytest.raises(CorpusError) as err:
        load_corpus([f])
    assert message in str(err.value) and "bad.txt" in str(err.value) and "\n" not in str(err.value)


def test_missing_path_and_empty_dir(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        load_corpus([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no corpus files"):
        load_corpus([tmp_path / "empty"])


def test_bad_jsonl_names_the_line(tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_text(json.dumps({"title": "T", "abstract": ABSTRACT}) + "\n{oops\n")
    with pytest.raises(CorpusError, match="line 2"):
        load_corpus([f])


def test_chunks_fit_the_window_keep_the_title_and_cover_every_sentence():
    papers, _ = load_corpus([SEEDS])
    from assistant.ingest.chunking import approx_tokens

    for p in papers[:60]:
        chunks = chunk_paper(p, 128)
        sents = split_sentences(p.abstract)
        assert all(c.text.startswith(p.title.rstrip(".")) for c in chunks)
        assert all(approx_tokens(c.text) <= 128 + approx_tokens(s) for c in chunks for s in sents[:1])
        assert sorted({i for c in chunks for i in c.sentences}) == list(range(len(sents)))


def test_chunking_with_batched_token_counts_gives_the_same_chunks(real_embedder):
    """ingest counts tokens with the tokenizer's batch call, per group of papers (chunk_papers)."""
    from assistant.ingest.chunking import chunk_papers

    papers, _ = load_corpus([SEEDS])
    one_by_one = [(c, p) for p in papers for c in chunk_paper(p, 200, real_embedder.count_tokens, 1)]
    batched = chunk_papers(papers, 200, real_embedder.count_tokens, 1, real_embedder.count_tokens_many, group=50)
    assert list(batched) == one_by_one
    assert real_embedder.count_tokens_many(["a b c", ""]) == [real_embedder.count_tokens("a b c"), 2]


def test_long_line_without_periods_is_split_into_quotable_pieces():
    p = parse_page("T\n" + " ".join(["word"] * 3000) + ".", "x.txt").papers[0]
    chunks = chunk_paper(p, 200)
    assert len(chunks) > 5
    assert all(len(split_sentences(p.abstract)[i].split()) <= 60 for c in chunks for i in c.sentences)


_line = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)


@hsettings(max_examples=200, deadline=None)
@given(st.lists(_line, max_size=30))
def test_parser_never_crashes_and_yields_clean_pairs(lines):
    res = parse_page("\n".join(lines), "h.txt")
    for p in res.papers:
        assert p.title and p.abstract and p.id == paper_id(p.title)
        assert all(ch.isprintable() for ch in p.title + p.abstract)
