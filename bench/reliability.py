"""Reliability bench: kill -9 at random moments of `assistant ingest`, then ask, ingest and batch all at once.

Part 1 repeats N times (default 100): start `assistant ingest -v` on a corpus that adds papers to the index, kill it
with SIGKILL at an aimed moment, then check
from fresh processes that `assistant stats --json` works with no traceback and that `assistant sources --json` lists
exactly the old papers or exactly the new ones, never a mix. A round that ends on the new index is put back with
`assistant remove`. A killed run leaves its computed vectors in the embedding cache, so the next round resumes.

Where the kills land, in turn (a random delay alone rarely hits the short tail of a run, and a resumed run is faster
than the first): "anywhere", a random delay over the whole run (start-up, parsing, embedding, writing); "before the
flip", after the last batch is written (its `(100%)` progress line) and before the pointer switch; "switch-over",
after the switch (the "dropping old index generation" log line that follows it) and before the process ends
(dropping old generations, the snapshot). Each outcome is counted per window.

Part 2 runs R rounds (default 5) of one ingest (adding or removing the extra file), several `ask --json` and one
`batch` with short answers, all at the same time, and counts the commands that fail or print a traceback.

Real processes, real MiniLM, the bundled model, a temporary data dir: nothing of yours is touched.

    .venv/bin/python bench/reliability.py [--n 100] [--rounds 5] [--asks 3] [--papers 120] [--out FOLDER]

Prints the counts and writes reliability.json to --out (default: a folder in the system temp dir, never the
checkout).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, report  # noqa: E402

ASSISTANT = Path(sys.executable).with_name("assistant")
QUESTIONS = [
    "How do transformers generalize to longer inputs?",
    "Which optimizer keeps only a momentum state?",
    "What do the killed tomato papers measure?",
]


class Bench:
    def __init__(self, tmp: Path, papers: int, seed: int):
        self.data = tmp / "data"
        self.corpus = tmp / "corpus"
        self.env = {**os.environ, "ASSISTANT_DATA_DIR": str(self.data)}
        self.rng = random.Random(seed)
        shutil.copytree(ROOT / "seeds", self.corpus)
        rows = [
            {
                "title": f"Killed Paper Number {i} About Tomato Qubits",
                "abstract": f"Experiment {i} grows tomatoes in superposition and measures {i} qubits per plant. " * 12,
            }
            for i in range(papers)
        ]
        (self.corpus / "zz_new.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        self.questions = tmp / "questions.txt"
        self.questions.write_text("\n".join(QUESTIONS) + "\n")

    def run(self, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(ASSISTANT), *argv], env=self.env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
        )

    def start(self, *argv: str) -> subprocess.Popen:
        return subprocess.Popen(
            [str(ASSISTANT), *argv],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            start_new_session=True,  # its own process group: the kill reaches any child too
        )

    def state(self) -> tuple[str, frozenset[str], list[str]]:
        """('ok', paper ids, []) as a fresh reader sees the index, or ('error', ..., problems)."""
        problems = []
        stats = self.run("stats", "--json", timeout=120)
        if stats.returncode != 0 or "Traceback" in stats.stderr:
            problems.append(f"stats rc={stats.returncode}: {stats.stderr.strip()[-300:]}")
        sources = self.run("sources", "--json", timeout=120)
        if sources.returncode != 0 or "Traceback" in sources.stderr:
            problems.append(f"sources rc={sources.returncode}: {sources.stderr.strip()[-300:]}")
            return "error", frozenset(), problems
        ids = frozenset(json.loads(line)["id"] for line in sources.stdout.splitlines() if line.strip())
        if not problems and json.loads(stats.stdout)["papers"] != len(ids):
            problems.append(f"stats says {json.loads(stats.stdout)['papers']} papers, sources lists {len(ids)}")
        return ("error" if problems else "ok"), ids, problems

    def cache_files(self) -> int:
        return len(list((self.data / "embed-cache").rglob("*.npz")))


def must(p: subprocess.CompletedProcess, what: str) -> None:
    if p.returncode != 0:
        raise SystemExit(f"{what} failed (rc {p.returncode}): {p.stderr[-2000:]}")


FLIP_DONE = "dropping old index generation"  # logged (-v) right after the pointer switch
WINDOWS = ("anywhere", "before the flip", "switch-over")


def _watch(proc: subprocess.Popen, marks: dict[str, threading.Event], lines: list[str]) -> threading.Thread:
    """Read the ingest's stderr as it comes, setting marks["written"] at its (100%) line, marks["flipped"] at the
    log line after the pointer switch."""

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "(100%)" in line:
                marks["written"].set()
            if FLIP_DONE in line:
                marks["flipped"].set()

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return t


def kill_rounds(b: Bench, n: int, full_s: float, tail: dict[str, float], old: frozenset, new: frozenset) -> dict:
    outcomes: dict[str, Counter[str]] = {w: Counter() for w in WINDOWS}
    problems: list[str] = []
    resumed_rounds = finished_rounds = 0
    for i in range(n):
        if b.cache_files():
            resumed_rounds += 1
        window = WINDOWS[i % len(WINDOWS)]
        proc = b.start("ingest", str(b.corpus), "-v")
        marks = {"written": threading.Event(), "flipped": threading.Event()}
        lines: list[str] = []
        reader = _watch(proc, marks, lines)
        deadline = time.monotonic() + full_s * 4 + 60
        # The delay counts from the mark, not the start, so it lands in the window however fast this run is.
        if window == "anywhere":
            delay = b.rng.uniform(0.0, full_s * 1.2)
        elif window == "before the flip":
            marks["written"].wait(timeout=deadline - time.monotonic())
            delay = b.rng.uniform(0.0, tail["flip"])
        else:
            marks["flipped"].wait(timeout=deadline - time.monotonic())
            delay = b.rng.uniform(0.0, tail["end"])
        try:
            proc.wait(timeout=delay)
            finished = True
        except subprocess.TimeoutExpired:
            finished = False
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        reader.join(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
        finished_rounds += finished
        stderr = "".join(lines)
        if finished and proc.returncode != 0:
            problems.append(f"round {i}: the ingest failed by itself (rc {proc.returncode}): {stderr[-300:]}")
        status, ids, found = b.state()
        kind = "error" if status == "error" else "new" if ids == new else "old" if ids == old else "MIXED"
        outcomes[window][kind] += 1
        outcomes[window]["finished first"] += finished
        problems += [f"round {i} ({window}, {delay:.2f} s): {p}" for p in found]
        if kind == "MIXED":
            problems.append(f"round {i} ({window}, {delay:.2f} s): {len(ids)} papers, neither the old nor the new set")
        print(
            f"kill {i + 1}/{n} [{window}]: after {delay:5.2f} s -> {kind}{' (ran to the end)' if finished else ''}",
            flush=True,
        )
        if ids != old:
            must(b.run("remove", "zz_new.jsonl", "-q"), "remove (putting the old index back)")
    return {
        "outcomes": {w: dict(c) for w, c in outcomes.items()},
        "problems": problems,
        "resumed": resumed_rounds,
        "finished": finished_rounds,
    }


def timeline(b: Bench) -> tuple[float, dict[str, float]]:
    """One full ingest, timed: (its seconds, {"flip": from the (100%) line to the switch, "end": from the switch
    to the exit}), so that aimed kills know how long each window lasts."""
    t0 = time.monotonic()
    proc = b.start("ingest", str(b.corpus), "-v")
    marks = {"written": threading.Event(), "flipped": threading.Event()}
    lines: list[str] = []
    reader = _watch(proc, marks, lines)
    at: dict[str, float] = {}
    for name in ("written", "flipped"):
        marks[name].wait(timeout=900)
        at[name] = time.monotonic()
    proc.wait(timeout=900)
    end = time.monotonic()
    reader.join(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()
    if proc.returncode != 0 or len(at) < 2:
        raise SystemExit(f"a full ingest failed (rc {proc.returncode}): {''.join(lines)[-2000:]}")
    return end - t0, {"flip": max(0.05, at["flipped"] - at["written"]), "end": max(0.05, end - at["flipped"])}


def concurrent_rounds(b: Bench, rounds: int, asks: int, out: Path) -> dict:
    counts: dict[str, Counter[str]] = {k: Counter() for k in ("ingest", "ask", "batch", "stats")}
    problems: list[str] = []
    for r in range(rounds):
        ingest = ["ingest", str(b.corpus), "-q"] if r % 2 == 0 else ["remove", "zz_new.jsonl", "-q"]
        procs = [("ingest", b.start(*ingest, "--wait", "300"))]
        for q in range(asks):
            procs.append(("ask", b.start("ask", QUESTIONS[q % len(QUESTIONS)], "--json", "--max-tokens", "12")))
        procs.append(("batch", b.start("batch", str(b.questions), "-o", str(out), "--overwrite", "--max-tokens", "12")))
        procs.append(("stats", b.start("stats", "--json")))
        for kind, proc in procs:
            try:
                stdout, stderr = proc.communicate(timeout=600)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                stdout, stderr = proc.communicate()
                stderr += "\n(timed out)"
            ok = proc.returncode == 0 and "Traceback" not in stderr
            if ok and kind == "ask":
                ok = bool(json.loads(stdout).get("text"))
            if ok and kind == "batch":
                ok = len([l for l in out.read_text().splitlines() if l.strip()]) == len(QUESTIONS)
            counts[kind]["ok" if ok else "failed"] += 1
            if not ok:
                problems.append(f"round {r} {kind}: rc {proc.returncode}: {stderr.strip()[-400:]}")
        print(
            f"concurrent round {r + 1}/{rounds}: " + ", ".join(f"{k} {dict(v)}" for k, v in counts.items()), flush=True
        )
    return {"counts": {k: dict(v) for k, v in counts.items()}, "problems": problems}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100, help="kill -9 rounds")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of concurrent ask/ingest/batch")
    ap.add_argument("--asks", type=int, default=3, help="ask processes per concurrent round")
    ap.add_argument("--papers", type=int, default=120, help="papers the killed ingest adds")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--out",
        type=Path,
        default=Path(tempfile.gettempdir()) / "paper-assistant-bench",
        help="folder for reliability.json (default: %(default)s)",
    )
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-reliability-") as tmp:
        b = Bench(Path(tmp), args.papers, args.seed)
        must(b.run("ingest", str(ROOT / "seeds"), "-q"), "the first ingest")
        _, old, _ = b.state()
        full_s, tail = timeline(b)
        _, new, _ = b.state()
        must(b.run("remove", "zz_new.jsonl", "-q"), "remove")
        assert b.state()[1] == old and new > old
        print(
            f"old index {len(old)} papers, new {len(new)}; a full ingest takes {full_s:.1f} s "
            f"(last batch written -> switch {tail['flip']:.2f} s, switch -> exit {tail['end']:.2f} s)",
            flush=True,
        )

        t0 = time.perf_counter()
        kills = kill_rounds(b, args.n, full_s, tail, old, new)
        kill_s = time.perf_counter() - t0
        # the killed runs held the lock: the OS released it, so an ingest runs at once, and it drops their orphans
        final = b.run("ingest", str(b.corpus), "-q")
        final_ok = final.returncode == 0 and b.state()[1] == new
        from chromadb.api.shared_system_client import SharedSystemClient

        from assistant.config import load_settings
        from assistant.index.store import Store

        SharedSystemClient.clear_system_cache()
        collections = len(Store(load_settings(None, data_dir=b.data)).client.list_collections())
        conc = concurrent_rounds(b, args.rounds, args.asks, Path(tmp) / "answers.jsonl")

    per = kills["outcomes"]
    o: Counter[str] = Counter()
    for counts in per.values():
        o.update(counts)
    c = conc["counts"]
    rows = [
        ("kill -9 rounds", args.n, ""),
        ("index old after the kill", o.get("old", 0), "old or new"),
        ("index new after the kill", o.get("new", 0), "old or new"),
        ("index mixed", o.get("MIXED", 0), "0"),
        ("stats/sources failed", o.get("error", 0), "0"),
        ("rounds that resumed from the cache", kills["resumed"], ""),
        ("rounds that finished before the kill", kills["finished"], ""),
    ]
    for w in WINDOWS:
        k = per.get(w, {})
        killed = sum(k.get(x, 0) for x in ("old", "new", "MIXED", "error")) - k.get("finished first", 0)
        rows.append(
            (
                f"  {w}: old / new / mixed / failed (killed)",
                f"{k.get('old', 0)} / {k.get('new', 0)} / {k.get('MIXED', 0)} / {k.get('error', 0)} ({killed})",
                "",
            )
        )
    rows += [
        ("final ingest ok, orphans dropped", final_ok and collections == 2, "True"),
        ("concurrent rounds", args.rounds, ""),
        ("ask ok / failed", f"{c['ask'].get('ok', 0)} / {c['ask'].get('failed', 0)}", "all ok"),
        ("batch ok / failed", f"{c['batch'].get('ok', 0)} / {c['batch'].get('failed', 0)}", "all ok"),
        ("ingest ok / failed", f"{c['ingest'].get('ok', 0)} / {c['ingest'].get('failed', 0)}", "all ok"),
        ("stats ok / failed", f"{c['stats'].get('ok', 0)} / {c['stats'].get('failed', 0)}", "all ok"),
        ("full ingest s", round(full_s, 1), ""),
        ("kill rounds s", round(kill_s, 1), ""),
    ]
    report(
        "reliability",
        rows,
        {"problems": kills["problems"] + conc["problems"], "windows": per, "tail_s": tail},
        folder=args.out,
    )
    for p in (kills["problems"] + conc["problems"])[:20]:
        print("  problem:", p)


if __name__ == "__main__":
    main()
