"""Convert HealthVer rows (raw.jsonl, dev + test splits) into corpus.jsonl and questions.jsonl.

    python3 bench/data/qa/claims/convert.py

No network: reads raw.jsonl next to this file. Deterministic (seeded).
One question per unique claim; one corpus line per unique evidence text.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERDICT = {"Supports": "yes", "Refutes": "no", "Neutral": "maybe"}
TARGET = {"Neutral": 175, "Supports": 155, "Refutes": 130}
STOP = set(
    """a an the of to in on for and or but is are was were be been being it its this that these those with as by at
    from can could may might will would should do does did not no yes you your i we they he she them their our my me
    have has had than then so if into about also more most some any all only very just there here what which who how
    when where why such other both each many much one two new says said""".split()
)
NEG = {"no", "not", "without", "neither", "nor", "lack", "cannot", "unlikely", "never", "none", "insufficient"}
AUX = ["is", "are", "can", "may", "could", "will", "should", "was", "were", "has", "have", "might", "would"]
VERBS = {
    "causes": "cause",
    "spreads": "spread",
    "prevents": "prevent",
    "kills": "kill",
    "reduces": "reduce",
    "increases": "increase",
    "protects": "protect",
    "cures": "cure",
    "helps": "help",
    "affects": "affect",
    "works": "work",
    "boosts": "boost",
    "lowers": "lower",
    "raises": "raise",
    "treats": "treat",
    "leads": "lead",
    "makes": "make",
    "survives": "survive",
    "lasts": "last",
    "stops": "stop",
    "weakens": "weaken",
    "destroys": "destroy",
    "transmits": "transmit",
    "infects": "infect",
    "blocks": "block",
    "improves": "improve",
    "decreases": "decrease",
    "remains": "remain",
    "lives": "live",
    "damages": "damage",
    "attacks": "attack",
    "enters": "enter",
    "binds": "bind",
    "inhibits": "inhibit",
    "provides": "provide",
    "contains": "contain",
    "offers": "offer",
    "needs": "need",
    "requires": "require",
    "carries": "carry",
    "mutates": "mutate",
    "appears": "appear",
    "seems": "seem",
    "begins": "begin",
    "originated": None,
    "cause": "cause",
    "spread": "spread",
    "prevent": "prevent",
    "kill": "kill",
    "reduce": "reduce",
    "increase": "increase",
    "protect": "protect",
    "cure": "cure",
    "help": "help",
    "work": "work",
    "boost": "boost",
    "lower": "lower",
    "treat": "treat",
    "make": "make",
    "stop": "stop",
    "transmit": "transmit",
    "block": "block",
    "improve": "improve",
    "need": "need",
    "carry": "carry",
}
WRAPS = [
    "is it true that {c}?",
    "{c} - true?",
    "{c}?",
    "is there evidence that {c}?",
    "does the evidence support that {c}?",
    "true or false: {c}",
    "{c} - is that right?",
    "i read that {c}. is that correct?",
    "claim: {c}. supported?",
    "can anyone confirm {c}?",
    "{c} - fact or myth?",
    "is it accurate that {c}",
    "heard that {c} - true",
    "someone told me {c}, is that so?",
]
QUOTED_WRAPS = [
    'is this claim true: "{c}"',
    '"{c}" - true?',
    'true or false: "{c}"',
    'fact check: "{c}"',
    'does the evidence back this up: "{c}"',
    'is this accurate? "{c}"',
]


def words(text: str) -> list[str]:
    return text.split()


def key(w: str) -> str:
    w = re.sub(r"[^a-z0-9]", "", w.lower())
    return "" if w in STOP or len(w) < 2 else w[:5]


def answer_span(claim: str, evidence: str) -> str:
    """Window of 4-12 evidence words that shares the most content words with the claim."""
    cl = {key(w) for w in words(claim)} - {""}
    ew = words(evidence)
    best, best_score = None, -1e9
    for i in range(len(ew)):
        for n in range(4, 13):
            if i + n > len(ew):
                break
            win = ew[i : i + n]
            # do not cross a sentence end inside the window
            if any(re.search(r"[.!?;]$", w) for w in win[:-1]):
                break
            ks = {key(w) for w in win} - {""}
            hit = len(ks & cl)
            neg = any(re.sub(r"[^a-z]", "", w.lower()) in NEG for w in win)
            ends = bool(re.search(r"[.,;:!?)]$", win[-1])) or i + n == len(ew)
            starts = i == 0 or bool(re.search(r"[.,;:!?(]$", ew[i - 1]))
            score = (
                hit
                - 0.03 * abs(n - 8)
                + (0.3 if key(win[0]) else 0)
                + (0.3 if key(win[-1]) else 0)
                + 0.25 * ends
                + 0.15 * starts
                + 0.4 * neg
            )
            joined = " ".join(win)
            if joined.count("(") != joined.count(")") or joined.count("[") != joined.count("]"):
                score -= 0.6
            if not re.match(r"[\"'(]?[A-Za-z0-9]", win[0]) or re.match(r"-\d", win[0]):
                score -= 0.6
            if score > best_score:
                best, best_score = (i, n), score
    if best is None:
        span = ew
    else:
        span = ew[best[0] : best[0] + best[1]]
    text = " ".join(span)
    text = re.sub(r"\.?\(\d+\)?$", "", text)
    for _ in range(3):
        text = re.sub(r"^[\"'\[]+", "", text)
        text = re.sub(r"[\"',;:.\]]+$", "", text)
        if text.startswith("(") and text.count("(") > text.count(")"):
            text = text[1:]
        if text.endswith(")") and text.count(")") > text.count("("):
            text = text[:-1]
    if len(text.split()) < 3 or text.lower() not in " ".join(evidence.split()).lower():
        text = " ".join(ew[: min(len(ew), 8)])
    return text


def lower_first(c: str) -> str:
    first = c.split()[0] if c.split() else ""
    if len(first) > 1 and any(ch.isupper() for ch in first[1:]):
        return c
    return c[:1].lower() + c[1:]


def invert(c: str) -> str | None:
    """'X can Y' -> 'can X Y?', 'X causes Y' -> 'does X cause Y?' for short plain subjects."""
    if "?" in c or re.match(r"(?i)(yes|no)\b", c) or len(re.findall(r"[.!]\s", c)):
        return None
    ws = c.split()
    for i, w in enumerate(ws[:8]):
        lw = w.lower()
        if i == 0:
            continue
        subj = " ".join(ws[:i])
        if (
            "," in subj
            or ":" in subj
            or " - " in subj
            or "(" in subj
            or re.search(r"(?i)\b(that|which|who|if|when|because)\b", subj)
        ):
            return None
        rest = " ".join(ws[i + 1 :])
        if not rest:
            return None
        if lw in AUX:
            return f"{lw} {lower_first(subj)} {rest}?"
        if lw in VERBS and VERBS[lw]:
            plural = lw == VERBS[lw]
            aux = "do" if plural else "does"
            if plural and not re.search(r"s\b", subj.lower()):
                return None
            return f"{aux} {lower_first(subj)} {VERBS[lw]} {rest}?"
        if lw in {"not", "never", "doesn't", "don't", "isn't", "aren't", "won't", "can't", "cannot"}:
            return None
    return None


def untitle(c: str) -> str:
    """Headline Title Case -> lowercase words (all-caps acronyms kept), the way people retype a headline."""
    ws = c.split()
    shouty = sum(1 for w in ws if len(w) > 1 and w.isupper())
    if len(ws) >= 3 and shouty >= 0.5 * len(ws):
        return c.lower()
    caps = sum(1 for w in ws if w[:1].isupper())
    if len(ws) < 5 or caps < 0.6 * len(ws):
        return c
    return " ".join(w if sum(ch.isupper() for ch in w) > 1 else w.lower() for w in ws)


def make_question(claim: str, rng: random.Random) -> str:
    c = untitle(" ".join(claim.split()).strip())
    c_noend = re.sub(r"[.!]+$", "", c).strip()
    if "?" in c and not c.endswith("?"):
        # headline question plus its answer ("Will garlic cure it? No"): keep it whole, quoted
        return rng.choice(QUOTED_WRAPS).format(c=c)
    if c.endswith("?") and c.count("?") == 1:
        q = lower_first(c) if rng.random() < 0.5 else c
        return q
    multi = len(re.findall(r"[.!?]\s+[A-Z\"]", c)) > 0 or len(c.split()) > 35
    if multi:
        return rng.choice(QUOTED_WRAPS).format(c=c_noend)
    inv = invert(c_noend)
    if inv and rng.random() < 0.6:
        q = inv
    else:
        q = rng.choice(WRAPS).format(c=lower_first(c_noend))
    r = rng.random()
    if r < 0.35:
        q = q.lower()
    elif r < 0.45 and q.endswith("?"):
        q = q[:-1]
    return q


def main() -> None:
    rows = [json.loads(l) for l in (HERE / "raw.jsonl").read_text(encoding="utf-8").splitlines() if l.strip()]
    for r in rows:
        r["evidence"] = " ".join(r["evidence"].split())
        r["claim"] = " ".join(r["claim"].split())
        r["label"] = r["label"].strip()

    # corpus: every unique evidence text, titled by the smallest HealthVer row id carrying it
    ev_id: dict[str, int] = {}
    for r in rows:
        ev_id[r["evidence"]] = min(ev_id.get(r["evidence"], 10**9), int(r["id"]))
    title = {e: f"Evidence {i}" for e, i in ev_id.items()}
    with open(HERE / "corpus.jsonl", "w", encoding="utf-8") as out:
        for e, _i in sorted(ev_id.items(), key=lambda x: x[1]):
            out.write(json.dumps({"title": title[e], "abstract": e}, ensure_ascii=False) + "\n")

    by_claim: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_claim[r["claim"]].append(r)
    rng = random.Random(20240607)
    claims = sorted(by_claim)
    rng.shuffle(claims)
    # assign one label per claim: single-label claims first, then the rest by the largest remaining deficit
    claims.sort(key=lambda c: len({r["label"] for r in by_claim[c]}))
    count: Counter = Counter()
    chosen: dict[str, str] = {}
    for c in claims:
        labels = sorted({r["label"] for r in by_claim[c]})
        lab = max(labels, key=lambda l: (TARGET[l] - count[l], l))
        chosen[c] = lab
        count[lab] += 1

    n = 0
    seen_q = set()
    with open(HERE / "questions.jsonl", "w", encoding="utf-8") as out:
        for c in sorted(by_claim, key=lambda c: min(int(r["id"]) for r in by_claim[c])):
            lab = chosen[c]
            cands = [r for r in by_claim[c] if r["label"] == lab]
            cl = {key(w) for w in words(c)} - {""}

            def overlap(r, cl=cl):
                return len(cl & ({key(w) for w in words(r["evidence"])} - {""}))

            if lab == "Neutral":
                pick = min(cands, key=lambda r: int(r["id"]))
            else:
                pick = max(cands, key=lambda r: (overlap(r), -int(r["id"])))
            q = make_question(c, rng)
            while q.lower() in seen_q:
                q = rng.choice(WRAPS).format(c=lower_first(re.sub(r"[.!?]+$", "", c)))
            seen_q.add(q.lower())
            n += 1
            out.write(
                json.dumps(
                    {
                        "id": f"claims-{n}",
                        "corpus": "claims",
                        "kind": "yesno",
                        "question": q,
                        "gold_title": title[pick["evidence"]],
                        "answer": answer_span(c, pick["evidence"]),
                        "verdict": VERDICT[lab],
                        "claim": c,
                        "healthver_id": pick["id"],
                        "healthver_split": pick["split"],
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    print(n, "questions;", dict(count), ";", len(ev_id), "evidence texts")


if __name__ == "__main__":
    main()
