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


def _keyed(mentions: pd.DataFrame) -> pd.DataFrame:
    """Raw mentions with `key`: the lexicon's label, else the normalised wording."""
    out = mentions.copy()
    out["key"] = [
        lx if lx else concept_key(lemma) for lx, lemma in zip(out["lexicon_concept"], out["lemma"])
    ]
    return out


def _lexicon_labels(category: str) -> list[str]:
    """The lexicon's labels that a wording of `category` may join."""
    return sorted(
        {
            e["label"]
            for e in load_lexicon()
            if e["category"] == category or category in e.get("also", [])
        }
    )


def _free_keys(keys: pd.Series, lex_labels: list[str]) -> list[str]:
    """The distinct keys that are no lexicon label (case aside): they need embedding."""
    exact, lower = set(lex_labels), {label.lower() for label in lex_labels}
    return sorted({k for k in keys if k not in exact and k.lower() not in lower})


def concept_texts(mentions: pd.DataFrame) -> list[str]:
    """Every text `assign_concepts` embeds for these raw mentions, so that a caller can embed
    them ahead (on a pool of workers) and `assign_concepts` finds them cached."""
    out = _keyed(mentions)
    texts: list[str] = []
    for category in CATEGORIES:
        keys = out.loc[out["category"] == category, "key"]
        lex_labels = _lexicon_labels(category)
        free = _free_keys(keys, lex_labels)
        if free:
            texts += free + lex_labels
    return list(dict.fromkeys(texts))


def assign_concepts(mentions: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Add `concept` and `concept_id` to raw mentions (needs `lexicon_concept` and `lemma`)."""
    cfg = config.concepts
    out = _keyed(mentions)
    labels = {}
    for category in CATEGORIES:
        in_cat = out[out["category"] == category]
        if in_cat.empty:
            continue
        lex_labels = _lexicon_labels(category)
        lex_lower = {label.lower(): label for label in lex_labels}
        counts = Counter(in_cat["key"])
        free = _free_keys(in_cat["key"], lex_labels)
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
    """The `concepts` table: per concept, how many articles name it and how often.

    Grouped counts, not a loop over groups: the loop took about 30 s on 50,000 concepts.
    """
    keys = ["concept_id", "category", "concept"]
    columns = ["concept_id", "category", "label", "n_docs", "n_mentions", "variants"]
    if mentions.empty:
        return pd.DataFrame(columns=columns)
    grouped = mentions.groupby(keys)
    table = pd.DataFrame(
        {"n_docs": grouped["doc_id"].nunique(), "n_mentions": grouped.size()}
    ).reset_index()
    # The 20 most frequent lower-cased wordings per concept, ties in alphabetical order.
    wordings = mentions[keys].assign(variant=mentions["text"].str.lower())
    counts = wordings.groupby([*keys, "variant"]).size().rename("n").reset_index()
    counts = counts.sort_values([*keys, "n", "variant"], ascending=[True] * 3 + [False, True])
    variants = counts.groupby(keys, sort=False).head(20).groupby(keys)["variant"].agg(list)
    table = table.merge(variants.rename("variants").reset_index(), on=keys, how="left")
    table = table.rename(columns={"concept": "label"})[columns]
    return table.sort_values(
        ["category", "n_docs", "n_mentions", "concept_id"],
        ascending=[True, False, False, True],
        ignore_index=True,
    )
