"""Topic stage: BERTopic over segments, guided by the concept lexicon.

Every replaceable part is chosen in the `topics` config: the unit (sentence, paragraph or list
item), the embedding backend and the clusterer (`auto`: MiniLM and Ward's clustering for a small
corpus, model2vec and Ward's clustering along a nearest-neighbour graph for a large one; both
deterministic), topic merging, the top-word ranking and the seed topics. Best practices followed:
pre-computed embeddings cached by content hash; for the optional UMAP + HDBSCAN, UMAP with a
fixed random_state over an exact cosine neighbour graph and HDBSCAN sized to the corpus; a
CountVectorizer over spaCy lemmas whose stop words include web boilerplate; top words ranked by
LDAvis relevance, each word heading few topics, re-ranked towards words that co-occur; labels
re-ranked by MaximalMarginalRelevance, with
KeyBERTInspired + MMR words kept as an aspect; near-identical topics merged; outlier
reduction by embeddings; guided topics from lexicon concepts that occur in the corpus.

Identical segments are fitted once (duplicates would form spurious dense clusters) and mapped
back to every segment that carries them. Above `topics.max_fit_units` distinct units the model is
fitted on a deterministic sample and the other units join their nearest topic; `update_topics`
assigns the units of a grown corpus to a saved model the same way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.clean import language_of
from pipeline.config import Config, TopicsConfig
from pipeline.embed import embed_cached, get_encoder
from pipeline.lexicon import CATEGORIES, load_lexicon
from pipeline.nlp import content_lemma

# Bump when content_lemma's filter changes, so cached lemmas are not reused.
_LEMMA_VERSION = "1"
WARDS = ("ward", "knn_ward")  # deterministic clusterers: no UMAP, no seed, no merging
_UNIT_FILE = "units.parquet"  # in the model folder: the fitted units' text hashes and topics


@dataclass
class TopicResult:
    """Output tables of the topic stage, and the fitted model (None when too few units)."""

    topics: pd.DataFrame
    segment_topics: pd.DataFrame
    document_topics: pd.DataFrame
    model: object | None
    coords: pd.DataFrame  # segment_id, x, y: a 2-D map of the fitted units
    message: str = ""
    unit_hashes: pd.DataFrame | None = None  # segment_id, text_sha256, topic_id, probability
    fitted: dict | None = None  # the backend and clusterer `auto` resolved to


def _candidate_units(segments: pd.DataFrame, cfg: TopicsConfig) -> pd.DataFrame:
    """Segments of the configured kind, at least `min_words` long, with their language."""
    if cfg.unit == "item":
        items = segments[segments["kind"] == "item"]
        paragraphs = segments[(segments["kind"] == "paragraph") & (segments["item_title"] == "")]
        units = pd.concat([items, paragraphs], ignore_index=True)
    else:
        units = segments[segments["kind"] == cfg.unit]
    units = units[units["text"].str.split().str.len() >= cfg.min_words]
    units = units[["segment_id", "doc_id", "start", "end", "text"]].reset_index(drop=True)
    languages = tuple(cfg.other_languages)
    units["language"] = [language_of(t, languages) if languages else "" for t in units["text"]]
    return units


def topic_units(segments: pd.DataFrame, cfg: TopicsConfig) -> pd.DataFrame:
    """The segments topics are fitted on: the configured kind, at least `min_words` long, and
    not in another language than English (undecided units count as English).

    For unit "item", list items are used where the article has them and paragraphs elsewhere.

    Returns:
        segment_id, doc_id, start, end, text.
    """
    units = _candidate_units(segments, cfg)
    english = units["language"].isin(["en", ""])
    return units[english].drop(columns="language").reset_index(drop=True)


def other_language_units(segments: pd.DataFrame, cfg: TopicsConfig) -> pd.DataFrame:
    """The units `topic_units` leaves out for their language: segment_id, doc_id, start, end,
    text, language."""
    units = _candidate_units(segments, cfg)
    return units[~units["language"].isin(["en", ""])].reset_index(drop=True)


def with_other_languages(segment_topics: pd.DataFrame, others: pd.DataFrame) -> pd.DataFrame:
    """`segment_topics` with a `language` column ("en" for the fitted units) and one row per
    unit left out for its language (topic_id -1, probability 0): a reader sees which
    paragraphs the topics do not cover, and why."""
    fitted = segment_topics.assign(language="en")
    if others.empty:
        return fitted
    rows = pd.DataFrame(
        {
            "segment_id": others["segment_id"],
            "topic_id": -1,
            "probability": 0.0,
            "language": others["language"],
        }
    )
    return pd.concat([fitted, rows], ignore_index=True)


# --- lemmas -------------------------------------------------------------------------------


@lru_cache(maxsize=2)
def _lemmatizer(model: str):
    """The spaCy pipeline up to the lemmatizer, loaded once per process."""
    from pipeline.nlp import load_model

    return load_model(model, exclude=("parser", "ner", "senter"))


def lemmatise(texts: list[str], config: Config) -> list[str]:
    """Space-joined content lemmas of each text (the filter of `pipeline.nlp.content_lemma`)."""
    nlp = _lemmatizer(config.spacy.model)
    out = []
    for doc in nlp.pipe(texts, batch_size=config.spacy.batch_size):
        out.append(" ".join(lemma for t in doc if (lemma := content_lemma(t))))
    return out


def lemmatise_cached(texts: list[str], config: Config) -> list[str]:
    """`lemmatise`, reusing lemmas cached by (spaCy model, SHA-256 of the text).

    Like the embedding cache, each call that lemmatises new texts adds one shard file, written
    atomically, under `embeddings.cache_dir/lemmas-<model>`.
    """
    store = Path(config.embeddings.cache_dir) / f"lemmas-{config.spacy.model}-v{_LEMMA_VERSION}"
    store.mkdir(parents=True, exist_ok=True)
    keys = [_sha(t) for t in texts]
    cache: dict[str, str] = {}
    for shard in sorted(store.glob("shard-*.parquet")):
        table = pd.read_parquet(shard)
        cache.update(zip(table["key"], table["lemmas"]))
    todo = sorted({k: i for i, k in enumerate(keys) if k not in cache}.items())
    if todo:
        fresh = lemmatise([texts[i] for _, i in todo], config)
        digest = hashlib.sha256("".join(k for k, _ in todo).encode()).hexdigest()[:16]
        shard = store / f"shard-{digest}.parquet"
        tmp = shard.with_name(shard.name + ".tmp")
        pd.DataFrame({"key": [k for k, _ in todo], "lemmas": fresh}).to_parquet(tmp, index=False)
        os.replace(tmp, shard)
        cache.update(zip((k for k, _ in todo), fresh))
    return [cache[k] for k in keys]


def unit_lemmas(units: pd.DataFrame, lemmas: pd.DataFrame | None, config: Config) -> list[str]:
    """Lemmas of each unit: from the extract stage's `lemmas` table where it has the unit's
    segment_id, else lemmatised here (with the content-hash cache)."""
    known = {}
    if lemmas is not None and not lemmas.empty:
        known = dict(zip(lemmas["segment_id"], lemmas["lemmas"]))
    out = [known.get(s) for s in units["segment_id"]]
    missing = [i for i, v in enumerate(out) if v is None]
    if missing:
        fresh = lemmatise_cached([units["text"].iloc[i] for i in missing], config)
        for i, value in zip(missing, fresh):
            out[i] = value
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


# --- replaceable parts ----------------------------------------------------------------------


def exact_knn(vectors: np.ndarray, k: int, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours by cosine distance (each row's first neighbour is itself).

    One matrix product per block of rows: 20,000 units take a few seconds, with no index to
    build or compile. The k best of each row come from torch's `topk`, not numpy's
    `argpartition`: 0.1 s against 0.4-14 s per block of 2,048 rows by 35,700 units here.

    Returns:
        (indices int32 [n, k], cosine distances float32 [n, k]), nearest first; ties by index.
    """
    import torch

    x = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = torch.from_numpy(x / np.where(norms == 0, 1, norms))
    n = len(x)
    k = min(k, n)
    indices = np.empty((n, k), dtype=np.int32)
    distances = np.empty((n, k), dtype=np.float32)
    buffer = torch.empty((min(block, n), n))  # reused: a fresh block costs page faults here
    with torch.inference_mode():
        for start in range(0, n, block):
            sims = torch.matmul(x[start : start + block], x.T, out=buffer[: min(block, n - start)])
            rows = torch.arange(len(sims))
            # The point itself comes first, even among duplicates.
            sims[rows, rows + start] = torch.inf
            top = torch.topk(sims, k, dim=1)
            part, part_sims = top.indices.numpy(), top.values.numpy()
            order = np.lexsort((part, -part_sims), axis=1)  # by similarity, ties by index
            indices[start : start + block] = np.take_along_axis(part, order, axis=1)
            best = np.take_along_axis(part_sims, order, axis=1)
            distances[start : start + block] = np.clip(1.0 - best, 0.0, 2.0)
    distances[:, 0] = 0.0
    return indices, distances


@lru_cache(maxsize=1)
def _cache_umap_kernels(cache_dir: str) -> None:
    """Keep UMAP's compiled numba kernels on disk under `cache_dir`.

    umap-learn compiles them at the first fit of every process (about 15 s on two cores, more
    than the fit itself); pynndescent already caches its own kernels this way. The numba cache
    is keyed on the source file and the CPU, so a changed umap-learn recompiles.
    """
    import numba
    import umap.layouts
    import umap.umap_

    previous = numba.config.CACHE_DIR
    numba.config.CACHE_DIR = cache_dir  # read once, when each function's cache is created
    try:
        for kernel in (
            umap.umap_.smooth_knn_dist,
            umap.umap_.compute_membership_strengths,
            umap.umap_.fast_intersection,  # guided topics: UMAP with partial labels
            umap.layouts._nb_optimize_layout_euclidean_single_epoch,
        ):
            kernel.enable_caching()
    finally:
        numba.config.CACHE_DIR = previous


class ExactKnnUMAP:
    """UMAP over an exact cosine neighbour graph: BERTopic's dimensionality-reduction slot.

    umap-learn computes neighbours itself through a per-pair Python callback below 4,096 points
    (about 40 s for 3,000 units) and through pynndescent above; `exact_knn` does it in one
    matrix product. With a fixed random_state the layout is single-threaded and repeatable.
    """

    def __init__(
        self,
        n_neighbors: int,
        n_components: int,
        n_epochs: int,
        random_state: int,
        kernel_cache: Path | None = None,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.n_epochs = n_epochs
        self.random_state = random_state
        self.kernel_cache = kernel_cache
        self.embedding_: np.ndarray | None = None

    def fit(self, X: np.ndarray, y=None) -> ExactKnnUMAP:
        """Fit on embeddings X; y holds guided-topic labels (-1: none), as BERTopic passes them."""
        if self.kernel_cache is not None:
            _cache_umap_kernels(str(self.kernel_cache))
        from umap import UMAP

        k = min(self.n_neighbors, len(X) - 1)
        indices, distances = exact_knn(X, k)
        self.umap_ = UMAP(
            n_neighbors=k,
            n_components=self.n_components,
            n_epochs=self.n_epochs,
            min_dist=0.0,
            metric="cosine",
            random_state=self.random_state,
            precomputed_knn=(indices, distances, None),
        )
        with warnings.catch_warnings():  # a seed makes UMAP single-threaded: intended
            warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
            warnings.filterwarnings("ignore", message="precomputed_knn", category=UserWarning)
            self.umap_.fit(X, y=y)
        self.embedding_ = self.umap_.embedding_
        self._fitted = X
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """The fitted coordinates (BERTopic asks for those of the data it fitted on)."""
        if X is self._fitted or (X.shape == self._fitted.shape and np.array_equal(X, self._fitted)):
            return self.embedding_
        raise NotImplementedError("new units join their nearest topic: see assign_units()")


class RelevanceWords:
    """Top words ranked by relevance (Sievert & Shirley 2014, the LDAvis ranking).

    relevance(w, t) = lambda * log p(w|t) + (1 - lambda) * log(p(w|t) / p(w)): lambda = 1 ranks
    by frequency in the topic, lower values favour words exclusive to it, so that the few words
    every topic of a one-genre corpus uses (help, therapist, feel) stop crowding the lists.
    Probabilities come from the topic-level counts of the model's CountVectorizer.

    A BERTopic representation (duck-typed: `extract_topics`), used first in a list.
    """

    def __init__(
        self,
        relevance_lambda: float,
        min_count: int = 2,
        top_n_words: int = 30,
        max_topics_per_word: int | None = None,
        coherence_weight: float = 0.0,
    ):
        self.relevance_lambda = relevance_lambda
        self.min_count = min_count
        self.top_n_words = top_n_words
        self.max_topics_per_word = max_topics_per_word
        self.coherence_weight = coherence_weight

    def extract_topics(self, topic_model, documents, c_tf_idf, topics):
        labels = sorted(topics)
        joined = documents.groupby("Topic")["Document"].apply(" ".join)
        vectorizer = topic_model.vectorizer_model
        counts = vectorizer.transform([joined.get(t, "") for t in labels]).toarray()
        counts = counts.astype(np.float64)
        vocab = vectorizer.get_feature_names_out()
        p_word = counts.sum(axis=0) / max(counts.sum(), 1.0)
        lam = self.relevance_lambda
        share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
        owned = np.ones_like(counts, dtype=bool)
        if self.max_topics_per_word and len(labels) > self.max_topics_per_word:
            # A word names only the topics where it is most frequent (relative to the topic's
            # size), so that the words a whole genre shares do not head every list.
            rank = np.argsort(np.argsort(-share, axis=0, kind="stable"), axis=0, kind="stable")
            owned = rank < self.max_topics_per_word
        units = None
        if self.coherence_weight > 0:  # which units hold each word: co-occurrence
            units = (vectorizer.transform(documents["Document"]) > 0).astype(np.float64).tocsc()
        result = {}
        for row, topic in enumerate(labels):
            p_in_topic = share[row]
            with np.errstate(divide="ignore", invalid="ignore"):
                score = lam * np.log(p_in_topic) + (1 - lam) * np.log(p_in_topic / p_word)
            # Words below min_count, or owned by other topics, come last; absent words never.
            # Padded like BERTopic's own candidates, because MaximalMarginalRelevance expects
            # top_n_words of them.
            rare = (counts[row] < self.min_count) | ~owned[row]
            # Coherence re-ranking chooses among the 30 best candidates.
            pool = self.top_n_words if units is None else max(self.top_n_words, 30)
            order = np.lexsort((np.arange(len(score)), -score, rare))[:pool]
            order = [i for i in order if counts[row, i] > 0]
            if units is not None:
                order = self._coherent([i for i in order if not rare[i]], units) + [
                    i for i in order if rare[i]
                ]
            order = order[: self.top_n_words]
            words = [(vocab[i], float(score[i])) for i in order]
            result[topic] = words + [("", 1e-5)] * (self.top_n_words - len(words))
        return result

    def _coherent(self, pool: list[int], units) -> list[int]:
        """Re-rank a topic's candidate words (best first) so that each next word also co-occurs
        with those already chosen: score = (1 - w) * relevance rank (1 down to 0) + w * mean
        NPMI with the chosen words over the fitted units (w = coherence_weight). Words that
        appear together read as one theme; a list of individually exclusive but unrelated
        words does not."""
        if len(pool) < 3:
            return pool
        present = units[:, pool]
        n = units.shape[0]
        joint = (present.T @ present).toarray() / n
        single = np.diag(joint).copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            npmi = np.log(joint / np.outer(single, single)) / -np.log(joint)
        npmi[joint == 0] = -1.0
        npmi[joint >= 1] = 1.0  # words in every unit
        rank = np.linspace(1.0, 0.0, len(pool))
        w = self.coherence_weight
        chosen = [0]
        rest = list(range(1, len(pool)))
        while rest:
            gain = [(1 - w) * rank[c] + w * npmi[c, chosen].mean() for c in rest]
            best = rest.pop(int(np.argmax(gain)))
            chosen.append(best)
        return [pool[i] for i in chosen]


def _encoder_model(backend: str, guided: bool, cache_dir: Path):
    """The model BERTopic embeds words with: for its representations (labels, the KeyBERT
    aspect), model2vec whatever embedded the units, since embedding a few thousand single words
    and short lists with MiniLM made a fit of the 2,651 counsel-chat paragraphs 65 s slower;
    with guided topics, the units' own backend, because BERTopic averages the seed words'
    embeddings into the units' (same space, same width)."""
    return get_encoder(backend if guided else "model2vec", str(cache_dir)).model


def _stop_words(cfg: TopicsConfig) -> set[str]:
    from spacy.lang.en.stop_words import STOP_WORDS

    # Only words the vectorizer's tokenizer can produce ("'ll" and "n't" cannot).
    return {w for w in set(STOP_WORDS) | set(cfg.extra_stop_words) if re.fullmatch(r"\w\w+", w)}


def _representation(cfg: TopicsConfig) -> dict:
    """Top words: relevance-ranked or c-TF-IDF (`top_words`), then MMR if `mmr_diversity` is
    set. Labels: relevance candidates re-ranked by MMR. KeyBERTInspired + MMR words are kept as
    the model's "KeyBERT" aspect."""
    from bertopic.representation import KeyBERTInspired, MaximalMarginalRelevance

    # BERTopic expects the main representation to hold exactly top_n_words (10) per topic;
    # an empty list leaves its c-TF-IDF words.
    main: list = []
    if cfg.top_words == "relevance":
        top_n = 10 if cfg.mmr_diversity is None else 30
        main.append(
            RelevanceWords(
                cfg.relevance_lambda,
                cfg.relevance_min_count,
                top_n,
                cfg.max_topics_per_word,
                cfg.coherence_weight,
            )
        )
    if cfg.mmr_diversity is not None:  # MMR re-ranks 30 candidates by closeness to the topic
        main.append(MaximalMarginalRelevance(diversity=cfg.mmr_diversity, top_n_words=10))
    return {
        "Main": main,
        "Label": [
            RelevanceWords(
                cfg.relevance_lambda, cfg.relevance_min_count, 30, cfg.max_topics_per_word
            ),
            MaximalMarginalRelevance(diversity=cfg.label_mmr_diversity, top_n_words=10),
        ],
        "KeyBERT": [
            KeyBERTInspired(top_n_words=30, random_state=cfg.random_state),
            MaximalMarginalRelevance(diversity=cfg.label_mmr_diversity, top_n_words=10),
        ],
    }


def resolve_topics(cfg: TopicsConfig, n_units: int) -> TopicsConfig:
    """`cfg` with `auto` backend and clusterer decided for a corpus of `n_units` distinct units:
    MiniLM and Ward up to `small_corpus_units`, model2vec and Ward along a neighbour graph
    above (Ward's full distance matrix would not fit)."""
    small = n_units <= cfg.small_corpus_units
    update = {}
    if cfg.backend == "auto":
        update["backend"] = "minilm" if small else "model2vec"
    if cfg.clusterer == "auto":
        update["clusterer"] = "ward" if small else "knn_ward"
        if not small:
            update["n_clusters"] = cfg.large_n_clusters
    return cfg.model_copy(update=update)


def corpus_backend(
    cfg: TopicsConfig, model_dir: Path | None, segments: pd.DataFrame | None = None
) -> str:
    """The embedding backend of a corpus's topics: the saved model's when there is one (new
    units and search terms must be embedded as the fitted units were), else `cfg`'s resolved
    for the units of `segments`."""
    if cfg.backend != "auto":
        return cfg.backend
    if model_dir is not None:
        try:
            saved = json.loads((Path(model_dir) / "versions.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = {}
        fitted = (saved.get("fitted") or {}).get("backend")
        if fitted is None and saved.get("topics_config", {}).get("backend") != "auto":
            fitted = saved.get("topics_config", {}).get("backend")  # a model from before auto
        if fitted:
            return str(fitted)
    if segments is None:
        raise ValueError(f"no saved topic model in {model_dir} says which backend it used")
    n = topic_units(segments, cfg)["text"].nunique()
    return resolve_topics(cfg, n).backend


class KnnWard:
    """Ward's agglomerative clustering restricted to merges along a k-nearest-neighbour graph
    (cosine, exact): memory and time grow with n x k instead of n squared, so a corpus of tens
    of thousands of units is clustered whole, with no sample and no seed.

    BERTopic's clustering slot: `fit` sets `labels_`."""

    def __init__(self, n_clusters: int, n_neighbors: int) -> None:
        self.n_clusters = n_clusters
        self.n_neighbors = n_neighbors
        self.labels_: np.ndarray | None = None

    def fit(self, X: np.ndarray, y=None) -> KnnWard:
        from scipy.sparse import csr_matrix
        from sklearn.cluster import AgglomerativeClustering

        n = len(X)
        indices, _ = exact_knn(X, self.n_neighbors + 1)  # the first neighbour is the unit itself
        rows = np.repeat(np.arange(n), indices.shape[1])
        graph = csr_matrix((np.ones(rows.size), (rows, indices.ravel())), shape=(n, n))
        ward = AgglomerativeClustering(
            n_clusters=min(self.n_clusters, n), linkage="ward", connectivity=graph
        )
        with warnings.catch_warnings():
            # A graph in several pieces is joined by sklearn (deterministically), with a warning.
            warnings.filterwarnings("ignore", message=".*connected components.*")
            self.labels_ = ward.fit_predict(np.asarray(X, dtype=np.float64))
        return self

    def fit_predict(self, X: np.ndarray, y=None) -> np.ndarray:
        return self.fit(X).labels_


class WardSpace:
    """BERTopic's dimensionality-reduction slot for Ward clustering: the embeddings as they are
    (no seed involved); `embedding_` feeds the 2-D map."""

    def __init__(self) -> None:
        self.embedding_: np.ndarray | None = None

    def fit(self, X: np.ndarray, y=None) -> WardSpace:
        self.embedding_ = np.asarray(X)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X)


def _reducer(cfg: TopicsConfig, config: Config):
    """UMAP for the density and k-means clusterers; none for Ward (deterministic)."""
    if cfg.clusterer in WARDS:
        return WardSpace()
    return ExactKnnUMAP(
        n_neighbors=cfg.n_neighbors,
        n_components=cfg.n_components,
        n_epochs=cfg.umap_epochs,
        random_state=cfg.random_state,
        kernel_cache=Path(config.embeddings.cache_dir) / "numba",
    )


def _clusterer(cfg: TopicsConfig):
    """HDBSCAN (density clusters and outliers), k-means or Ward's agglomerative clustering
    (`topics.n_clusters` clusters, every unit in one), as `topics.clusterer` says."""
    if cfg.clusterer == "ward":
        from sklearn.cluster import AgglomerativeClustering

        return AgglomerativeClustering(n_clusters=cfg.n_clusters, linkage="ward")
    if cfg.clusterer == "knn_ward":
        return KnnWard(cfg.n_clusters, cfg.ward_neighbors)
    if cfg.clusterer == "kmeans":
        from sklearn.cluster import KMeans

        return KMeans(n_clusters=cfg.n_clusters, n_init=10, random_state=cfg.random_state)
    from hdbscan import HDBSCAN

    return HDBSCAN(
        min_cluster_size=cfg.min_cluster_size,  # raised to the corpus size in fit_topics
        min_samples=cfg.min_samples,
        metric="euclidean",
        cluster_selection_method=cfg.cluster_selection_method,
        prediction_data=True,
        # Its default (4 joblib workers for large corpora) leaves idle worker processes that
        # hold the interpreter's exit for their 300 s timeout; the result is the same.
        core_dist_n_jobs=1,
    )


def build_model(cfg: TopicsConfig, config: Config, seeds: list[list[str]] | None):
    """A BERTopic model with every part set from the `topics` config."""
    from bertopic import BERTopic
    from bertopic.vectorizers import ClassTfidfTransformer
    from sklearn.feature_extraction.text import CountVectorizer

    # BERTopic fits the vectorizer on one joined document per topic, so min_df and max_df count
    # topics, not units.
    vectorizer = CountVectorizer(
        stop_words=sorted(_stop_words(cfg)),
        ngram_range=(1, cfg.ngram_max),
        min_df=cfg.min_df,
        max_df=cfg.max_df,
    )
    return BERTopic(
        embedding_model=_encoder_model(cfg.backend, bool(seeds), config.embeddings.cache_dir),
        umap_model=_reducer(cfg, config),
        hdbscan_model=_clusterer(cfg),
        vectorizer_model=vectorizer,
        ctfidf_model=ClassTfidfTransformer(
            reduce_frequent_words=True, bm25_weighting=cfg.bm25_weighting
        ),
        representation_model=_representation(cfg),
        seed_topic_list=seeds or None,
        nr_topics=None if cfg.clusterer in WARDS else cfg.nr_topics,
        top_n_words=10,
        calculate_probabilities=False,
        verbose=False,
    )


# --- fitting --------------------------------------------------------------------------------


def fit_sample(units: pd.DataFrame, max_units: int, seed: int) -> np.ndarray:
    """A deterministic sample of at most `max_units` rows, stratified by document.

    Units are ordered within each document by a seeded hash of their text; every document then
    gives its first unit before any gives its second, and so on (round robin), so that long
    documents cannot crowd out short ones. The sample depends on the texts only.

    Returns:
        A boolean mask over `units` (all True when there are at most `max_units`).
    """
    if len(units) <= max_units:
        return np.ones(len(units), dtype=bool)
    rank = pd.Series([_sha(f"{seed}\x1f{t}") for t in units["text"]], index=units.index)
    order = pd.DataFrame({"doc": units["doc_id"], "rank": rank})
    order["turn"] = order.groupby("doc")["rank"].rank(method="first")
    chosen = order.sort_values(["turn", "rank"]).index[:max_units]
    mask = np.zeros(len(units), dtype=bool)
    mask[units.index.get_indexer(chosen)] = True
    return mask


def fit_topics(
    segments: pd.DataFrame,
    mentions: pd.DataFrame,
    config: Config,
    lemmas: pd.DataFrame | None = None,
) -> TopicResult:
    """Fit BERTopic on the topic units and build the `topics`, `segment_topics` and
    `document_topics` tables.

    Args:
        segments: the `segments` table.
        mentions: the `mentions` table (doc_id, category, concept, start, end).
        config: the pipeline config (`topics`, `embeddings`, `spacy`).
        lemmas: the extract stage's `lemmas` table (segment_id, lemmas); units it lacks are
            lemmatised here.

    Corpora too small to cluster give a single topic and a message instead of a crash.
    """
    cfg = config.topics
    units = topic_units(segments, cfg)
    unique = units.drop_duplicates("text").reset_index(drop=True)
    if unique.empty:
        return _single_topic(
            units,
            mentions,
            config,
            lemmas,
            f"no topic units (no {cfg.unit} of at least {cfg.min_words} words): no topics",
        )
    if len(unique) < cfg.min_units:
        return _single_topic(
            units,
            mentions,
            config,
            lemmas,
            f"only {len(unique)} distinct units (topics.min_units is "
            f"{cfg.min_units}): one topic holds everything",
        )
    # 1. Embeddings and lemmas of every distinct unit; the fit uses a sample of large corpora.
    cfg = resolve_topics(cfg, len(unique))
    config = config.model_copy(update={"topics": cfg})
    texts = unique["text"].tolist()
    embeddings = embed_cached(texts, cfg.backend, config.embeddings.cache_dir)
    docs = unit_lemmas(unique, lemmas, config)
    fit_mask = fit_sample(unique, cfg.max_fit_units, cfg.random_state)
    fit_idx = np.flatnonzero(fit_mask)
    fit_docs = [docs[i] for i in fit_idx]
    fit_vectors = embeddings[fit_idx]
    n = len(fit_idx)
    # 2. The model; HDBSCAN's minimum cluster size grows with the corpus.
    guided = cfg.guided and cfg.clusterer not in WARDS
    model = build_model(cfg, config, seed_topics(mentions, cfg) if guided else None)
    if cfg.clusterer in ("kmeans", *WARDS):
        # k-means and Ward need as many units as clusters.
        model.hdbscan_model.n_clusters = min(cfg.n_clusters, n)
    else:
        model.hdbscan_model.min_cluster_size = max(
            cfg.min_cluster_size, int(n * cfg.min_cluster_share)
        )
    try:
        # BERTopic moves guided units' embeddings towards their seed in place: pass a copy.
        assigned, _ = model.fit_transform(fit_docs, embeddings=fit_vectors.copy())
    except (ValueError, TypeError) as exc:  # degenerate spaces (all units alike)
        return _single_topic(
            units, mentions, config, lemmas, f"clustering failed ({exc}); one topic"
        )
    assigned = np.asarray(assigned)
    if not (assigned >= 0).any():  # HDBSCAN found no cluster: nothing for BERTopic to describe
        return _single_topic(
            units,
            mentions,
            config,
            lemmas,
            f"no cluster formed among {n:,} units (all outliers): one topic holds everything",
        )
    # 3. Outliers join their nearest topic; the topic words are then computed again.
    if cfg.reduce_outliers and (assigned == -1).any() and len(set(assigned.tolist())) > 1:
        assigned = np.asarray(
            model.reduce_outliers(
                fit_docs,
                assigned.tolist(),
                strategy="embeddings",
                embeddings=fit_vectors,
                threshold=cfg.outlier_threshold,
            )
        )
        # BERTopic warns that the topic embeddings become c-TF-IDF-weighted: _freeze replaces
        # them with centroids below.
        with _quiet_bertopic():
            model.update_topics(
                fit_docs,
                topics=assigned.tolist(),
                vectorizer_model=model.vectorizer_model,
                representation_model=_representation(cfg),
            )
    coords = _coords(model, unique.iloc[fit_idx])
    # 4. From here on the model assigns by nearest topic centroid, as a saved model does; the
    #    units left out of the fit sample join their topics that way.
    _freeze(model, assigned, fit_vectors)
    topic_of = np.empty(len(unique), dtype=int)
    topic_of[fit_idx] = assigned
    rest = np.flatnonzero(~fit_mask)
    message = ""
    if len(rest):
        topic_of[rest] = assign_units(model, [docs[i] for i in rest], embeddings[rest])[0]
        message = (
            f"fitted on {n:,} of {len(unique):,} distinct units (topics.max_fit_units); "
            "the others joined their nearest topic"
        )
    result = _tables(units, unique, topic_of, embeddings, model, mentions, coords, message)
    result.fitted = {"backend": cfg.backend, "clusterer": cfg.clusterer}
    return result


@contextmanager
def _quiet_bertopic():
    """BERTopic's logger at ERROR level for the duration (it has no per-call switch)."""
    logger = logging.getLogger("BERTopic")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _freeze(model, assigned: np.ndarray, vectors: np.ndarray) -> None:
    """Make the fitted model assign new units by cosine similarity to topic centroids.

    The centroids replace the c-TF-IDF-weighted topic embeddings that BERTopic computes after
    outlier reduction; without its UMAP and HDBSCAN parts, BERTopic.transform uses them, exactly
    as a model loaded from safetensors does.
    """
    from bertopic.cluster import BaseCluster
    from bertopic.dimensionality import BaseDimensionalityReduction

    topic_ids = sorted(set(assigned.tolist()))
    model.topic_embeddings_ = np.vstack([vectors[assigned == t].mean(axis=0) for t in topic_ids])
    model.umap_model = BaseDimensionalityReduction()
    model.hdbscan_model = BaseCluster()


def assign_units(model, docs: list[str], embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Topic and cosine similarity of new units to the nearest topic of a frozen or loaded model.

    Returns:
        (topic ids, similarities); never the outlier topic.
    """
    if not len(docs):
        return np.zeros(0, dtype=int), np.zeros(0)
    from sklearn.metrics.pairwise import cosine_similarity

    outliers = int(model._outliers)
    sims = cosine_similarity(embeddings, np.asarray(model.topic_embeddings_)[outliers:])
    best = np.argmax(sims, axis=1)
    return best.astype(int), sims[np.arange(len(best)), best]


def find_topics(model_dir: Path, term: str, config: Config, top_n: int = 5) -> pd.DataFrame:
    """The saved model's topics closest to `term`.

    Topics are ranked by the c-TF-IDF weight of the term's lemmas in each topic (the words
    the topic's units use), then by the cosine similarity between the term's embedding (the
    backend the topics were fitted with) and the topic's. A static embedding of one word is a
    weak guide, so the words decide wherever the term's lemmas occur in the corpus.

    Returns:
        topic_id, word_weight, similarity; at most `top_n` rows, closest first.

    Raises:
        FileNotFoundError: no saved model (a run with too few units fits none).
    """
    if not (Path(model_dir) / "topics.json").exists():
        raise FileNotFoundError(
            f"no saved topic model in {model_dir}: run the topics stage on a corpus with at "
            f"least topics.min_units ({config.topics.min_units}) distinct units first"
        )
    from bertopic import BERTopic
    from sklearn.metrics.pairwise import cosine_similarity

    with _quiet_bertopic():
        model = BERTopic.load(str(model_dir))
    outliers = int(model._outliers)
    backend = corpus_backend(config.topics, model_dir)
    vector = get_encoder(backend, config.embeddings.cache_dir).encode([term])
    sims = cosine_similarity(vector, np.asarray(model.topic_embeddings_)[outliers:])[0]
    vocabulary = {w: i for i, w in enumerate(model.vectorizer_model.get_feature_names_out())}
    columns = [vocabulary[w] for w in lemmatise([term], config)[0].split() if w in vocabulary]
    weights = np.zeros(len(sims))
    if columns:
        ctfidf = model.c_tf_idf_[outliers:]
        weights = np.asarray(ctfidf[:, columns].sum(axis=1)).ravel()[: len(sims)]
    order = np.lexsort((-sims, -weights))[:top_n]
    return pd.DataFrame(
        {
            "topic_id": order.astype(int),
            "word_weight": np.round(weights[order], 4),
            "similarity": np.round(sims[order], 4),
        }
    )


def _coords(model, unique: pd.DataFrame) -> pd.DataFrame:
    """2-D coordinates of the fitted units from the clustering space (UMAP, or the embeddings
    for Ward): its first two PCA axes."""
    reduced = getattr(model.umap_model, "embedding_", None)
    if reduced is None or len(reduced) != len(unique):
        return pd.DataFrame(columns=["segment_id", "x", "y"])
    from sklearn.decomposition import PCA

    xy = PCA(n_components=2, random_state=0).fit_transform(reduced)
    return pd.DataFrame({"segment_id": unique["segment_id"].values, "x": xy[:, 0], "y": xy[:, 1]})


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
    assigned = np.asarray(assigned)
    topic_of_text = dict(zip(unique["text"], assigned))
    vector_of_text = dict(zip(unique["text"], embeddings))
    centroids = {t: embeddings[assigned == t].mean(axis=0) for t in set(assigned.tolist())}
    segment_topics = units[["segment_id", "doc_id", "start", "end", "text"]].copy()
    segment_topics["topic_id"] = [int(topic_of_text[t]) for t in units["text"]]
    segment_topics["probability"] = [
        round(float(_cos(vector_of_text[t], centroids[topic_of_text[t]])), 4) for t in units["text"]
    ]
    words = _topic_words(model, sorted(centroids))
    label_words = _topic_words(model, sorted(centroids), aspect="Label")
    labels = {t: _label(t, label_words[t] or words[t]) for t in sorted(centroids)}
    result = _summarise(segment_topics, words, labels, mentions, model, coords, message)
    result.unit_hashes = _unit_hashes(segment_topics, units)
    return result


def _unit_hashes(segment_topics: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    """Each unit's text hash with its topic: what a later run compares to find new units."""
    return pd.DataFrame(
        {
            "segment_id": segment_topics["segment_id"],
            "text_sha256": [_sha(t) for t in units["text"]],
            "topic_id": segment_topics["topic_id"],
            "probability": segment_topics["probability"],
        }
    )


def _summarise(
    segment_topics: pd.DataFrame,
    words: dict[int, list[str]],
    labels: dict[int, str],
    mentions: pd.DataFrame,
    model,
    coords: pd.DataFrame,
    message: str,
) -> TopicResult:
    """The three tables from each unit's topic (segment_topics also needs doc_id, start, end).

    Topics with no units left are dropped.
    """
    # 1. Share of sign/cause/intervention mentions among the mentions inside each topic's units.
    located = _locate_mentions(mentions, segment_topics)
    rows = []
    for topic_id in sorted(set(segment_topics["topic_id"].tolist())):
        members = segment_topics[segment_topics["topic_id"] == topic_id]
        cats = located[located["topic_id"] == topic_id]["category"]
        total = max(len(cats), 1)
        # 2. Representative units: the closest to the centroid, ties by segment_id.
        representative = members.assign(order=-members["probability"]).sort_values(
            ["order", "segment_id"]
        )
        rows.append(
            {
                "topic_id": int(topic_id),
                "label": labels.get(topic_id, f"topic {topic_id}"),
                "top_words": list(words.get(topic_id, []))[:10],
                "size": len(members),
                **{f"share_{c}": round(float((cats == c).sum() / total), 4) for c in CATEGORIES},
                "representative_segment_ids": representative["segment_id"].head(3).tolist(),
                "note": message,
            }
        )
    if not rows:  # no units at all: one row that says why, so the table is never silent
        rows.append(
            {
                "topic_id": -1,
                "label": "no topics",
                "top_words": [],
                "size": 0,
                **{f"share_{c}": 0.0 for c in CATEGORIES},
                "representative_segment_ids": [],
                "note": message or "no topic units",
            }
        )
    topics = pd.DataFrame(rows)
    # 3. Per-document distribution: the share of each document's units in each topic.
    document_topics = (
        segment_topics.groupby(["doc_id", "topic_id"]).size().rename("n_segments").reset_index()
    )
    document_topics["share"] = (
        document_topics["n_segments"]
        / document_topics.groupby("doc_id")["n_segments"].transform("sum")
    ).round(4)
    segment_topics = segment_topics[["segment_id", "topic_id", "probability"]].reset_index(
        drop=True
    )
    return TopicResult(topics, segment_topics, document_topics, model, coords, message)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / denom if denom else 0.0


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
    """The topic of the unit each mention lies in (by offsets within its document).

    Units of one kind do not overlap, so the candidate is the unit of the same document that
    starts last at or before the mention; it holds the mention if it also ends after it.
    """
    if mentions.empty or segment_topics.empty:
        return pd.DataFrame(columns=["category", "topic_id"])
    left = mentions[["doc_id", "start", "end", "category"]].astype({"start": "int64"})
    right = segment_topics[["doc_id", "start", "end", "topic_id"]].astype({"start": "int64"})
    hits = pd.merge_asof(
        left.sort_values("start"),
        right.rename(columns={"end": "unit_end"}).sort_values("start"),
        on="start",
        by="doc_id",
        direction="backward",
    )
    hits = hits[hits["unit_end"].notna() & (hits["unit_end"] >= hits["end"])]
    return hits[["category", "topic_id"]].astype({"topic_id": int}).reset_index(drop=True)


def _single_topic(
    units: pd.DataFrame,
    mentions: pd.DataFrame,
    config: Config,
    lemmas: pd.DataFrame | None,
    message: str,
) -> TopicResult:
    """A degraded but valid result: every unit in topic 0, words by plain frequency."""
    from sklearn.feature_extraction.text import CountVectorizer

    words: list[str] = []
    unique = units.drop_duplicates("text").reset_index(drop=True)
    if len(unique):
        try:
            vectorizer = CountVectorizer(stop_words=sorted(_stop_words(config.topics)))
            counts = vectorizer.fit_transform(unit_lemmas(unique, lemmas, config))
            counts = np.asarray(counts.sum(axis=0)).ravel()
            vocab = vectorizer.get_feature_names_out()
            words = [vocab[i] for i in np.argsort(-counts, kind="stable")[:10]]
        except ValueError:  # empty vocabulary
            words = []
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


# --- saving and updating ----------------------------------------------------------------------


def save_model(result: TopicResult, out_dir: Path, config: Config) -> Path | None:
    """Save the fitted BERTopic model with safetensors, the versions that produced it, and the
    fitted units' text hashes and topics (`units.parquet`, which `update_topics` reads)."""
    if result.model is None:
        return None
    import importlib.metadata as md

    target = Path(out_dir) / "topic_model"
    try:
        result.model.save(str(target), serialization="safetensors", save_ctfidf=True)
    except Exception as exc:  # BERTopic's save reads internals that degenerate fits lack
        shutil.rmtree(target, ignore_errors=True)  # a half-written or stale model misleads
        note = f"topic model not saved ({type(exc).__name__}: {exc}); the next run refits"
        result.message = f"{result.message}; {note}" if result.message else note
        return None
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
            {
                "versions": versions,
                "topics_config": config.topics.model_dump(mode="json"),
                "fitted": result.fitted,
            },
            indent=2,
            sort_keys=True,
        ),
        encoding="utf-8",
    )
    if result.unit_hashes is not None:
        tmp = target / (_UNIT_FILE + ".tmp")
        result.unit_hashes.to_parquet(tmp, index=False)
        os.replace(tmp, target / _UNIT_FILE)
    return target


def _saved_units(model_dir: Path, config: Config) -> pd.DataFrame | None:
    """The saved model's units, or None when there is none or it was fitted with another
    `topics` config (apart from the update policy's own keys)."""
    model_dir = Path(model_dir)
    try:
        saved = json.loads((model_dir / "versions.json").read_text(encoding="utf-8"))
        units = pd.read_parquet(model_dir / _UNIT_FILE)
    except (OSError, ValueError):
        return None
    policy = {"refit_share", "max_fit_units"}
    now = {k: v for k, v in config.topics.model_dump(mode="json").items() if k not in policy}
    then = {k: v for k, v in saved.get("topics_config", {}).items() if k not in policy}
    return units if now == then else None


def new_unit_share(model_dir: Path, segments: pd.DataFrame, config: Config) -> float:
    """Share of today's distinct topic units whose text the saved model has not seen.

    1.0 when there is no usable saved model (none, or fitted with another `topics` config).
    The runner refits when this exceeds `topics.refit_share` and calls `update_topics` otherwise.
    """
    saved = _saved_units(model_dir, config)
    if saved is None:
        return 1.0
    texts = topic_units(segments, config.topics)["text"].drop_duplicates()
    if texts.empty:
        return 0.0
    known = set(saved["text_sha256"])
    return float(np.mean([_sha(t) not in known for t in texts]))


def update_topics(
    model_dir: Path,
    previous: dict[str, pd.DataFrame],
    segments: pd.DataFrame,
    mentions: pd.DataFrame,
    lemmas: pd.DataFrame | None,
    config: Config,
) -> TopicResult:
    """Assign the units of a changed corpus to the topics of a saved model, without refitting.

    Units whose text the model was fitted on (or already assigned) keep their topic and
    probability; new units join their nearest topic centroid through the saved model's
    transform, with their pre-computed embeddings. Topic words and labels stay; sizes, mention
    shares, representative units and `document_topics` are recomputed; units that are gone
    drop out, and so do topics left empty.

    Args:
        model_dir: the `topic_model` folder written by `save_model`.
        previous: the previous run's tables: `topics`, `segment_topics`, `document_topics`,
            `topic_map`.
        segments, mentions, lemmas: today's tables (lemmas may be None).
        config: the pipeline config; its `topics` section must match the saved model's.

    Raises:
        ValueError: no saved model, or one fitted with another `topics` config (refit instead).
    """
    from bertopic import BERTopic

    saved = _saved_units(model_dir, config)
    if saved is None:
        raise ValueError(f"no topic model fitted with this topics config in {model_dir}: refit")
    cfg = config.topics
    units = topic_units(segments, cfg)
    unique = units.drop_duplicates("text").reset_index(drop=True)
    # 1. Known texts keep their topic and probability.
    known = saved.drop_duplicates("text_sha256").set_index("text_sha256")
    hashes = [_sha(t) for t in unique["text"]]
    kept = np.array([h in known.index for h in hashes], dtype=bool)
    topic_of = np.array(
        [int(known.at[h, "topic_id"]) if k else -2 for h, k in zip(hashes, kept)], dtype=int
    )
    prob_of = np.array(
        [float(known.at[h, "probability"]) if k else 0.0 for h, k in zip(hashes, kept)]
    )
    # 2. New texts join their nearest topic through the saved model, embedded as its units were.
    model = BERTopic.load(str(model_dir))
    backend = corpus_backend(cfg, model_dir, segments)
    new = np.flatnonzero(~kept)
    if len(new):
        new_units = unique.iloc[new].reset_index(drop=True)
        vectors = embed_cached(new_units["text"].tolist(), backend, config.embeddings.cache_dir)
        docs = unit_lemmas(new_units, lemmas, config)
        predicted, sims = model.transform(docs, embeddings=vectors)
        predicted = np.asarray(predicted, dtype=int)
        if (predicted == -1).any():  # a saved model with outliers: nearest real topic instead
            fixed, fixed_sims = assign_units(model, docs, vectors)
            sims = np.where(predicted == -1, fixed_sims, sims)
            predicted = np.where(predicted == -1, fixed, predicted)
        topic_of[new] = predicted
        prob_of[new] = np.round(np.asarray(sims, dtype=float), 4)
    # 3. Tables: words and labels from the previous topics table.
    by_text = dict(zip(unique["text"], zip(topic_of, prob_of)))
    segment_topics = units[["segment_id", "doc_id", "start", "end", "text"]].copy()
    segment_topics["topic_id"] = [int(by_text[t][0]) for t in units["text"]]
    segment_topics["probability"] = [float(by_text[t][1]) for t in units["text"]]
    old = previous["topics"]
    words = {int(t): list(w) for t, w in zip(old["topic_id"], old["top_words"])}
    labels = {int(t): str(lab) for t, lab in zip(old["topic_id"], old["label"])}
    old_map = previous.get("topic_map")
    coords = (
        pd.DataFrame(columns=["segment_id", "x", "y"])
        if old_map is None
        else old_map[old_map["segment_id"].isin(set(units["segment_id"]))].reset_index(drop=True)
    )
    message = (
        f"updated: {int(kept.sum()):,} distinct units kept their topic, {len(new):,} new ones "
        "joined their nearest topic (no refit)"
    )
    result = _summarise(segment_topics, words, labels, mentions, model, coords, message)
    result.unit_hashes = _unit_hashes(segment_topics, units)
    result.fitted = json.loads((Path(model_dir) / "versions.json").read_text("utf-8")).get("fitted")
    return result
