"""Screening after cleaning: too-short and non-English documents, exact and near duplicates.

Screened documents stay in the `documents` table with their flags (nothing is dropped); later
stages process only `usable_documents`.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from pipeline.config import LoadConfig
from pipeline.ingest import Rejection

_TOKEN = re.compile(r"\w+")


def _shingles(text: str, size: int) -> set[bytes]:
    words = _TOKEN.findall(text.lower())
    if len(words) <= size:
        return {" ".join(words).encode()}
    return {" ".join(words[i : i + size]).encode() for i in range(len(words) - size + 1)}


def _minhash(text: str, cfg: LoadConfig):
    from datasketch import MinHash

    mh = MinHash(num_perm=cfg.minhash_permutations, seed=1)
    mh.update_batch(list(_shingles(text, cfg.shingle_words)))
    return mh


def flag_duplicates(documents: pd.DataFrame, cfg: LoadConfig) -> pd.DataFrame:
    """Flag exact and near duplicates of earlier documents (input order decides who is kept).

    Args:
        documents: cleaned documents with `doc_id` and `text`.

    Returns:
        A copy with `duplicate_of` (kept doc_id or ""), `duplicate_kind` ("exact", "near" or "")
        and `duplicate_similarity` (estimated Jaccard; NaN when not a duplicate).
    """
    from datasketch import MinHashLSH  # imported here: half a second that readers need not pay

    lsh = MinHashLSH(threshold=cfg.near_duplicate_threshold, num_perm=cfg.minhash_permutations)
    exact: dict[str, str] = {}
    hashes: dict = {}
    dup_of, kind, sim = [], [], []
    for doc_id, text in zip(documents["doc_id"], documents["text"]):
        key = " ".join(_TOKEN.findall(text.lower()))
        if not key:
            dup_of.append(""), kind.append(""), sim.append(float("nan"))
            continue
        if key in exact:
            dup_of.append(exact[key]), kind.append("exact"), sim.append(1.0)
            continue
        exact[key] = doc_id
        mh = _minhash(text, cfg)
        candidates = sorted(lsh.query(mh))
        best = max(candidates, key=lambda c: (mh.jaccard(hashes[c]), c), default=None)
        if best is not None and mh.jaccard(hashes[best]) >= cfg.near_duplicate_threshold:
            dup_of.append(best), kind.append("near"), sim.append(round(mh.jaccard(hashes[best]), 4))
            continue
        lsh.insert(doc_id, mh)
        hashes[doc_id] = mh
        dup_of.append(""), kind.append(""), sim.append(float("nan"))
    out = documents.copy()
    out["duplicate_of"], out["duplicate_kind"], out["duplicate_similarity"] = dup_of, kind, sim
    return out


def _unusable(text: str, n_words: int, cfg: LoadConfig) -> str | None:
    """Why a cleaned document cannot be processed at all, or None."""
    if n_words < cfg.min_words:
        what = "empty after cleaning" if n_words == 0 else f"only {n_words} words"
        return f"{what} (load.min_words is {cfg.min_words})"
    longest = max(map(len, text.split("\n")))
    if longest > cfg.max_paragraph_chars:
        # Each paragraph goes to spaCy whole, and spaCy refuses texts over 1M characters.
        return (
            f"a paragraph of {longest} characters, over load.max_paragraph_chars "
            f"({cfg.max_paragraph_chars}): not an article"
        )
    return None


def screen_documents(
    documents: pd.DataFrame, cfg: LoadConfig
) -> tuple[pd.DataFrame, list[Rejection]]:
    """Flag short, non-English and duplicate documents.

    Too-short documents, and those with a paragraph over `max_paragraph_chars`, are rejected (a
    row in `rejected`, none in documents); non-English ones
    stay in `documents` with `is_english=False` and also get a `rejected` row, so the reason is
    visible in the report. Duplicates are only flagged.
    """
    rejected: list[Rejection] = []
    keep = []
    for row in documents.itertuples(index=False):
        reason = _unusable(row.text, row.n_words, cfg)
        if reason:
            rejected.append(Rejection(row.source, "clean", reason, row.doc_id))
        keep.append(reason is None)
    # A boolean array, not a list: an empty list would select no columns instead of no rows.
    out = documents[np.array(keep, dtype=bool)].copy()
    out["is_english"] = out["english_ratio"] >= cfg.english_min_ratio
    for row in out[~out["is_english"]].itertuples(index=False):
        rejected.append(
            Rejection(
                row.source,
                "clean",
                f"non-English text (English function-word share {row.english_ratio:.2f} < "
                f"{cfg.english_min_ratio}); kept in documents with is_english=false, not processed",
                row.doc_id,
            )
        )
    if not cfg.flag_duplicates:  # e.g. a benchmark that replicates a corpus on purpose
        out["duplicate_of"], out["duplicate_kind"] = "", ""
        out["duplicate_similarity"] = float("nan")
        return out, rejected
    return flag_duplicates(out, cfg), rejected


def usable_documents(documents: pd.DataFrame) -> pd.DataFrame:
    """Documents that later stages process: English and not a duplicate."""
    mask = documents["is_english"] & (documents["duplicate_of"].fillna("") == "")
    return documents[mask]
