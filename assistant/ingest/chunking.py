"""Paper -> Chunks that fit the embedder window, each carrying its title and its sentence indices."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterator

from assistant.text import split_sentences
from assistant.types import Chunk, Paper

TokenCounter = Callable[[str], int]


def approx_tokens(text: str) -> int:
    """Cheap upper-bound estimate of WordPiece tokens, used when no tokenizer is given."""
    return int(len(re.findall(r"\w+|[^\w\s]", text)) * 1.3) + 2


def chunk_paper(
    paper: Paper,
    max_tokens: int = 200,
    count: TokenCounter = approx_tokens,
    overlap: int = 1,
    sentences: list[str] | None = None,
) -> list[Chunk]:
    """`sentences`: the abstract already split (split_sentences), when the caller has it."""
    if sentences is None:
        sentences = split_sentences(paper.abstract)
    head = chunk_head(paper)
    budget = max_tokens - count(head)
    chunks: list[Chunk] = []
    group: list[int] = []
    used = 0
    for i, sent in enumerate(sentences):
        n = count(sent)
        if group and used + n > budget:
            chunks.append(_make(paper, len(chunks), head, sentences, group))
            # sentences of overlap keep a claim and its context together (at the cost of embedding them twice)
            group = group[-overlap:] if overlap else []
            used = sum(count(sentences[j]) for j in group)
            if used + n > budget:
                group, used = [], 0
        group.append(i)
        used += n
    if group or not chunks:
        chunks.append(_make(paper, len(chunks), head, sentences, group))
    return chunks


def chunk_head(paper: Paper) -> str:
    """What every chunk of a paper starts with."""
    return paper.title.rstrip(".") + ". "


def chunk_papers(
    papers: list[Paper],
    max_tokens: int,
    count: TokenCounter,
    overlap: int,
    count_many: Callable[[list[str]], list[int]] | None = None,
    group: int = 2000,
) -> Iterator[tuple[Chunk, Paper]]:
    """Every paper's chunks, in order. With `count_many` (a tokenizer's batch call, which runs on every core),
    token counts are taken per group of papers: one call per sentence cost 3 s of 45,000 sentences at 5,000
    papers."""
    for start in range(0, len(papers), group):
        batch = papers[start : start + group]
        split = [split_sentences(p.abstract) for p in batch]
        counter = count
        if count_many is not None:
            texts = list(dict.fromkeys([*(chunk_head(p) for p in batch), *(s for sents in split for s in sents)]))
            counter = functools.partial(_counted, dict(zip(texts, count_many(texts))), count)

        for paper, sents in zip(batch, split):
            for chunk in chunk_paper(paper, max_tokens, counter, overlap, sents):
                yield chunk, paper


def _counted(counts: dict[str, int], count: TokenCounter, text: str) -> int:
    got = counts.get(text)
    return count(text) if got is None else got


def _make(paper: Paper, index: int, head: str, sentences: list[str], group: list[int]) -> Chunk:
    text = head + " ".join(sentences[i] for i in group)
    digest = hashlib.sha1(text.encode()).hexdigest()[:12]
    return Chunk(f"{paper.id}-{index}-{digest}", paper.id, index, text, tuple(group))
