"""Topic stage: BERTopic over segments, guided by the concept lexicon.

Every replaceable part is chosen in the `topics` config: the unit (sentence, paragraph or list
item), the embedding backend (`minilm` or `model2vec`), UMAP/HDBSCAN settings and the seed
topics. Best practices followed: pre-computed embeddings cached by content hash; UMAP with a fixed
random_state; HDBSCAN sized to the corpus; a CountVectorizer over spaCy lemmas whose stop words
include web boilerplate; KeyBERTInspired + MaximalMarginalRelevance representations; outlier
reduction by embeddings; guided topics from lexicon concepts that occur in the corpus.

Identical segments are fitted once (duplicates would form spurious dense clusters) and mapped
back to every segment that carries them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import Config, TopicsConfig
from pipeline.embed import embed_cached, get_encoder
from pipeline.extract import CATEGORIES, load_lexicon

_NUMBERISH = re.compile(r"^[\d.,%$-]+$")


@dataclass
class TopicResult:
    """Output tables of the topic stage, and the fitted model (None when too few units)."""

    topics: pd.DataFrame
    segment_topics: pd.DataFrame
    document_topics: pd.DataFrame
    model: object | None
    coords: pd.DataFrame  # segment_id, x, y: a 2-D map of the fitted units
    message: str = ""


def topic_units(segments: pd.DataFrame, cfg: TopicsConfig) -> pd.DataFrame:
    """The segments topics are fitted on: the configured kind, at least `min_words` long.

    For unit "item", list items are used where the article has them and paragraphs elsewhere.
    """
    if cfg.unit == "item":
        items = segments[segments["kind"] == "item"]
        paragraphs = segments[(segments["kind"] == "paragraph") & (segments["item_title"] == "")]
        units = pd.concat([items, paragraphs], ignore_index=True)
    else:
        units = segments[segments["kind"] == cfg.unit]
    units = units[units["text"].str.split().str.len() >= cfg.min_words]
    return units[["segment_id", "doc_id", "start", "end", "text"]].reset_index(drop=True)


@lru_cache(maxsize=2)
def _lemmatizer(model: str):
    """The spaCy pipeline up to the lemmatizer, loaded once per process."""
    from pipeline.nlp import load_model

    return load_model(model, exclude=("parser", "ner", "senter"))


def lemmatise(texts: list[str], config: Config) -> list[str]:
    """Lower-cased lemmas of content words, for the CountVectorizer (numbers dropped)."""
    nlp = _lemmatizer(config.spacy.model)
    out = []
    for doc in nlp.pipe(texts, batch_size=config.spacy.batch_size):
        out.append(
            " ".join(
                t.lemma_.lower()
                for t in doc
                if t.is_alpha and not t.is_stop and len(t) > 2 and not _NUMBERISH.match(t.text)
            )
        )
    return out


def seed_topics(mentions: pd.DataFrame, cfg: TopicsConfig) -> list[list[str]]:
    """Seed word lists from the lexicon concepts named most often in this corpus."""
    if mentions.empty:
        return []
    lexicon = {e["label"]: e for e in load_lexicon()}
    counts = mentions[mentions["concept"].isin(lexicon)].groupby("concept")["doc_id"].nunique()
    seeds = []
    for label in counts.sort_values(ascending=False).index[: cfg.max_seed_topics]:
        words = {
            w
            for phrase in [label, *lexicon[label]["patterns"][:4]]
            for w in re.findall(r"[a-z]{3,}", str(phrase).lower())
        }
        seeds.append(sorted(words))
    return seeds


def _encoder_model(backend: str, cache_dir: Path):
    """The underlying model BERTopic's representations embed words with."""
    encoder = get_encoder(backend, str(cache_dir))
    return encoder.model


def fit_topics(segments: pd.DataFrame, mentions: pd.DataFrame, config: Config) -> TopicResult:
    """Fit BERTopic on the topic units and build the `topics`, `segment_topics` and
    `document_topics` tables.

    Corpora too small to cluster give a single topic and a message instead of a crash.
    """
    cfg = config.topics
    units = topic_units(segments, cfg)
    unique = units.drop_duplicates("text").reset_index(drop=True)
    if len(unique) < cfg.min_units:
        return _single_topic(
            units,
            mentions,
            config,
            f"only {len(unique)} distinct units (topics.min_units is "
            f"{cfg.min_units}): one topic holds everything",
        )
    from bertopic import BERTopic
    from bertopic.representation import KeyBERTInspired, MaximalMarginalRelevance
    from bertopic.vectorizers import ClassTfidfTransformer
    from hdbscan import HDBSCAN
    from sklearn.feature_extraction.text import CountVectorizer
    from umap import UMAP

    texts = unique["text"].tolist()
    embeddings = embed_cached(texts, cfg.backend, config.embeddings.cache_dir)
    lemmas = lemmatise(texts, config)
    n = len(texts)
    min_cluster = max(cfg.min_cluster_size, int(n * cfg.min_cluster_share))
    umap_model = UMAP(
        n_neighbors=min(cfg.n_neighbors, n - 1),
        n_components=cfg.n_components,
        min_dist=0.0,
        metric="cosine",
        random_state=cfg.random_state,
        low_memory=True,
    )
    hdbscan_model = HDBSCAN(
        min_cluster_size=min_cluster,
        min_samples=cfg.min_samples,
        metric="euclidean",
        cluster_selection_method=cfg.cluster_selection_method,
        prediction_data=True,
    )
    # BERTopic fits the vectorizer on one joined document per topic, so min_df and max_df count
    # topics: a word in most topics' documents says nothing about any of them.
    vectorizer = CountVectorizer(
        stop_words=sorted(_stop_words(cfg)),
        ngram_range=(1, cfg.ngram_max),
        min_df=cfg.min_df,
        max_df=cfg.max_df,
    )
    # Top words come from c-TF-IDF diversified by MMR (they keep the co-occurrence that NPMI
    # rewards); KeyBERTInspired + MMR words, closer in meaning to the topic, make the labels.
    representation = {
        "Main": MaximalMarginalRelevance(diversity=cfg.mmr_diversity, top_n_words=10),
        "KeyBERT": [
            KeyBERTInspired(top_n_words=30, random_state=cfg.random_state),
            MaximalMarginalRelevance(diversity=cfg.mmr_diversity, top_n_words=10),
        ],
    }
    model = BERTopic(
        embedding_model=_encoder_model(cfg.backend, config.embeddings.cache_dir),
        umap_model=umap_model,
        hdbscan_model=hdbscan_model,
        vectorizer_model=vectorizer,
        ctfidf_model=ClassTfidfTransformer(
            reduce_frequent_words=True, bm25_weighting=cfg.bm25_weighting
        ),
        representation_model=representation,
        seed_topic_list=(seed_topics(mentions, cfg) or None) if cfg.guided else None,
        top_n_words=10,
        calculate_probabilities=False,
        verbose=False,
    )
    try:
        assigned, _ = model.fit_transform(lemmas, embeddings=embeddings)
    except (ValueError, TypeError) as exc:  # degenerate spaces (all units alike)
        return _single_topic(units, mentions, config, f"clustering failed ({exc}); one topic")
    if cfg.reduce_outliers and any(t == -1 for t in assigned) and len(set(assigned)) > 1:
        assigned = model.reduce_outliers(
            lemmas,
            assigned,
            strategy="embeddings",
            embeddings=embeddings,
            threshold=cfg.outlier_threshold,
        )
        model.update_topics(
            lemmas,
            topics=assigned,
            vectorizer_model=vectorizer,
            representation_model=representation,
        )
    coords = _coords(model, unique)
    return _tables(units, unique, np.asarray(assigned), embeddings, model, mentions, coords, "")


def _stop_words(cfg: TopicsConfig) -> set[str]:
    from spacy.lang.en.stop_words import STOP_WORDS

    return set(STOP_WORDS) | set(cfg.extra_stop_words)


def _coords(model, unique: pd.DataFrame) -> pd.DataFrame:
    """2-D coordinates of the units from the fitted UMAP space (first two PCA axes)."""
    reduced = getattr(model.umap_model, "embedding_", None)
    if reduced is None or len(reduced) != len(unique):
        return pd.DataFrame(columns=["segment_id", "x", "y"])
    from sklearn.decomposition import PCA

    xy = PCA(n_components=2, random_state=0).fit_transform(reduced)
    return pd.DataFrame({"segment_id": unique["segment_id"], "x": xy[:, 0], "y": xy[:, 1]})


def _tables(
    units: pd.DataFrame,
    unique: pd.DataFrame,
    assigned: np.ndarray,
    embeddings: np.ndarray,
    model,
    mentions: pd.DataFrame,
    coords: pd.DataFrame,
    message: str,
) -> TopicResult:
    # 1. Each unit's topic, spread back over duplicate texts; probability = cosine similarity
    #    of the unit to its topic's centroid.
    topic_of_text = dict(zip(unique["text"], assigned))
    vector_of_text = dict(zip(unique["text"], embeddings))
    centroids = {t: embeddings[assigned == t].mean(axis=0) for t in set(assigned.tolist())}
    segment_topics = units[["segment_id", "doc_id", "start", "end", "text"]].copy()
    segment_topics["topic_id"] = [int(topic_of_text[t]) for t in units["text"]]
    segment_topics["probability"] = [
        round(float(_cos(vector_of_text[t], centroids[topic_of_text[t]])), 4) for t in units["text"]
    ]
    # 2. Topic words (c-TF-IDF + MMR) and labels (KeyBERTInspired + MMR).
    words = _topic_words(model, sorted(centroids))
    label_words = _topic_words(model, sorted(centroids), aspect="KeyBERT")
    # 3. Share of sign/cause/intervention mentions among the mentions inside each topic's units.
    located = _locate_mentions(mentions, segment_topics)
    rows = []
    for topic_id in sorted(centroids):
        members = segment_topics[segment_topics["topic_id"] == topic_id]
        cats = located[located["topic_id"] == topic_id]["category"]
        total = max(len(cats), 1)
        representative = members.assign(order=-members["probability"]).sort_values(
            ["order", "segment_id"]
        )
        rows.append(
            {
                "topic_id": int(topic_id),
                "label": _label(topic_id, label_words[topic_id] or words[topic_id]),
                "top_words": words[topic_id][:10],
                "size": len(members),
                **{f"share_{c}": round(float((cats == c).sum() / total), 4) for c in CATEGORIES},
                "representative_segment_ids": representative["segment_id"].head(3).tolist(),
            }
        )
    topics = pd.DataFrame(rows)
    document_topics = (
        segment_topics.groupby(["doc_id", "topic_id"]).size().rename("n_segments").reset_index()
    )
    document_topics["share"] = (
        document_topics["n_segments"]
        / document_topics.groupby("doc_id")["n_segments"].transform("sum")
    ).round(4)
    segment_topics = segment_topics[["segment_id", "topic_id", "probability"]]
    return TopicResult(topics, segment_topics, document_topics, model, coords, message)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / denom if denom else 0.0


def _topic_words(model, topic_ids: list[int], aspect: str | None = None) -> dict[int, list[str]]:
    """Top words per topic, from the main representation or a named aspect."""
    words = {}
    aspects = getattr(model, "topic_aspects_", None) or {}
    for topic_id in topic_ids:
        if aspect is not None:
            pairs = aspects.get(aspect, {}).get(topic_id, [])
        else:
            pairs = model.get_topic(topic_id) if model is not None else []
        words[topic_id] = [w for w, _ in (pairs or []) if w][:10]
    return words


def _label(topic_id: int, words: list[str]) -> str:
    """A readable label: the three strongest distinct words ("-1" marks the outliers)."""
    picked: list[str] = []
    for word in words:
        if not any(word in p or p in word for p in picked):
            picked.append(word)
        if len(picked) == 3:
            break
    prefix = "outliers: " if topic_id == -1 else ""
    return prefix + (", ".join(picked) if picked else f"topic {topic_id}")


def _locate_mentions(mentions: pd.DataFrame, segment_topics: pd.DataFrame) -> pd.DataFrame:
    """The topic of the unit each mention lies in (by offsets within its document)."""
    if mentions.empty or segment_topics.empty:
        return pd.DataFrame(columns=["category", "topic_id"])
    rows = []
    units_by_doc = {d: g for d, g in segment_topics.groupby("doc_id")}
    for m in mentions.itertuples(index=False):
        units = units_by_doc.get(m.doc_id)
        if units is None:
            continue
        hit = units[(units["start"] <= m.start) & (units["end"] >= m.end)]
        if len(hit):
            rows.append({"category": m.category, "topic_id": int(hit["topic_id"].iloc[0])})
    return pd.DataFrame(rows, columns=["category", "topic_id"])


def _single_topic(
    units: pd.DataFrame, mentions: pd.DataFrame, config: Config, message: str
) -> TopicResult:
    """A degraded but valid result: every unit in topic 0, words by plain frequency."""
    from sklearn.feature_extraction.text import CountVectorizer

    words: list[str] = []
    if len(units):
        lemmas = lemmatise(units["text"].tolist(), config)
        try:
            vectorizer = CountVectorizer(stop_words=sorted(_stop_words(config.topics)))
            counts = np.asarray(vectorizer.fit_transform(lemmas).sum(axis=0)).ravel()
            vocab = vectorizer.get_feature_names_out()
            words = [vocab[i] for i in np.argsort(-counts, kind="stable")[:10]]
        except ValueError:  # empty vocabulary
            words = []
    unique = units.drop_duplicates("text").reset_index(drop=True)
    assigned = np.zeros(len(unique), dtype=int)
    embeddings = np.ones((len(unique), 1), dtype=np.float32)

    class _Words:  # the minimal model interface _tables needs
        @staticmethod
        def get_topic(topic_id):
            return [(w, 1.0) for w in words]

    result = _tables(
        units,
        unique,
        assigned,
        embeddings,
        _Words(),
        mentions,
        pd.DataFrame(columns=["segment_id", "x", "y"]),
        message,
    )
    result.model = None
    return result


def save_model(result: TopicResult, out_dir: Path, config: Config) -> Path | None:
    """Save the fitted BERTopic model with safetensors, and the versions that produced it."""
    if result.model is None:
        return None
    import importlib.metadata as md

    target = Path(out_dir) / "topic_model"
    result.model.save(str(target), serialization="safetensors", save_ctfidf=True)
    versions = {
        name: md.version(name)
        for name in (
            "bertopic",
            "umap-learn",
            "hdbscan",
            "scikit-learn",
            "model2vec",
            "sentence-transformers",
        )
    }
    (target / "versions.json").write_text(
        json.dumps(
            {"versions": versions, "topics_config": config.topics.model_dump(mode="json")},
            indent=2,
            sort_keys=True,
        ),
        encoding="utf-8",
    )
    return target
