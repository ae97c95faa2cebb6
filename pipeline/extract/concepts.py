"""Normalising mention wordings into concepts that recur across articles.

Three steps, cheapest first:
1. a mention the lexicon matched takes the lexicon's canonical label;
2. any other wording is reduced to a key (lemmas, no numbering, determiners or light verbs such
   as "practice" or "seek"), so "Fears of rejection" and "fear of rejection" meet;
3. keys are embedded; a key close to a lexicon label joins that concept, and the remaining keys
   are clustered (average linkage on cosine distance), each cluster taking its most frequent key
   as label. Thresholds are in the `concepts` config.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.embed import embed_cached
from pipeline.lexicon import CATEGORIES, load_lexicon

_DROP = {
    "a",
    "an",
    "the",
    "your",
    "my",
    "their",
    "his",
    "her",
    "our",
    "its",
    "one",
    "’s",
    "'s",
    "yourself",
    "oneself",
    "-",
}
_LIGHT_VERBS = (
    "practice",
    "practise",
    "cultivate",
    "engage in",
    "seek",
    "try",
    "learn to",
    "learn",
    "start",
    "embrace",
    "use",
    "find",
    "get",
    "have",
    "be",
    "do",
)
_SLUG = re.compile(r"[^a-z0-9]+")


def concept_key(lemma: str) -> str:
    """Normalised key of a mention from its lemmas."""
    words = [
        w for w in re.findall(r"[\w’'-]+", lemma.lower()) if w not in _DROP and not w.isdigit()
    ]
    text = " ".join(words)
    for verb in _LIGHT_VERBS:
        if text.startswith(verb + " ") and len(text.split()) > len(verb.split()) + 0:
            text = text[len(verb) + 1 :]
            break
    return text.strip()


def concept_id(category: str, label: str) -> str:
    """Stable ID of a concept."""
    return f"{category}:{_SLUG.sub('-', label.lower()).strip('-')}"


def _cluster(vectors: np.ndarray, similarity: float, max_keys: int) -> list[int]:
    """Cluster ids for unit vectors (rows ordered most frequent key first).

    Average linkage is quadratic in memory and time, so only the first `max_keys` rows are
    clustered; each later row joins the cluster whose mean vector it is closest to, when that dot
    product (its average cosine to the cluster's members, the very criterion of average linkage)
    reaches `similarity`, else it stays alone. Zero vectors (wordings the encoder has no
    dimension for) cannot be compared and stay alone.
    """
    n = len(vectors)
    labels = np.arange(n)
    usable = np.flatnonzero(np.linalg.norm(vectors, axis=1) > 1e-9)
    head, tail = usable[:max_keys], usable[max_keys:]
    if len(head) >= 2:
        from sklearn.cluster import AgglomerativeClustering

        model = AgglomerativeClustering(
            n_clusters=None, metric="cosine", linkage="average", distance_threshold=1 - similarity
        )
        labels[head] = n + model.fit_predict(vectors[head])
    if len(tail) and len(head):
        unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
        ids, inverse = np.unique(labels[head], return_inverse=True)
        centroids = np.zeros((len(ids), vectors.shape[1]))
        np.add.at(centroids, inverse, unit[head])
        centroids /= np.bincount(inverse)[:, None]
        scores = unit[tail] @ centroids.T
        best = scores.argmax(axis=1)
        joined = scores[np.arange(len(tail)), best] >= similarity
        labels[tail[joined]] = ids[best[joined]]
    return labels.tolist()


def assign_concepts(mentions: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Add `concept` and `concept_id` to raw mentions (needs `lexicon_concept` and `lemma`)."""
    cfg = config.concepts
    out = mentions.copy()
    keys = [
        lx if lx else concept_key(lemma) for lx, lemma in zip(out["lexicon_concept"], out["lemma"])
    ]
    out["key"] = keys
    labels = {}
    lexicon = load_lexicon()
    for category in CATEGORIES:
        in_cat = out[out["category"] == category]
        if in_cat.empty:
            continue
        lex_labels = sorted(
            {
                e["label"]
                for e in lexicon
                if e["category"] == category or category in e.get("also", [])
            }
        )
        lex_lower = {label.lower(): label for label in lex_labels}
        counts = Counter(in_cat["key"])
        free = sorted(k for k in counts if k not in lex_labels and k.lower() not in lex_lower)
        for k in counts:
            if k in lex_labels or k.lower() in lex_lower:
                labels[(category, k)] = lex_lower.get(k.lower(), k)
        if not free:
            continue
        vectors = embed_cached(free + lex_labels, cfg.backend, config.embeddings.cache_dir)
        free_vec, lex_vec = vectors[: len(free)], vectors[len(free) :]
        best = (free_vec @ lex_vec.T) if len(lex_labels) else np.zeros((len(free), 0))
        rest = []
        for i, key in enumerate(free):
            j = int(best[i].argmax()) if best.shape[1] else -1
            if j >= 0 and best[i, j] >= cfg.lexicon_similarity:
                labels[(category, key)] = lex_labels[j]
            else:
                rest.append(i)
        # Most frequent wordings first: they are the ones clustered exactly (see _cluster).
        rest.sort(key=lambda i: (-counts[free[i]], free[i]))
        clusters = _cluster(free_vec[rest], cfg.cluster_similarity, cfg.max_cluster_keys)
        members: dict[int, list[str]] = {}
        for i, cluster in zip(rest, clusters):
            members.setdefault(cluster, []).append(free[i])
        for group in members.values():
            label = min(group, key=lambda k: (-counts[k], len(k), k))
            for key in group:
                labels[(category, key)] = label
    out["concept"] = [labels.get((c, k), k) for c, k in zip(out["category"], out["key"])]
    out["concept_id"] = [concept_id(c, label) for c, label in zip(out["category"], out["concept"])]
    return out.drop(columns=["key"])


def concept_table(mentions: pd.DataFrame) -> pd.DataFrame:
    """The `concepts` table: per concept, how many articles name it and how often."""
    rows = []
    for (cid, category, label), group in mentions.groupby(["concept_id", "category", "concept"]):
        variants = Counter(t.lower() for t in group["text"])
        rows.append(
            {
                "concept_id": cid,
                "category": category,
                "label": label,
                "n_docs": group["doc_id"].nunique(),
                "n_mentions": len(group),
                "variants": [
                    v for v, _ in sorted(variants.items(), key=lambda kv: (-kv[1], kv[0]))
                ][:20],
            }
        )
    table = pd.DataFrame(
        rows, columns=["concept_id", "category", "label", "n_docs", "n_mentions", "variants"]
    )
    return table.sort_values(
        ["category", "n_docs", "n_mentions", "concept_id"],
        ascending=[True, False, False, True],
        ignore_index=True,
    )
