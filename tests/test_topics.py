"""The topic stage on real text: the reference article plus counsel-chat answers, through the
load, segment and extract stages. Determinism, the tables, lemmas from extraction, fitting on a
sample of a large corpus, and updating a saved model with new units."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pandas as pd
import pytest

from pipeline.config import load_config
from pipeline.io import read_table
from pipeline.runner import stage_extract, stage_load, stage_segment
from pipeline.topics import (
    exact_knn,
    fit_sample,
    fit_topics,
    lemmatise,
    new_unit_share,
    save_model,
    topic_units,
    unit_lemmas,
    update_topics,
)
from tests.conftest import REFERENCE, REPO, shared_path

pytestmark = pytest.mark.slow

N_ANSWERS = 160  # counsel-chat answers in the base corpus
N_EXTRA = 12  # answers added for the update test


def _write_answers(source, target, start: int, stop: int) -> None:
    """Rows start..stop of counsel_chat.csv, with its header, as a new CSV."""
    with open(source, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    with open(target, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([rows[0], *rows[1 + start : 1 + stop]])


def _tables(inputs, out, config) -> dict[str, pd.DataFrame]:
    stage_load(inputs, out, config)
    stage_segment(out, config)
    stage_extract(out, config)
    try:
        lemmas = read_table(out, "lemmas")
    except KeyError:  # an extract stage without the lemmas table
        lemmas = None
    return {
        "segments": read_table(out, "segments"),
        "mentions": read_table(out, "mentions"),
        "lemmas": lemmas,
    }


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A fresh embedding cache that reuses the distilled model2vec model and compiled UMAP
    kernels of data/cache when they exist (building them is slow, not what is tested)."""
    target = tmp_path_factory.mktemp("cache")
    for name in ("model2vec-minilm-pca256", "numba"):
        source = REPO / "data" / "cache" / name
        if source.exists():
            shutil.copytree(source, target / name)
    return target


@pytest.fixture(scope="module")
def config(cache):
    return load_config(overrides={"embeddings": {"cache_dir": str(cache)}})


def _with(config, topics: dict):
    """The test config (its embedding cache) with some `topics` settings changed."""
    return load_config(
        overrides={"embeddings": {"cache_dir": str(config.embeddings.cache_dir)}, "topics": topics}
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, config):
    """Tables of the base corpus and of the grown one (base plus N_EXTRA answers)."""
    source = shared_path("counsel-chat", "counsel_chat.csv")
    work = tmp_path_factory.mktemp("topics")
    article = REPO / "data" / "raw" / "articles" / f"{REFERENCE}.txt"
    _write_answers(source, work / "base.csv", 0, N_ANSWERS)
    _write_answers(source, work / "extra.csv", N_ANSWERS, N_ANSWERS + N_EXTRA)
    base = _tables([article, work / "base.csv"], work / "base", config)
    grown = _tables([article, work / "base.csv", work / "extra.csv"], work / "grown", config)
    return {"base": base, "grown": grown, "work": work}


@pytest.fixture(scope="module")
def fitted(corpus, config):
    base = corpus["base"]
    return fit_topics(base["segments"], base["mentions"], config, base["lemmas"])


def test_topics_tables_are_consistent(corpus, config, fitted):
    units = topic_units(corpus["base"]["segments"], config.topics)
    topics, segment_topics = fitted.topics, fitted.segment_topics
    assert len(topics) >= 2, fitted.message
    assert sorted(segment_topics["segment_id"]) == sorted(units["segment_id"])
    assert topics["size"].sum() == len(units)
    assert set(segment_topics["topic_id"]) == set(topics["topic_id"])
    assert all(1 <= len(words) <= 10 for words in topics["top_words"])
    assert all(label and "," in label for label in topics["label"])
    shares = topics[["share_sign", "share_cause", "share_intervention"]]
    assert ((shares >= 0) & (shares <= 1)).all().all()
    assert (shares.sum(axis=1) > 0).any()  # mentions of the reference article land in topics
    per_doc = fitted.document_topics.groupby("doc_id")["share"].sum()
    assert np.allclose(per_doc, 1.0, atol=1e-3)
    representatives = {s for ids in topics["representative_segment_ids"] for s in ids}
    assert representatives <= set(units["segment_id"])
    assert set(fitted.coords["segment_id"]) == set(units.drop_duplicates("text")["segment_id"])


def test_identical_input_and_config_give_identical_topics(corpus, config, fitted):
    base = corpus["base"]
    again = fit_topics(base["segments"], base["mentions"], config, base["lemmas"])
    pd.testing.assert_frame_equal(again.topics, fitted.topics)
    pd.testing.assert_frame_equal(again.segment_topics, fitted.segment_topics)
    pd.testing.assert_frame_equal(again.document_topics, fitted.document_topics)


def test_lemmas_come_from_extraction_and_the_rest_from_a_cache(corpus, config, monkeypatch):
    base = corpus["base"]
    if base["lemmas"] is None or base["lemmas"].empty:
        pytest.skip("the extract stage wrote no lemmas table")
    units = topic_units(base["segments"], config.topics).head(40)
    table = base["lemmas"]
    half = table[table["segment_id"].isin(units["segment_id"].head(20))]
    first = unit_lemmas(units, half, config)
    by_id = dict(zip(table["segment_id"], table["lemmas"]))
    assert first[:20] == [by_id[s] for s in units["segment_id"].head(20)]
    assert first[20:] == lemmatise(units["text"].tolist()[20:], config)
    # The lemmatised units are cached by content: a second call parses nothing.
    monkeypatch.setattr("pipeline.topics.lemmatise", lambda *a: pytest.fail("parsed again"))
    assert unit_lemmas(units, half, config) == first
    # Extraction and the stand-alone lemmatiser apply the same filter.
    alone = lemmatise(units["text"].tolist()[:20], config)
    same = sum(a.split() == b.split() for a, b in zip(alone, first[:20]))
    assert same >= 15


def test_exact_knn_matches_brute_force(fitted):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 16)).astype(np.float32)
    indices, distances = exact_knn(vectors, 8, block=64)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cos = 1 - unit @ unit.T
    np.fill_diagonal(cos, -1)
    expected = np.argsort(cos, axis=1, kind="stable")[:, :8]
    assert (indices == expected).all()
    assert (indices[:, 0] == np.arange(300)).all() and (distances[:, 0] == 0).all()
    assert (np.diff(distances, axis=1) >= -1e-6).all()


def test_exact_knn_puts_each_point_first_among_its_exact_duplicates():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(40, 8)).astype(np.float32)
    vectors[10:14] = vectors[3]  # five copies of one vector: rows 3 and 10-13
    indices, distances = exact_knn(vectors, 6, block=7)
    copies = [3, 10, 11, 12, 13]
    for row in copies:
        # Itself first, then the other copies by index, all at distance 0.
        assert indices[row, :5].tolist() == [row] + [c for c in copies if c != row]
        assert np.allclose(distances[row, :5], 0.0, atol=1e-6)


def test_fit_sample_is_deterministic_and_covers_every_document(corpus, config):
    units = topic_units(corpus["base"]["segments"], config.topics).drop_duplicates("text")
    units = units.reset_index(drop=True)
    n_docs = units["doc_id"].nunique()
    assert len(units) > n_docs + 20
    mask = fit_sample(units, n_docs + 20, seed=42)
    assert mask.sum() == n_docs + 20
    assert (fit_sample(units, n_docs + 20, seed=42) == mask).all()
    assert set(units.loc[mask, "doc_id"]) == set(units["doc_id"])  # every document is in
    fewer = fit_sample(units, n_docs - 10, seed=42)  # one unit each from as many documents
    assert units.loc[fewer, "doc_id"].is_unique
    assert not (fit_sample(units, n_docs + 20, seed=7) == mask).all()  # the seed matters
    assert fit_sample(units, len(units), seed=42).all()


def test_large_corpus_is_fitted_on_a_sample_and_the_rest_assigned(corpus, config):
    base = corpus["base"]
    small = _with(config, {"max_fit_units": 120})
    result = fit_topics(base["segments"], base["mentions"], small, base["lemmas"])
    units = topic_units(base["segments"], small.topics)
    assert "fitted on 120 of" in result.message
    assert len(result.segment_topics) == len(units)
    assert (result.segment_topics["topic_id"] >= 0).all()
    assert result.topics["size"].sum() == len(units)
    assert len(result.coords) == 120  # the map shows the fitted units


def test_update_keeps_known_units_and_assigns_new_ones(corpus, config, fitted):
    grown = corpus["grown"]
    model_dir = save_model(fitted, corpus["work"] / "model-out", config)
    share = new_unit_share(model_dir, grown["segments"], config)
    assert 0 < share <= config.topics.refit_share
    previous = {
        "topics": fitted.topics,
        "segment_topics": fitted.segment_topics,
        "document_topics": fitted.document_topics,
        "topic_map": fitted.coords,
    }
    updated = update_topics(
        model_dir, previous, grown["segments"], grown["mentions"], grown["lemmas"], config
    )
    assert "no refit" in updated.message
    old = fitted.segment_topics.set_index("segment_id")
    new = updated.segment_topics.set_index("segment_id")
    kept = old.index.intersection(new.index)
    assert len(kept) == len(old)  # the base corpus's units are all still there
    assert (new.loc[kept, "topic_id"] == old.loc[kept, "topic_id"]).all()
    added = new.index.difference(old.index)
    assert len(added) > 0
    assert set(new.loc[added, "topic_id"]) <= set(fitted.topics["topic_id"])
    assert (new.loc[added, "probability"] > 0).all()
    assert updated.topics["size"].sum() == len(new)
    assert set(updated.document_topics["doc_id"]) == set(
        topic_units(grown["segments"], config.topics)["doc_id"]
    )
    # Words and labels are the saved model's; sizes are today's.
    same = updated.topics.set_index("topic_id")
    before = fitted.topics.set_index("topic_id")
    assert (same["label"] == before.loc[same.index, "label"]).all()
    assert (same["size"] >= before.loc[same.index, "size"]).all()


def test_a_changed_config_or_missing_model_means_refit(corpus, config, fitted, tmp_path):
    grown = corpus["grown"]
    assert new_unit_share(tmp_path / "none", grown["segments"], config) == 1.0
    model_dir = save_model(fitted, tmp_path, config)
    other = _with(config, {"relevance_lambda": 0.9})
    assert new_unit_share(model_dir, grown["segments"], other) == 1.0
    with pytest.raises(ValueError, match="refit"):
        update_topics(model_dir, {}, grown["segments"], grown["mentions"], None, other)


def test_too_few_units_give_one_topic_and_a_message(corpus, config):
    segments = corpus["base"]["segments"]
    units = topic_units(segments, config.topics)
    few = segments[segments["segment_id"].isin(units["segment_id"].head(3))]
    result = fit_topics(few, corpus["base"]["mentions"], config)
    assert result.model is None and "one topic" in result.message
    assert result.topics["topic_id"].tolist() == [0]
    assert result.topics["size"].tolist() == [3]


def test_find_returns_the_topic_whose_words_hold_the_term(corpus, config, fitted, tmp_path):
    from pipeline.topics import find_topics

    model_dir = save_model(fitted, tmp_path / "model", config)
    topics = fitted.topics[fitted.topics["topic_id"] >= 0]
    # The first word of one topic (the most relevant one; the next are re-ranked for
    # coherence) that is in no other topic's top words.
    counts = pd.Series([w for words in topics["top_words"] for w in words]).value_counts()
    topic_id, word = next(
        (t, w)
        for t, words in zip(topics["topic_id"], topics["top_words"])
        for w in words[:1]
        if counts[w] == 1
    )
    found = find_topics(model_dir, word, config, top_n=3)
    assert len(found) == min(3, len(topics))
    assert found["topic_id"].iloc[0] == topic_id, (word, found)
    assert found["word_weight"].is_monotonic_decreasing
    with pytest.raises(FileNotFoundError, match="no saved topic model"):
        find_topics(tmp_path / "missing", word, config)


def test_a_small_corpus_gets_minilm_and_ward_whatever_the_seed(corpus, config, fitted):
    """`auto`: this corpus (a few hundred units) is fitted with MiniLM and Ward, which involves
    no seed, so another `random_state` gives the very same units in the very same topics."""
    assert fitted.fitted == {"backend": "minilm", "clusterer": "ward"}
    base = corpus["base"]
    reseeded = _with(config, {"random_state": 7})
    again = fit_topics(base["segments"], base["mentions"], reseeded, base["lemmas"])
    pd.testing.assert_frame_equal(again.segment_topics, fitted.segment_topics)
    assert (fitted.topics["topic_id"] >= 0).sum() == min(
        config.topics.n_clusters, len(fitted.coords)
    )


def test_a_large_corpus_gets_model2vec_and_neighbour_ward_whatever_the_seed(
    corpus, config, tmp_path
):
    """Above `topics.small_corpus_units` (here 0), `auto` means model2vec and Ward along a
    neighbour graph, into `large_n_clusters` topics, with no seed involved; the saved model says
    so, and a later search embeds its term with that backend."""
    from pipeline.topics import corpus_backend, find_topics

    base = corpus["base"]
    settings = {"small_corpus_units": 0, "large_n_clusters": 12}
    large = _with(config, settings)
    result = fit_topics(base["segments"], base["mentions"], large, base["lemmas"])
    assert result.fitted == {"backend": "model2vec", "clusterer": "knn_ward"}
    assert (result.topics["topic_id"] >= 0).sum() == 12
    assert (result.segment_topics["topic_id"] >= 0).all()  # no outliers
    reseeded = _with(config, {**settings, "random_state": 7})
    again = fit_topics(base["segments"], base["mentions"], reseeded, base["lemmas"])
    pd.testing.assert_frame_equal(again.segment_topics, result.segment_topics)
    model_dir = save_model(result, tmp_path, large)
    # The saved model, not the corpus size, decides the backend of new units and terms.
    assert corpus_backend(config.topics, model_dir, base["segments"]) == "model2vec"
    assert corpus_backend(config.topics, None, base["segments"]) == "minilm"
    assert len(find_topics(model_dir, "sleep", config, top_n=2)) == 2


def test_neighbour_ward_finds_separate_groups_even_when_the_graph_is_in_pieces():
    """Three well-separated groups: each unit's nearest neighbours are all in its own group,
    so the graph has (at least) three pieces, which sklearn joins; the clusters are the groups."""
    from sklearn.metrics import adjusted_rand_score

    from pipeline.topics import KnnWard

    rng = np.random.default_rng(0)
    centres = np.eye(3, 16) * 10
    groups = np.repeat(np.arange(3), 40)
    points = centres[groups] + rng.normal(scale=0.5, size=(120, 16))
    labels = KnnWard(n_clusters=3, n_neighbors=5).fit_predict(points)
    assert adjusted_rand_score(groups, labels) == 1.0
    shuffled = rng.permutation(120)  # the same points in another order: the same grouping
    again = KnnWard(n_clusters=3, n_neighbors=5).fit_predict(points[shuffled])
    assert adjusted_rand_score(labels[shuffled], again) == 1.0


def test_minilm_with_guided_hdbscan_clusters(corpus, config):
    """Forced MiniLM with HDBSCAN and guided topics: BERTopic averages the seed words'
    embeddings into the units', so it must embed them with MiniLM too (model2vec's narrower
    vectors made every fit fall back to one topic)."""
    base = corpus["base"]
    forced = _with(config, {"backend": "minilm", "clusterer": "hdbscan", "guided": True})
    result = fit_topics(base["segments"], base["mentions"], forced, base["lemmas"])
    assert result.fitted == {"backend": "minilm", "clusterer": "hdbscan"}, result.message
    assert (result.topics["topic_id"] >= 0).sum() >= 2, result.message
