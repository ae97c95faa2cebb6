"""Training and cross-validating the claim-to-item linker on the gold `backs` links.

Gold articles are loaded, cleaned and segmented as a run would (`extract.gold.prepare_gold`);
their items and claims are placed in the cleaned text and every (claim, item) pair of an
article is an example, a link when the claim's `backs` names the item. Reviewers' verdicts on
support rows add examples from the run they judged (`verdict_link_examples`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.compare.link import (
    Layout,
    LinkClaim,
    LinkItem,
    LinkModel,
    fit_linker,
    layouts,
    pair_features,
    relation,
)
from pipeline.config import Config
from pipeline.extract.gold import CATEGORIES, find_text


@dataclass
class LinkExample:
    """One article's items, claims and gold links ((item index, claim index) -> relation)."""

    article: str
    doc_id: str
    layout: Layout
    items: list[LinkItem]
    claims: list[LinkClaim]
    links: dict[tuple[int, int], str] = field(default_factory=dict)
    weight: float = 1.0
    known: set[tuple[int, int]] | None = None  # the pairs whose label is known; None: all

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Pair features and 0/1 labels of the known pairs, claims major (as
        `pair_features`)."""
        x = pair_features(self.layout, self.items, self.claims)
        y = np.zeros(len(x))
        for i, c in self.links:
            y[c * len(self.items) + i] = 1
        if self.known is None:
            return x, y
        rows = sorted(c * len(self.items) + i for i, c in self.known)
        return x[rows], y[rows]


def _occurrences(text: str, needle: str) -> list[tuple[int, int]]:
    """Every exact occurrence of `needle`, or its flexible match when there is none."""
    spans = [(m.start(), m.end()) for m in re.finditer(re.escape(needle.strip()), text)]
    if not spans and (found := find_text(text, needle, 0)):
        spans = [found]
    return spans


def gold_examples(articles: list[dict], config: Config) -> list[LinkExample]:
    """Every gold article with at least one placed claim, as a linker example."""
    from pipeline.extract.gold import prepare_gold

    docs, documents, segments = prepare_gold(articles, config)
    layout_of = layouts(documents, segments)
    out = []
    for article, doc in zip(articles, docs):
        items, index = [], {}
        for key, category in CATEGORIES.items():
            for entry in article.get(key, []):
                spans = _occurrences(doc.text, entry["evidence"])
                if spans and (key, entry["label"]) not in index:
                    index[(key, entry["label"])] = len(items)
                    key_label = f"{key}|{entry['label']}"
                    items.append(LinkItem(key_label, category, entry["label"], spans))
        claims, links = [], {}
        for entry in article.get("claims", []):
            found = find_text(doc.text, entry["text"], 0)
            if found is None:
                continue
            c = len(claims)
            claims.append(LinkClaim(f"claim{c}", doc.text[found[0] : found[1]], *found))
            for back in entry.get("backs", []):
                i = index.get((back["category"], back["label"]))
                if i is not None:
                    links[(i, c)] = back["relation"]
        if claims and items:
            out.append(
                LinkExample(article["id"], doc.doc_id, layout_of[doc.doc_id], items, claims, links)
            )
    return out


def fit_examples(examples: list[LinkExample], config: Config) -> LinkModel:
    """A linker fitted on `examples` (threshold chosen out of fold within them)."""
    xs, ys, groups, weights = [], [], [], []
    for ex in examples:
        x, y = ex.arrays()
        xs.append(x)
        ys.append(y)
        groups += [ex.article] * len(y)
        weights += [ex.weight] * len(y)
    x, y = np.concatenate(xs), np.concatenate(ys)
    model = fit_linker(
        x,
        y,
        np.asarray(groups),
        config.train.link_c,
        config.train.link_inner_folds,
        config.train.seed,
        np.asarray(weights, dtype=float),
    )
    model.meta.update(
        articles=len({ex.article for ex in examples}),
        pairs=int(len(y)),
        links=int(y.sum()),
        inner_folds=config.train.link_inner_folds,
        c=config.train.link_c,
    )
    return model


def score_links(
    examples: list[LinkExample], model: LinkModel
) -> tuple[dict[str, float], list[dict]]:
    """Link P/R/F1 of `model` on gold items and claims, and relation agreement on the links it
    finds; with the predicted links as rows (article, item, claim, gold, predicted relation)."""
    tp = tp_rel = n_pred = n_gold = 0
    rows = []
    for ex in examples:
        predicted = {(i, c): score for i, c, score in model.links(ex.layout, ex.items, ex.claims)}
        n_pred += len(predicted)
        n_gold += len(ex.links)
        for (i, c), score in predicted.items():
            rel = relation(ex.claims[c].text, ex.items[i].category)
            gold = ex.links.get((i, c))
            tp += gold is not None
            tp_rel += gold == rel
            rows.append(
                {
                    "article": ex.article,
                    "item": ex.items[i].key,
                    "claim": ex.claims[c].text,
                    "score": round(score, 3),
                    "gold": gold or "",
                    "relation": rel,
                }
            )
    return link_figures(tp, tp_rel, n_pred, n_gold), rows


def link_figures(tp: int, tp_rel: int, n_pred: int, n_gold: int) -> dict[str, float]:
    def prf(hits: int) -> tuple[float, float, float]:
        p = hits / n_pred if n_pred else 0.0
        r = hits / n_gold if n_gold else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    p, r, f = prf(tp)
    pr, rr, fr = prf(tp_rel)
    return {
        "tp": tp,
        "pred": n_pred,
        "gold": n_gold,
        "P": round(p, 3),
        "R": round(r, 3),
        "F1": round(f, 3),
        "tp_relation": tp_rel,
        "P_relation": round(pr, 3),
        "R_relation": round(rr, 3),
        "F1_relation": round(fr, 3),
        "relation_agreement": round(tp_rel / tp, 3) if tp else 0.0,
    }


def train_linker(
    config: Config,
    gold_paths: list[Path],
    review_db: Path | None = None,
    tables_dir: Path | None = None,
) -> LinkModel:
    """The linker trained on every gold article, plus reviewers' verdicts on support rows when
    a database and the run it judged are given."""
    from pipeline.extract.gold import read_gold

    articles = [a for path in gold_paths for a in read_gold(Path(path))]
    examples = gold_examples(articles, config)
    reviewed = []
    if review_db is not None and Path(review_db).exists() and tables_dir is not None:
        reviewed = verdict_link_examples(review_db, Path(tables_dir), config)
    model = fit_examples(examples + reviewed, config)
    model.meta.update(
        gold=[Path(p).name for p in gold_paths],
        reviewed_articles=len(reviewed),
        reviewed_links=sum(len(ex.links) for ex in reviewed),
    )
    return model


# ------------------------------------------------------------------ reviewers' verdicts


def verdict_link_examples(db_path: Path, tables_dir: Path, config: Config) -> list[LinkExample]:
    """Reviewers' verdicts on support rows as linker examples, from the run they judged.

    Only what a reviewer judged is known. Accepting a row confirms its links (and, for an
    unbacked row, that no claim of the article backs the item); rejecting it makes its links
    non-links; a correction's `claim_ids` are links and the claims it removed non-links (all
    the article's claims when it sets the row to `unbacked`). Each pair weighs
    `train.review_weight`.
    """
    from pipeline.compare.stage import support_items
    from pipeline.io import read_table
    from pipeline.review.store import ReviewStore

    verdicts = ReviewStore(Path(db_path)).latest_verdicts(("support",))
    if not verdicts:
        return []
    documents = read_table(tables_dir, "documents")
    segments = read_table(tables_dir, "segments")
    mentions = read_table(tables_dir, "mentions")
    claims = read_table(tables_dir, "claims")
    layout_of = layouts(documents, segments)
    out = []
    for doc_id, doc_claims in claims.groupby("doc_id"):
        # A support item's ID ends in its concept ID (review.items.item_id).
        judged = {v["item_id"].split(":", 2)[2]: v for v in verdicts if v["doc_id"] == doc_id}
        if not judged or doc_id not in layout_of:
            continue
        items = [it for it in support_items(mentions, doc_id) if it.key in judged]
        link_claims = [
            LinkClaim(r.claim_id, r.text, int(r.start), int(r.end))
            for r in doc_claims.itertuples(index=False)
        ]
        column = {cl.key: c for c, cl in enumerate(link_claims)}
        links, known = {}, set()
        for i, item in enumerate(items):
            entry = judged[item.key]
            old, new = entry["old_value"], entry["new_value"]
            old_ids = [column[c] for c in old.get("claim_ids", []) if c in column]
            if entry["verdict"] == "reject":
                known.update((i, c) for c in old_ids)
                continue
            value = new if entry["verdict"] == "correct" else old
            if value.get("status") == "unbacked":
                known.update((i, c) for c in range(len(link_claims)))
                continue
            new_ids = [column[c] for c in value.get("claim_ids", []) if c in column]
            known.update((i, c) for c in old_ids + new_ids)
            relation = _RELATION_OF_STATUS.get(value["status"], "supports")
            links.update({(i, c): relation for c in new_ids})
        if known:
            out.append(
                LinkExample(
                    f"review:{doc_id}",
                    doc_id,
                    layout_of[doc_id],
                    items,
                    link_claims,
                    links,
                    weight=config.train.review_weight,
                    known=known,
                )
            )
    return out


_RELATION_OF_STATUS = {"backed": "supports", "weaker": "weaker", "contradicted": "contradicts"}
