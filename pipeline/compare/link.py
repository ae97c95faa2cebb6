"""The claim-to-item linker: which of an article's items a cited claim speaks about, and how.

A cited claim backs an item when it names it (inside the claim, whose span takes in the list
it introduces, "common signs include:", or in the claim's own words elsewhere), or
through a pronoun just after the item ("many therapists recommend them"). Each (item, claim)
pair of an article gets a few such features (`FEATURES`), and a logistic regression trained
on the gold `backs` links of `train.gold` decides. Gold items and extracted items are
described the same way (`LinkItem`: a label and the spans where the article states the item),
so one model serves both, and cross-validation on gold items measures the linker alone.

The relation of a link comes from the claim's wording (`relation`): an association cited for
an item the article states as a cause or as something that helps is `weaker` backing; a
negated relation `contradicts`; anything else `supports`.
"""

from __future__ import annotations

import bisect
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.extract.claims import cue_lexicon
from pipeline.text import content_words

RELATIONS = ("supports", "weaker", "contradicts")
CATEGORIES = ("sign", "cause", "intervention")
FEATURES = (
    "inside",  # a span of the item lies inside the claim (with the list it introduces)
    "same_sentence",  # ... or in the claim's sentence(s)
    "label_cover",  # share of the item label's content words that the claim uses
    "text_cover",  # the same for the item's own wording (best span)
    "label_full",  # the claim uses every content word of the label
    "fuzzy_cover",  # the best cover when words may differ in their ending ("humiliating")
    "previous_sentence",  # a span in the sentence just before the claim
    "near_before",  # 1 / (1 + sentences from the closest span before the claim)
    "near_after",  # 1 / (1 + sentences to the closest span after it)
    "same_block",  # a span in the claim's paragraph or list item
    "anaphor",  # the claim opens with a pronoun and the item is the last one named before it
    "others_inside",  # the item is outside the claim but other items are inside it
    "best_cover",  # no other item of the article shares more of its label with the claim
    "has_number",  # a figure: prevalence claims rarely back an item
    "claim_words",  # log length of the claim
    *(f"is_{c}" for c in CATEGORIES),
)
_ANAPHOR = re.compile(
    r"^\W*(?:\w+\W+){0,6}?(?:they|them|their|it|its|this|these|those|such)\b", re.I
)
_NUMBER = re.compile(r"\d|\bpercent\b|\bhalf\b|\bthird\b|\bquarter\b", re.I)


@dataclass
class LinkItem:
    """An item of one article: its category, label and the spans that state it."""

    key: str
    category: str
    label: str
    spans: list[tuple[int, int]] = field(default_factory=list)
    broader: str = ""  # label of the broader concept it is a kind of ("abuse" for "child abuse")


@dataclass
class LinkClaim:
    """A cited claim of one article: its text and span."""

    key: str
    text: str
    start: int
    end: int


@dataclass
class Layout:
    """Where one article's sentences and blocks (paragraphs, list items) lie."""

    text: str
    sentences: list[tuple[int, int]]
    blocks: list[tuple[int, int, str]]  # (start, end, kind) with kind "paragraph" or "item"

    def __post_init__(self) -> None:
        self.sentences = sorted(self.sentences) or [(0, len(self.text))]
        self.blocks = sorted(self.blocks) or [(0, len(self.text), "paragraph")]
        self._sentence_starts = [s for s, _ in self.sentences]
        self._block_starts = [s for s, _, _ in self.blocks]

    def sentence_of(self, pos: int) -> int:
        return max(bisect.bisect_right(self._sentence_starts, pos) - 1, 0)

    def block_of(self, pos: int) -> int:
        return max(bisect.bisect_right(self._block_starts, pos) - 1, 0)


def layouts(documents: pd.DataFrame, segments: pd.DataFrame) -> dict[str, Layout]:
    """Each document's sentences and blocks, from the `segments` table."""
    sentences: dict[str, list] = {}
    blocks: dict[str, list] = {}
    for doc_id, kind, start, end in zip(
        segments["doc_id"], segments["kind"], segments["start"], segments["end"]
    ):
        if kind == "sentence":
            sentences.setdefault(doc_id, []).append((int(start), int(end)))
        elif kind in ("paragraph", "item"):
            blocks.setdefault(doc_id, []).append((int(start), int(end), kind))
    return {
        doc_id: Layout(text, sentences.get(doc_id, []), blocks.get(doc_id, []))
        for doc_id, text in zip(documents["doc_id"], documents["text"])
    }


def pair_features(layout: Layout, items: list[LinkItem], claims: list[LinkClaim]) -> np.ndarray:
    """Features of every (claim, item) pair, claims major: row `c * len(items) + i`.

    Filled a column at a time per claim, from per-item facts computed once (sorted sentence
    indices, distinct wordings): the shared corpus has over 600,000 pairs."""
    n = len(items)
    x = np.zeros((len(claims) * n, len(FEATURES)), dtype=np.float32)
    if not items or not claims:
        return x
    col = {name: k for k, name in enumerate(FEATURES)}
    text = layout.text
    item_words = [content_words(it.label) for it in items]
    # An item's distinct wordings: it is often stated many times in the same words.
    span_words = [
        list({frozenset(w) for s, e in it.spans if (w := content_words(text[s:e]))}) for it in items
    ]
    span_sentences = [sorted({layout.sentence_of(s) for s, _ in it.spans}) for it in items]
    span_blocks = [{layout.block_of(s) for s, _ in it.spans} for it in items]
    for i, item in enumerate(items):
        x[i::n, col[f"is_{item.category}"]] = 1.0
    for c, claim in enumerate(claims):
        rows = x[c * n : (c + 1) * n]
        first, last = layout.sentence_of(claim.start), layout.sentence_of(max(claim.end - 1, 0))
        block = layout.block_of(claim.start)
        named = [
            (j, inner)
            for j, it in enumerate(items)
            if (inner := [(s, e) for s, e in it.spans if claim.start <= s and e <= claim.end])
        ]
        sentence_text = text[layout.sentences[first][0] : claim.end]
        anaphor = bool(_ANAPHOR.match(claim.text) or _ANAPHOR.match(sentence_text))
        inside = [
            any(claim.start - 2 <= s and e <= claim.end + 2 for s, e in it.spans) for it in items
        ]
        # The antecedent of a pronoun: the item named last before the claim.
        last_before = [
            max((e for _, e in it.spans if e <= claim.start), default=-1) for it in items
        ]
        antecedent = int(np.argmax(last_before)) if max(last_before) >= 0 else -1
        known = {(): content_words(text[claim.start : claim.end])}
        free = [_free_words(text, claim, items, named, i, known) for i in range(n)]
        covers = [len(w & f) / len(w) if w else 0.0 for w, f in zip(item_words, free)]
        best = max(covers)
        fuzzy_words: dict[int, _FuzzyWords] = {}  # by the id of a set in `known`
        before, after, same, previous, text_cover, fuzzy = [], [], [], [], [], []
        for i in range(n):
            words, sentences = free[i], span_sentences[i]
            k = bisect.bisect_left(sentences, first)  # sentences[k:] are at or after `first`
            before.append(first - sentences[k - 1] if k else None)
            j = bisect.bisect_right(sentences, last)  # sentences[j:] are after `last`
            after.append(sentences[j] - last if j < len(sentences) else None)
            same.append(j > k)
            previous.append(k > 0 and sentences[k - 1] == first - 1)
            text_cover.append(max((len(w & words) / len(w) for w in span_words[i]), default=0.0))
            if id(words) not in fuzzy_words:
                fuzzy_words[id(words)] = _FuzzyWords(words)
            near = fuzzy_words[id(words)]
            fuzzy.append(
                max((near.cover(w) for w in [item_words[i], *span_words[i]] if w), default=0.0)
            )
        rows[:, col["inside"]] = inside
        rows[:, col["same_sentence"]] = same
        rows[:, col["label_cover"]] = covers
        rows[:, col["text_cover"]] = text_cover
        rows[:, col["label_full"]] = [v >= 0.999 for v in covers]
        rows[:, col["fuzzy_cover"]] = fuzzy
        rows[:, col["previous_sentence"]] = previous
        rows[:, col["near_before"]] = [1 / (1 + b) if b is not None else 0.0 for b in before]
        rows[:, col["near_after"]] = [1 / (1 + a) if a is not None else 0.0 for a in after]
        rows[:, col["same_block"]] = [block in blocks for blocks in span_blocks]
        rows[:, col["anaphor"]] = [
            anaphor and i == antecedent and b is not None and b <= 1 for i, b in enumerate(before)
        ]
        any_inside = any(inside)  # once per claim, not once per item
        rows[:, col["others_inside"]] = [not v and any_inside for v in inside]
        rows[:, col["best_cover"]] = [v > 0 and v >= best for v in covers]
        rows[:, col["has_number"]] = bool(_NUMBER.search(claim.text))
        rows[:, col["claim_words"]] = np.log1p(len(claim.text.split()))
    return x


class _FuzzyWords:
    """A claim's words, for `cover`: the share of some words that the claim uses, a word
    matching another that shares all but its last three letters, and at least five
    ("humiliat-ing", "humiliat-ion"). Each word is looked up once per claim."""

    def __init__(self, claim_words: set[str]) -> None:
        self.words = claim_words
        # Two words can only match on a shared prefix of at least five letters, so each word
        # is compared with the claim words that start like it, not with all of them.
        self.by_prefix: dict[str, list[str]] = {}
        for v in claim_words:
            if len(v) >= 5:
                self.by_prefix.setdefault(v[:5], []).append(v)
        self.seen: dict[str, bool] = {}

    def near(self, w: str) -> bool:
        if w not in self.seen:
            self.seen[w] = w in self.words or any(
                len(os.path.commonprefix((w, v))) >= max(5, min(len(w), len(v)) - 3)
                for v in self.by_prefix.get(w[:5], ())
            )
        return self.seen[w]

    def cover(self, words: Iterable[str]) -> float:
        return sum(self.near(w) for w in words) / len(words)


def _free_words(
    text: str,
    claim: LinkClaim,
    items: list[LinkItem],
    named: list[list],
    i: int,
    known: dict[tuple, set[str]],
) -> set[str]:
    """The claim's content words that may name item `i`: words inside another item named in
    the claim belong to that item ("substance abuse" does not name "abuse"), unless that item
    is a kind of item `i` ("child abuse" names "abuse").

    `named`: (item index, its spans inside the claim) for the items named in it. `known`: the
    word sets already made for this claim, by the spans blanked out; `()` holds all its content
    words. Most items of an article have the same spans blanked, so each set is made once."""
    blanked = tuple(
        span
        for j, spans in named
        if j != i and items[j].broader != items[i].label
        for span in spans
        if span not in items[i].spans
    )
    if blanked not in known:
        chars = list(text[claim.start : claim.end])
        for s, e in blanked:
            chars[s - claim.start : e - claim.start] = " " * (e - s)
        known[blanked] = content_words("".join(chars))
    return known[blanked]


def explain(row: np.ndarray) -> str:
    """The strongest reasons, in words, why a pair's features make it a link."""
    f = dict(zip(FEATURES, row.tolist()))
    if f["inside"]:
        return "names it inside the claim (or the list the claim introduces)"
    if f["label_full"] or f["label_cover"] >= 0.5:
        where = (
            "in the same sentence"
            if f["same_sentence"]
            else ("in the same paragraph" if f["same_block"] else "elsewhere in the article")
        )
        return f"uses its words (stated {where})"
    if f["anaphor"]:
        return "refers back to it with a pronoun just after it is named"
    if f["same_sentence"] or f["same_block"]:
        return "speaks about it in the same sentence or paragraph"
    return "speaks about it nearby"


# ------------------------------------------------------------------ relation


@lru_cache(maxsize=1)
def _relation_patterns() -> tuple[re.Pattern, re.Pattern]:
    lex = cue_lexicon()

    def alt(words: list[str]) -> re.Pattern:
        return re.compile(
            r"\b(?:" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) + r")",
            re.I,
        )

    return alt(lex["negated_relation"]), alt(lex["association_only"])


def relation(claim_text: str, category: str) -> str:
    """How a claim backs an item of `category`: supports, weaker or contradicts.

    A negated relation ("no link", "did not improve") contradicts; wording that only says two
    things go together (`association_only` in the cue vocabulary) is weaker backing for an
    item the article states as a cause or as something that helps; anything else supports.
    """
    negated, association = _relation_patterns()
    if negated.search(claim_text):
        return "contradicts"
    if category in ("cause", "intervention") and association.search(claim_text):
        return "weaker"
    return "supports"


# ------------------------------------------------------------------ the model


@dataclass
class LinkModel:
    """Logistic regression over `FEATURES`, with the decision threshold chosen out of fold."""

    coef: np.ndarray
    intercept: float
    threshold: float
    meta: dict = field(default_factory=dict)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Probability that each pair is a link."""
        return 1 / (1 + np.exp(-(x @ self.coef + self.intercept)))

    def links(
        self,
        layout: Layout,
        items: list[LinkItem],
        claims: list[LinkClaim],
        explain: bool = False,
    ) -> list[tuple]:
        """(item index, claim index, score) of every pair the model links, with the pair's
        feature row appended when `explain` (for `explain()`)."""
        if not items or not claims:
            return []
        x = pair_features(layout, items, claims)
        p = self.scores(x)
        out = []
        for row in np.flatnonzero(p >= self.threshold):
            c, i = divmod(int(row), len(items))
            out.append((i, c, float(p[row])) + ((x[row],) if explain else ()))
        return out

    def save(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "features": list(FEATURES),
            "coef": [round(float(v), 6) for v in self.coef],
            "intercept": round(float(self.intercept), 6),
            "threshold": round(float(self.threshold), 4),
            "meta": self.meta,
        }
        path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path | None = None) -> LinkModel:
        """A saved linker, or the shipped one (`pipeline/resources/linker.json`)."""
        if path is None:
            raw = resources.files("pipeline").joinpath("resources/linker.json").read_text("utf-8")
        else:
            raw = Path(path).read_text(encoding="utf-8")
        payload = json.loads(raw)
        if payload["features"] != list(FEATURES):
            raise ValueError(
                f"linker {path or 'resources/linker.json'} was trained on other features; "
                f"retrain it with `pipeline train --linker-only`"
            )
        return cls(
            np.asarray(payload["coef"], dtype=np.float32),
            float(payload["intercept"]),
            float(payload["threshold"]),
            payload.get("meta", {}),
        )


def fit_linker(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    c: float,
    inner_folds: int,
    seed: int,
    weights: np.ndarray | None = None,
) -> LinkModel:
    """Fit the regression on all pairs (each weighted by `weights`); choose the threshold that
    maximises link F1 on predictions made out of fold (folds by article: `groups`) within the
    pairs of weight 1, the annotated corpus: a few heavily weighted reviewed pairs would
    otherwise decide the threshold for everything."""
    from sklearn.linear_model import LogisticRegression

    weights = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)

    def model(rows: np.ndarray) -> LogisticRegression:
        return LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(
            x[rows], y[rows], sample_weight=weights[rows]
        )

    threshold = 0.5
    plain = weights == 1
    if inner_folds > 1 and y[plain].sum() >= inner_folds:
        oof = np.zeros(len(y))
        fold = np.full(len(y), -1)
        fold[plain] = _group_folds(groups[plain], inner_folds, seed)
        for k in range(inner_folds):
            train, test = (fold != k) & plain, fold == k
            if y[train].sum() == 0 or not test.any():
                continue
            oof[test] = model(train).predict_proba(x[test])[:, 1]
        threshold = best_threshold(oof[plain], y[plain])
    final = model(np.ones(len(y), dtype=bool))
    return LinkModel(final.coef_[0].astype(np.float32), float(final.intercept_[0]), threshold)


def best_threshold(scores: np.ndarray, y: np.ndarray) -> float:
    """The score threshold with the best F1 (the midpoint to the next score below)."""
    order = np.argsort(-scores)
    tp = np.cumsum(y[order])
    k = np.arange(1, len(y) + 1)
    f1 = 2 * tp / (k + y.sum())
    best = int(np.argmax(f1))
    below = scores[order][best + 1] if best + 1 < len(order) else 0.0
    return float((scores[order][best] + below) / 2)


def _group_folds(groups: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold of every row, whole groups (articles) dealt round-robin after a seeded shuffle."""
    names = sorted(set(groups.tolist()))
    np.random.default_rng(seed).shuffle(names)
    fold_of = {g: i % k for i, g in enumerate(names)}
    return np.array([fold_of[g] for g in groups.tolist()])
