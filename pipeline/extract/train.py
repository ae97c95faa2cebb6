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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from pipeline.config import Config, TrainConfig
from pipeline.extract.features import WIDTHS, encoder_features
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


def _paragraphs(
    documents: pd.DataFrame, segments: pd.DataFrame, config: Config, spans: dict[str, list]
) -> Iterator[tuple]:
    """Each paragraph Doc through the rule components (the tagger's features), with the spans
    of `spans` (by doc_id; tuples starting with document offsets) that lie inside it, made
    relative to the paragraph."""
    from pipeline.extract.stage import block_docs, extraction_pipeline, rules_config

    nlp = extraction_pipeline(config.spacy.model, rules_config(config.extract))
    disable = ["selfhelp_mentions", "selfhelp_claims"]
    for doc in nlp.pipe(block_docs(nlp, documents, segments), disable=disable):
        block = doc._.block
        offset, end = block["offset"], block["offset"] + len(doc.text)
        inside = [
            (s - offset, e - offset, *rest)
            for s, e, *rest in spans.get(block["doc_id"], [])
            if s >= offset and e <= end
        ]
        yield doc, inside


def _with_features(pairs: Iterable[tuple], encoder: str, size: int = 64) -> Iterator[tuple]:
    """(doc, spans, features) for each (doc, spans); features in batches of `size` Docs (the
    contextual encoder runs a batch at a time)."""
    pairs = iter(pairs)
    while chunk := list(islice(pairs, size)):
        feats = encoder_features([doc for doc, _ in chunk], encoder)
        for (doc, spans), features in zip(chunk, feats):
            yield doc, spans, features


def featurize(
    docs: list[GoldDocument],
    documents: pd.DataFrame,
    segments: pd.DataFrame,
    config: Config,
    encoder: str,
) -> list[Example]:
    """Features (for a tagger of `encoder`) and gold tags of every paragraph of the gold
    documents."""
    gold_spans = {d.doc_id: d.spans for d in docs}
    pairs = _paragraphs(documents, segments, config, gold_spans)
    return [
        Example(doc._.block["doc_id"], doc._.block["segment_id"], features, paragraph_tags(doc, s))
        for doc, s, features in _with_features(pairs, encoder)
    ]


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
    """Train `cfg.ensemble[encoder]` networks on `examples`, seeds `cfg.seed`, `cfg.seed + 1`, ...

    The examples' feature width tells the encoder they were made for (`features.WIDTHS`).
    """
    started = time.perf_counter()
    width = examples[0].features.shape[1]
    encoder = next(name for name, w in WIDTHS.items() if w == width)
    layers = cfg.layers[encoder]
    final_epochs = cfg.final_epochs[encoder]
    nets = [
        _fit_one(
            examples,
            cfg.model_copy(update={"seed": cfg.seed + k}),
            width,
            layers,
            final_epochs,
            log,
        )
        for k in range(cfg.ensemble[encoder])
    ]
    meta = {
        "encoder": encoder,
        "architecture": {
            "n_in": width,
            "hidden": cfg.hidden,
            "dropout": cfg.dropout,
            "layers": layers,
        },
        "train": cfg.model_dump(),
        "examples": len(examples),
        "seconds": round(time.perf_counter() - started, 1),
    }
    return Tagger(nets, meta)


def _fit_one(
    examples: list[Example],
    cfg: TrainConfig,
    width: int,
    layers: int,
    final_epochs: int,
    log=None,
) -> TaggerNet:
    """Train one network with the settings and seed of `cfg`.

    The loss is the sum of the heads' cross-entropies; tokens tagged IGNORE do not count.
    `cfg.epochs` at `cfg.learning_rate`, then `final_epochs` at `cfg.final_learning_rate`:
    the lower rate lets the weights settle (on 5-fold CV it raised causes most; README).
    """
    seed_everything(cfg.seed)
    torch.set_num_threads(cfg.threads)
    net = TaggerNet(n_in=width, hidden=cfg.hidden, dropout=cfg.dropout, layers=layers)
    optimiser = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate, weight_decay=1e-4)
    # Items are rare: tags inside a span weigh `span_weight` times the outside tag.
    losses = {
        h: nn.CrossEntropyLoss(
            weight=torch.tensor([1.0] + [cfg.span_weight] * (n_tags(h) - 1)), ignore_index=IGNORE
        )
        for h in HEADS
    }
    rng = random.Random(cfg.seed)
    n_epochs = cfg.epochs + final_epochs
    for epoch in range(n_epochs):
        if epoch == cfg.epochs:  # settle: a few epochs at a lower rate (the Adam moments stay)
            for group in optimiser.param_groups:
                group["lr"] = cfg.final_learning_rate
        net.train()
        total = 0.0
        for batch in _length_batches(examples, cfg.batch_size, rng):
            x, lengths = pad_batch([e.features for e in batch], width)
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
            log(f"seed {cfg.seed} epoch {epoch + 1}/{n_epochs} loss {total:.2f}")
    return net.eval()


# ------------------------------------------------------------------ calibration


def _span_hits(example: Example, head: str, spans) -> list[tuple[float, bool]]:
    """(score, right) per predicted span: right when at least half its tokens lie in gold
    spans of its label."""
    gold = example.tags[head]
    out = []
    for start, end, label, score in spans:
        k = HEADS[head].index(label)
        inside = np.isin(gold[start:end], (1 + 2 * k, 2 + 2 * k)).mean()
        out.append((score, bool(inside >= 0.5)))
    return out


def calibration(
    examples: list[Example], doc_fold: dict[str, int], cfg: TrainConfig, outside_weight: float
) -> tuple[dict, dict]:
    """Isotonic maps from a span's raw score to the share of such spans that are right, fitted
    on out-of-fold predictions (each paragraph scored by a model that did not train on its
    article), and their reliability: expected calibration error of the raw scores and of the
    calibrated ones (each fold through a map fitted on the other folds); `used` says whether
    the map lowers that error (train_tagger ships only those).
    """
    pairs: dict[str, list[tuple[int, float, bool]]] = {"mention": [], "claim": []}
    for fold in sorted(set(doc_fold.values())):
        held = [e for e in examples if doc_fold.get(e.doc_id) == fold]
        tagger = fit([e for e in examples if doc_fold.get(e.doc_id) != fold], cfg)
        for example, spans in zip(
            held, tagger.predict_spans([e.features for e in held], outside_weight)
        ):
            for head in pairs:
                pairs[head] += [(fold, *hit) for hit in _span_hits(example, head, spans[head])]
    tables, report = {}, {}
    for head, scored in pairs.items():
        if len(scored) < 20:
            continue
        folds = np.array([f for f, _, _ in scored])
        x = np.array([s for _, s, _ in scored])
        y = np.array([float(r) for _, _, r in scored])
        iso = _isotonic(x, y)
        tables[head] = {
            "x": [round(float(v), 4) for v in iso.X_thresholds_],
            "y": [round(float(v), 4) for v in iso.y_thresholds_],
        }
        # The map's own error, measured honestly: each fold's spans through a map fitted on
        # the other folds.
        crossed = np.zeros_like(x)
        for fold in np.unique(folds):
            own = folds == fold
            crossed[own] = _isotonic(x[~own], y[~own]).predict(x[own]) if (~own).any() else x[own]
        report[head] = {
            "spans": len(scored),
            "right": round(float(y.mean()), 3),
            "ece_raw": _ece(x, y),
            "ece_calibrated": _ece(crossed, y),
        }
        report[head]["used"] = report[head]["ece_calibrated"] < report[head]["ece_raw"]
    return tables, report


def _isotonic(x: np.ndarray, y: np.ndarray):
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)


def _ece(scores: np.ndarray, right: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-width score bins."""
    which = np.minimum((scores * bins).astype(int), bins - 1)
    error = sum(
        abs(scores[which == b].mean() - right[which == b].mean()) * (which == b).sum()
        for b in range(bins)
        if (which == b).any()
    )
    return round(float(error / len(scores)), 3)


# ------------------------------------------------------------------ reviewers' verdicts


def _latest_verdicts(db_path: Path) -> list[dict]:
    """The current (latest) verdict of every reviewed mention and claim."""
    from pipeline.review.store import ReviewStore

    return ReviewStore(Path(db_path)).latest_verdicts(("mention", "claim"))


def _verdict_label(head: str, value: dict) -> str:
    return value.get("category", "") if head == "mention" else "claim"


def verdict_spans(db_path: Path) -> dict[str, list[tuple[int, int, str, str | None]]]:
    """Reviewers' verdicts as labelled document spans: (start, end, head, label), label None
    for "nothing here" (a rejected item, or the old extent of a corrected one)."""
    spans: dict[str, list[tuple[int, int, str, str | None]]] = {}
    for entry in _latest_verdicts(db_path):
        old, new = entry["old_value"], entry["new_value"]
        head = entry["item_type"]  # mention or claim, as the tagger's heads
        doc_spans = spans.setdefault(entry["doc_id"], [])

        if entry["verdict"] == "accept":
            doc_spans.append((old["start"], old["end"], head, _verdict_label(head, old)))
        elif entry["verdict"] == "reject":
            doc_spans.append((old["start"], old["end"], head, None))
        else:
            if (old["start"], old["end"]) != (new["start"], new["end"]):
                doc_spans.append((old["start"], old["end"], head, None))
            doc_spans.append((new["start"], new["end"], head, _verdict_label(head, new)))
    return spans


def verdict_examples(
    db_path: Path, tables_dir: Path, config: Config, encoder: str
) -> list[Example]:
    """Training examples from the verdicts on a run's items.

    Only what reviewers judged is known: every other token of the paragraph is IGNORE; a
    rejected span is "outside" for the head that found it; an accepted or corrected span is a
    span of its (new) label.
    """
    from pipeline.io import read_table

    by_doc = verdict_spans(db_path)
    if not by_doc:
        return []
    documents = read_table(tables_dir, "documents")
    documents = documents[documents["doc_id"].isin(by_doc)]
    segments = read_table(tables_dir, "segments")
    segments = segments[segments["doc_id"].isin(by_doc)]
    examples = []
    judged_pairs = (
        (doc, judged) for doc, judged in _paragraphs(documents, segments, config, by_doc) if judged
    )
    for doc, judged, features in _with_features(judged_pairs, encoder):
        tags = {head: np.full(len(doc), IGNORE, dtype=np.int64) for head in HEADS}
        for start, stop, head, label in judged:
            span = doc.char_span(start, stop, alignment_mode="expand")
            if span is None or not len(span):
                continue
            if label is None:
                window = tags[head][span.start : span.end]
                window[window == IGNORE] = 0
            elif label in HEADS[head]:
                _tag(tags[head], span.start, span.end, HEADS[head].index(label))
        block = doc._.block
        examples.append(Example(block["doc_id"], block["segment_id"], features, tags))
    return examples


def train_tagger(
    config: Config,
    gold_paths: list[Path],
    review_db: Path | None = None,
    tables_dir: Path | None = None,
    log=None,
    encoder: str = "contextual",
) -> Tagger:
    """Train the tagger of `encoder` on every gold article, plus reviewers' verdicts when a
    database and the run it judged are given (each verdict paragraph counted
    `train.review_weight` times)."""
    from pipeline.extract.gold import prepare_gold, read_gold

    articles = [a for path in gold_paths for a in read_gold(Path(path))]
    docs, documents, segments = prepare_gold(articles, config)
    examples = featurize(docs, documents, segments, config, encoder)
    reviewed = []
    if review_db is not None and Path(review_db).exists() and tables_dir is not None:
        reviewed = verdict_examples(review_db, tables_dir, config, encoder)
    weighted = examples + reviewed * config.train.review_weight
    tagger = fit(weighted, config.train, log)
    if config.train.calibration_folds > 1:
        from pipeline.extract.evaluate import article_folds

        folds = article_folds(
            [d.doc_id for d in docs], config.train.calibration_folds, config.train.seed
        )
        single = config.train.model_copy(
            update={"ensemble": dict.fromkeys(config.train.ensemble, 1)}
        )
        tables, report = calibration(examples, folds, single, config.extract.outside_weight)
        # A map that does not beat the raw scores out of fold (too few spans for isotonic
        # regression) is not shipped: that head's confidence stays its raw score.
        shipped = {head: table for head, table in tables.items() if report[head]["used"]}
        tagger.meta.update(calibration=shipped, calibration_report=report)
    tagger.meta.update(
        articles=len(articles),
        gold=[Path(p).name for p in gold_paths],
        gold_items=sum(len(d.spans) for d in docs),
        unplaced_items=sum(d.unplaced for d in docs),
        review_paragraphs=len(reviewed),
    )
    return tagger
