"""Typed, JSON-serialisable results shared by every stage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any


@dataclass(frozen=True)
class Paper:
    id: str
    title: str
    abstract: str
    sources: tuple[str, ...] = ()
    date: str | None = None
    url: str | None = None
    authors: str | None = None  # "Last, First; Last, First" where the source splits names (ingest/metadata.py)
    year: int | None = None
    venue: str | None = None  # journal, proceedings or "arXiv"
    doi: str | None = None  # normalised: lower case, no https://doi.org/ prefix
    arxiv_id: str | None = None  # normalised: no "arXiv:" prefix, no version suffix

    def to_dict(self) -> dict[str, Any]:
        # Flat fields: a shallow dict (asdict's deep copy cost seconds over 100,000 papers in a snapshot)
        d = {name: getattr(self, name) for name in _PAPER_FIELDS}
        d["sources"] = list(self.sources)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Paper:
        # Snapshots and caches written before a field existed lack it, and ones from a newer version may carry
        # fields this one does not know: both still load.
        return cls(**{k: v for k, v in d.items() if k in _PAPER_KNOWN}, sources=tuple(d.get("sources", ())))


_PAPER_FIELDS = tuple(f.name for f in fields(Paper))
_PAPER_KNOWN = frozenset(_PAPER_FIELDS) - {"sources"}


@dataclass(frozen=True)
class Chunk:
    id: str
    paper_id: str
    index: int
    text: str  # what gets embedded: the title followed by the sentences
    sentences: tuple[int, ...]  # indices into the paper's sentence list


@dataclass(frozen=True)
class Evidence:
    """One retrieved paper with the sentences that best answer the question. Frozen: a stage that numbers or trims
    evidence makes a copy (`numbered`, dataclasses.replace), so an answer never holds evidence another stage cut."""

    paper_id: str
    title: str
    score: float  # fused retrieval score
    dense: float  # best cosine similarity of any chunk of the paper
    sentences: list[str]
    sentence_scores: list[float] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    number: int = 0  # [n] used in the prompt, 1-based
    meta: dict[str, Any] = field(default_factory=dict)  # authors, year, venue, doi, arxiv_id, url (those known)

    def numbered(self, number: int) -> Evidence:
        return replace(self, number=number)

    def quoting(self, sentences: list[str], scores: list[float] | None = None) -> Evidence:
        """This paper with only these sentences (what an answer quotes from it)."""
        kept = [1.0] * len(sentences) if scores is None else list(scores)
        return replace(self, sentences=list(sentences), sentence_scores=kept)


def renumbered(evidence: list[Evidence], start: int = 1) -> list[Evidence]:
    """Copies numbered in order: [1], [2], ..."""
    return [ev.numbered(n) for n, ev in enumerate(evidence, start)]


@dataclass
class Citation:
    number: int
    paper_id: str
    title: str
    quote: str  # the evidence sentence that supports the claim
    support: float  # how well the claim matches the quote (0..1)


@dataclass
class Timings:
    retrieval_s: float = 0.0
    first_token_s: float = 0.0
    generation_s: float = 0.0
    total_s: float = 0.0
    judge_s: float = 0.0  # the verdict and answer checks (a verdict by the model includes its prompt decode)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def tokens_per_s(self) -> float:
        # The first token belongs to the prompt phase (time to first token): the rate is over the rest.
        gen = self.generation_s - self.first_token_s
        return (self.completion_tokens - 1) / gen if gen > 0 and self.completion_tokens > 1 else 0.0


@dataclass(frozen=True)
class Finding:
    """One paper's part in a literature answer: its citation number and the sentence quoted from it."""

    number: int
    paper_id: str
    title: str
    quote: str
    stance: str | None = None  # consensus: supports | mixed | against (the verdict decision on this paper)
    second: str = ""  # a second sentence of the paper, quoted when the ranker finds it nearly as likely

    @property
    def quoted(self) -> str:
        """What the answer quotes from the paper, as one text (a model's summary is checked against it)."""
        return f"{self.quote} {self.second}".strip()


@dataclass(frozen=True)
class Group:
    """Papers of a literature answer that say something alike (a theme, or a stance), named for the reader."""

    label: str
    findings: tuple[Finding, ...]
    made_by: str = "extractive"  # "model" when `summary` was written by the model and passed the check
    summary: str = ""  # model-written: every sentence cites this group's papers and rests on their quotes


@dataclass(frozen=True)
class Comparison:
    """Side by side: one row per compared paper, one cell (a quoted sentence, or "") per aspect."""

    aspects: tuple[str, ...]
    rows: tuple[tuple[int, str, tuple[str, ...]], ...]  # (citation number, title, cells)
    differs: tuple[str, ...] = ()  # per paper, what sets it apart: its distinctive terms


@dataclass
class Answer:
    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    abstained: bool = False
    cancelled: bool = False
    timings: Timings = field(default_factory=Timings)
    model: str = ""
    kind: str = ""  # what the question asked: list, acronym, count, definition, fact
    followup_of: str | None = None  # paper id of the earlier turn this answer continues
    coverage: str = ""  # why the corpus was judged to cover the question, or not
    model_words: bool = False  # the text carries model-written words that passed verification
    # How the answer was made: "model" (written by the model, every sentence verified), "extractive" (built from
    # quoted evidence by rules), "list" (one line per fitting paper) or "refusal".
    made_by: str = "extractive"
    verdict: str | None = None  # yes | no | maybe, for a yes/no question
    verdict_by: str | None = None  # rule | model | rule+model | comparison | papers (a consensus: most papers' stance)
    abstain_reason: str = ""  # one line: why the question was not answered (empty when it was)
    groups: list[Group] = field(default_factory=list)  # literature answers (survey, consensus): papers by theme
    table: Comparison | None = None  # compare answers
    summary: str = ""  # literature answers: a model-written overview across the papers, every sentence verified

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["timings"]["tokens_per_s"] = round(self.timings.tokens_per_s, 1)
        return d
