"""Prompt templates: plain files in prompts/ with {named} placeholders; a missing or unknown one fails loudly.
Untrusted text (abstracts, titles, questions) goes into them through neutralise_special_tokens."""

from __future__ import annotations

import re
import string
from functools import lru_cache
from pathlib import Path

from assistant.errors import ConfigError
from assistant.resources import bundled

BUNDLED = bundled("prompts")
# Chat-template control tokens (<|im_start|>, <|eot_id|>, <s>, [INST], <start_of_turn>...). llama.cpp tokenises
# special tokens inside the prompt text, so one of these in an abstract would open a new role turn.
_SPECIAL_TOKEN = re.compile(r"<\|[^<>|\s]{1,64}\|>|</?s>|<(?:start|end)_of_turn>|\[/?INST\]|<</?SYS>>")


def neutralise_special_tokens(text: str) -> str:
    """Show role/control tokens in untrusted text as look-alikes that no tokenizer maps to a special token."""
    return _SPECIAL_TOKEN.sub(
        lambda m: m.group().replace("<", "\u2039").replace(">", "\u203a").replace("[", "\u2045").replace("]", "\u2046"),
        text,
    )


class Template:
    def __init__(self, name: str, text: str):
        self.name = name
        self.text = text
        try:
            self.fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
        except ValueError as exc:
            raise ConfigError(f"prompt {name!r}: malformed template ({exc})") from exc
        if "" in self.fields:
            raise ConfigError(f"prompt {name!r}: positional placeholder {{}}; name every placeholder")

    def render(self, **values: object) -> str:
        missing = self.fields - values.keys()
        unknown = values.keys() - self.fields
        if missing or unknown:
            raise ConfigError(
                f"prompt {self.name!r}: missing placeholders {sorted(missing)}, unexpected {sorted(unknown)}"
            )
        # Values are inserted once; braces inside abstracts are never re-interpreted.
        return self.text.format_map({k: str(v) for k, v in values.items()})


@lru_cache(maxsize=32)
def load(name: str, directory: Path | None = None) -> Template:
    folder = directory or BUNDLED
    path = folder / f"{name}.md"
    try:
        text = path.read_text(encoding="utf-8").strip("\n")
    except FileNotFoundError as exc:
        raise ConfigError(f"prompt template {path} not found") from exc
    return Template(name, text)
