"""The metadata filter flags of ask, batch, chat and sources (--source, --author, --year, --venue), and a pipeline
whose every search keeps to them (retrieve/filters.py does the matching)."""

from __future__ import annotations

import argparse
from typing import Any

from assistant.config import Settings


def add_filter_flags(p: argparse.ArgumentParser, source: bool = True) -> None:
    if source:
        p.add_argument("--source", help="only papers from this source file")
    p.add_argument("--author", help="only papers with this author (last name, or full name; accents optional)")
    p.add_argument("--year", help="only papers of these years: 2023, 2023..2024, 2024.. or ..2020")
    p.add_argument("--venue", help="only papers from this venue (words of its name, or NeurIPS, ICLR, ACL, ...)")


def where_from(args: argparse.Namespace) -> dict[str, Any] | None:
    """The Chroma `where` of the flags given; a ConfigError (exit 2) for a malformed --year or an empty name."""
    from assistant.retrieve.filters import build_where

    return build_where(
        getattr(args, "source", None),
        getattr(args, "author", None),
        getattr(args, "year", None),
        getattr(args, "venue", None),
    )


class ScopedPipeline:
    """A pipeline, built on first use, whose retriever applies `where` to every search: batch and the chat app
    ask through it unchanged. Attributes other than `ask` are the real pipeline's."""

    def __init__(self, settings: Settings, where: dict[str, Any], pipeline: Any = None, **kwargs: Any):
        self._settings, self._where, self._pipeline, self._kwargs = settings, where, pipeline, kwargs
        if pipeline is not None:
            pipeline.retriever.scope = where

    @property
    def pipeline(self) -> Any:
        if self._pipeline is None:
            from assistant.answer.session import make_pipeline

            self._pipeline = make_pipeline(self._settings, **self._kwargs)
            self._pipeline.retriever.scope = self._where
        return self._pipeline

    def ask(self, *args: Any, **kwargs: Any) -> Any:
        return self.pipeline.ask(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipeline, name)
