"""Command handlers: parse nothing, print results; heavy imports happen here, lazily."""

from __future__ import annotations

import json
import sys
from typing import Any

from assistant.cli.common import progress_bar, settings_from
from assistant.config import default_corpus
from assistant.text import plural, printable


def _ingest_summary(report, quiet: bool) -> None:
    # Warnings and notes print even with -q: a skipped file or a dropped abstract is data the index lacks.
    for line, f in zip(report.file_lines(), report.files):  # reference-manager files: entries, merges, skips
        # Citation keys, CSL ids, excerpts and file names come from the user's files: shown, never executed.
        if not quiet:
            print(f"read {printable(line)}", flush=True)
        elif f["skips"]:
            print(f"warning: {printable(line)}", file=sys.stderr)
    for w in report.warnings:
        print(f"warning: {printable(w)}", file=sys.stderr)
    for line in report.note_lines():
        print(f"note: {printable(line)}", file=sys.stderr)
    if report.flagged:
        print(
            f"note: {len(report.flagged)} abstract sentence(s) read as instructions to an AI assistant; they are kept "
            "as data, never shown to the model and never quoted:",
            file=sys.stderr,
        )
        for line in report.flagged[:20]:
            print(f"  {printable(line)[:160]}", file=sys.stderr)
        if len(report.flagged) > 20:
            print(f"  ... and {len(report.flagged) - 20} more", file=sys.stderr)
    if quiet:
        return
    if report.unchanged:
        print(
            f"index up to date: {plural(report.papers, 'paper')}, {plural(report.chunks, 'chunk')} "
            f"({report.total_s:.2f} s)"
        )
        return
    rate = report.embedded / report.embed_s if report.embed_s else 0
    resumed = f", resumed {report.resumed} from an interrupted run" if report.resumed else ""
    skipped = f"; {len(report.skipped)} file(s) skipped" if report.skipped else ""
    print(
        f"indexed {plural(report.papers, 'paper')} in {plural(report.chunks, 'chunk')}: +{len(report.added)}, "
        f"-{len(report.removed)} papers; embedded {plural(report.embedded, 'new chunk')}"
        # A rate over a few chunks says nothing (3 chunks read as "7/s" after a progress line of 1201/s).
        f"{f' ({rate:.0f}/s)' if report.embedded >= 100 else ''}, reused {plural(report.reused, 'unchanged chunk')}"
        f"{resumed}{' (settings changed: full rebuild)' if report.rebuilt else ''}{skipped}; {report.total_s:.1f} s"
    )


def cmd_ingest(args) -> int:
    from collections.abc import Callable
    from contextlib import AbstractContextManager, nullcontext

    from assistant.answer.judge.injection import flagged
    from assistant.answer.session import make_embedder
    from assistant.ingest.build import ingest
    from assistant.ingest.memory import share_one_malloc_arena
    from assistant.ingest.progress import LineProgress

    share_one_malloc_arena()  # before the embedder and Chroma start their threads (see the function)

    settings = settings_from(args)
    # A bar on a terminal; plain lines when stderr is a log or a pipe (minutes of silence look like a hang), or
    # with -v (log lines would tear a bar); nothing with -q.
    progress: AbstractContextManager[Callable[[int, int], None] | None]
    if args.quiet:
        progress = nullcontext(None)
    elif sys.stderr.isatty() and not args.verbose:
        progress = progress_bar(True, "embedding")
    else:
        progress = nullcontext(LineProgress("ingest"))
    with progress as cb:
        report = ingest(
            settings,
            make_embedder(settings),
            args.paths or default_corpus(),
            prune=args.prune,
            wait=args.wait,
            progress=cb,
            strict=args.strict,
            flag=flagged,
        )
    _ingest_summary(report, args.quiet)
    return 0


def cmd_remove(args) -> int:
    from assistant.answer.session import make_embedder
    from assistant.ingest.build import remove_sources
    from assistant.ingest.memory import share_one_malloc_arena

    share_one_malloc_arena()

    settings = settings_from(args)
    report = remove_sources(settings, make_embedder(settings), args.names, wait=args.wait)
    _ingest_summary(report, args.quiet)
    return 0


def cmd_sources(args) -> int:
    from assistant.cli.filters import where_from
    from assistant.index.store import Store, papers_from_dump
    from assistant.retrieve.filters import PaperTable

    where = where_from(args)
    store = Store(settings_from(args))
    found = papers_from_dump(store.dump())
    if where:  # the same matching as retrieval's lexical side
        keep = set(PaperTable(found).matching(where) or [])
        found = {pid: p for pid, p in found.items() if pid in keep}
    papers = sorted(found.values(), key=lambda p: p.title.lower())
    for p in papers:
        if args.json:
            print(json.dumps(p.to_dict(), ensure_ascii=False))
        else:
            print(f"{p.id}  {printable(p.title)}  [{printable(', '.join(p.sources))}]")
            meta = _meta_line(p)
            if meta:
                print(f"{'':16}  {printable(meta)}")
    if not args.json and not args.quiet:
        print(plural(len(papers), "paper"), file=sys.stderr)
    return 0


def _meta_line(p) -> str:
    """'Vaswani, Shazeer, Parmar et al. · 2017 · Advances in Neural ... · doi:10... · arXiv:1706.03762'."""
    from assistant.ingest.metadata import display_name, split_authors

    names = [display_name(n) for n in split_authors(p.authors)]
    who = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    arxiv_doi = bool(p.doi and p.arxiv_id and p.doi == f"10.48550/arxiv.{p.arxiv_id}")  # the same id twice
    parts = [who, str(p.year or ""), p.venue or "", f"doi:{p.doi}" if p.doi and not arxiv_doi else ""]
    parts.append(f"arXiv:{p.arxiv_id}" if p.arxiv_id else "")
    return " · ".join(x for x in parts if x)


def cmd_stats(args) -> int:
    from assistant.errors import IndexMissingError
    from assistant.index.store import Store, data_dir_size, papers_from_dump

    settings = settings_from(args)
    store = Store(settings)
    info = store.info()
    if info is None:  # reading never creates a store: no store, or one no ingest finished, is "no index"
        raise IndexMissingError(f"no index yet in {settings.data_dir}; build one with: assistant ingest seeds/")
    papers = papers_from_dump(store.dump())
    sources = sorted({s for p in papers.values() for s in p.sources})
    stats: dict[str, Any] = {
        "data_dir": str(settings.data_dir),
        "store": settings.chroma_url or "embedded",
        "collection": info.collection,
        "papers": len(papers),
        "chunks": info.chunks,
        "sources": sources,
        "embed_model": info.embed_model,
        "chunk_tokens": info.chunk_tokens,
        "index_bytes": data_dir_size(settings.data_dir / "chroma"),
        "built": info.created,
    }
    if args.json:
        print(json.dumps(stats))
        return 0
    for key, value in stats.items():
        if key == "sources":
            value = f"{len(value)} files: {', '.join(value)}"
        elif key == "index_bytes":
            key, value = "index size", f"{value / 2**20:.1f} MiB"
        elif key == "built":
            import time

            value = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))
        print(f"{key:>13}: {value}")
    return 0


def cmd_ask(args) -> int:
    from assistant.cli.ask import cmd_ask as ask

    return ask(args, settings_from(args))


def cmd_conversations(args) -> int:
    from assistant.cli.ask import cmd_conversations as conversations

    return conversations(args, settings_from(args))


def cmd_batch(args) -> int:
    from assistant.cli.batch import run_batch

    return run_batch(args, settings_from(args))


def cmd_eval(args) -> int:
    from assistant.cli.eval import run_eval

    return run_eval(args, settings_from(args))


def cmd_doctor(args) -> int:
    from assistant.cli.doctor import run_doctor

    return run_doctor(args, settings_from(args))


def cmd_models(args) -> int:
    from assistant.cli.models import run

    return run(args)


def cmd_chat(args) -> int:
    try:
        from tui.app import run_app
    except ImportError as exc:
        from assistant.errors import AssistantError

        raise AssistantError(f"the chat app cannot start ({exc}); run: pip install textual") from exc
    from assistant.cli.filters import where_from

    _size_from_the_terminal()
    return run_app(settings_from(args), where=where_from(args)) or 0


def _size_from_the_terminal() -> None:
    """`make chat 2>&1 | tee log`: stdout is a pipe, so Textual (through shutil.get_terminal_size) would draw at
    80x24 inside a larger terminal. The controlling terminal still knows its size: hand it over in COLUMNS and
    LINES, which shutil reads first. (A resize while piped is then not seen: Troubleshooting says so.)"""
    import os

    if sys.stdout.isatty() or "COLUMNS" in os.environ:
        return
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return  # no controlling terminal (a service, CI): Textual's own fallback
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return
    finally:
        os.close(fd)
    os.environ["COLUMNS"], os.environ["LINES"] = str(size.columns), str(size.lines)
