"""Saved chat conversations: one JSONL file of Answers per conversation in <data_dir>/conversations.

The folder is created 0700 and every file 0600: questions and answers are private. Lines that cannot be read
(a crash mid-write, a hand edit, bytes that are not UTF-8, JSON nested too deep) are skipped, never fatal.

Files are written only if they are what they seem: a symbolic link, a hard link or anything but a regular file in
the conversations folder is refused (StoreError), never followed. Otherwise a link planted there would make
`ask --conversation ID` append to, and chmod 0600, any file the user can write. Exports replace their file.
"""

from __future__ import annotations

import builtins
import errno
import json
import logging
import os
import re
import secrets
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.answer.render import as_markdown
from assistant.errors import StoreError
from assistant.text import printable
from assistant.types import Answer, Citation, Comparison, Evidence, Finding, Group, Timings

log = logging.getLogger(__name__)
_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")


@dataclass
class ConversationInfo:
    id: str
    title: str  # the first question
    turns: int
    updated: float  # mtime, seconds since the epoch


def _fields(cls: Any, d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k in cls.__dataclass_fields__}


def answer_from_dict(d: dict[str, Any]) -> Answer:
    timings = {k: v for k, v in (d.get("timings") or {}).items() if k in Timings.__dataclass_fields__}
    return Answer(
        question=str(d.get("question", "")),
        text=str(d.get("text", "")),
        # Records carry display fields too (a batch citation's "reference"): only the dataclass fields are read.
        citations=[Citation(**_fields(Citation, c)) for c in d.get("citations") or []],
        evidence=[Evidence(**_fields(Evidence, e)) for e in d.get("evidence") or []],
        abstained=bool(d.get("abstained")),
        cancelled=bool(d.get("cancelled")),
        timings=Timings(**timings),
        model=str(d.get("model", "")),
        kind=str(d.get("kind") or ""),
        followup_of=d.get("followup_of") or None,
        coverage=str(d.get("coverage") or ""),
        model_words=bool(d.get("model_words")),
        made_by=str(d.get("made_by") or ("refusal" if d.get("abstained") else "extractive")),
        verdict=d.get("verdict") if d.get("verdict") in ("yes", "no", "maybe") else None,
        verdict_by=str(d["verdict_by"]) if d.get("verdict_by") else None,
        abstain_reason=str(d.get("abstain_reason") or ""),
        groups=[_group(g) for g in d.get("groups") or [] if isinstance(g, dict)],
        table=_table(d.get("table")),
        summary=str(d.get("summary") or ""),
    )


def _group(g: dict[str, Any]) -> Group:
    findings = tuple(Finding(**_fields(Finding, f)) for f in g.get("findings") or [] if isinstance(f, dict))
    return Group(str(g.get("label", "")), findings, str(g.get("made_by") or "extractive"), str(g.get("summary") or ""))


def _table(t: Any) -> Comparison | None:
    if not isinstance(t, dict):
        return None
    rows = tuple((int(r[0]), str(r[1]), tuple(str(c) for c in r[2])) for r in t.get("rows") or [] if len(r) == 3)
    return Comparison(
        tuple(str(a) for a in t.get("aspects") or []), rows, tuple(str(x) for x in t.get("differs") or [])
    )


def _private_dir(path: Path) -> Path:
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    path.mkdir(exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def _open_private(path: Path, flags: int):
    """Open a conversation file for appending, creating it 0600; refuse what is not a plain file of its own.

    O_NOFOLLOW: a symlink is not followed (ELOOP). O_NONBLOCK: a FIFO does not block the open; the fstat then
    refuses it, and a hard link (a second name for a file elsewhere) too."""
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StoreError(
                f"{path} is a symbolic link; conversations are never written through one: remove it"
            ) from exc
        if exc.errno == errno.ENXIO:  # a FIFO without a reader
            raise StoreError(f"{path} is not a regular file; remove it") from exc
        raise StoreError(f"cannot write the conversation {path} ({exc.strerror or exc})") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StoreError(f"{path} is not a regular file; remove it")
        if st.st_nlink > 1:
            raise StoreError(f"{path} has other names (a hard link); conversations are never written through one")
        os.set_blocking(fd, True)
        os.fchmod(fd, 0o600)
        return os.fdopen(fd, "a" if flags & os.O_APPEND else "w", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def _read_plain(path: Path) -> bytes:
    """The bytes of a regular file that is not a link (a link to /dev/zero would never end, a FIFO would block)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return fh.read()


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
        # Serialised before the file is opened: text that cannot be written (a lone surrogate) must fail here, not
        # leave an empty file or half a line behind. "surrogatepass" would write bytes no reader accepts.
        line = (json.dumps(answer.to_dict(), ensure_ascii=False) + "\n").encode("utf-8", "replace").decode("utf-8")
        try:
            _private_dir(self.dir)
        except OSError as exc:
            raise StoreError(f"cannot create {self.dir} for the conversation ({exc.strerror or exc})") from exc
        with _open_private(path, os.O_WRONLY | os.O_APPEND) as fh:
            try:
                fh.write(line)
            except OSError as exc:
                raise StoreError(f"cannot write the conversation {path} ({exc.strerror or exc})") from exc

    def load(self, conv_id: str) -> list[Answer]:
        answers = []
        try:
            raw = _read_plain(self.path(conv_id))
        except FileNotFoundError:
            return []
        except OSError as exc:  # a link, a FIFO, a folder by that name, no permission: unreadable, not fatal
            log.warning("%s skipped: %s", conv_id, exc.strerror or exc)
            return []
        # Line by line from bytes: one line that is not UTF-8 is skipped like one that is not JSON.
        for n, line in enumerate(raw.split(b"\n"), 1):
            if not line.strip():
                continue
            try:
                answers.append(answer_from_dict(json.loads(line.decode("utf-8"))))
            except (ValueError, TypeError, AttributeError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
                log.warning(
                    "%s line %d skipped: %s", conv_id, n, type(exc).__name__ if isinstance(exc, RecursionError) else exc
                )
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
        # A new file renamed over the old name: a link planted there is replaced, never written through.
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".export-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as fh:
                fh.write(f"# {title}\n\n{body}")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path
