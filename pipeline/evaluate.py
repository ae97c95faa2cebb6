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
import re
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from pipeline.config import Config
from pipeline.io import read_table

CATEGORY_KEYS = {"sign": "signs", "cause": "causes", "intervention": "interventions"}
MATCH_THRESHOLD = 0.5


def _stem(word: str) -> str:
    """A light stemmer: plural first, then -ing/-ed ("exercises" and "exercise" meet)."""
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "xes", "zes", "ches", "shes")) and len(word) > 4:
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    # Imported on first use: importing spaCy costs seconds that `pipeline report` need not pay.
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS)


def content_words(text: str) -> set[str]:
    """Stemmed content words of a text."""
    words = re.findall(r"[a-z][a-z’'-]*", text.lower().replace("-", " "))
    stop = _stop_words()
    return {_stem(w) for w in words if w not in stop and len(w) > 1}


def dice(a: str, b: str) -> float:
    """Dice coefficient of the content words of two texts."""
    wa, wb = content_words(a), content_words(b)
    if not wa or not wb:
        return 0.0
    return 2 * len(wa & wb) / (len(wa) + len(wb))


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
    """Run the pipeline on the gold articles and score it.

    Args:
        gold_path: a gold JSON file; article paths in it are relative to its parent folder's
            parent (as in `shared/data/gold/dev.json`).
        config: the pipeline config.
        out_dir: where to write the run's tables (a temp folder when None).
    """
    from pipeline.runner import stage_extract, stage_load, stage_segment

    gold = json.loads(Path(gold_path).read_text(encoding="utf-8"))
    base = Path(gold_path).resolve().parent.parent
    inputs = [base / article["file"] for article in gold]
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(out_dir) if out_dir else Path(tmp)
        stage_load(inputs, target, config)
        stage_segment(target, config)
        stage_extract(target, config)
        return score_run(target, gold)
