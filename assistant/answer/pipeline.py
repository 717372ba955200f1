"""The pipeline: retrieve, abstain or prompt within the context budget, stream, verify citations -> Answer."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

from assistant.answer import prompts
from assistant.answer.citations import verify
from assistant.config import Settings
from assistant.errors import GenerationError
from assistant.generate.base import Generator
from assistant.retrieve.hybrid import Retriever
from assistant.text import one_spaced_line
from assistant.types import Answer, Evidence, Timings

log = logging.getLogger(__name__)
REFUSAL = "The indexed abstracts do not cover this question."
MAX_QUESTION_CHARS = 2000
OnToken = Callable[[str], None]
# Chat-template control tokens (<|im_start|>, <|eot_id|>, <s>, [INST], <start_of_turn>...). llama.cpp tokenises
# special tokens inside the prompt text, so one of these in an abstract would open a new role turn.
_SPECIAL_TOKEN = re.compile(r"<\|[^<>|\s]{1,64}\|>|</?s>|<(?:start|end)_of_turn>|\[/?INST\]|<</?SYS>>")


def neutralise_special_tokens(text: str) -> str:
    """Show role/control tokens in untrusted text as look-alikes that no tokenizer maps to a special token."""
    return _SPECIAL_TOKEN.sub(
        lambda m: m.group().replace("<", "\u2039").replace(">", "\u203a").replace("[", "\u2045").replace("]", "\u2046"),
        text,
    )


def clean_question(question: str) -> str:
    q = one_spaced_line(question)
    if not q:
        raise GenerationError("the question is empty")
    if len(q) > MAX_QUESTION_CHARS:
        raise GenerationError(f"the question is {len(q)} characters long; the limit is {MAX_QUESTION_CHARS}")
    return q


class Pipeline:
    def __init__(self, settings: Settings, retriever: Retriever, generator: Generator):
        self.settings = settings
        self.retriever = retriever
        self.generator = generator
        self.system = prompts.load("system", settings.prompt_dir)
        self.user = prompts.load("answer", settings.prompt_dir)
        self.source = prompts.load("source", settings.prompt_dir)
        self.rewrite = prompts.load("rewrite", settings.prompt_dir)

    def retrieval_query(self, question: str, history: list[Answer]) -> str:
        """A follow-up ("what data did they use?") is retrieved together with the previous question."""
        if not history:
            return question
        return self.rewrite.render(previous=history[-1].question, question=question)

    def build_messages(self, question: str, evidence: list[Evidence]) -> tuple[list[dict[str, str]], list[Evidence]]:
        """Add numbered sources while the prompt plus the answer fit the context window."""
        system = self.system.render()
        question = neutralise_special_tokens(question)
        budget = self.generator.n_ctx - self.settings.max_tokens - 32  # chat-template overhead
        fixed = self.generator.count_tokens(system) + self.generator.count_tokens(
            self.user.render(sources="", question=question)
        )
        if fixed > budget:
            raise GenerationError(
                f"the question does not fit the model's context ({fixed} tokens, limit {budget}); shorten it"
            )
        blocks: list[str] = []
        used: list[Evidence] = []
        for ev in evidence:
            if used:
                ev.sentences = ev.sentences[: self.settings.other_sentences]
                ev.sentence_scores = ev.sentence_scores[: self.settings.other_sentences]
            block = self.source.render(
                number=len(used) + 1,
                title=neutralise_special_tokens(ev.title),
                text=neutralise_special_tokens(" ".join(ev.sentences)),
            )
            cost = self.generator.count_tokens(block) + 1
            if fixed + cost > budget:
                continue
            fixed += cost
            ev.number = len(used) + 1
            blocks.append(block)
            used.append(ev)
        user = self.user.render(sources="\n".join(blocks), question=question)
        return [{"role": "system", "content": system}, {"role": "user", "content": user}], used

    def _retrieve(
        self, question: str, history: list[Answer], where: dict | None, k: int | None
    ) -> tuple[list[Evidence], float, bool]:
        """Evidence, retrieval time, and whether to abstain (retrieval is not confident the corpus covers it)."""
        boost = [c.paper_id for c in history[-1].citations] if history else []
        evidence, retrieval_s = self.retriever.search(
            self.retrieval_query(question, history), k=k, where=where, boost=boost
        )
        best = max((e.dense for e in evidence), default=0.0)
        return evidence, retrieval_s, not evidence or (best < self.settings.abstain_threshold and not history)

    def prepare(
        self,
        draft: str,
        *,
        history: list[Answer] | None = None,
        cancel: threading.Event | None = None,
        where: dict | None = None,
        k: int | None = None,
    ) -> int:
        """Read ahead for a question still being typed: retrieve for the draft and decode its prompt into the
        model's KV cache, so that when the question is sent only the part that changed is decoded (when the
        draft's sources are also the final question's, the first token comes almost at once). Returns the
        prompt tokens decoded; 0 when there is nothing to do (no local model, abstention, a bad draft)."""
        extend = getattr(self.generator, "extend", None)
        if extend is None:
            return 0
        try:
            question = clean_question(draft)
            evidence, _, abstain = self._retrieve(question, history or [], where, k)
            if abstain:
                return 0
            messages, _ = self.build_messages(question, evidence)
        except GenerationError:
            return 0
        return extend(messages, cancel)

    def ask(
        self,
        question: str,
        *,
        history: list[Answer] | None = None,
        on_token: OnToken | None = None,
        cancel: threading.Event | None = None,
        where: dict | None = None,
        k: int | None = None,
    ) -> Answer:
        t0 = time.perf_counter()
        question = clean_question(question)
        history = history or []
        evidence, retrieval_s, abstain = self._retrieve(question, history, where, k)
        timings = Timings(retrieval_s=retrieval_s)
        if abstain:
            timings.total_s = time.perf_counter() - t0
            if on_token:
                on_token(REFUSAL)
            return Answer(question, REFUSAL, [], evidence, abstained=True, timings=timings, model=self.generator.name)

        messages, used = self.build_messages(question, evidence)
        timings.prompt_tokens = sum(self.generator.count_tokens(m["content"]) for m in messages)
        pieces: list[str] = []
        g0 = time.perf_counter()
        for piece in self.generator.stream(messages, self.settings.max_tokens, cancel):
            if not pieces:
                timings.first_token_s = time.perf_counter() - g0
            pieces.append(piece)
            if on_token:
                on_token(piece)
        timings.generation_s = time.perf_counter() - g0
        timings.completion_tokens = len(pieces)
        raw = "".join(pieces).strip()
        cancelled = bool(cancel and cancel.is_set())
        if cancelled:
            # The user stopped it: keep what they saw, only the markers are checked.
            text, citations = verify(raw, used, keep_unsupported=True) if raw else ("", [])
        else:
            # Retrieval decided the corpus covers the question; a model that still refuses (small
            # models over-refuse) gives way to the best evidence, quoted.
            if REFUSAL.lower().rstrip(".") in raw.lower():
                raw = ""
            text, citations = verify(raw, used)
        timings.total_s = time.perf_counter() - t0
        return Answer(
            question,
            text,
            citations,
            used,
            abstained=False,
            cancelled=cancelled,
            timings=timings,
            model=self.generator.name,
        )
