"""`assistant ask` (optionally continuing a saved conversation) and `assistant conversations`."""

from __future__ import annotations

import json
import sys
import threading
import time

from assistant.answer.conversations import ConversationStore
from assistant.answer.render import as_json, as_text, references, why_not
from assistant.cli.filters import where_from
from assistant.config import Settings
from assistant.errors import ConfigError, StoreError
from assistant.text import plural, printable
from assistant.types import Answer


def _conversation(store: ConversationStore, args) -> tuple[str, list[Answer]]:
    """(id, earlier answers): `--conversation ID` continues that one, `-c` the latest, else a new one."""
    if args.conversation:
        try:
            path = store.path(args.conversation)
        except ValueError as exc:
            raise ConfigError(f"{exc}; list them with: assistant conversations") from exc
        if path.is_symlink():  # before any model is loaded: it would be refused when the answer is saved
            raise StoreError(f"{path} is a symbolic link; conversations are never written through one: remove it")
        if not path.is_file():
            raise ConfigError(f"no conversation {args.conversation}; list them with: assistant conversations")
        return args.conversation, store.load(args.conversation)
    if args.continue_conversation:
        latest = store.latest()
        if latest is None:
            raise ConfigError("there is no conversation to continue yet; ask without -c first")
        return latest, store.load(latest)
    return store.new_id(), []


def _source_retriever(settings: Settings, source: str):
    """The retriever, loaded first to check --source against the index's own source keys: an unknown name would
    only show as a refusal ("no source fits"), so name the real cause. The loaded snapshot answers this without
    starting Chroma (asking Chroma's `where` cost 0.6 s of a cold `ask`)."""
    from assistant.answer.session import make_retriever
    from assistant.retrieve.filters import table_for

    retriever = make_retriever(settings)
    members = table_for(retriever.index).members(f"src:{source}")
    if members is None or not len(members):
        raise ConfigError(f"--source {source!r}: no indexed source has that name; list them with: assistant sources")
    return retriever


def cmd_ask(args, settings: Settings) -> int:
    from assistant.answer.session import make_pipeline

    where = where_from(args)  # a malformed --year fails before anything loads
    retriever = _source_retriever(settings, args.source) if getattr(args, "source", None) else None
    store = ConversationStore(settings.data_dir)
    conv_id, history = _conversation(store, args)
    pipeline = make_pipeline(settings, retriever=retriever, one_question=True)
    if args.json or not sys.stdout.isatty():
        answer = pipeline.ask(args.question, history=history, where=where)
        # Shown before it is saved: a conversation file that cannot be written costs the saving, not the answer.
        print(as_json(answer, conversation=conv_id) if args.json else as_text(answer), flush=True)
        store.append(conv_id, answer)
        return 0
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    console = Console(markup=False, highlight=False)
    streamed = Text()
    cancel = threading.Event()
    with Live(streamed, console=console, refresh_per_second=20, transient=True) as live:

        def on_token(piece: str) -> None:
            streamed.append(printable(piece))
            live.update(streamed)

        try:
            answer = pipeline.ask(args.question, history=history, on_token=on_token, cancel=cancel, where=where)
        except KeyboardInterrupt:
            cancel.set()
            raise
    console.print(Text(printable(answer.text)))
    if why_not(answer):
        console.print(Text(why_not(answer), style="dim"))
    refs = references(answer)
    if refs:
        console.print(Text("\nReferences:\n" + refs, style="dim"))
    store.append(conv_id, answer)
    if not args.quiet:
        t = answer.timings
        gen = f", model {t.generation_s:.2f} s" if t.completion_tokens else ""
        console.print(
            Text(
                f"\n{t.total_s:.2f} s{gen} · conversation {conv_id} (continue with: assistant ask -c ...)", style="dim"
            )
        )
    return 0


def cmd_conversations(args, settings: Settings) -> int:
    convs = ConversationStore(settings.data_dir).list()
    if args.json:
        print(json.dumps([c.__dict__ for c in convs], ensure_ascii=False))
        return 0
    if not convs:
        print("no conversations yet: `assistant ask QUESTION` or `assistant chat` starts one", file=sys.stderr)
        return 0
    for c in convs:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(c.updated))
        print(f"{c.id}  {when}  {plural(c.turns, 'turn'):>9}  {printable(c.title)[:70]}")
    return 0
