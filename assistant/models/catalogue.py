"""The model catalogue: catalogue.toml shipped in this package, read into `Entry` records.

A pull names either a catalogue entry (`qwen2.5-1.5b-instruct`) or any hub file as `REPO_ID/FILE.gguf`
(`Qwen/Qwen2.5-1.5B-Instruct-GGUF/qwen2.5-1.5b-instruct-q4_k_m.gguf`); `parse_spec` turns both into an Entry."""

from __future__ import annotations

import difflib
import re
import sys
from dataclasses import dataclass, fields
from functools import lru_cache
from importlib.resources import files

from assistant.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,95}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
SUGGESTED = "qwen2.5-1.5b-instruct"  # what the chat app's tip names: Apache-2.0, 1.1 GB, fits a laptop's RAM


@dataclass(frozen=True)
class Entry:
    name: str
    repo: str
    file: str
    revision: str = "main"
    params: str = ""
    quant: str = ""
    size_mb: int = 0
    ram_gb: float = 0.0
    layers: int = 0
    licence: str = ""
    measured: str = "not measured"
    sha256: str = ""


def load_catalogue(text: str) -> list[Entry]:
    """Entries from catalogue TOML text; a malformed entry is a packaging bug, reported by name."""
    known = {f.name for f in fields(Entry)}
    out: list[Entry] = []
    for raw in tomllib.loads(text).get("model", []):
        unknown = set(raw) - known
        if unknown or not {"name", "repo", "file"} <= set(raw):
            raise ValueError(f"catalogue entry {raw.get('name', '?')}: bad fields {sorted(unknown) or 'missing'}")
        out.append(Entry(**raw))
    return out


@lru_cache(maxsize=1)
def catalogue() -> tuple[Entry, ...]:
    return tuple(load_catalogue(files("assistant.models").joinpath("catalogue.toml").read_text(encoding="utf-8")))


def find(name: str) -> Entry | None:
    return next((e for e in catalogue() if e.name == name.lower()), None)


def name_for_file(filename: str) -> str:
    """The local name of a model pulled by REPO/FILE: its file name without .gguf, lower case, safe characters."""
    stem = filename.rsplit("/", 1)[-1]
    stem = stem[: -len(".gguf")] if stem.lower().endswith(".gguf") else stem
    name = re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-.") or "model"
    return name[:96]


def parse_spec(spec: str) -> Entry:
    """A catalogue name, or REPO_OWNER/REPO_NAME/PATH/FILE.gguf (the file may sit in a folder of the repo)."""
    spec = spec.strip()
    entry = find(spec)
    if entry is not None:
        return entry
    parts = spec.split("/")
    if len(parts) >= 3 and spec.lower().endswith(".gguf") and all(parts):
        file = "/".join(parts[2:])
        return Entry(name=name_for_file(file), repo="/".join(parts[:2]), file=file, measured="not measured")
    names = [e.name for e in catalogue()]
    close = difflib.get_close_matches(spec.lower(), names, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]}? " if close else ""
    raise ConfigError(
        f"{spec!r} is not in the model catalogue; {hint}the catalogue has: {', '.join(names)} "
        "(assistant models list --available), or pass a hub file as REPO_ID/FILE.gguf"
    )
