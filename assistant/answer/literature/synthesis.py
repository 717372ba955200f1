"""Model-written synthesis of a literature answer's groups, verified sentence by sentence.

For each group of two or more papers, a capable model (the single answers' calibration, judge/styles.py) writes a
sentence or two from the group's quotes; when no group has one (single-paper stance groups, a comparison), one
overview across all the papers instead. A sentence is kept only when it cites papers of this group (an uncited
sentence is given the one quote that holds it, if any), ends as a sentence (not on "it" or "the"), and the quotes it cites support it: together they hold most of its content words
(citations.MIN_SUPPORT, with its checks of numbers and names), and each cited quote holds a share of them
(MIN_SHARE), so a citation is never decoration.
A group whose sentences all fail keeps the floor: its quotes alone (made_by "extractive").
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import replace

from assistant.answer.citations import MIN_SUPPORT, parse_claims, support
from assistant.answer.prompts import Template, neutralise_special_tokens
from assistant.text import STOPWORDS, terms
from assistant.types import Group

log = logging.getLogger(__name__)

# Each cited quote must hold this share of the sentence's content words: "A improves X while B hurts it [1, 2]"
# rests on both quotes; a number added to a sentence that only one quote supports is dropped with the sentence.
MIN_SHARE = 0.25
MAX_TOKENS = 96  # one or two sentences

Write = Callable[[list[dict[str, str]], int], str]  # messages, max tokens -> the model's text


def checked(raw: str, quotes: dict[int, str]) -> str:
    """The sentences of `raw` that pass the check against `quotes` (number -> quoted sentence), markers kept."""
    kept = []
    for claim in parse_claims(raw):
        cited = list(dict.fromkeys(claim.cited))
        if not cited:
            # Uncited: the one quote that holds it is its source, as the single answers' check repairs markers.
            held = {n: support(claim.text, q) for n, q in quotes.items()}
            best = max(held, key=held.__getitem__)
            cited = [best] if held[best] >= MIN_SUPPORT else []
        if not cited or any(n not in quotes for n in cited):
            continue  # no quote holds it, or it cites a paper this group does not hold
        words = re.findall(r"[A-Za-z]+", claim.text)
        if not words or words[-1].lower() in STOPWORDS:
            continue  # a fragment ("... is inefficient because it [3].") is all quoted words and says nothing
        together = " ".join(quotes[n] for n in cited)
        if support(claim.text, together) < MIN_SUPPORT:
            continue
        said = set(terms(claim.text))
        if len(cited) > 1 and any(len(said & set(terms(quotes[n]))) < MIN_SHARE * len(said) for n in cited):
            continue
        body = claim.text.rstrip()
        end = body[-1] if body[-1] in ".!?" else "."
        body = body[:-1] if body[-1] in ".!?" else body
        kept.append(f"{body} [{', '.join(map(str, cited))}]{end}")
    return " ".join(kept)


def _summary(question: str, quotes: dict[int, str], write: Write, prompt: Template) -> str:
    sources = "\n".join(f"[{n}] {neutralise_special_tokens(q)}" for n, q in quotes.items())
    content = prompt.render(sources=sources, question=neutralise_special_tokens(question))
    raw = write([{"role": "user", "content": content}], MAX_TOKENS)
    summary = checked(raw, quotes)
    log.debug("summary of %s: model %r -> %s", sorted(quotes), raw, "kept" if summary else "quotes only")
    return summary


def synthesise(question: str, groups: list[Group], write: Write, prompt: Template) -> tuple[list[Group], str]:
    """The groups with a verified `summary` where the model wrote one that passes, and an overview across all the
    papers when no group has one (every group a single paper, as in most consensus answers and in a comparison,
    or every group's summary failed): "" when that fails too."""
    out = []
    for g in groups:
        if len(g.findings) < 2:
            out.append(g)  # one paper: its quote says it best
            continue
        summary = _summary(question, {f.number: f.quoted for f in g.findings}, write, prompt)
        out.append(replace(g, summary=summary, made_by="model") if summary else g)
    findings = {f.number: f.quoted for g in groups for f in g.findings}
    if any(g.summary for g in out) or len(findings) < 2:
        return out, ""
    return out, _summary(question, findings, write, prompt)
