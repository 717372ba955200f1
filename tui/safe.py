"""Corpus and model text is data, never markup: everything shown outside a Markdown widget goes through here."""

from __future__ import annotations

from rich.text import Text

from assistant.text import printable


def plain(text: object, style: str = "") -> Text:
    """A Rich Text that shows `text` literally: no console markup, no ANSI escapes, no control characters."""
    return Text(printable(str(text)), style=style)


def one_line(text: object, limit: int = 200) -> str:
    s = " ".join(printable(str(text)).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"
