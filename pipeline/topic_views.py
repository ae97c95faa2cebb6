"""BERTopic's analysis views, computed from a run's tables: topics over time, topics per class,
a topic hierarchy and an intertopic distance map.

BERTopic computes these from a fitted model and the documents; here they come from the
`segment_topics`, `segments`, `documents` and `mentions` tables (and the cached unit
embeddings), so a report or a notebook can draw them for any finished run, also one whose
model was fitted on a sample or updated later. Every function returns a DataFrame with fixed
columns; `figures.py` draws them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CLASSES = ("site", "format", "category")  # what `topics_per_class` can group by


def _fitted(segment_topics: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    """Units with a real topic, with their document and offsets."""
    units = segment_topics[segment_topics["topic_id"] >= 0]
    return units.merge(
        segments[["segment_id", "doc_id", "start", "end"]], on="segment_id", how="inner"
    )


def _shares(counts: pd.DataFrame, group: str) -> pd.DataFrame:
    counts["share"] = (counts["n_units"] / counts.groupby(group)["n_units"].transform("sum")).round(
        4
    )
    return counts.sort_values([group, "topic_id"], ignore_index=True)


def topics_over_time(
    segment_topics: pd.DataFrame,
    segments: pd.DataFrame,
    documents: pd.DataFrame,
    time_bin: str,
) -> pd.DataFrame:
    """Units per topic and period of their document's `published` date.

    Args:
        time_bin: a pandas period alias: "Y" years, "Q" quarters, "M" months, "W" weeks.

    Returns:
        period, topic_id, n_units, share (of the period's units); documents without a date
        that parses are left out.
    """
    columns = ["period", "topic_id", "n_units", "share"]
    dates = pd.to_datetime(documents["published"], errors="coerce", utc=True, format="mixed")
    dated = pd.DataFrame({"doc_id": documents["doc_id"], "date": dates}).dropna()
    units = _fitted(segment_topics, segments).merge(dated, on="doc_id", how="inner")
    if units.empty:
        return pd.DataFrame(columns=columns)
    units["period"] = units["date"].dt.tz_localize(None).dt.to_period(time_bin).astype(str)
    counts = units.groupby(["period", "topic_id"]).size().rename("n_units").reset_index()
    return _shares(counts, "period")[columns]


def topics_per_class(
    segment_topics: pd.DataFrame,
    segments: pd.DataFrame,
    documents: pd.DataFrame,
    mentions: pd.DataFrame,
    by: str,
) -> pd.DataFrame:
    """Units per topic and class: the document's `site` or source `format`, or (`category`)
    the signs, causes and interventions mentioned in the topic's units.

    Returns:
        class, topic_id, n_units (mentions, for "category"), share (of the class's).
    """
    if by not in CLASSES:
        raise ValueError(f"topics per class by one of {', '.join(CLASSES)}, not {by!r}")
    columns = ["class", "topic_id", "n_units", "share"]
    units = _fitted(segment_topics, segments)
    if by == "category":
        located = mentions[["doc_id", "start", "category"]].merge(
            units[["doc_id", "start", "end", "topic_id"]].rename(
                columns={"start": "unit_start", "end": "unit_end"}
            ),
            on="doc_id",
        )
        inside = located[
            (located["start"] >= located["unit_start"]) & (located["start"] < located["unit_end"])
        ]
        grouped = inside.rename(columns={"category": "class"})
    else:
        grouped = units.merge(
            documents[["doc_id", by]].rename(columns={by: "class"}), on="doc_id", how="inner"
        )
        grouped["class"] = grouped["class"].fillna("").replace("", "(unknown)")
    if grouped.empty:
        return pd.DataFrame(columns=columns)
    counts = grouped.groupby(["class", "topic_id"]).size().rename("n_units").reset_index()
    return _shares(counts, "class")[columns]


def topic_vectors(
    segment_topics: pd.DataFrame, segments: pd.DataFrame, backend: str, cache_dir: str
) -> tuple[list[int], np.ndarray]:
    """Each topic's centroid: the mean embedding of its units (read from the embedding cache
    the topics stage filled), normalised."""
    from pipeline.embed import embed_cached

    units = _fitted(segment_topics, segments).merge(
        segments[["segment_id", "text"]], on="segment_id"
    )
    if units.empty:
        return [], np.zeros((0, 0))
    vectors = embed_cached(units["text"].tolist(), backend, cache_dir)
    topic_ids = sorted(set(units["topic_id"].tolist()))
    labels = units["topic_id"].to_numpy()
    centroids = np.vstack([vectors[labels == t].mean(axis=0) for t in topic_ids])
    norms = np.linalg.norm(centroids, axis=1, keepdims=True)
    return topic_ids, centroids / np.where(norms == 0, 1, norms)


def topic_hierarchy(topic_ids: list[int], vectors: np.ndarray) -> pd.DataFrame:
    """Which topics merge first: average-linkage clustering of the topic centroids by cosine
    distance (BERTopic's `hierarchical_topics` merges by its c-TF-IDF vectors instead).

    Returns:
        One row per merge: merge (its node id, continuing after the topic ids' positions),
        left and right (node ids; below len(topic_ids) a node is topic_ids[node]), distance,
        topics (the topic ids under the new node).
    """
    columns = ["merge", "left", "right", "distance", "topics"]
    if len(topic_ids) < 2:
        return pd.DataFrame(columns=columns)
    from scipy.cluster.hierarchy import linkage

    links = linkage(vectors, method="average", metric="cosine")
    members = {i: [t] for i, t in enumerate(topic_ids)}
    rows = []
    for k, (left, right, distance, _) in enumerate(links):
        node = len(topic_ids) + k
        members[node] = sorted(members[int(left)] + members[int(right)])
        rows.append(
            {
                "merge": node,
                "left": int(left),
                "right": int(right),
                "distance": round(float(distance), 4),
                "topics": members[node],
            }
        )
    return pd.DataFrame(rows, columns=columns)


def intertopic_map(
    topic_ids: list[int], vectors: np.ndarray, sizes: dict[int, int]
) -> pd.DataFrame:
    """Topics placed in two dimensions so that distances follow the cosine distances of their
    centroids (metric MDS, fixed seed), with their sizes: BERTopic's intertopic distance map.

    Returns:
        topic_id, x, y, size.
    """
    columns = ["topic_id", "x", "y", "size"]
    if not topic_ids:
        return pd.DataFrame(columns=columns)
    if len(topic_ids) < 3:  # nothing to lay out: a line at most
        coords = np.column_stack([np.arange(len(topic_ids), dtype=float), np.zeros(len(topic_ids))])
    else:
        from sklearn.manifold import MDS

        distances = np.clip(1 - vectors @ vectors.T, 0, 2)
        np.fill_diagonal(distances, 0)
        coords = MDS(
            n_components=2, metric="precomputed", init="random", n_init=4, random_state=0
        ).fit_transform(distances)
    return pd.DataFrame(
        {
            "topic_id": topic_ids,
            "x": np.round(coords[:, 0], 4),
            "y": np.round(coords[:, 1], 4),
            "size": [int(sizes.get(t, 0)) for t in topic_ids],
        },
        columns=columns,
    )
