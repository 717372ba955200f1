"""The pipeline: plan (retrieve, decide follow-up or new topic, decide coverage), answer, stream -> Answer.

Two answer styles (settings.answer_style):
- extractive (the default for small models): the answer is built from checked parts. The sentence that answers
  is chosen for what was asked; the short answer in it comes from a rule (an acronym's expansion, a number)
  or from the model, asked for a short phrase that is kept only if it is a span of that sentence. List
  questions get every fitting paper, one line each.
- generative: the model writes the answer from numbered sources and every sentence is checked against the
  source it cites (answer/citations.py); what fails is dropped, and nothing is shown before it is checked.
Either way, only the final, checked text is streamed to the caller.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from assistant.answer import compose, prompts
from assistant.answer.extract import answer_type, expansion, short_answer
from assistant.answer.judge import answerable
from assistant.answer.judge.injection import addressed_to_model, unquotable
from assistant.answer.judge.model_answer import Accepted
from assistant.answer.judge.model_answer import accept as accept_model_answer
from assistant.answer.judge.sentence import ranked, runner_up, score_sentences
from assistant.answer.judge.styles import model_writes
from assistant.answer.judge.verdict import Verdict, deciding_ending, model_probs
from assistant.answer.judge.verdict import decide as decide_verdict
from assistant.answer.judge.verdict import mode_for as verdict_mode
from assistant.answer.listing import list_answer
from assistant.answer.literature import literature_answer
from assistant.answer.literature.kinds import LiteratureKind, literature_kind
from assistant.answer.literature.synthesis import synthesise
from assistant.answer.plan import Plan, Planner
from assistant.answer.prompts import neutralise_special_tokens
from assistant.config import Settings
from assistant.errors import GenerationError
from assistant.generate.base import Generator
from assistant.retrieve.hybrid import Retriever
from assistant.retrieve.question import analyse, facets
from assistant.text import one_spaced_line, terms
from assistant.types import Answer, Citation, Evidence, Timings, renumbered

log = logging.getLogger(__name__)
REFUSAL = "The indexed abstracts do not cover this question."
WITHHELD = "(title withheld: it addresses AI systems)"
MAX_QUESTION_CHARS = 2000
OnToken = Callable[[str], None]


def clean_question(question: str) -> str:
    q = one_spaced_line(question)
    if not q:
        raise GenerationError("the question is empty")
    if len(q) > MAX_QUESTION_CHARS:
        raise GenerationError(f"the question is {len(q)} characters long; the limit is {MAX_QUESTION_CHARS}")
    return q


@dataclass(frozen=True)
class Chosen:
    """The sentence of the answering paper (plan.evidence[0]) chosen for the question, with the ranker's
    probability and its MiniLM similarity; `second` when the runner-up is nearly as likely (the ratio fitted with the ranker)."""

    sentence: str
    second: str | None
    probability: float
    similarity: float


def choose_sentence(plan: Plan, retriever: Retriever) -> Chosen:
    """The fitted sentence ranker (judge/sentence.py) over the answering paper's sentences. Sentences addressed
    to an AI assistant (judge/injection.py) are never chosen."""
    ev = plan.evidence[0]
    sentences = retriever.index.sentences.get(ev.paper_id) or ev.sentences
    sims = retriever.sentence_sims(plan.question.text, ev.paper_id) if plan.question.kind != "list" else None
    scores = score_sentences(plan.question, sentences, retriever.index.idf, ev.title, sims)
    order = ranked(sentences, scores)
    if not order:
        order = [0]
    best = order[0]
    close = runner_up(order, scores)
    second = sentences[close] if close is not None else None
    sim = sims[best] if sims and best < len(sims) else 0.0
    return Chosen(sentences[best], second, scores[best], sim)


class Pipeline:
    def __init__(self, settings: Settings, retriever: Retriever, generator: Generator):
        self.settings = settings
        self.retriever = retriever
        self.generator = generator
        self.planner = Planner(settings, retriever)
        self.system = prompts.load("system", settings.prompt_dir)
        self.user = prompts.load("answer", settings.prompt_dir)
        self.source = prompts.load("source", settings.prompt_dir)
        self.phrase = prompts.load("phrase", settings.prompt_dir)
        self.verdict_prompt = prompts.load("verdict", settings.prompt_dir)
        self.synthesis_prompt = prompts.load("synthesis", settings.prompt_dir)
        size = getattr(generator, "n_params", None)
        self.model_writes = model_writes(settings, size)
        self.use_phrase = settings.model_phrase == "on" or (
            settings.model_phrase == "auto" and (size is None or size >= settings.phrase_min_params)
        )

    @property
    def style(self) -> str:
        """How answers are made with this model: "model" (the model writes, the extractive answer is the floor)
        or "extractive"."""
        return "model" if self.model_writes else "extractive"

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
            # Abstracts are data: a sentence addressed to an assistant or model is never shown to the model.
            bad = unquotable(self.retriever.index.sentences.get(ev.paper_id) or ev.sentences)
            keep = [i for i, s in enumerate(ev.sentences) if s not in bad and not addressed_to_model(s)]
            if used:
                keep = keep[: self.settings.other_sentences]
            if not keep:
                continue
            # A trimmed copy: the caller's evidence (the extractive floor's) keeps every sentence it had.
            ev = ev.quoting(
                [ev.sentences[i] for i in keep], [ev.sentence_scores[i] for i in keep if i < len(ev.sentence_scores)]
            )
            block = self.source.render(
                number=len(used) + 1,
                # A title that addresses a model is withheld from it like such a sentence.
                title=neutralise_special_tokens(WITHHELD if addressed_to_model(ev.title) else ev.title),
                text=neutralise_special_tokens(" ".join(ev.sentences)),
            )
            cost = self.generator.count_tokens(block) + 1
            if fixed + cost > budget:
                continue
            fixed += cost
            blocks.append(block)
            used.append(ev.numbered(len(used) + 1))
        user = self.user.render(sources="\n".join(blocks), question=question)
        return [{"role": "system", "content": system}, {"role": "user", "content": user}], used

    def phrase_messages(self, question: str, sentence: str) -> list[dict[str, str]]:
        user = self.phrase.render(
            source=neutralise_special_tokens(sentence), question=neutralise_special_tokens(question)
        )
        return [{"role": "system", "content": self.system.render()}, {"role": "user", "content": user}]

    def plan(
        self, question: str, history: list[Answer] | None = None, where: dict | None = None, k: int | None = None
    ) -> Plan:
        return self.planner.plan(clean_question(question), history or [], where, k)

    def _decide(self, plan: Plan) -> tuple[Chosen, answerable.Decision | None]:
        """The sentence that would answer, and the fitted decision to answer from it (None: refusal is off, a
        negative abstain_threshold)."""
        chosen = choose_sentence(plan, self.retriever)
        if self.settings.abstain_threshold < 0:
            return chosen, None
        x, words = answerable.features(
            plan.question,
            plan.evidence,
            chosen.sentence,
            chosen.probability,
            chosen.similarity,
            self.retriever.vocab,
            plan.followup_of is not None,
        )
        return chosen, answerable.decide(x, words)

    def prepare(
        self,
        draft: str,
        *,
        history: list[Answer] | None = None,
        cancel: threading.Event | None = None,
        where: dict | None = None,
        k: int | None = None,
    ) -> int:
        """Read ahead for a question still being typed: plan the draft (the same follow-up and coverage decision
        `ask` makes) and decode the prompt its answer will need into the model's KV cache, so that when the
        question is sent only what changed is decoded. Returns the prompt tokens decoded; 0 when there is
        nothing to do (no local model, refusal, a list, a bad draft)."""
        extend = getattr(self.generator, "extend", None)
        if extend is None:
            return 0
        try:
            plan = self.plan(draft, history, where, k)
            if not plan.evidence or plan.question.kind == "list":
                return 0
            chosen, decision = self._decide(plan)
            if decision is not None and not decision.answer:
                return 0  # the answer will be a refusal: no prompt to read ahead
            ev, sentence, second = plan.evidence[0], chosen.sentence, chosen.second
            if self.model_writes:
                messages, _ = self._model_messages(plan, ev, sentence, second)
            elif short_answer(plan.question, sentence) or not self.use_phrase or plan.question.polar:
                return 0  # a rule answers it, or the model is not asked
            else:
                messages = self.phrase_messages(plan.question.text, sentence)
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
        kind = self.literature_kind(question, history)
        answer = self._literature(question, kind, where, cancel) if kind is not None else None
        if answer is None:
            # A single question; or a literature one that one paper alone answers (a compare question whose parts
            # one paper holds, a survey that one paper passes). Not tried the other way: a single question that is
            # refused is not retried as a survey, which answered 16 % of off-corpus questions on validation.
            answer = self._one_paper(question, history, where, k, cancel)
        answer.timings.total_s = time.perf_counter() - t0
        if answer.kind in ("survey", "compare", "consensus"):
            answer.timings.retrieval_s = answer.timings.total_s
        _stream(answer.text, on_token)
        return answer

    def _literature(
        self, question: str, kind: LiteratureKind, where: dict | None, cancel: threading.Event | None
    ) -> Answer | None:
        timings = Timings()
        return literature_answer(
            clean_question(question),
            kind,
            self.retriever,
            self.planner.named_papers,
            timings,
            self.generator.name,
            self.settings.abstain_threshold,
            where,
            self._synthesiser(timings, cancel) if self.model_writes else None,
        )

    def _one_paper(
        self,
        question: str,
        history: list[Answer] | None,
        where: dict | None,
        k: int | None,
        cancel: threading.Event | None,
    ) -> Answer:
        plan = self.plan(question, history, where, k)
        q = plan.question
        timings = Timings(retrieval_s=plan.retrieval_s)
        # Only a list question is refused on retrieval alone; every other question goes to the fitted decision,
        # which weighs retrieval's evidence together with the sentence that would answer (judge/answerable.py).
        if not plan.evidence or (q.kind == "list" and not plan.covered):
            return Answer(
                q.text,
                REFUSAL,
                [],
                plan.evidence[: self.settings.top_k],
                abstained=True,
                timings=timings,
                model=self.generator.name,
                kind=q.kind,
                followup_of=plan.followup_of,
                coverage=plan.coverage.reason,
                made_by="refusal",
                abstain_reason=plan.coverage.reason,
            )
        if q.kind == "list":
            answer = list_answer(plan, self.retriever, timings, self.generator.name)
        else:
            answer = self._single(plan, timings, cancel)
        answer.kind, answer.followup_of = q.kind, plan.followup_of
        answer.coverage = answer.coverage or plan.coverage.reason
        return answer

    def literature_kind(self, question: str, history: list[Answer] | None) -> LiteratureKind | None:
        """survey, compare or consensus for a question about several papers; None for one about one paper (it
        names one paper by a rare name, and lists nothing else, or by its whole title) or a follow-up that points
        back to the previous answer."""
        text = clean_question(question)
        kind = literature_kind(text)
        if kind is None or kind == "compare":  # a compare question checks itself: each part finds its own paper
            return kind
        if self.retriever.index.paper_titled(text) is not None:
            return None
        q = analyse(text)
        if history and q.refers_back:
            return None
        # A name among several listed items ("preconditioning, thrombectomy, ACS quality of life, AMI mortality") is
        # one item of the topic, not the paper the question is about.
        return None if len(self.planner.named_papers(q)) == 1 and len(facets(q)) < 2 else kind

    def _shares_topic(self, q, pid: str) -> bool:
        vocab = self.retriever.vocab
        have = vocab.paper_terms(pid)
        return any(vocab.has(t, have) for t in q.topic)

    def _refuse(
        self, plan: Plan, timings: Timings, decision: answerable.Decision, ev: Evidence, sentence: str
    ) -> Answer:
        """The decision is not to answer. When the question names the paper, or follows up on one, that paper's
        abstract is said not to state it, with its closest sentence; otherwise the plain refusal. A question in
        words the corpus never uses ("how do i renew my passport"), or that shares no topic word with the previous
        paper ("what is the boiling point of mercury?" after a chain-of-thought answer), is about no indexed paper,
        whatever came before, unless it points back ("what GPUs did they use")."""
        followup = plan.followup_of and (
            plan.question.refers_back or (not decision.foreign and self._shares_topic(plan.question, plan.followup_of))
        )
        if followup or decision.named:
            ev = ev.quoting([sentence], [decision.probability]).numbered(1)
            text = f'The abstract of [1] ({ev.title}) does not state this. Closest: "{sentence}" [1]'
            cites = [Citation(1, ev.paper_id, ev.title, sentence, 0.0)]
            return Answer(
                plan.question.text,
                text,
                cites,
                [ev],
                abstained=True,
                timings=timings,
                model=self.generator.name,
                made_by="not_stated",
                coverage=decision.reason,
                abstain_reason=decision.reason,
            )
        return Answer(
            plan.question.text,
            REFUSAL,
            [],
            plan.evidence[: self.settings.top_k],
            abstained=True,
            timings=timings,
            model=self.generator.name,
            made_by="refusal",
            coverage=decision.reason,
            abstain_reason=decision.reason,
        )

    def _single(self, plan: Plan, timings: Timings, cancel: threading.Event | None) -> Answer:
        """The extractive answer is always made and is the floor; a capable model may write a better one from the
        same evidence (judge/model_answer.py decides); a yes/no question gets a verdict first."""
        q = plan.question
        j0 = time.perf_counter()
        chosen, decision = self._decide(plan)
        timings.judge_s += time.perf_counter() - j0
        ev, sentence, second = plan.evidence[0], chosen.sentence, chosen.second
        if decision is not None and not decision.answer:
            log.debug("refused: %s", decision.reason)
            return self._refuse(plan, timings, decision, ev, sentence)
        lead = short_answer(q, sentence, ev.title)
        model_words = False
        if (
            lead is None
            and self.use_phrase
            and not self.model_writes
            and not q.polar
            and not (cancel and cancel.is_set())
        ):
            raw = self._generate(self.phrase_messages(q.text, sentence), self.settings.phrase_tokens, timings, cancel)
            lead = compose.checked_phrase(raw, sentence, q)
            log.debug("model phrase %r -> %s", raw, "kept" if lead else "dropped")
            model_words = lead is not None
        verdict = self._verdict(q, ev, sentence, timings) if q.polar else None
        quotes = [sentence] if lead or second is None else [sentence, second]
        ev = ev.quoting(quotes).numbered(1)
        text, citations = compose.single(lead, quotes, ev, verdict.lead if verdict else None)
        evidence = [ev, *renumbered(plan.evidence[1 : self.settings.top_k], start=2)]
        made_by = "extractive"
        if self.model_writes and not (cancel and cancel.is_set()):
            written = self._model_answer(q, plan, ev, sentence, second, lead, timings, cancel)
            if written is not None:
                text = f"{verdict.lead} {written.text}" if verdict else written.text
                citations, made_by, model_words = written.citations, "model", True
                evidence = written.evidence
        return Answer(
            q.text,
            text,
            citations,
            evidence,
            timings=timings,
            model=self.generator.name,
            cancelled=bool(cancel and cancel.is_set()),
            model_words=model_words,
            made_by=made_by,
            verdict=verdict.label if verdict else None,
            verdict_by=verdict.by if verdict else None,
        )

    def _verdict(self, q, ev: Evidence, sentence: str, timings: Timings) -> Verdict:
        j0 = time.perf_counter()
        sentences = self.retriever.index.sentences.get(ev.paper_id) or [sentence]
        ending = deciding_ending(q.text, sentence, sentences)
        mode = verdict_mode(getattr(self.generator, "n_params", None), self.settings.verdict)
        model = None
        choose = getattr(self.generator, "choose", None)
        if mode != "rule" and choose is not None:
            source = " ".join(dict.fromkeys([sentence, *ending]))
            user = self.verdict_prompt.render(
                source=neutralise_special_tokens(source), question=neutralise_special_tokens(q.text)
            )
            model = model_probs(
                choose, [{"role": "system", "content": self.system.render()}, {"role": "user", "content": user}]
            )
        verdict = decide_verdict(q.text, sentence, ending, mode, model)
        timings.judge_s += time.perf_counter() - j0
        return verdict

    def _model_messages(
        self, plan: Plan, ev: Evidence, sentence: str, second: str | None
    ) -> tuple[list[dict[str, str]], list[Evidence]]:
        """The prompt a model-written answer is made from: the answering paper's best sentences (the chosen one
        first), then the other top papers. Read-ahead decodes exactly this."""
        sentences = self.retriever.index.sentences.get(ev.paper_id) or ev.sentences
        picked = list(dict.fromkeys([sentence, *([second] if second else []), *sentences]))
        picked = picked[: self.settings.evidence_sentences]
        first = Evidence(ev.paper_id, ev.title, ev.score, ev.dense, picked, [1.0] * len(picked), ev.sources)
        others = [e for e in plan.evidence[1 : self.settings.top_k]]
        return self.build_messages(plan.question.text, [first, *others])

    def _model_answer(
        self,
        q,
        plan: Plan,
        ev: Evidence,
        sentence: str,
        second: str | None,
        lead: str | None,
        timings: Timings,
        cancel: threading.Event | None,
    ) -> Accepted | None:
        """The model writes the answer from the answering paper's best sentences (the chosen one first) and the
        other top papers; kept only when judge/model_answer.py accepts it."""
        try:
            messages, used = self._model_messages(plan, ev, sentence, second)
        except GenerationError:
            return None  # the extractive answer stands
        if not used or used[0].paper_id != ev.paper_id:
            return None
        raw = self._generate(messages, self.settings.max_tokens, timings, cancel)
        # "What is OVQA?": the sentence that spells the acronym out is the answer's core; a model answer that
        # drops the expansion ("OVQA is a new benchmark") says less than the quote.
        if lead is None and q.subject and q.kind in ("definition", "acronym"):
            lead = next((x for x in (expansion(q.subject, s) for s in (sentence, second) if s) if x), None)
        required = [t for t in answer_type(q) if t in terms(sentence)]
        accepted = accept_model_answer(raw, used, q, lead, REFUSAL, required)
        log.debug("model answer %r -> %s", raw, "kept" if accepted else "extractive")
        if accepted is None:
            return None
        accepted.evidence = used
        return accepted

    def _synthesiser(self, timings: Timings, cancel: threading.Event | None):
        """Verified summaries for a literature answer's groups (literature/synthesis.py), generation timed into
        `timings` across the groups."""

        def write(messages: list[dict[str, str]], max_tokens: int) -> str:
            if cancel and cancel.is_set():
                return ""
            one = Timings()
            try:
                raw = self._generate(messages, max_tokens, one, cancel)
            except GenerationError as exc:
                log.warning("the model could not write a group summary (%s); the quotes stand", exc)
                return ""
            if not timings.completion_tokens:
                timings.first_token_s = one.first_token_s
            timings.prompt_tokens += one.prompt_tokens
            timings.completion_tokens += one.completion_tokens
            timings.generation_s += one.generation_s
            return raw

        return lambda question, groups: synthesise(question, groups, write, self.synthesis_prompt)

    def _generate(
        self, messages: list[dict[str, str]], max_tokens: int, timings: Timings, cancel: threading.Event | None
    ) -> str:
        timings.prompt_tokens = sum(self.generator.count_tokens(m["content"]) for m in messages)
        pieces: list[str] = []
        g0 = time.perf_counter()
        for piece in self.generator.stream(messages, max_tokens, cancel):
            if not pieces:
                timings.first_token_s = time.perf_counter() - g0
            pieces.append(piece)
        timings.generation_s = time.perf_counter() - g0
        timings.completion_tokens = len(pieces)
        return "".join(pieces)


def _stream(text: str, on_token: OnToken | None) -> None:
    """Hand the final, checked text to the caller in word-sized pieces (the CLI and the chat app draw them
    as they come); nothing is ever shown that is later taken back."""
    if on_token is None:
        return
    for piece in re.findall(r"\S+\s*|\s+", text):
        on_token(piece)
