"""The content-hashed embedding cache: reuse, shard merging, and a shard that vanishes."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import embed


class CountingEncoder:
    """A deterministic stand-in for MiniLM that records what it was asked to encode."""

    name = "counting"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([[len(t), t.count("a"), 1.0] for t in texts], dtype=np.float32)


@pytest.fixture
def encoder(monkeypatch) -> CountingEncoder:
    fake = CountingEncoder()
    monkeypatch.setattr(embed, "get_encoder", lambda backend, cache_dir: fake)
    return fake


def test_embed_cached_encodes_each_distinct_text_once(tmp_path, encoder):
    first = embed.embed_cached(["banana", "apple", "banana"], "fake", tmp_path)
    again = embed.embed_cached(["apple", "cherry", "banana"], "fake", tmp_path)
    assert encoder.calls == [["banana", "apple"], ["cherry"]]
    assert first.tolist() == [[6, 3, 1], [5, 1, 1], [6, 3, 1]]
    assert again.tolist() == [[5, 1, 1], [6, 0, 1], [6, 3, 1]]
    assert embed.uncached_texts(["apple", "date", "date"], "fake", tmp_path) == ["date"]


def test_shards_are_merged_past_the_limit_and_keep_every_vector(tmp_path, encoder, monkeypatch):
    monkeypatch.setattr(embed, "MAX_SHARDS", 3)
    words = [f"word{i}" for i in range(6)]
    for word in words:  # one run each: one shard each
        embed.embed_cached([word], "fake", tmp_path)
    shards = sorted((tmp_path / "embeddings-fake").glob("shard-*.npz"))
    assert 1 <= len(shards) <= 3
    embed.embed_cached(words, "fake", tmp_path)
    assert len(encoder.calls) == len(words)  # nothing was lost and embedded again
    assert not list((tmp_path / "embeddings-fake").glob("*.tmp"))


def test_a_shard_removed_after_listing_is_skipped(tmp_path, encoder, monkeypatch):
    embed.embed_cached(["kept"], "fake", tmp_path)
    store = tmp_path / "embeddings-fake"
    gone = store / "shard-0000000000000000.npz"  # listed, then merged away by another run
    monkeypatch.setattr(embed, "_shards", lambda s: [gone, *sorted(s.glob("shard-*.npz"))])
    vectors = embed.embed_cached(["kept", "new"], "fake", tmp_path)
    assert encoder.calls == [["kept"], ["new"]]
    assert vectors.tolist() == [[4, 0, 1], [3, 0, 1]]
