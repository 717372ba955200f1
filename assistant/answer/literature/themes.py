"""Group the quoted sentences of a survey answer by theme, and name each group by its distinctive words.

Themes are clusters of the quotes' MiniLM vectors (average-linkage on cosine distance, scipy), at most one group
per PER_GROUP papers and never more than MAX_GROUPS: a reader scans three groups of four, not twelve lines. A
group is named by the words its quotes and titles use more than the other groups do, weighted by IDF.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from assistant.text import STOPWORDS, stem

MAX_GROUPS = 4
PER_GROUP = 3
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9-]{2,}")


def cluster(vectors: np.ndarray) -> list[int]:
    """A group number per row; one group for fewer than two groups' worth of papers."""
    n = len(vectors)
    groups = min(MAX_GROUPS, n // PER_GROUP)
    if groups < 2:
        return [0] * n
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(vectors, method="average", metric="cosine")
    labels = fcluster(tree, t=groups, criterion="maxclust")
    # Number the groups by their first member, so the largest-relevance paper's group comes first.
    order = list(dict.fromkeys(int(x) for x in labels))
    return [order.index(int(x)) for x in labels]


def label(texts_by_group: list[list[str]], idf: dict[str, float], avoid: set[str], n: int = 3) -> list[str]:
    """Each group's distinctive words, as written: frequent in it, rare in the others and in the corpus."""
    counts = []
    surface: dict[str, Counter] = {}
    for texts in texts_by_group:
        c: Counter = Counter()
        for t in texts:
            for w in set(_WORD.findall(t)):
                s = stem(w.lower())
                if w.lower() in STOPWORDS or s in avoid:
                    continue
                c[s] += 1
                surface.setdefault(s, Counter())[w if w.isupper() else w.lower()] += 1
        counts.append(c)
    top = max(idf.values(), default=1.0)
    out = []
    for i, c in enumerate(counts):
        others: Counter = Counter()
        for j, o in enumerate(counts):
            if j != i:
                others.update(o)
        size = max(1, len(texts_by_group[i]))
        scored = sorted(
            ((c[s] / size - 0.5 * others[s] / max(1, sum(len(g) for g in texts_by_group) - size)) * idf.get(s, top), s)
            for s in c
            if c[s] >= min(2, size)
        )
        words = [surface[s].most_common(1)[0][0] for _, s in reversed(scored[-n:])]
        out.append(", ".join(words) or "other")
    return out
