"""Paper -> Chunks that fit the embedder window, each carrying its title and its sentence indices."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from assistant.text import split_sentences
from assistant.types import Chunk, Paper

TokenCounter = Callable[[str], int]


def approx_tokens(text: str) -> int:
    """Cheap upper-bound estimate of WordPiece tokens, used when no tokenizer is given."""
    return int(len(re.findall(r"\w+|[^\w\s]", text)) * 1.3) + 2


def chunk_paper(
    paper: Paper, max_tokens: int = 200, count: TokenCounter = approx_tokens, overlap: int = 1
) -> list[Chunk]:
    sentences = split_sentences(paper.abstract)
    head = paper.title.rstrip(".") + ". "
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


def _make(paper: Paper, index: int, head: str, sentences: list[str], group: list[int]) -> Chunk:
    text = head + " ".join(sentences[i] for i in group)
    digest = hashlib.sha1(text.encode()).hexdigest()[:12]
    return Chunk(f"{paper.id}-{index}-{digest}", paper.id, index, text, tuple(group))
