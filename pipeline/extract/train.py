"""Training the tagger (`model.py`) on the annotated corpus, and on reviewers' verdicts.

1. Gold articles are loaded, cleaned and segmented as a run would (`gold.prepare_gold`).
2. Every paragraph goes through the extraction pipeline's rule components, and each token gets
   its features (`features.doc_features`) and its gold BIO tags for the three heads.
3. Reviewers' verdicts (`review.sqlite`) add labelled examples: an accepted or corrected
   mention or claim becomes a gold span of its paragraph, a rejected one an explicit outside.
4. The network is trained with fixed seeds (Python, NumPy, torch) on one or two threads.

Training settings live in the `train` section of the config.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from pipeline.config import Config, TrainConfig
from pipeline.extract.features import doc_features
from pipeline.extract.gold import GoldDocument
from pipeline.extract.model import HEADS, Tagger, TaggerNet, n_tags, pad_batch

# Gold span labels to (head, label within head).
_SPAN_HEAD = {
    "sign": ("mention", "sign"),
    "cause": ("mention", "cause"),
    "intervention": ("mention", "intervention"),
    "claim": ("claim", "claim"),
    "cue": ("cue", "cue"),
}
IGNORE = -100  # a token whose tag is unknown (outside an example reviewers judged)


@dataclass
class Example:
    """One paragraph: features and gold tags per head (IGNORE where unknown)."""

    doc_id: str
    segment_id: str
    features: np.ndarray
    tags: dict[str, np.ndarray] = field(default_factory=dict)


def _tag(tags: np.ndarray, start: int, end: int, k: int) -> None:
    """BIO tags of label index k over tokens [start, end), unless they are already taken."""
    if (tags[start:end] > 0).any():
        return
    tags[start] = 1 + 2 * k
    tags[start + 1 : end] = 2 + 2 * k


def paragraph_tags(doc, spans: Iterable[tuple[int, int, str]]) -> dict[str, np.ndarray]:
    """Gold tags of one paragraph Doc from character spans relative to its text; longer spans
    first, so a span is never cut by a shorter one inside it."""
    tags = {head: np.zeros(len(doc), dtype=np.int64) for head in HEADS}
    for start, end, label in sorted(spans, key=lambda s: (s[0] - s[1], s[0])):
        head, name = _SPAN_HEAD[label]
        span = doc.char_span(start, end, alignment_mode="expand")
        if span is not None and len(span):
            _tag(tags[head], span.start, span.end, HEADS[head].index(name))
    return tags


def featurize(
    docs: list[GoldDocument], documents: pd.DataFrame, segments: pd.DataFrame, config: Config
) -> list[Example]:
    """Features and gold tags of every paragraph of the gold documents."""
    from pipeline.extract.stage import block_docs, extraction_pipeline, rules_config

    nlp = extraction_pipeline(config.spacy.model, rules_config(config.extract))
    gold_spans = {d.doc_id: d.spans for d in docs}
    examples = []
    disable = ["selfhelp_mentions", "selfhelp_claims"]
    for doc in nlp.pipe(block_docs(nlp, documents, segments), disable=disable):
        block = doc._.block
        offset, end = block["offset"], block["offset"] + len(doc.text)
        spans = [
            (s - offset, e - offset, label)
            for s, e, label in gold_spans.get(block["doc_id"], [])
            if s >= offset and e <= end
        ]
        examples.append(
            Example(
                block["doc_id"], block["segment_id"], doc_features(doc), paragraph_tags(doc, spans)
            )
        )
    return examples


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _length_batches(examples: list[Example], size: int, rng: random.Random) -> list[list[Example]]:
    """Batches of paragraphs of similar length, in random order: the LSTM runs as many steps as
    a batch's longest paragraph, so mixing a 300-token paragraph with short ones wastes most of
    the work. Lengths are jittered so that batches differ between epochs."""
    keyed = sorted(examples, key=lambda e: len(e.features) + rng.random() * 4)
    batches = [keyed[i : i + size] for i in range(0, len(keyed), size)]
    rng.shuffle(batches)
    return batches


def fit(examples: list[Example], cfg: TrainConfig, log=None) -> Tagger:
    """Train a tagger on `examples` with the settings and seed of `cfg`.

    The loss is the sum of the heads' cross-entropies; tokens tagged IGNORE do not count.
    """
    seed_everything(cfg.seed)
    torch.set_num_threads(cfg.threads)
    architecture = {"hidden": cfg.hidden, "dropout": cfg.dropout}
    net = TaggerNet(**architecture)
    optimiser = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate, weight_decay=1e-4)
    # Items are rare: tags inside a span weigh `span_weight` times the outside tag.
    losses = {
        h: nn.CrossEntropyLoss(
            weight=torch.tensor([1.0] + [cfg.span_weight] * (n_tags(h) - 1)), ignore_index=IGNORE
        )
        for h in HEADS
    }
    rng = random.Random(cfg.seed)
    started = time.perf_counter()
    for epoch in range(cfg.epochs):
        net.train()
        total = 0.0
        for batch in _length_batches(examples, cfg.batch_size, rng):
            x, lengths = pad_batch([e.features for e in batch])
            logits = net(x, lengths)
            loss = 0.0
            for head in HEADS:
                target = torch.full(x.shape[:2], IGNORE, dtype=torch.long)
                for i, e in enumerate(batch):
                    target[i, : len(e.features)] = torch.from_numpy(e.tags[head])
                loss = loss + losses[head](
                    logits[head].reshape(-1, logits[head].shape[-1]), target.reshape(-1)
                )
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            optimiser.step()
            total += float(loss.detach())
        if log is not None:
            log(f"epoch {epoch + 1}/{cfg.epochs} loss {total:.2f}")
    meta = {
        "architecture": architecture,
        "train": cfg.model_dump(),
        "examples": len(examples),
        "seconds": round(time.perf_counter() - started, 1),
    }
    return Tagger(net.eval(), meta)


# ------------------------------------------------------------------ reviewers' verdicts


def _latest_verdicts(db_path: Path) -> list[dict]:
    """The current (latest) verdict of every reviewed mention and claim."""
    from pipeline.review.store import ReviewStore

    latest: dict[str, dict] = {}
    for entry in ReviewStore(Path(db_path)).log():
        if entry["item_type"] in ("mention", "claim"):
            latest[entry["item_id"]] = entry
    return list(latest.values())


def verdict_spans(db_path: Path) -> dict[str, list[tuple[int, int, str | None]]]:
    """Reviewers' verdicts as labelled document spans: (start, end, label) with label None for
    "nothing here" (a rejected item, or the old span of a corrected one)."""
    spans: dict[str, list[tuple[int, int, str | None]]] = {}
    for entry in _latest_verdicts(db_path):
        old, new = entry["old_value"], entry["new_value"]
        doc_spans = spans.setdefault(entry["doc_id"], [])
        label_of = (
            (lambda v: v.get("category"))
            if entry["item_type"] == "mention"
            else (lambda v: "claim")
        )
        if entry["verdict"] == "accept":
            doc_spans.append((old["start"], old["end"], label_of(old)))
        elif entry["verdict"] == "reject":
            doc_spans.append((old["start"], old["end"], None))
        else:
            if (old["start"], old["end"]) != (new["start"], new["end"]):
                doc_spans.append((old["start"], old["end"], None))
            doc_spans.append((new["start"], new["end"], label_of(new)))
    return spans


def verdict_examples(db_path: Path, tables_dir: Path, config: Config) -> list[Example]:
    """Training examples from the verdicts on a run's items.

    Only what reviewers judged is known: every other token of the paragraph is IGNORE; a
    rejected span is "outside" for the head it was found by; an accepted or corrected span is
    a span of its (new) label.
    """
    from pipeline.extract.stage import block_docs, extraction_pipeline, rules_config
    from pipeline.io import read_table

    by_doc = verdict_spans(db_path)
    if not by_doc:
        return []
    documents = read_table(tables_dir, "documents")
    documents = documents[documents["doc_id"].isin(by_doc)]
    segments = read_table(tables_dir, "segments")
    segments = segments[segments["doc_id"].isin(by_doc)]
    nlp = extraction_pipeline(config.spacy.model, rules_config(config.extract))
    examples = []
    disable = ["selfhelp_mentions", "selfhelp_claims"]
    for doc in nlp.pipe(block_docs(nlp, documents, segments), disable=disable):
        block = doc._.block
        offset, end = block["offset"], block["offset"] + len(doc.text)
        judged = [
            (s - offset, e - offset, lab)
            for s, e, lab in by_doc[block["doc_id"]]
            if s >= offset and e <= end
        ]
        if not judged:
            continue
        tags = {head: np.full(len(doc), IGNORE, dtype=np.int64) for head in HEADS}
        for start, stop, label in judged:
            span = doc.char_span(start, stop, alignment_mode="expand")
            if span is None or not len(span):
                continue
            head = "mention" if label in (None, *HEADS["mention"]) else "claim"
            if label is None:
                for h in ("mention", "claim"):
                    window = tags[h][span.start : span.end]
                    window[window == IGNORE] = 0
                continue
            tags[head][span.start] = 1 + 2 * HEADS[head].index(label)
            tags[head][span.start + 1 : span.end] = 2 + 2 * HEADS[head].index(label)
        examples.append(Example(block["doc_id"], block["segment_id"], doc_features(doc), tags))
    return examples


def train_tagger(
    config: Config,
    gold_paths: list[Path],
    review_db: Path | None = None,
    tables_dir: Path | None = None,
    log=None,
) -> Tagger:
    """Train the tagger on every gold article, plus reviewers' verdicts when a database and the
    run it judged are given (each verdict paragraph counted `train.review_weight` times)."""
    from pipeline.extract.gold import prepare_gold, read_gold

    articles = [a for path in gold_paths for a in read_gold(Path(path))]
    docs, documents, segments = prepare_gold(articles, config)
    examples = featurize(docs, documents, segments, config)
    reviewed = []
    if review_db is not None and Path(review_db).exists() and tables_dir is not None:
        reviewed = verdict_examples(review_db, tables_dir, config)
    tagger = fit(examples + reviewed * config.train.review_weight, config.train, log)
    tagger.meta.update(
        articles=len(articles),
        gold=[Path(p).name for p in gold_paths],
        gold_items=sum(len(d.spans) for d in docs),
        unplaced_items=sum(d.unplaced for d in docs),
        review_paragraphs=len(reviewed),
    )
    return tagger
