"""Item-level evaluation of extraction against gold annotations (`gold/dev.json` format).

Scoring follows the gold README: distinct items per article (all predicted mentions of one
concept count as one item); a predicted item matches a gold item of the same category when their
content words overlap enough, comparing the concept label with the gold label, or any surface
text of the item with the gold evidence; matching is one-to-one, best pairs first. Claims match
on the words of the claim text.

"Overlap enough" is a Dice coefficient of at least 0.5 over content words (lower-cased, stop
words and numbers dropped, a light suffix stemmer), so "fear of rejection" meets "5. Fear of
rejection" and "deep breathing exercises" meets "deep breathing". Two-word labels sharing one
word sit exactly on the threshold ("fear of failure" meets "fear of success").
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.config import Config
from pipeline.io import read_table
from pipeline.text import dice

CATEGORY_KEYS = {"sign": "signs", "cause": "causes", "intervention": "interventions"}
MATCH_THRESHOLD = 0.5


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: Score) -> None:
        self.tp, self.fp, self.fn = self.tp + other.tp, self.fp + other.fp, self.fn + other.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def match_items(
    predicted: list[tuple[str, list[str]]], gold: list[dict]
) -> tuple[Score, list[tuple[int, int, float]]]:
    """One-to-one matching of predicted items (label, surfaces) to gold items, best pairs first.

    Returns:
        The score and the matched pairs (predicted index, gold index, similarity).
    """
    pairs = []
    for i, (label, surfaces) in enumerate(predicted):
        for j, item in enumerate(gold):
            sim = max([dice(label, item["label"])] + [dice(s, item["evidence"]) for s in surfaces])
            if sim >= MATCH_THRESHOLD:
                pairs.append((sim, i, j))
    used_p, used_g, matched = set(), set(), []
    for sim, i, j in sorted(pairs, key=lambda p: (-p[0], p[1], p[2])):
        if i not in used_p and j not in used_g:
            used_p.add(i), used_g.add(j), matched.append((i, j, sim))
    score = Score(tp=len(matched), fp=len(predicted) - len(matched), fn=len(gold) - len(matched))
    return score, matched


def match_claims(predicted: list[str], gold: list[dict]) -> Score:
    """Claims match one-to-one on the words of the claim text."""
    items = [(text, [text]) for text in predicted]
    gold_items = [{"label": c["text"], "evidence": c["text"]} for c in gold]
    return match_items(items, gold_items)[0]


def predicted_items(mentions: pd.DataFrame, category: str) -> list[tuple[str, list[str]]]:
    """Distinct items of one article and category: (concept label, surface texts).

    Mentions inside cited claims are the research's words, not the article's assertions.
    """
    rows = mentions[(mentions["category"] == category) & ~mentions["in_claim"]]
    return [
        (concept, sorted(set(group["text"])))
        for concept, group in rows.groupby("concept", sort=True)
    ]


def score_run(out_dir: Path, gold: list[dict]) -> tuple[pd.DataFrame, dict[str, list]]:
    """Score the tables in `out_dir` against gold articles (matched by file stem).

    Returns:
        A table with one row per article and category (tp, fp, fn, precision, recall, f1), and
        per-article details of unmatched items for error analysis.
    """
    documents = read_table(out_dir, "documents")
    mentions = read_table(out_dir, "mentions")
    claims = read_table(out_dir, "claims")
    stem_to_doc = {
        Path(src.split("#")[0]).stem: doc
        for src, doc in zip(documents["source"], documents["doc_id"])
    }
    rows, details = [], {}
    for article in gold:
        doc_id = stem_to_doc.get(article["id"])
        doc_mentions = mentions[mentions["doc_id"] == doc_id]
        misses = []
        for category, key in CATEGORY_KEYS.items():
            items = predicted_items(doc_mentions, category)
            score, matched = match_items(items, article[key])
            rows.append({"article": article["id"], "category": key, **_score_cols(score)})
            hit_p = {i for i, _, _ in matched}
            hit_g = {j for _, j, _ in matched}
            misses += [(key, "FP", items[i][0]) for i in range(len(items)) if i not in hit_p]
            misses += [
                (key, "FN", g["label"]) for j, g in enumerate(article[key]) if j not in hit_g
            ]
        doc_claims = claims[claims["doc_id"] == doc_id]["text"].tolist()
        rows.append(
            {
                "article": article["id"],
                "category": "claims",
                **_score_cols(match_claims(doc_claims, article["claims"])),
            }
        )
        details[article["id"]] = misses
    return pd.DataFrame(rows), details


def _score_cols(score: Score) -> dict:
    return {
        "tp": score.tp,
        "fp": score.fp,
        "fn": score.fn,
        "precision": round(score.precision, 3),
        "recall": round(score.recall, 3),
        "f1": round(score.f1, 3),
    }


def summarise(scores: pd.DataFrame, articles: list[str] | None = None) -> pd.DataFrame:
    """Micro-averaged P/R/F1 per category over `articles` (all when None)."""
    subset = scores if articles is None else scores[scores["article"].isin(articles)]
    rows = []
    for category, group in subset.groupby("category", sort=False):
        total = Score(int(group["tp"].sum()), int(group["fp"].sum()), int(group["fn"].sum()))
        rows.append({"category": category, **_score_cols(total)})
    return pd.DataFrame(rows)


def evaluate_gold(
    gold_path: Path, config: Config, out_dir: Path | None = None
) -> tuple[pd.DataFrame, dict[str, list]]:
    """Extract from the gold articles (loaded, cleaned and segmented as a run would) and score.

    Args:
        gold_path: a gold JSON file; records without `text` name their article file relative
            to the gold folder's parent (as in `shared/data/gold/dev.json`).
        config: the pipeline config.
        out_dir: where to write the tables (a temp folder when None).
    """
    from pipeline.extract.gold import prepare_gold, read_gold
    from pipeline.extract.stage import extract_documents

    gold = read_gold(Path(gold_path))
    _, documents, segments = prepare_gold(gold, config)
    mentions, claims, _, _ = extract_documents(documents, segments, config)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(out_dir) if out_dir else Path(tmp)
        write_scored_run(target, documents, mentions, claims, config)
        return score_run(target, gold)


# ------------------------------------------------------------------ cross-validation


def article_folds(ids: list[str], k: int, seed: int) -> dict[str, int]:
    """Each article's fold: ids shuffled with `seed`, then dealt round-robin into `k` folds, so
    every article is tested exactly once and never split."""
    import random

    order = sorted(ids)
    random.Random(seed).shuffle(order)
    return {article_id: i % k for i, article_id in enumerate(order)}


def write_scored_run(
    out_dir: Path,
    documents: pd.DataFrame,
    raw_mentions: pd.DataFrame,
    raw_claims: pd.DataFrame,
    config: Config,
) -> None:
    """Finish raw extractions (concepts, IDs) and write documents, mentions and claims tables
    that the shared scorer reads."""
    from pipeline.extract.stage import finish_extraction

    out_dir.mkdir(parents=True, exist_ok=True)
    mentions, claims, _ = finish_extraction(raw_mentions, raw_claims, config)
    documents[["doc_id", "source", "title"]].to_parquet(out_dir / "documents.parquet")
    mentions.to_parquet(out_dir / "mentions.parquet")
    claims.to_parquet(out_dir / "claims.parquet")


def shared_score(gold_path: Path, out_dir: Path, scorer: Path) -> pd.DataFrame:
    """Run the project's judge, `shared/tools/score_extraction.py`, and read its figures."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, str(scorer), str(gold_path), str(out_dir), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(done.stdout.strip().splitlines()[-2])
    return pd.DataFrame(rows)


def cross_validate(
    gold_paths: list[Path],
    config: Config,
    out_dir: Path,
    scorer: Path,
    folds: list[int] | None = None,
    log=print,
) -> dict[str, dict[str, pd.DataFrame]]:
    """Article-level k-fold cross-validation of the trained tagger, with the rules as baseline.

    Every tested article is tested once, by a model that never saw it (`folds` picks some of
    the `train.folds` folds; all by default). Each fold's model is kept in
    `out_dir/folds/<k>/`; both systems' tables go to `out_dir/model/` and `out_dir/rules/`
    and are scored by the shared scorer (`scorer`) against the tested gold articles, all of
    them and per gold file.

    Returns:
        {subset: {system: the scorer's rows (category, tp, pred, gold, P, R, F1)}}, with the
        subsets "all", each gold file's name, and "reference" (the first article of the first
        gold file named dev.json, when tested).
    """
    from pipeline.extract.gold import prepare_gold, read_gold
    from pipeline.extract.stage import (
        corpus_words,
        extract_documents,
        resolve_encoder,
        rules_config,
    )
    from pipeline.extract.train import featurize, fit

    by_file = {Path(path).name: read_gold(Path(path)) for path in gold_paths}
    articles = [a for group in by_file.values() for a in group]
    fold_of = article_folds([a["id"] for a in articles], config.train.folds, config.train.seed)
    folds = list(range(config.train.folds)) if folds is None else folds
    tested = {a["id"] for a in articles if fold_of[a["id"]] in folds}
    docs, documents, segments = prepare_gold(articles, config)
    # The tagger a run over this corpus would use (`extract.encoder`; auto sizes the corpus).
    encoder = resolve_encoder(config.extract, corpus_words(documents)).encoder
    log(f"{len(docs)} articles prepared ({len(tested)} to test); features of the {encoder} tagger")
    examples = featurize(docs, documents, segments, config, encoder)
    fold_of_doc = {d.doc_id: fold_of[d.id] for d in docs}
    raw: dict[str, tuple[list, list]] = {"model": ([], []), "rules": ([], [])}
    for fold in folds:
        train = [e for e in examples if fold_of_doc[e.doc_id] != fold]
        test_ids = {d for d, f in fold_of_doc.items() if f == fold}
        tagger = fit(train, config.train)
        folder = out_dir / "folds" / str(fold)
        tagger.save(folder)
        log(f"fold {fold}: trained on {len(train)} paragraphs in {tagger.meta['seconds']} s")
        cfg = config.model_copy(
            update={"extract": config.extract.model_copy(update={"model_dir": str(folder)})}
        )
        test_docs = documents[documents["doc_id"].isin(test_ids)]
        test_segs = segments[segments["doc_id"].isin(test_ids)]
        mentions, claims, _, _ = extract_documents(test_docs, test_segs, cfg)
        raw["model"][0].append(mentions)
        raw["model"][1].append(claims)
    tested_docs = {d.doc_id for d in docs if d.id in tested}
    base = config.model_copy(update={"extract": rules_config(config.extract)})
    mentions, claims, _, _ = extract_documents(
        documents[documents["doc_id"].isin(tested_docs)],
        segments[segments["doc_id"].isin(tested_docs)],
        base,
    )
    raw["rules"] = ([mentions], [claims])
    for system, (mentions, claims) in raw.items():
        write_scored_run(
            out_dir / system,
            documents[documents["doc_id"].isin(tested_docs)],
            pd.concat(mentions, ignore_index=True),
            pd.concat(claims, ignore_index=True),
            config,
        )
    subsets = {"all": [a for a in articles if a["id"] in tested]}
    for name, group in by_file.items():
        subsets[name] = [a for a in group if a["id"] in tested]
        if name == "dev.json" and group and group[0]["id"] in tested:
            subsets["reference"] = group[:1]
    scores: dict[str, dict[str, pd.DataFrame]] = {}
    for subset, group in subsets.items():
        if not group:
            continue
        gold_file = out_dir / f"gold-{subset}.json"
        gold_file.write_text(
            json.dumps([{k: v for k, v in a.items() if k != "text"} for a in group]),
            encoding="utf-8",
        )
        scores[subset] = {
            system: shared_score(gold_file, out_dir / system, scorer) for system in raw
        }
    return scores
