"""How a batch's questions are answered: in input order, one or N at a time, and conversations turn by turn.

A conversation's turns need the earlier answers as history, so :class:`Turns` keeps them (rebuilt from the journal
on resume, added as this run answers), and a turn whose earlier turn failed is not asked. With N workers a turn
starts only once its previous turn is done; records are still handed to `emit` in input order so that resume, which
trusts the output's order, stays exact. assistant/batch/runner.py owns files, locks and the summary."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from assistant.answer.conversations import answer_from_dict
from assistant.batch.inputs import Item
from assistant.batch.outputs import failure_record, record_key, success_record
from assistant.errors import AssistantError
from assistant.types import Answer

log = logging.getLogger(__name__)


# -- conversations ---------------------------------------------------------------
class Turns:
    """The answers of each conversation so far, by input position: from the journal (resume) and from this run."""

    def __init__(self, items: list[Item], kept: list[dict[str, Any]]):
        self.position: dict[int, int] = {id(it): n for n, it in enumerate(items)}
        self.answers: dict[str, list[tuple[int, Answer]]] = {}
        self.failed: dict[str, tuple[int, Any]] = {}  # conversation -> (position, id) of its first failed turn
        self.lock = threading.Lock()
        by_key = {record_key(r): r for r in kept}
        for n, it in enumerate(items):
            if it.conversation is not None and it.key in by_key:
                try:
                    answer = answer_from_dict(by_key[it.key])
                except (TypeError, ValueError, AttributeError) as exc:  # a hand-edited line: the turn loses it
                    log.warning("%s: cannot rebuild its answer as history (%s)", it.out_id, exc)
                    continue
                self.answers.setdefault(it.conversation, []).append((n, answer))

    def history(self, item: Item) -> list[Answer] | str:
        """The earlier answers of the item's conversation, or why the item cannot be asked (an earlier turn failed)."""
        conv, pos = item.conversation, self.position[id(item)]
        assert conv is not None
        with self.lock:
            broken = self.failed.get(conv)
            if broken is not None and broken[0] < pos:
                return f"not asked: the earlier turn {broken[1]} of conversation {conv} failed; a re-run retries both"
            return [a for n, a in sorted(self.answers.get(conv, []), key=lambda t: t[0]) if n < pos]

    def record(self, item: Item, answer: Answer | None) -> None:
        if item.conversation is None:
            return
        pos = self.position[id(item)]
        with self.lock:
            if answer is None:
                self.failed.setdefault(item.conversation, (pos, item.out_id))
            else:
                self.answers.setdefault(item.conversation, []).append((pos, answer))


# -- answering -----------------------------------------------------------------
def answer_all(pipeline, items: list[Item], workers: int, emit, turns: Turns) -> bool:
    """Answer `items`, calling `emit` in input order; True when interrupted (Ctrl-C, or SIGTERM made into one)."""
    cancel = threading.Event()

    def answer(item: Item) -> dict[str, Any] | None:
        rec, ans = _answer_one(pipeline, item, turns, cancel)
        if rec is not None:
            turns.record(item, ans if rec["error"] is None else None)
        return rec

    if workers == 1:
        try:
            for item in items:
                rec = answer(item)
                if rec is not None:
                    emit(rec)
        except KeyboardInterrupt:
            cancel.set()
            return True
        return False

    restore = _serialise_retrieval(pipeline)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="batch")
    try:
        _answer_concurrently(pool, answer, items, workers, emit)
    except KeyboardInterrupt:
        cancel.set()
        return True
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        restore()
    return False


def _answer_one(pipeline, item: Item, turns: Turns, cancel: threading.Event):
    """(record, answer); (None, None) when cut short by Ctrl-C: not written, asked again on resume."""
    if item.error:
        return failure_record(item, item.error), None
    if cancel.is_set():
        return None, None
    kwargs: dict[str, Any] = {}
    if item.conversation is not None:
        history = turns.history(item)
        if isinstance(history, str):
            return failure_record(item, history), None
        kwargs["history"] = history
    try:
        ans = pipeline.ask(item.question, cancel=cancel, **kwargs)
    except AssistantError as exc:
        return failure_record(item, str(exc)), None
    except Exception as exc:  # a bug or an unexpected library error: record it, go on
        log.debug("question %s failed", item.key, exc_info=True)
        return failure_record(item, f"unexpected {type(exc).__name__}: {exc}"), None
    if cancel.is_set() or getattr(ans, "cancelled", False):
        return None, None
    return success_record(item, ans), ans


def _answer_concurrently(pool: ThreadPoolExecutor, answer, items: list[Item], workers: int, emit) -> None:
    """Keep up to `workers` questions in flight within a window of 2 x workers ahead of the next one to write, and
    write in input order. A conversation's turn starts only once its previous turn is done (it needs the answer)."""
    previous: list[int | None] = []
    last: dict[str, int] = {}
    for n, it in enumerate(items):
        previous.append(last.get(it.conversation) if it.conversation is not None else None)
        if it.conversation is not None:
            last[it.conversation] = n
    futures: dict[int, Future] = {}
    head = 0
    while head < len(items):
        for n in range(head, min(head + 2 * workers, len(items))):
            p = previous[n]
            if n not in futures and (p is None or p < head or (p in futures and futures[p].done())):
                futures[n] = pool.submit(answer, items[n])
        current = futures[head]  # always submitted: its previous turn, if any, was written already
        if not current.done():
            wait([f for f in futures.values() if not f.done()], return_when=FIRST_COMPLETED)
            continue
        rec = futures.pop(head).result()
        if rec is not None:
            emit(rec)
        head += 1


def _serialise_retrieval(pipeline):
    """Workers overlap generation (the slow, remote part); retrieval (embedder, Chroma, BM25) runs one at a time."""
    retriever = getattr(pipeline, "retriever", None)
    if retriever is None:
        return lambda: None
    lock = threading.Lock()
    search = retriever.search

    def locked(*args, **kwargs):
        with lock:
            return search(*args, **kwargs)

    retriever.search = locked
    return lambda: vars(retriever).pop("search", None)
