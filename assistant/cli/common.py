"""What several commands share: settings from the parsed flags, the TTY test and the progress bar.

It lives apart from main.py (the parser and the dispatcher) and commands.py (the handlers) so that neither imports
the other for these, and cli/eval.py, cli/ask.py and the rest need neither: main -> commands -> ask/batch/eval ->
common, one direction."""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager

from assistant.config import Settings, load_settings

# Flags whose value, when given, overrides the config file and the environment (see assistant/config.py).
SETTING_FLAGS = (
    "data_dir",
    "chroma_url",
    "top_k",
    "model_path",
    "llm_url",
    "n_gpu_layers",
    "n_ctx",
    "n_threads",
    "max_tokens",
    "temperature",
    "abstain_threshold",
)


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, **{k: getattr(args, k, None) for k in SETTING_FLAGS})


def tty(args) -> bool:
    return sys.stderr.isatty() and not args.quiet


@contextmanager
def progress_bar(enabled: bool, label: str):
    """Yields a (done, total) callback; a rich bar on a TTY, nothing otherwise."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
        console=stderr_console(),
    ) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def stderr_console():
    from rich.console import Console

    return Console(stderr=True, markup=False, highlight=False)
