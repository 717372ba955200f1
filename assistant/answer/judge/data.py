"""The training data of the answer stage's decisions, read and split: bench/data/qa (its README gives each source).

Corpora by name (a corpus may span folders, as the bundled seeds span seeds-a/ and seeds-b/), each with its papers,
its questions and its literature questions (<corpus>-lit/); besides them, questions labelled only by their form
(forms/: yes/no or not; litforms/: one paper or the literature), and everyday questions (offtopic/). Papers are
split by a hash of their title: HIDDEN of the 20 buckets are left out of the index (their questions become
off-corpus questions sharing the corpus's words), VALIDATION buckets go to validation, the rest to train.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "bench" / "data" / "qa"
OUT = Path(__file__).resolve().parent / "calibration"
FORMS = "forms/questions.jsonl"
OFFTOPIC = "offtopic/questions.jsonl"
LITFORMS = "litforms/questions.jsonl"
HIDDEN, VALIDATION = 3, 4  # of 20 buckets: 15 % of papers held out of the index, 20 % for validation


def _settings(data_dir: Path | None = None):
    """Defaults (and the environment), never the user's config file: a fit must not depend on who runs it."""
    from assistant.config import Settings

    overrides: dict[str, Any] = {"data_dir": data_dir} if data_dir is not None else {}
    return Settings(**overrides)


def bucket(text: str) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16) % 20


def split_of(title: str) -> str:
    b = bucket(title)
    return "val" if HIDDEN <= b < HIDDEN + VALIDATION else "train" if b >= HIDDEN else ("val" if b == 0 else "train")


def hidden(title: str) -> bool:
    return bucket(title) < HIDDEN


def norm(text: str) -> str:
    return " ".join(text.lower().split())


@dataclass
class Corpus:
    name: str
    papers: dict[str, dict] = field(default_factory=dict)  # title -> record
    questions: list[dict] = field(default_factory=list)
    literature: list[dict] = field(default_factory=list)  # survey / compare / consensus questions (<corpus>-lit/)


def load_data(root: Path = DATA) -> tuple[dict[str, Corpus], str]:
    """Corpora by name (folders whose questions say the same corpus are one corpus), and the data's sha256."""
    corpora: dict[str, Corpus] = {}
    digest = hashlib.sha256()
    # Folders with a corpus of their own; then the literature questions (<corpus>-lit/), over those corpora.
    for folder in sorted(
        p for p in root.iterdir() if (p / "questions.jsonl").is_file() and (p / "corpus.jsonl").is_file()
    ):
        cfile, qfile = folder / "corpus.jsonl", folder / "questions.jsonl"
        for f in (cfile, qfile):
            digest.update(f.read_bytes())
        questions = [json.loads(line) for line in qfile.read_text(encoding="utf-8").splitlines() if line.strip()]
        name = questions[0].get("corpus", folder.name) if questions else folder.name
        c = corpora.setdefault(name, Corpus(name))
        for line in cfile.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                c.papers.setdefault(rec["title"], rec)
        c.questions += questions
    lit = [p / "questions.jsonl" for p in sorted(root.iterdir()) if p.name.endswith("-lit")]
    for qfile in [f for f in lit if f.is_file()]:
        digest.update(qfile.read_bytes())
        for line in qfile.read_text(encoding="utf-8").splitlines():
            if line.strip():
                q = json.loads(line)
                corpora[q["corpus"]].literature.append(q)
    for extra in (FORMS, OFFTOPIC, LITFORMS):
        if (root / extra).is_file():
            digest.update((root / extra).read_bytes())
    return corpora, digest.hexdigest()


def _lines(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def forms(root: Path = DATA) -> list[dict]:
    """Questions labelled only by their form (yes/no or not), over no corpus: bench/data/qa/forms/."""
    return _lines(root / FORMS)


def litforms(root: Path = DATA) -> list[dict]:
    """Questions labelled only by the answer they need (one paper, survey, compare, consensus): litforms/."""
    return _lines(root / LITFORMS)


def offtopic(corpus: str, names: list[str], root: Path = DATA) -> list[dict]:
    """This corpus's share of the questions about nothing any corpus holds (bench/data/qa/offtopic/): each goes
    to one corpus, by a hash of its text, so that no corpus's conversations are swamped by them."""
    rows = _lines(root / OFFTOPIC)
    return [q for q in rows if names[bucket(q["question"]) % len(names)] == corpus]


def question_split(q: dict) -> str:
    if q.get("split"):
        return q["split"]
    gold = q.get("gold_title") or (q.get("gold_titles") or [""])[0]
    if q.get("kind") == "conversation":
        gold = next((t["gold_title"] for t in q["turns"] if t.get("gold_title")), "")
    return split_of(gold) if gold else split_of(q.get("id", q.get("question", "")))


# The decisions a fit writes (empty: all). The others keep their committed weights, which the later fits read: a
# feature change to one decision is refitted without moving the rest by another CPU's float differences.
ONLY: set[str] = set()


def writes(name: str, write: bool) -> bool:
    return write and (not ONLY or name in ONLY)


def write_weights(name: str, payload: dict[str, Any], write: bool) -> None:
    if writes(name, write):
        (OUT / f"{name}.json").write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {(OUT / f'{name}.json').relative_to(ROOT)}")
