"""`assistant` command line: ingest, remove, sources, stats, ask, batch, chat, eval, doctor."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from pathlib import Path

from assistant import __version__
from assistant.cli.common import SETTING_FLAGS, settings_from  # noqa: F401  (re-exported: older callers)
from assistant.cli.filters import add_filter_flags
from assistant.errors import AssistantError
from assistant.text import printable

log = logging.getLogger(__name__)


COMMON_DEFAULTS = {"config": None, "data_dir": None, "chroma_url": None, "quiet": False, "verbose": 0, "debug": False}


def _common(p: argparse.ArgumentParser, top: bool = False) -> None:
    """The options every command takes, before or after the command name (`assistant -v --data-dir X stats` and
    `assistant stats -v --data-dir X`). The main parser holds the defaults; a command's parser sets a value only
    when it is given there (SUPPRESS), so it never resets one given before the command, and wins when both are."""
    d = {k: (v if top else argparse.SUPPRESS) for k, v in COMMON_DEFAULTS.items()}
    p.add_argument(
        "--config",
        type=Path,
        default=d["config"],
        help="TOML config file (default: $ASSISTANT_CONFIG or ~/.config/paper-assistant/config.toml)",
    )
    p.add_argument(
        "--data-dir", type=Path, default=d["data_dir"], help="index and history location (env ASSISTANT_DATA_DIR)"
    )
    p.add_argument("--chroma-url", default=d["chroma_url"], help="use a Chroma server, e.g. http://host:8000")
    p.add_argument("-q", "--quiet", action="store_true", default=d["quiet"], help="no progress output")
    p.add_argument("-v", "--verbose", action="count", default=d["verbose"], help="more logging (-vv for debug)")
    p.add_argument("--debug", action="store_true", default=d["debug"], help="show tracebacks of errors")


def _model_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-k", "--top-k", type=int, help="papers given to the model as sources")
    p.add_argument(
        "--model",
        dest="model_path",
        type=Path,
        help="a GGUF file, or a pulled model's name (assistant models list); default: bundled SmolLM2-135M",
    )
    p.add_argument("--llm-url", help="OpenAI-compatible server, e.g. http://gpu-box:8080/v1")
    p.add_argument("--n-gpu-layers", type=int, help="layers to offload to the GPU (-1: all)")
    p.add_argument("--n-ctx", type=int, help="context window in tokens")
    p.add_argument("--threads", dest="n_threads", type=int, help="CPU threads (default: all cores)")
    p.add_argument("--max-tokens", type=int, help="most tokens per answer")
    p.add_argument("--temperature", type=float, help="sampling temperature (0: deterministic)")
    p.add_argument("--abstain-threshold", type=float, help="abstain below this best similarity")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant", description="Cited answers from your research-paper abstracts, locally."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "ingest",
        help="index corpus files (Daily-Papers pages, JSONL, CSV, BibTeX, RIS, CSL-JSON, arXiv metadata)",
        description=(
            "Index corpus files. A folder is searched recursively: its subfolders too (hidden ones skipped; a "
            "symlinked folder is followed once, so a link loop ends). Files found in a folder are tracked by their "
            "path below it. A file in a folder that cannot be parsed is reported and skipped, and the rest are "
            "indexed; with --strict it aborts the run and the index stays as it was. A file named on the command "
            "line must always parse."
        ),
    )
    p.add_argument("paths", nargs="*", type=Path, help="files or folders, searched recursively (default: seeds/)")
    p.add_argument("--prune", action="store_true", help="also remove papers from files not given")
    p.add_argument(
        "--strict", action="store_true", help="any file that cannot be parsed aborts the run (the index is unchanged)"
    )
    p.add_argument("--wait", type=float, default=0.0, help="seconds to wait for another ingest to finish")
    _common(p)

    p = sub.add_parser("remove", help="remove source files (by name) and papers found only in them")
    p.add_argument("names", nargs="+", help="source file names as listed by `assistant sources`")
    p.add_argument("--wait", type=float, default=0.0)
    _common(p)

    p = sub.add_parser("sources", aliases=["papers"], help="list indexed papers with their metadata")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--source", help="only papers from this source file")
    add_filter_flags(p, source=False)
    _common(p)

    p = sub.add_parser("stats", help="index counts, location, embedding model, size")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("ask", help="answer one question with citations (saved as a conversation)")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print the Answer as JSON")
    add_filter_flags(p)  # --source, --author, --year, --venue: applied inside retrieval
    p.add_argument(
        "-c",
        "--continue",
        dest="continue_conversation",
        action="store_true",
        help="continue the most recent conversation (follow-ups such as 'what data did they use?')",
    )
    p.add_argument("--conversation", metavar="ID", help="continue this conversation (see: assistant conversations)")
    _common(p)
    _model_flags(p)

    p = sub.add_parser("conversations", help="list saved conversations (id, date, turns, first question)")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("batch", help="answer a file of questions (txt, JSONL, CSV; - for stdin)")
    p.add_argument("input")
    p.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
    p.add_argument(
        "--format",
        choices=["jsonl", "csv", "md", "bib"],
        default=None,
        help="default: from the output suffix, else jsonl; bib: the cited papers as BibTeX",
    )
    p.add_argument("--overwrite", action="store_true", help="start over instead of resuming")
    p.add_argument("--concurrency", type=int, default=1, help="questions in flight (server backends only)")
    add_filter_flags(p)
    _common(p)
    _model_flags(p)

    p = sub.add_parser("chat", help="open the terminal chat app")
    add_filter_flags(p)
    _common(p)
    _model_flags(p)

    p = sub.add_parser("eval", help="answer metrics per question kind over a labelled question JSONL")
    p.add_argument("questions", type=Path, help="dev.jsonl or realistic-dev.jsonl format")
    p.add_argument("-o", "--output", type=Path, help="write per-question results and the summary as JSON")
    _common(p)
    _model_flags(p)

    p = sub.add_parser("doctor", help="check the installation, model, threads, index; print fixes")
    p.add_argument("--json", action="store_true")
    _common(p)
    _model_flags(p)

    from assistant.cli.models import add_parser as add_models_parser  # list, pull, use, remove

    add_models_parser(sub, _common)
    return parser


def _setup_logging(args: argparse.Namespace) -> None:
    level = logging.WARNING - 10 * min(getattr(args, "verbose", 0), 2)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Printable("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    for noisy in ("bm25s", "chromadb", "httpx", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


# Read-only commands whose handlers start loading a model beside the index: with no index they must stop before
# anything is loaded or written (the model's saved prompt state would otherwise create the data dir).
CHECK_INDEX_FIRST = ("ask", "eval")


class _Printable(logging.Formatter):
    """Log lines carry file names, keys and titles from the user's data: control characters (ESC, OSC 52) are
    dropped before they reach the terminal."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    _setup_logging(args)
    from assistant.cli import commands

    handler = getattr(commands, "cmd_" + {"papers": "sources"}.get(args.command, args.command))
    try:
        if args.command in CHECK_INDEX_FIRST:
            from assistant.index.store import require_store

            require_store(settings_from(args))
        return handler(args) or 0
    except AssistantError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM where a command turns it into one (batch: exit 143)
        print("interrupted; the index is unchanged unless the ingest had finished", file=sys.stderr)
        return getattr(exc, "exit_code", 130)
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the last line of defence: one line, no traceback unless asked
        if args.debug:
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {printable(str(exc))} (run with --debug for details)",
            file=sys.stderr,
        )
        return 70


if __name__ == "__main__":
    sys.exit(main())
