"""Measuring the claim-to-item links against the gold `backs` links.

Two figures, on the same article folds as the extraction cross-validation
(`extract.evaluate.article_folds`, `train.folds`, `train.seed`):

- **given the gold items and claims**: the linker alone, each fold's articles linked by a
  model trained on the other folds (`cross_validate_links`);
- **end to end**: the support table built from a cross-validation run's extracted mentions and
  claims (`pipeline evaluate --cv` writes them), each fold linked by its fold's linker, scored
  by the shared `score_support.py` (`end_to_end_support`).

Both are printed with and without requiring the relation to agree.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from pipeline.compare.link import LinkModel
from pipeline.compare.train import (
    LinkExample,
    fit_examples,
    gold_examples,
    link_figures,
    score_links,
)
from pipeline.config import Config


def fold_linkers(
    examples: list[LinkExample], fold_of: dict[str, int], config: Config
) -> dict[int, LinkModel]:
    """One linker per fold, trained on the articles of the other folds."""
    return {
        k: fit_examples([ex for ex in examples if fold_of[ex.article] != k], config)
        for k in sorted(set(fold_of.values()))
    }


def cross_validate_links(
    articles: list[dict], config: Config
) -> tuple[dict[str, float], pd.DataFrame, dict[int, LinkModel]]:
    """Link figures on gold items and claims, every article linked by a model that never saw
    it; with the predicted links (and the misses) as a table, and the fold models."""
    from pipeline.extract.evaluate import article_folds

    examples = gold_examples(articles, config)
    fold_of = article_folds([a["id"] for a in articles], config.train.folds, config.train.seed)
    models = fold_linkers(examples, fold_of, config)
    tp = tp_rel = n_pred = n_gold = 0
    rows = []
    for ex in examples:
        figures, predicted = score_links([ex], models[fold_of[ex.article]])
        tp += figures["tp"]
        tp_rel += figures["tp_relation"]
        n_pred += figures["pred"]
        n_gold += figures["gold"]
        rows += [{**r, "fold": fold_of[ex.article]} for r in predicted]
        found = {(r["item"], r["claim"]) for r in predicted}
        for (i, c), rel in ex.links.items():
            if (ex.items[i].key, ex.claims[c].text) not in found:
                rows.append(
                    {
                        "article": ex.article,
                        "item": ex.items[i].key,
                        "claim": ex.claims[c].text,
                        "score": None,
                        "gold": rel,
                        "relation": "",
                        "fold": fold_of[ex.article],
                    }
                )

    return link_figures(tp, tp_rel, n_pred, n_gold), pd.DataFrame(rows), models


def end_to_end_support(
    articles: list[dict],
    cv_dir: Path,
    models: dict[int, LinkModel],
    config: Config,
    scorer: Path,
) -> dict[str, float]:
    """Support links built from the extracted tables of a cross-validation run (`cv_dir/model`,
    written by `pipeline evaluate --cv`), each article linked by its fold's linker, scored by
    the shared `score_support.py`."""
    from pipeline.compare.stage import compare_articles
    from pipeline.extract.evaluate import article_folds
    from pipeline.extract.gold import prepare_gold
    from pipeline.io import read_table, write_table

    tables = Path(cv_dir) / "model"
    if not (tables / "mentions.parquet").is_file():
        raise FileNotFoundError(
            f"no cross-validation tables in {tables}: run `pipeline evaluate --cv` first"
        )
    _, documents, segments = prepare_gold(articles, config)
    stem = {Path(s).stem: d for d, s in zip(documents["doc_id"], documents["source"])}
    # Document IDs hash the (temporary) source path: map the run's IDs through file stems.
    ran = read_table(tables, "documents")
    new_id = {d: stem.get(Path(s).stem) for d, s in zip(ran["doc_id"], ran["source"])}
    mentions, claims = (
        _renamed(read_table(tables, name), new_id) for name in ("mentions", "claims")
    )
    _check_offsets(mentions, documents, tables)
    fold_of = article_folds([a["id"] for a in articles], config.train.folds, config.train.seed)
    parts = []
    for k, model in models.items():
        docs = {stem[a["id"]] for a in articles if fold_of[a["id"]] == k}
        support, _ = compare_articles(
            documents[documents["doc_id"].isin(docs)],
            segments[segments["doc_id"].isin(docs)],
            mentions[mentions["doc_id"].isin(docs)],
            claims[claims["doc_id"].isin(docs)],
            config,
            linker=model,
        )
        parts.append(support)
    # A folder of its own, in today's document IDs: the scorer reads all four tables.
    target = Path(cv_dir) / "support"
    target.mkdir(parents=True, exist_ok=True)
    documents[["doc_id", "source", "title"]].to_parquet(target / "documents.parquet")
    mentions.to_parquet(target / "mentions.parquet")
    claims.to_parquet(target / "claims.parquet")
    write_table(pd.concat(parts, ignore_index=True), target, "support")
    return shared_support_score(articles, target, scorer)


def _renamed(frame: pd.DataFrame, new_id: dict) -> pd.DataFrame:
    frame = frame.assign(doc_id=frame["doc_id"].map(new_id))
    return frame[frame["doc_id"].notna()]


def _check_offsets(mentions: pd.DataFrame, documents: pd.DataFrame, tables: Path) -> None:
    """The run's offsets must point into today's cleaned texts (the cleaning may have changed
    since the cross-validation run)."""
    text_of = dict(zip(documents["doc_id"], documents["text"]))
    wrong = sum(
        text_of[d][s:e] != t
        for d, s, e, t in zip(
            mentions["doc_id"], mentions["start"], mentions["end"], mentions["text"]
        )
    )
    if wrong:
        raise ValueError(
            f"{wrong} of {len(mentions)} mentions in {tables} no longer match the cleaned gold "
            "texts: the tables predate a change to loading or cleaning; rerun "
            "`pipeline evaluate --cv`"
        )


def shared_support_score(articles: list[dict], tables: Path, scorer: Path) -> dict[str, float]:
    """Run the project's judge of support links, `score_support.py`, on a tables folder."""
    gold_file = tables / "gold-support.json"
    gold_file.write_text(
        json.dumps([{k: v for k, v in a.items() if k != "text"} for a in articles]),
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(scorer), str(gold_file), str(tables)],
        capture_output=True,
        text=True,
        check=True,
    )
    return _parse_support_score(done.stdout)


def _parse_support_score(stdout: str) -> dict[str, float]:
    """Figures of score_support.py's two lines ("support links: tp … F1 …", "with relation:")."""
    import re

    out: dict[str, float] = {}
    for line in stdout.splitlines():
        prefix = (
            ""
            if line.startswith("support links")
            else "relation_"
            if line.startswith("with relation")
            else None
        )
        if prefix is None:
            continue
        for name, value in re.findall(r"\b(tp|pred|gold|P|R|F1) ([0-9.]+)", line):
            out[prefix + name] = float(value)
    return out
