"""BERTopic's analysis views from hand-built tables: topics over time, per class, the
hierarchy and the intertopic map."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.topic_views import intertopic_map, topic_hierarchy, topics_over_time, topics_per_class


@pytest.fixture()
def tables():
    # Four documents, two units each; units of d1, d2 in topic 0, d3 in topic 1, d4 split.
    segments = pd.DataFrame(
        {
            "segment_id": [f"s{i}" for i in range(8)],
            "doc_id": ["d1", "d1", "d2", "d2", "d3", "d3", "d4", "d4"],
            "start": [0, 100] * 4,
            "end": [90, 190] * 4,
        }
    )
    segment_topics = pd.DataFrame(
        {
            "segment_id": [f"s{i}" for i in range(8)] + ["s9"],
            "topic_id": [0, 0, 0, 0, 1, 1, 0, 1, -1],
            "probability": [0.9] * 9,
            "language": ["en"] * 8 + ["es"],
        }
    )
    documents = pd.DataFrame(
        {
            "doc_id": ["d1", "d2", "d3", "d4"],
            "published": ["2019-02-03", "2019-11-30T10:00:00Z", "", "not a date"],
            "site": ["a.com", "a.com", "b.org", ""],
            "format": ["html", "html", "jsonl", "jsonl"],
        }
    )
    mentions = pd.DataFrame(
        {
            "doc_id": ["d1", "d3", "d3", "d4"],
            "start": [10, 5, 120, 150],
            "category": ["sign", "cause", "cause", "intervention"],
        }
    )
    return segment_topics, segments, documents, mentions


def test_topics_over_time_bins_dated_documents(tables):
    segment_topics, segments, documents, _ = tables
    quarters = topics_over_time(segment_topics, segments, documents, "Q")
    # Only d1 and d2 have dates that parse; both are topic 0.
    assert quarters[["period", "topic_id", "n_units", "share"]].values.tolist() == [
        ["2019Q1", 0, 2, 1.0],
        ["2019Q4", 0, 2, 1.0],
    ]
    years = topics_over_time(segment_topics, segments, documents, "Y")
    assert years["n_units"].tolist() == [4]


def test_topics_per_site_format_and_category(tables):
    segment_topics, segments, documents, mentions = tables
    site = topics_per_class(segment_topics, segments, documents, mentions, "site").set_index(
        ["class", "topic_id"]
    )
    assert site.loc[("a.com", 0), "n_units"] == 4 and site.loc[("a.com", 0), "share"] == 1.0
    assert site.loc[("(unknown)", 1), "share"] == 0.5  # d4 has no site
    fmt = topics_per_class(segment_topics, segments, documents, mentions, "format")
    assert fmt.groupby("class")["n_units"].sum().to_dict() == {"html": 4, "jsonl": 4}
    category = topics_per_class(segment_topics, segments, documents, mentions, "category")
    counted = category.set_index(["class", "topic_id"])["n_units"].to_dict()
    # Mentions are counted in the topic of the unit they sit in.
    assert counted == {("cause", 1): 2, ("intervention", 1): 1, ("sign", 0): 1}
    with pytest.raises(ValueError, match="per class by one of"):
        topics_per_class(segment_topics, segments, documents, mentions, "author")


def test_the_closest_topics_merge_first_and_sit_closest_on_the_map():
    vectors = np.array([[1.0, 0.0, 0.0], [0.99, 0.14, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    topic_ids = [3, 5, 7, 9]
    hierarchy = topic_hierarchy(topic_ids, vectors)
    assert len(hierarchy) == 3
    assert hierarchy["topics"].iloc[0] == [3, 5]
    assert hierarchy["topics"].iloc[-1] == [3, 5, 7, 9]
    assert hierarchy["distance"].is_monotonic_increasing
    layout = intertopic_map(topic_ids, vectors, {3: 10, 5: 4, 7: 7, 9: 1}).set_index("topic_id")
    xy = layout[["x", "y"]].to_numpy()
    distance = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    assert distance[0, 1] < min(distance[0, 2], distance[0, 3], distance[1, 2])
    assert layout["size"].tolist() == [10, 4, 7, 1]
    assert topic_hierarchy([3], vectors[:1]).empty
