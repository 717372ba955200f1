"""Group the quoted sentences of a survey answer by theme, and name each group by its distinctive words.

Themes are clusters of the quotes' MiniLM vectors (average-linkage on cosine distance, scipy), at most one group
per PER_GROUP papers and never more than MAX_GROUPS: a reader scans three groups of four, not twelve lines. A
group is named by the words its quotes and titles use more than the other groups do, weighted by IDF.
"""

from __future__ import annotations

import math
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
    """Each group's distinctive words, as written: frequent in it, rare in the others and in the corpus.

    A word weighs the lesser of its corpus IDF (over abstract sentences) and its IDF among the texts being
    labelled: a word that every title uses (each title of a PubMed export starts "PubMed <id>") is rare in the
    abstracts but names no group."""
    counts = []
    surface: dict[str, Counter] = {}
    seen: Counter = Counter()  # in how many of the texts being labelled each stem occurs
    total = max(1, sum(len(g) for g in texts_by_group))
    for texts in texts_by_group:
        c: Counter = Counter()
        for t in texts:
            found = set(_WORD.findall(t))
            seen.update({stem(w.lower()) for w in found})
            for w in found:
                s = stem(w.lower())
                if w.lower() in STOPWORDS or s in avoid:
                    continue
                c[s] += 1
                surface.setdefault(s, Counter())[w if w.isupper() else w.lower()] += 1
        counts.append(c)
    out = []
    for i, c in enumerate(counts):
        others: Counter = Counter()
        for j, o in enumerate(counts):
            if j != i:
                others.update(o)
        size = max(1, len(texts_by_group[i]))
        rest = max(1, total - size)
        # Distinctive: more of this group's texts use it than of the others'. Words in two of its texts first;
        # a group whose shared words all are as common elsewhere is named by words of one text.
        distinct = [s for s in c if c[s] / size > others[s] / rest]
        shared = [s for s in distinct if c[s] >= min(2, size)] or distinct
        scored = sorted(
            ((c[s] / size - 0.5 * others[s] / rest) * min(idf.get(s, math.inf), math.log(1 + total / seen[s])), s)
            for s in shared
        )
        words = [surface[s].most_common(1)[0][0] for _, s in reversed(scored[-n:])]
        out.append(", ".join(words) or "other")
    return out
