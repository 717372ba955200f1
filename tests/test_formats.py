"""Reference-manager corpora (BibTeX, RIS, CSL-JSON, arXiv metadata), identity by DOI/arXiv id, metadata filters.

tests/data/library/ holds one small library in four formats (see its README); the filter tests at the end run on
a real index (real MiniLM, real Chroma) built from it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import bibtexparser
import pytest

from assistant.answer.references import bibtex, reference
from assistant.batch.inputs import Item
from assistant.batch.outputs import BibSink, success_record
from assistant.config import Settings
from assistant.errors import ConfigError
from assistant.ingest.build import ingest
from assistant.ingest.corpus import parse_file, read_corpus
from assistant.ingest.formats.common import latex_to_text, markup_to_text
from assistant.ingest.metadata import normalise_arxiv, normalise_doi, short_authors, short_venue
from assistant.retrieve.filters import PaperTable, build_where, describe, parse_years
from assistant.types import Answer, Citation, Evidence, Paper

LIB = Path(__file__).parent / "data" / "library"
BIB, RIS, CSL, ARXIV = LIB / "library.bib", LIB / "library.ris", LIB / "library.json", LIB / "arxiv-metadata.json"
SEEDS = Path(__file__).resolve().parent.parent / "seeds"
LION = "Symbolic Discovery of Optimization Algorithms"
HOFFER = "Train longer, generalize better: closing the generalization gap in large batch training of neural networks"
ABSTRACT = "We study a thing. It works well on three benchmarks. The code is public."


def _by_title(result):
    return {p.title: p for p in result.papers}


# -- parsing --------------------------------------------------------------------------------------------------
def test_bibtex_export_fields_latex_macros_and_the_entry_without_abstract():
    res = parse_file(BIB)
    assert res.format == "BibTeX" and res.entries == 9 and len(res.papers) == 8
    assert res.no_abstract == ["vaswani_attention_2017"] and not res.malformed
    papers = _by_title(res)
    lion = papers[LION]  # braces around capitals are gone; the venue came from the @string macro
    assert lion.venue == "Advances in Neural Information Processing Systems"
    assert (lion.year, lion.arxiv_id) == (2023, "2302.06675")  # eprint; the URL's v4 suffix is not the id
    assert lion.authors.startswith("Chen, Xiangning; Liang, Chen;") and lion.authors.endswith("Le, Quoc V.")
    assert "Lion (EvoLved Sign Momentum)" in lion.abstract and "up to 2% on ImageNet" in lion.abstract
    hoffer = papers[HOFFER]
    assert "“generalization gap” phenomena" in hoffer.abstract and "performance — known as" in hoffer.abstract
    prompt = papers["Promptagator: Few-shot Dense Retrieval From 8 Examples"]
    assert "examples without using" in prompt.abstract and "to train %question generators" in prompt.abstract
    grosse = papers["Studying Large Language Model Generalization with Influence Functions"]
    assert "Lukošiūtė, Kamilė" in grosse.authors  # {\v s}, {\=u}, {\.e}
    assert (grosse.year, grosse.arxiv_id, grosse.venue) == (2023, "2308.03296", "arXiv")  # BibLaTeX date, eprinttype
    limo = papers["LIMO: Less is More for Reasoning"]
    assert (limo.venue, limo.doi, limo.arxiv_id) == ("arXiv", "10.48550/arxiv.2502.03387", "2502.03387")
    mishra = papers["Cross-Task Generalization via Natural Language Crowdsourcing Instructions"]
    assert mishra.doi == "10.18653/v1/2022.acl-long.244" and mishra.arxiv_id is None


def test_a_long_abstract_is_converted_sentence_by_sentence_as_a_whole_would_be(monkeypatch):
    """Only sentences with markup go through the LaTeX parser; cuts never fall inside braces or math."""
    from assistant.ingest.formats import common

    plain = "We study sparse adapters for large models and report results on many tasks. " * 3
    text = (
        plain + r"The error is $O(\sqrt{n}).$ Bounds hold. Under $\alpha$-mixing, see Sch{\"o}lkopf et al. "
        r"and {A. Smith} for more. " + plain + r"Finally \emph{fewer} steps suffice."
    )
    pieces = common._top_level_sentences(text)
    assert len(pieces) > 3 and r"$O(\sqrt{n}).$ Bounds hold." in " ".join(pieces)
    assert all(p.count("$") % 2 == 0 and p.count("{") == p.count("}") for p in pieces)
    got = latex_to_text(text)
    monkeypatch.setattr(common, "_top_level_sentences", lambda t: [t])
    assert got == latex_to_text(text)
    assert "Schölkopf" in got and "O(√(n))." in got and "fewer steps" in got
    assert common._top_level_sentences(r"\begin{itemize} \item One. Two. \end{itemize}" + plain) != []
    assert len(common._top_level_sentences(r"\begin{itemize} \item A. B. \end{itemize} " + plain)) == 1


def test_latex_becomes_unicode_text_and_plain_text_stays_as_written():
    assert latex_to_text(r"$\alpha$-VAE with \emph{fewer} steps, Sch{\"o}lkopf and {\L}ukasz") == (
        "α-VAE with fewer steps, Schölkopf and Łukasz"
    )
    assert latex_to_text("gains of 50% on $O(\\log n)$ tasks") == "gains of 50% on O(log n) tasks"  # bare % kept
    assert latex_to_text("No markup at all.") == "No markup at all."
    assert markup_to_text("costs $5 or 50% of $10") == "costs $5 or 50% of $10"  # RIS/CSL: not LaTeX
    assert markup_to_text(r"Lion (Evo\textbf{Lved Sign Momentum})") == "Lion (EvoLved Sign Momentum)"


def test_one_bad_bibtex_entry_never_loses_the_file(tmp_path):
    f = tmp_path / "broken.bib"
    f.write_text(
        "@article{good1, title={First}, abstract={" + ABSTRACT + "}, year={2021}}\n"
        "@article{bad, title = {Broken {entry}, year = 2020\n\n"
        "@article{good2, title={Second}, abstract={" + ABSTRACT + "}, journal={Nature}, year=2022}\n"
        "@article{good2, title={Second again}, abstract={" + ABSTRACT + "}}\n"
        "@misc{notitle, abstract={" + ABSTRACT + "}}\n"
    )
    res = parse_file(f)
    assert [p.title for p in res.papers] == ["First", "Second"]
    assert res.entries == 5 and res.no_title == ["notitle"] and len(res.malformed) == 2
    assert "line 2" in res.malformed[0] and "duplicate citation key" in res.malformed[1]
    assert res.summary("broken.bib").startswith("broken.bib (BibTeX): 5 entries, 2 papers; 1 without a title")


def test_ris_fields_and_a_record_without_its_type_line(tmp_path):
    res = parse_file(RIS)
    assert res.format == "RIS" and (res.entries, len(res.papers)) == (9, 8)
    assert res.no_abstract == ["'Attention is All you Need'"]
    mishra = _by_title(res)["Cross-Task Generalization via Natural Language Crowdsourcing Instructions"]
    assert mishra.doi == "10.18653/v1/2022.acl-long.244" and mishra.year == 2022
    assert mishra.venue and mishra.venue.startswith("Proceedings of the 60th Annual Meeting")
    f = tmp_path / "mixed.ris"
    f.write_text(
        f"TY  - JOUR\nTI  - Good one\nAB  - {ABSTRACT}\nPY  - 2020\nER  - \n\n"
        f"TI  - No type line\nAB  - {ABSTRACT}\nER  - \n\n"
        f"TY  - JOUR\nTI  - After it\nAU  - Doe, Jane\nAB  - {ABSTRACT}\nER  - \n"
    )
    res = parse_file(f)
    assert [p.title for p in res.papers] == ["Good one", "After it"] and res.papers[1].authors == "Doe, Jane"
    assert res.entries == 3 and res.malformed == ["line 7 (no 'TY  -' line starts the record)"]


def test_csl_json_fields():
    res = parse_file(CSL)
    assert res.format == "CSL-JSON" and (res.entries, len(res.papers)) == (9, 8) and len(res.no_abstract) == 1
    papers = _by_title(res)
    short = papers["Train longer, generalize better"]  # a title typed by hand
    assert (short.arxiv_id, short.year, short.authors) == (
        "1705.08741",
        2017,
        "Hoffer, Elad; Hubara, Itay; Soudry, Daniel",
    )
    limo = papers["LIMO: Less is More for Reasoning"]
    assert (limo.venue, limo.arxiv_id, limo.year) == ("arXiv", "2502.03387", 2025)
    assert "Lion (EvoLved Sign Momentum)" in papers[LION].abstract  # Zotero kept arXiv's LaTeX; decoded


def test_arxiv_metadata_lines(tmp_path):
    res = parse_file(ARXIV)
    assert res.format == "arXiv metadata" and (res.entries, len(res.papers)) == (5, 5)
    papers = _by_title(res)
    prompt = papers["Promptagator: Few-shot Dense Retrieval From 8 Examples"]
    assert (prompt.year, prompt.venue, prompt.arxiv_id) == (2022, "arXiv", "2209.11755")  # first version's year
    assert prompt.url == "https://arxiv.org/abs/2209.11755" and prompt.authors.startswith(
        "Dai, Zhuyun; Zhao, Vincent Y."
    )
    assert "\n" not in prompt.abstract and prompt.abstract.startswith("Much recent research")
    assert "Lion (EvoLved Sign Momentum)" in papers[LION].abstract  # \textit{} decoded
    lines = ARXIV.read_text().splitlines()
    f = tmp_path / "snapshot.json"
    f.write_text("\n".join([lines[0], "{not json", lines[1], json.dumps({**json.loads(lines[2]), "abstract": ""})]))
    res = parse_file(f)
    assert len(res.papers) == 2 and res.malformed == [
        "line 2 (not JSON: Expecting property name enclosed in double quotes)"
    ]
    assert res.no_abstract == ["arXiv:2401.08967"]


def test_identifiers_are_normalised():
    for doi in (
        "10.18653/v1/2022.acl-long.244",
        "https://doi.org/10.18653/V1/2022.ACL-LONG.244",
        "doi:10.18653/v1/2022.acl-long.244.",
    ):
        assert normalise_doi(doi) == "10.18653/v1/2022.acl-long.244"
    assert normalise_doi("not a doi") is None
    for aid in ("2302.06675", "arXiv:2302.06675v4", "https://arxiv.org/abs/2302.06675v2", "10.48550/arXiv.2302.06675"):
        assert normalise_arxiv(aid) == "2302.06675"
    assert normalise_arxiv("hep-th/9901001v1") == "hep-th/9901001"


def test_paper_from_dict_reads_old_and_newer_snapshots():
    old = {"id": "x", "title": "T", "abstract": "A.", "sources": ["a.txt"], "date": None, "url": None, "authors": None}
    p = Paper.from_dict(old)
    assert p.sources == ("a.txt",) and p.year is None and p.venue is None
    assert Paper.from_dict({**p.to_dict(), "year": 2023, "future_field": 1}).year == 2023
    assert Paper.from_dict(p.to_dict()) == p


# -- identity and merging --------------------------------------------------------------------------------------
def test_the_same_library_in_four_formats_is_one_set_of_papers():
    corpus = read_corpus([LIB])
    notes: list = []
    papers = {p.title: p for p in corpus.papers(notes)}
    assert len(papers) == 8  # Vaswani et al. has no abstract anywhere
    files = {"library.bib", "library.ris", "library.json"}
    assert all(files <= set(p.sources) for p in papers.values())
    assert "arxiv-metadata.json" in papers[LION].sources
    # Found by arXiv id although the CSL-JSON title is cut short; by DOI where only a DOI is given.
    assert HOFFER in papers and "Train longer, generalize better" not in papers
    assert papers["Cross-Task Generalization via Natural Language Crowdsourcing Instructions"].doi
    # arXiv's listing came first (files are read in name order), but the published venue and year win.
    prompt = papers["Promptagator: Few-shot Dense Retrieval From 8 Examples"]
    assert (prompt.venue, prompt.year) == ("International Conference on Learning Representations", 2023)
    assert all(n.kind == "same" and n.by_id for n in notes if n.source == "library.ris")


def test_different_dois_keep_apart_papers_whose_title_and_abstract_agree():
    a = Paper("a", "One Title", ABSTRACT, ("a.bib",), doi="10.5555/aaa")
    b = Paper("b", "One Title", ABSTRACT, ("b.bib",), doi="10.5555/bbb")
    c = Paper("c", "A Different Title", "Other words entirely here.", ("c.ris",), doi="10.5555/AAA")
    from assistant.ingest.identity import merge

    merged = merge([[a], [b], [c]])
    assert len(merged) == 2 and merged[0].sources == ("a.bib", "c.ris") and merged[1].sources == ("b.bib",)


def test_ingest_reports_entries_merges_and_skips_per_file(settings, fake_embedder):
    report = ingest(settings, fake_embedder, [BIB, RIS, CSL])
    lines = report.file_lines()
    assert report.papers == 8
    assert (
        lines[0] == "library.bib (BibTeX): 9 entries, 8 papers; 1 without an abstract, skipped: vaswani_attention_2017"
    )
    assert lines[1].startswith(
        "library.ris (RIS): 9 entries, 8 papers, 8 of them already read (from library.bib; 8 by DOI or arXiv id); 1 without an abstract"
    )
    assert report.notes == []  # identical copies are counted, not listed
    assert ingest(settings, fake_embedder, [BIB, RIS, CSL]).unchanged  # the metadata round-trips through Chroma


def test_library_entries_merge_with_the_daily_papers_pages(settings, fake_embedder):
    report = ingest(settings, fake_embedder, [SEEDS, BIB])
    assert report.papers == 216  # the eight library papers are all on the pages: same title, same abstract
    (bib,) = report.files
    assert bib["already"] == 8 and bib["by_id"] == 0  # the pages carry no ids: matched by title and abstract
    from assistant.index.store import Store, papers_from_dump

    lion = next(p for p in papers_from_dump(Store(settings).dump()).values() if p.title == LION)
    assert "library.bib" in lion.sources and lion.year == 2023 and lion.arxiv_id == "2302.06675"


# -- filters, references, BibTeX export ------------------------------------------------------------------------
def test_year_ranges_and_bad_filters():
    assert parse_years("2023..2024") == (2023, 2024)
    assert parse_years("2024..") == (2024, None) and parse_years("..2020") == (None, 2020)
    assert parse_years("2023") == (2023, 2023)
    for bad in ("20x", "2025..2020", "..", "2023-2024"):
        with pytest.raises(ConfigError):
            parse_years(bad)
    with pytest.raises(ConfigError):
        build_where(author="A. B.")
    where = build_where(source="a.bib", author="Łukasz Kaiser", year="2017..", venue="NeurIPS")
    assert where == {
        "$and": [
            {"src:a.bib": True},
            {"au:lukasz": True},
            {"au:kaiser": True},
            {"year": {"$gte": 2017}},
            {"ve:neurips": True},
        ]
    }
    assert describe(where) == "source a.bib, author lukasz, author kaiser, venue neurips, year 2017.."
    assert build_where() is None


def test_paper_table_matches_by_folded_names_years_and_venue_aliases():
    papers = {p.id: p for p in read_corpus([BIB]).papers()}
    table = PaperTable(papers)
    title = {p.id: p.title for p in papers.values()}
    assert [title[i] for i in table.matching(build_where(author="lukosiute"))] == [
        "Studying Large Language Model Generalization with Influence Functions"
    ]
    assert {title[i] for i in table.matching(build_where(venue="NeurIPS"))} == {LION, HOFFER}
    assert {title[i] for i in table.matching(build_where(year="2024.."))} == {
        "ReFT: Reasoning with Reinforced Fine-Tuning",
        "LIMO: Less is More for Reasoning",
    }
    assert table.matching({"date": "Jul 30"}) is None  # not a filter of ours: the caller falls back


def test_references_and_bibtex_use_the_metadata():
    meta = {
        "authors": "Vaswani, Ashish; Shazeer, Noam; Kaiser, Łukasz",
        "year": 2017,
        "venue": "Advances in Neural Information Processing Systems",
        "arxiv_id": "1706.03762",
    }
    assert reference("Attention Is All You Need", meta) == "Vaswani et al. 2017, Attention Is All You Need, NeurIPS"
    assert reference("T", {"authors": "Doe, Jane; Roe, Rick", "year": 2020}) == "Doe and Roe 2020, T"
    assert reference("LIMO", {"venue": "arXiv", "arxiv_id": "2502.03387"}) == "LIMO, arXiv:2502.03387"
    assert reference("Just a title", {}) == "Just a title"
    assert short_authors("A. Smith, B. Jones and C. Lee") == "Smith et al." and short_venue("Nature") == "Nature"
    text = bibtex([("Attention Is All You Need", meta), ("Attention Is All You Need", meta), ("50% & more_", {})])
    lib = bibtexparser.parse_string(text)
    assert [e.key for e in lib.entries] == ["vaswani2017attention", "vaswani2017attentiona", "anon50"]
    first = lib.entries[0]
    assert (
        first.entry_type == "inproceedings"
        and first["booktitle"] == "Advances in Neural Information Processing Systems"
    )
    assert (
        first["author"] == "Vaswani, Ashish and Shazeer, Noam and Kaiser, {\\L}ukasz"
        and first["eprint"] == "1706.03762"
    )
    assert lib.entries[2].entry_type == "misc" and latex_to_text(lib.entries[2]["title"]) == "50% & more_"


INJECTED_DOI = "10.9999/x}}@misc{injected2,title={owned}}%"


def test_bibtex_escapes_every_field_so_no_record_can_inject_an_entry(tmp_path):
    """A DOI that closes its field and opens a second entry, a URL ending in a backslash, control characters and
    braces in every field: the .bib file parses back to one entry per paper with the fields as given."""
    hostile = {
        "authors": "Doe}, Jane\x1b]52;c;aGk=\x07; Roe, R{ick",
        "year": "2020}",
        "venue": "Journal of {Things} @misc{x,",
        "doi": INJECTED_DOI,
        "url": "https://example.org/a b}{\\",
        "arxiv_id": "2302.06675}@misc{y,",
    }
    title = "A title}} @misc{injected3, title={owned}\n%\x00 with \\end"
    text = bibtex([(title, hostile), ("Plain", {"doi": "10.1000/ok-1", "url": "https://example.org/x?a=1%20b"})])
    assert "\x1b" not in text and "\x00" not in text and "\x07" not in text
    lib = bibtexparser.parse_string(text)
    assert not lib.failed_blocks and [e.entry_type for e in lib.entries] == ["article", "misc"]
    assert "owned" not in {e.key for e in lib.entries} and len(lib.entries) == 2
    first, second = lib.entries
    assert "doi" not in first.fields_dict and "eprint" not in first.fields_dict and first["year"] == "2020"
    assert latex_to_text(first["title"]).startswith("A title}} @misc{injected3")
    assert first["url"] == "https://example.org/a%20b%7D%7B%5C" and second["url"].endswith("a=1%2520b")
    assert second["doi"] == "10.1000/ok-1"
    # and on ingest: the DOI is rejected with a warning, the paper kept
    csl = tmp_path / "evil.json"
    csl.write_text(
        json.dumps([{"id": "k1", "type": "article", "title": "T one", "abstract": ABSTRACT, "DOI": INJECTED_DOI}])
    )
    res = parse_file(csl)
    assert len(res.papers) == 1 and res.papers[0].doi is None
    assert any("not a valid DOI" in w for w in res.warnings)
    assert normalise_doi(INJECTED_DOI) is None and normalise_doi("doi:10.1002/(SICI)1097-4636<475::AID>3.0.CO;2-E")


def test_batch_records_carry_references_and_the_bib_sink_writes_the_cited_papers(tmp_path):
    meta = {"authors": "Ye, Yixin; Huang, Zhen", "year": 2025, "venue": "arXiv", "arxiv_id": "2502.03387"}
    ev = Evidence("p1", "LIMO: Less is More for Reasoning", 1.0, 0.5, ["S."], [1.0], ["a.bib"], 1, meta)
    other = Evidence("p2", "Uncited", 0.5, 0.4, ["S."], [1.0], ["a.bib"], 2, {"year": 2020})
    answer = Answer("q", "817 samples [1].", [Citation(1, "p1", ev.title, "S.", 1.0)], [ev, other])
    rec = success_record(Item(line=1, question="q", id="1"), answer)
    assert rec["citations"][0]["reference"] == "Ye and Huang 2025, LIMO: Less is More for Reasoning, arXiv:2502.03387"
    assert rec["retrieved"][0]["meta"] == meta
    out = tmp_path / "refs.bib"
    with out.open("w") as fh:
        sink = BibSink(fh)
        sink.write(rec)
        sink.write(json.loads(json.dumps(rec)))  # the same paper cited again: one entry
        sink.end("1 answered")
    lib = bibtexparser.parse_string(out.read_text())
    assert [e.key for e in lib.entries] == ["ye2025limo"] and lib.entries[0]["eprint"] == "2502.03387"


# -- end to end: the real embedder and Chroma -------------------------------------------------------------------
@pytest.fixture(scope="module")
def library_dir(tmp_path_factory, real_embedder) -> Path:
    d = tmp_path_factory.mktemp("library") / "data"
    ingest(Settings(data_dir=d), real_embedder, [BIB, RIS, CSL, ARXIV])
    return d


@pytest.mark.e2e
def test_filters_inside_retrieval_keep_top_k_full_and_agree_with_chroma(library_dir, real_embedder):
    from assistant.index.lexical import Index
    from assistant.index.store import Store
    from assistant.retrieve.filters import chroma_where, table_for
    from assistant.retrieve.hybrid import Retriever

    settings = Settings(data_dir=library_dir)
    store = Store(settings)
    index = Index.load(store)
    retriever = Retriever(settings, real_embedder, index)
    table = table_for(index)
    without_vectors = Index.load(store)
    without_vectors.vectors, without_vectors.hnsw = None, True
    through_chroma = Retriever(settings, real_embedder, without_vectors)
    for where in (
        build_where(year="2023.."),
        build_where(author="Chen"),
        build_where(venue="ICLR"),
        build_where(year="..2022", venue="Association for Computational Linguistics"),
        build_where(author="Kamilė Lukošiūtė"),
    ):
        assert where is not None
        # Chroma's rows carry paper_id and year only: the flags become paper lists, and Chroma agrees with the table.
        got = store.active().get(where=chroma_where(where, table), include=["metadatas"])
        chroma = {m["paper_id"] for m in got["metadatas"]}
        assert chroma and chroma == set(table.matching(where) or [])  # both sides filter on the same papers
        evidence, _ = retriever.search("a method that improves generalization of language models", k=8, where=where)
        assert {e.paper_id for e in evidence} == chroma  # every matching paper, none outside: top-k stays full
        # An index without a vectors file searches through Chroma's `where`, and keeps to the same papers.
        evidence, _ = through_chroma.search("a method that improves generalization of language models", 8, where)
        assert {e.paper_id for e in evidence} == chroma
    # The lexical side finds a paper named in the question inside the filter, even when the dense side ranks it low.
    evidence, _ = retriever.search("LIMO", k=1, where=build_where(year="2025"))
    assert evidence[0].title == "LIMO: Less is More for Reasoning" and evidence[0].meta["year"] == 2025
    retriever.scope = build_where(year="..2020")  # a standing filter (chat, batch) applies to every search
    evidence, _ = retriever.search("reasoning with reinforcement learning", k=3)
    assert [e.title for e in evidence] == [HOFFER]
    with pytest.raises(ConfigError, match="no indexed paper matches"):
        retriever.search("anything", where=build_where(year="2030.."))


@pytest.mark.e2e
def test_cli_ask_with_a_year_filter_cites_with_metadata(tmp_path, library_dir):
    d = tmp_path / "d"
    shutil.copytree(library_dir, d)
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(d)}

    def run(*argv):
        return subprocess.run(
            [sys.executable, "-m", "assistant.cli", *argv], capture_output=True, text=True, env=env, timeout=300
        )

    out = run("ask", "--year", "2024..", "How many training samples does LIMO use?")
    assert out.returncode == 0, out.stderr
    assert (
        "817" in out.stdout and "[1] Ye et al. 2025, LIMO: Less is More for Reasoning, arXiv:2502.03387" in out.stdout
    )
    out = run("ask", "--json", "--year", "..2020", "How many training samples does LIMO use?")
    data = json.loads(out.stdout)
    assert all(e["meta"].get("year", 0) <= 2020 for e in data["evidence"])
    out = run("ask", "--year", "2025..2020", "anything")
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "the range ends before it starts" in out.stderr
    out = run("sources", "--venue", "NeurIPS")
    assert out.returncode == 0 and out.stdout.count("\n") == 4  # two papers, each with its metadata line
    assert (
        "Elad Hoffer, Itay Hubara, Daniel Soudry · 2017 · Advances in Neural Information Processing Systems"
        in out.stdout
    )


@pytest.mark.e2e
def test_batch_with_a_filter_writes_the_cited_papers_as_bibtex(tmp_path, library_dir, real_embedder):
    import io

    from conftest import ScriptedGenerator

    from assistant.answer.session import make_pipeline
    from assistant.cli.batch import run_batch
    from assistant.cli.main import build_parser

    d = tmp_path / "d"
    shutil.copytree(library_dir, d)
    settings = Settings(data_dir=d)
    pipeline = make_pipeline(settings, embedder=real_embedder, generator=ScriptedGenerator())
    q = tmp_path / "questions.txt"
    q.write_text("How many training samples does LIMO use?\nWhich optimizer was found by program search?\n")
    out = tmp_path / "refs.bib"
    args = build_parser().parse_args(["batch", str(q), "-o", str(out), "--year", "2024.."])
    err = io.StringIO()
    assert run_batch(args, settings, pipeline, stderr=err) == 0, err.getvalue()
    assert pipeline.retriever.scope == {"year": {"$gte": 2024}}
    lib = bibtexparser.parse_string(out.read_text())
    assert "ye2025limo" in [e.key for e in lib.entries]
    assert all(int(e["year"]) >= 2024 for e in lib.entries)  # the Lion paper (2023) is outside the filter
