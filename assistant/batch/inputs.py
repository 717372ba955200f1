"""Question files for `assistant batch`: text, JSONL or CSV, from a path or stdin (see batch.py)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from assistant.errors import AssistantError

log = logging.getLogger(__name__)
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
MAX_INPUT_BYTES = 64 * 1024 * 1024  # a question file is kilobytes; this stops /dev/zero-like input long before memory
RESULT_FIELDS = (
    "id",
    "question",
    "text",
    "citations",
    "abstained",
    "abstain_reason",
    "retrieved",
    "model",
    "timings",
    "error",
)
CSV_FIELDS = (
    "id",
    "question",
    "text",
    "abstained",
    "abstain_reason",
    "error",
    "citations",
    "total_s",
    "first_token_s",
    "completion_tokens",
    "model",
)


class BatchInputError(AssistantError):
    """The question file cannot be used (missing, empty, no questions, no `question` column) or bad batch flags."""

    exit_code = 2


# -- input ------------------------------------------------------------------
@dataclass
class Item:
    line: int
    question: str | None
    id: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # a parse error: recorded as failed without asking the model
    conversation: str | None = None  # rows sharing it are turns of one conversation, answered in input order

    @property
    def key(self) -> str:
        """What resume matches on: the id when given, else a hash of the question (and of its conversation, so the
        same follow-up in two conversations is two questions)."""
        if self.id is not None and str(self.id) != "":
            return id_key(self.id)
        if self.question is None:
            return f"line-{self.line}"
        text = self.question.strip() if self.conversation is None else f"{self.conversation}\x1f{self.question.strip()}"
        return "q-" + hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def out_id(self) -> Any:
        return self.id if self.id is not None and str(self.id) != "" else self.key


def id_key(value: Any) -> str:
    """The resume key of an input id: a string as itself, any other JSON value (1, 1.5, true) as its JSON text
    behind a separator no written id starts with, so the id 1 and the id "1" stay two questions."""
    if isinstance(value, str):
        return value
    return "\x1f" + json.dumps(value, sort_keys=True, ensure_ascii=False)


def detect_format(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    meaningful = [ln for ln in lines if not ln.startswith("#")]
    if meaningful and meaningful[0].startswith("{"):
        return "jsonl"
    if lines:
        header = next(csv.reader([lines[0]]), [])
        if any(cell.strip().lower() == "question" for cell in header):
            return "csv"
    return "text"


def read_questions(source: str, stdin: TextIO | None = None) -> list[Item]:
    if source == "-":
        name = "stdin"
        text = _read_stream(stdin or sys.stdin, name)
        fmt = None
    else:
        path = Path(source)
        name = str(path)
        if not path.exists():
            raise BatchInputError(f"{path}: no such question file")
        if path.is_dir():
            raise BatchInputError(f"{path} is a folder; give a question file (txt, JSONL or CSV)")
        text = _read_file(path)
        suffix = path.suffix.lower()
        fmt = (
            "jsonl" if suffix in JSONL_SUFFIXES else "csv" if suffix == ".csv" else "text" if suffix == ".txt" else None
        )
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise BatchInputError(f"{name} is empty; give one question per line, JSONL or CSV")
    fmt = fmt or detect_format(text)
    items = {"jsonl": _parse_jsonl, "csv": _parse_csv, "text": _parse_text}[fmt](text, name)
    if not items:
        raise BatchInputError(f"{name} holds no questions")
    seen: dict[str, int] = {}
    for it in items:
        if it.key in seen and it.error is None:
            log.warning(
                "%s line %d repeats the %s of line %d; resume treats them as one question",
                name,
                it.line,
                "id" if it.id not in (None, "") else "question",
                seen[it.key],
            )
        seen.setdefault(it.key, it.line)
    return items


def _decode(raw: bytes, name: str) -> str:
    if len(raw) > MAX_INPUT_BYTES:
        raise BatchInputError(
            f"{name}: over {MAX_INPUT_BYTES // 2**20} MB of questions; split the file (each part resumes on its own)"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BatchInputError(
            f"{name}: not UTF-8 text (bad byte at offset {exc.start}); give a txt, JSONL or CSV question file"
        ) from exc


def _read_stream(stream: TextIO, name: str) -> str:
    """stdin as bytes when it has them, so bad UTF-8 is refused like a file's; at most MAX_INPUT_BYTES (+1 to tell)."""
    binary = getattr(stream, "buffer", None)
    try:
        if binary is not None:
            return _decode(binary.read(MAX_INPUT_BYTES + 1), name)
        text = stream.read(MAX_INPUT_BYTES + 1)
    except UnicodeDecodeError as exc:  # a text stream that decodes itself
        raise BatchInputError(f"{name}: not UTF-8 text; give a txt, JSONL or CSV question file") from exc
    except OSError as exc:
        raise BatchInputError(f"{name}: cannot read ({exc.strerror or exc})") from exc
    if len(text) > MAX_INPUT_BYTES:
        raise BatchInputError(f"{name}: over {MAX_INPUT_BYTES // 2**20} MB of questions; split the file")
    return text


def _read_file(path: Path) -> str:
    """A regular file or a pipe (`batch <(...)`), never a device: /dev/zero would fill memory. Opened without
    blocking, so a FIFO nobody writes to reads as empty instead of hanging without a word."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise BatchInputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
            raise BatchInputError(f"{path} is not a regular file (a device?); give a txt, JSONL or CSV question file")
        if stat.S_ISREG(st.st_mode) and st.st_size > MAX_INPUT_BYTES:
            raise BatchInputError(
                f"{path}: {st.st_size // 2**20} MB, over the {MAX_INPUT_BYTES // 2**20} MB limit for a question file; "
                "split it"
            )
        os.set_blocking(fd, True)  # a pipe with a writer is then read to its end; one without reads as empty
        try:
            raw = fh.read(MAX_INPUT_BYTES + 1)
        except OSError as exc:
            raise BatchInputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    text = _decode(raw, str(path))
    if not text.strip() and stat.S_ISFIFO(st.st_mode):
        raise BatchInputError(f"{path} is a FIFO and nothing wrote questions to it")
    return text


def _parse_text(text: str, name: str) -> list[Item]:
    return [
        Item(n, ln.strip())
        for n, ln in enumerate(text.splitlines(), 1)
        if ln.strip() and not ln.strip().startswith("#")
    ]


def _parse_jsonl(text: str, name: str) -> list[Item]:
    items = []
    for n, ln in enumerate(text.splitlines(), 1):
        if not ln.strip() or ln.lstrip().startswith("#"):
            continue
        try:
            obj = json.loads(ln)
        except RecursionError:
            items.append(Item(n, None, error=f"line {n}: JSON nested too deeply to read"))
            continue
        except ValueError as exc:
            msg = f"{exc.msg}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else str(exc)
            items.append(Item(n, None, error=f"line {n}: not valid JSON ({msg})"))
            continue
        if not isinstance(obj, dict):
            items.append(Item(n, None, error=f"line {n}: expected a JSON object, got {type(obj).__name__}"))
            continue
        qid = obj.get("id")
        extra = {k: v for k, v in obj.items() if k not in ("id", "question")}
        question = obj.get("question")
        conv = obj.get("conversation")
        if question is None:
            items.append(Item(n, None, qid, extra, error=f'line {n}: no "question" field'))
        elif not isinstance(question, str):
            items.append(Item(n, None, qid, extra, error=f'line {n}: "question" must be a string'))
        elif conv is not None and (isinstance(conv, bool) or not isinstance(conv, (str, int))):
            items.append(Item(n, None, qid, extra, error=f'line {n}: "conversation" must be a string or an integer'))
        else:
            items.append(Item(n, question, qid, extra, conversation=_conversation(conv)))
    return items


def _conversation(value: Any) -> str | None:
    """The conversation key: None (an independent question) when absent or blank."""
    text = "" if value is None else str(value).strip()
    return text or None


def _parse_csv(text: str, name: str) -> list[Item]:
    reader = csv.DictReader(io.StringIO(text))
    columns = {(c or "").strip().lower(): c for c in reader.fieldnames or []}
    if "question" not in columns:
        raise BatchInputError(
            f"{name}: no 'question' column in the CSV header "
            f"({', '.join(c for c in reader.fieldnames or [] if c) or 'empty'})"
        )
    qcol, idcol, convcol = columns["question"], columns.get("id"), columns.get("conversation")
    items = []
    for row in reader:
        values = {k: v for k, v in row.items() if k is not None}
        if not any((v or "").strip() for v in values.values()):
            continue
        extra = {k: v for k, v in values.items() if k not in (qcol, idcol)}
        qid = (values.get(idcol) or "").strip() or None if idcol else None
        conv = _conversation(values.get(convcol)) if convcol else None
        items.append(Item(reader.line_num, values.get(qcol) or "", qid, extra, conversation=conv))
    return items


# -- records ----------------------------------------------------------------
