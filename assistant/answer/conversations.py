"""Saved chat conversations: one JSONL file of Answers per conversation in <data_dir>/conversations.

The folder is created 0700 and every file 0600: questions and answers are private. Lines that cannot be read
(a crash mid-write, a hand edit) are skipped, never fatal.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.answer.render import as_markdown
from assistant.text import printable
from assistant.types import Answer, Citation, Evidence, Timings

log = logging.getLogger(__name__)
_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")


@dataclass
class ConversationInfo:
    id: str
    title: str  # the first question
    turns: int
    updated: float  # mtime, seconds since the epoch


def answer_from_dict(d: dict[str, Any]) -> Answer:
    timings = {k: v for k, v in (d.get("timings") or {}).items() if k in Timings.__dataclass_fields__}
    return Answer(
        question=str(d.get("question", "")),
        text=str(d.get("text", "")),
        citations=[Citation(**c) for c in d.get("citations") or []],
        evidence=[Evidence(**e) for e in d.get("evidence") or []],
        abstained=bool(d.get("abstained")),
        cancelled=bool(d.get("cancelled")),
        timings=Timings(**timings),
        model=str(d.get("model", "")),
        kind=str(d.get("kind") or ""),
        followup_of=d.get("followup_of") or None,
        coverage=str(d.get("coverage") or ""),
        model_words=bool(d.get("model_words")),
    )


def _private_dir(path: Path) -> Path:
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    path.mkdir(exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def _open_private(path: Path, flags: int):
    fd = os.open(path, flags | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "a" if flags & os.O_APPEND else "w", encoding="utf-8")


class ConversationStore:
    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.dir = self.data_dir / "conversations"

    @staticmethod
    def new_id() -> str:
        return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)

    def path(self, conv_id: str) -> Path:
        if not _ID.match(conv_id):
            raise ValueError(f"not a conversation id: {conv_id!r}")
        return self.dir / f"{conv_id}.jsonl"

    def append(self, conv_id: str, answer: Answer) -> None:
        path = self.path(conv_id)
        _private_dir(self.dir)
        with _open_private(path, os.O_WRONLY | os.O_APPEND) as fh:
            fh.write(json.dumps(answer.to_dict(), ensure_ascii=False) + "\n")

    def load(self, conv_id: str) -> list[Answer]:
        answers = []
        try:
            lines = self.path(conv_id).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        for n, line in enumerate(lines, 1):
            try:
                answers.append(answer_from_dict(json.loads(line)))
            except (ValueError, TypeError, AttributeError) as exc:
                log.warning("%s line %d skipped: %s", conv_id, n, exc)
        return answers

    def list(self) -> list[ConversationInfo]:
        out = []
        for path in self.dir.glob("*.jsonl") if self.dir.is_dir() else []:
            if not _ID.match(path.stem):
                continue
            answers = self.load(path.stem)
            if answers:
                out.append(ConversationInfo(path.stem, answers[0].question, len(answers), path.stat().st_mtime))
        return sorted(out, key=lambda c: (c.updated, c.id), reverse=True)

    def latest(self) -> str | None:
        """The most recently updated conversation (what `ask -c` continues)."""
        convs = self.list()
        return convs[0].id if convs else None

    def delete(self, conv_id: str) -> None:
        self.path(conv_id).unlink(missing_ok=True)

    def export_markdown(self, conv_id: str, answers: builtins.list[Answer], folder: Path | None = None) -> Path:
        """Write the conversation, with each answer's references, as Markdown; returns the file."""
        folder = _private_dir(folder or self.data_dir / "exports")
        path = folder / f"conversation-{conv_id}.md"
        title = printable(answers[0].question) if answers else "Conversation"
        body = "\n".join(as_markdown(a) for a in answers)
        with _open_private(path, os.O_WRONLY | os.O_TRUNC) as fh:
            fh.write(f"# {title}\n\n{body}")
        return path
