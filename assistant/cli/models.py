"""`assistant models list | pull | use | remove`: the models this user has, and a capable one in one command."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any


def add_parser(sub, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("models", help="list, pull, use or remove chat models (GGUF)")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    q = msub.add_parser("list", help="the bundled model and the pulled ones (* = in use)")
    q.add_argument("--json", action="store_true")
    q.add_argument("--available", action="store_true", help="the catalogue: what `pull NAME` can fetch")
    common(q)
    q = msub.add_parser("pull", help="download a catalogue model or REPO_ID/FILE.gguf (resumable, sha256-checked)")
    q.add_argument("spec", metavar="NAME|REPO_ID/FILE.gguf")
    q.add_argument("--force", action="store_true", help="download again even if installed")
    common(q)
    q = msub.add_parser("use", help="make an installed model the default (writes model_path to the config file)")
    q.add_argument("name")
    common(q)
    q = msub.add_parser("remove", help="delete a pulled model")
    q.add_argument("name")
    common(q)
    common(p)


def run(args) -> int:
    from assistant.cli.common import settings_from

    settings = settings_from(args)
    return {"list": _list, "pull": _pull, "use": _use, "remove": _remove}[args.models_command](args, settings)


def _mib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def _rows(settings) -> list[dict[str, Any]]:
    from assistant.errors import ModelError
    from assistant.models.gguf import read_gguf
    from assistant.models.installed import in_use, installed_models

    using = in_use(settings)
    rows = []
    for m in installed_models(settings):
        row: dict[str, Any] = {
            "name": m.name,
            "file": str(m.path),
            "size": m.size,
            "bundled": m.bundled,
            "in_use": using is not None and m.path.resolve() == using,
            "repo": m.record.get("repo"),
            "sha256": m.record.get("sha256"),
        }
        try:
            row.update(read_gguf(m.path).to_dict())
        except ModelError as exc:
            row["error"] = str(exc)
        rows.append(row)
    if using is not None and not any(r["in_use"] for r in rows):  # model_path names a file of the user's own
        row = {"name": "(model_path)", "file": str(using), "size": 0, "bundled": False, "in_use": True}
        try:
            row["size"] = using.stat().st_size
            row.update(read_gguf(using).to_dict())
        except OSError as exc:
            row["error"] = f"{using}: {exc.strerror or exc}"
        except ModelError as exc:
            row["error"] = str(exc)
        rows.append(row)
    return rows


def _list(args, settings) -> int:
    from assistant.models.catalogue import catalogue
    from assistant.models.gguf import params_label

    if args.available:
        have = {r["name"] for r in _rows(settings)}
        entries = [dict(vars(e), installed=e.name in have) for e in catalogue()]
        if args.json:
            print(json.dumps(entries, indent=1))
            return 0
        print(f"  {'NAME':<30} {'PARAMS':>6} {'QUANT':<7} {'SIZE':>9} {'RAM':>7}  LICENCE")
        for e in entries:
            mark = "i" if e["installed"] else " "
            print(
                f"{mark} {e['name']:<30} {e['params']:>6} {e['quant']:<7} {e['size_mb'] / 1000:>7.2f}GB"
                f" {e['ram_gb']:>5.1f}GB  {e['licence']}"
            )
            print(f"    {e['measured']}")
        print("\ni = installed. RAM is an estimate (file + KV cache + buffers). Pull one: assistant models pull NAME")
        return 0
    rows = _rows(settings)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    w = max([30, *(len(r["name"]) for r in rows)])  # a pulled file's name can be longer than a catalogue one
    print(f"  {'NAME':<{w}} {'SIZE':>9} {'PARAMS':>6} {'QUANT':<7} {'CONTEXT':>7} TEMPLATE  FILE")
    for r in rows:
        extra = " (bundled)" if r.get("bundled") else ""
        if "params" not in r:
            print(f"{'*' if r['in_use'] else ' '} {r['name']:<{w}} {_mib(r['size']):>9}  {r.get('error', '')}")
            continue
        print(
            f"{'*' if r['in_use'] else ' '} {r['name']:<{w}} {_mib(r['size']):>9} {params_label(r['params']):>6} "
            f"{r['quant']:<7} {r['context_length']:>7} {'yes' if r['chat_template'] else 'NO':<9} "
            f"{os.path.basename(r['file'])}{extra}"
        )
    if not args.quiet:
        print("\n* = in use.  More: assistant models list --available;  assistant models pull NAME", file=sys.stderr)
    return 0


@contextmanager
def _progress(args, label: str):
    """A (done, total) callback: a rich bar on a terminal, a plain line every 10 % otherwise, nothing with -q."""
    if args.quiet:
        yield None
        return
    if sys.stderr.isatty():
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        from assistant.cli.common import stderr_console

        with Progress(
            TextColumn(label),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=stderr_console(),
        ) as bar:
            task = bar.add_task(label, total=None)
            yield lambda done, total: bar.update(task, completed=done, total=total)
        return
    yield _Lines(label)


class _Lines:
    """Progress off a terminal (a log, a pipe): one plain line per 10 %, with the rate of this run."""

    def __init__(self, label: str):
        self.label, self.start, self.step, self.first = label, time.monotonic(), -1, -1

    def __call__(self, done: int, total: int) -> None:
        if self.first < 0:
            self.first = done
        step = done * 10 // total if total else 0
        if step == self.step:
            return
        self.step = step
        rate = (done - self.first) / max(time.monotonic() - self.start, 1e-6) / 2**20
        print(
            f"{self.label}: {done * 100 // max(total, 1):3d}%  {done / 2**20:.1f} of {total / 2**20:.1f} MiB"
            + (f"  {rate:.1f} MiB/s" if done > self.first else ""),
            file=sys.stderr,
            flush=True,
        )


def _pull(args, settings) -> int:
    from assistant.models.catalogue import parse_spec
    from assistant.models.hub import hub_endpoint, partial_bytes, pull
    from assistant.models.installed import models_dir

    entry = parse_spec(args.spec)
    kept = partial_bytes(settings, entry.name)
    if not args.quiet:
        print(f"pulling {entry.name}: {entry.repo}/{entry.file} from {hub_endpoint()}", file=sys.stderr)
        if kept:
            print(f"resuming: {kept / 2**20:.1f} MiB kept from an interrupted pull", file=sys.stderr)
    try:
        with _progress(args, entry.name) as cb:
            result = pull(settings, entry, progress=cb, force=args.force)
    except KeyboardInterrupt:
        kept = partial_bytes(settings, entry.name)
        print(
            f"interrupted: {kept / 2**20:.1f} MiB kept in {models_dir(settings)}; "
            f"run `assistant models pull {args.spec}` to resume",
            file=sys.stderr,
        )
        return 130
    m = result.model
    if result.already:
        print(f"{m.name} is already installed and up to date: {m.path}")
    else:
        sha = m.record.get("sha256", "?")
        resumed = f"resumed at {_mib(result.resumed_from)}, " if result.resumed_from else ""
        print(f"sha256 verified ({sha[:16]}...); {resumed}fetched {_mib(result.downloaded)}")
        print(f"installed {m.name}: {m.path}")
    print(f"use it: assistant models use {m.name}   (or once: assistant ask --model {m.name} ...)")
    return 0


def _use(args, settings) -> int:
    from assistant.errors import ConfigError
    from assistant.generate.llama import check_gguf
    from assistant.models.catalogue import find
    from assistant.models.installed import find_installed, installed_models
    from assistant.models.use import config_path, set_model_path

    m = find_installed(settings, args.name)
    if m is None:
        names = ", ".join(x.name for x in installed_models(settings))
        pull = f"; pull it first: assistant models pull {args.name}" if find(args.name) else ""
        raise ConfigError(f"no installed model named {args.name!r}{pull} (installed: {names})")
    check_gguf(m.path)
    path = config_path(args.config)
    set_model_path(path, None if m.bundled else str(m.path))
    what = "the bundled model (model_path removed)" if m.bundled else f"model_path = {m.path}"
    print(f"{path}: {what}; assistant ask, batch, chat and eval now use {m.name}")
    if os.environ.get("ASSISTANT_MODEL_PATH"):
        print("note: ASSISTANT_MODEL_PATH is set and overrides the config file", file=sys.stderr)
    return 0


def _remove(args, settings) -> int:
    from assistant.models.installed import in_use, remove_model

    using = in_use(settings)
    m = remove_model(settings, args.name)
    print(f"removed {m.name}")
    if using is not None and using.parent == m.path.parent.resolve():
        print(
            "note: it was the model in use; now: assistant models use smollm2-135m-instruct (or another)",
            file=sys.stderr,
        )
    return 0
