"""Item-level scoring against the gold annotations, and the quality gate on `gold/dev.json`."""

import pandas as pd
import pytest

from pipeline.extract.evaluate import (
    MATCH_THRESHOLD,
    Score,
    dice,
    evaluate_gold,
    match_claims,
    match_items,
    summarise,
)
from tests.conftest import REFERENCE, shared_path

CATEGORIES = ("signs", "causes", "interventions", "claims")


def _gold(label: str, evidence: str) -> dict:
    return {"label": label, "evidence": evidence}


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("fear of rejection", "5. Fear of rejection", 1.0),  # numbering, case, stop words
        ("Fears of rejection", "fear of rejection", 1.0),  # plural
        ("Seek Professional Help", "1. Seek Professional Help", 1.0),
        ("low self-esteem", "low self-esteem and doubt", 6 / 7),  # 2 * 3 shared / (3 + 4)
        ("fear of commitment", "lack of trust", 0.0),
        ("", "fear of rejection", 0.0),  # no content words on one side
        ("and the of", "and the of", 0.0),
    ],
)
def test_dice_on_content_words(a, b, expected):
    assert dice(a, b) == pytest.approx(expected)
    assert dice(b, a) == pytest.approx(expected)


def test_documented_examples_of_the_match_rule():
    assert dice("deep breathing exercises", "deep breathing") >= MATCH_THRESHOLD
    assert dice("fear of rejection", "5. Fear of rejection") == 1.0
    assert dice("fear of failure", "fear of success") == MATCH_THRESHOLD
    assert dice("lack of trust", "fear of rejection") == 0.0


@pytest.mark.parametrize("singular, plural", [("exercise", "exercises"), ("feeling", "feelings")])
def test_singular_and_plural_meet(singular, plural):
    assert dice(singular, plural) == 1.0


def test_matching_is_one_to_one():
    gold = [_gold("fear of rejection", "5. Fear of rejection")]
    predicted = [("fear of rejection", ["Fear of rejection"]), ("rejection", ["rejected"])]
    score, matched = match_items(predicted, gold)
    assert (score.tp, score.fp, score.fn) == (1, 1, 0)
    assert matched == [(0, 0, 1.0)]


def test_best_pairs_are_matched_first():
    gold = [
        _gold("fear of rejection", "Fear of rejection"),
        _gold("fear of abandonment", "fear of abandonment"),
    ]
    # Item 0 meets both gold items at 0.67; item 1 meets "fear of rejection" exactly. Taking
    # item 0's best pair first would leave item 1 with the worse pair.
    predicted = [("fear", ["fear"]), ("fear of rejection", ["Fear of rejection"])]
    score, matched = match_items(predicted, gold)
    assert (score.tp, score.fp, score.fn) == (2, 0, 0)
    assert [(i, j) for i, j, _ in matched] == [(1, 0), (0, 1)]
    assert [round(sim, 2) for _, _, sim in matched] == [1.0, 0.67]


def test_label_meets_label_and_surface_meets_evidence():
    gold = [_gold("build supportive relationships", "5. Build Supportive Relationships")]
    # The concept label differs, the surface text is the gold evidence.
    by_surface = [("social support", ["Build Supportive Relationships"])]
    assert match_items(by_surface, gold)[0].tp == 1
    by_label = [("build supportive relationships", ["Supportive bonds"])]
    assert match_items(by_label, gold)[0].tp == 1


def test_label_is_not_compared_with_evidence_nor_surface_with_label():
    gold = [_gold("people pleasing", "excessive desire to please others")]
    label_is_evidence = [("excessive desire", ["nothing alike"])]
    surface_is_label = [("nothing alike", ["people pleasing"])]
    for predicted in (label_is_evidence, surface_is_label):
        score, matched = match_items(predicted, gold)
        assert (score.tp, score.fp, score.fn, matched) == (0, 1, 1, [])


def test_claims_match_on_their_words():
    gold = [
        {
            "text": "Child abuse and neglect are predictive of disorganized attachment, as well as "
            "insecure attachment more generally,"
        }
    ]
    found = "Child abuse and neglect are predictive of disorganized attachment"
    assert (match_claims([found], gold).tp, match_claims([found], gold).fp) == (1, 0)
    unrelated = "Insomnia is the most common sleep disorder."
    score = match_claims([unrelated, found], gold)
    assert (score.tp, score.fp, score.fn) == (1, 1, 0)


def test_empty_score_is_zero_not_an_error():
    assert (Score().precision, Score().recall, Score().f1) == (0.0, 0.0, 0.0)
    assert match_items([], [])[0].f1 == 0.0


def test_summarise_micro_averages_over_the_chosen_articles():
    scores = pd.DataFrame(
        [
            {"article": "a", "category": "signs", "tp": 9, "fp": 1, "fn": 0},
            {"article": "b", "category": "signs", "tp": 0, "fp": 0, "fn": 10},
            {"article": "a", "category": "claims", "tp": 1, "fp": 0, "fn": 1},
        ]
    )
    summary = summarise(scores).set_index("category")
    # Micro: 9 / 10 precision and 9 / 19 recall, not the mean of the two articles' F1.
    assert summary.loc["signs", ["tp", "fp", "fn"]].tolist() == [9, 1, 10]
    assert summary.loc["signs", "f1"] == round(2 * 0.9 * (9 / 19) / (0.9 + 9 / 19), 3)
    only_a = summarise(scores, ["a"]).set_index("category")
    assert only_a.loc["signs", "f1"] == round(2 * 0.9 / 1.9, 3)
    assert list(only_a.index) == ["signs", "claims"]


# ------------------------------------------------------------------ the gate on gold/dev.json


@pytest.fixture(scope="module")
def dev_scores(config):
    """The rules baseline on the 13 dev articles it was tuned on: a regression gate for the
    lexicon and list structure, which the tagger takes as features. The tagger itself is gated
    on articles it never saw (test_tagger.py)."""
    rules = config.model_copy(
        update={"extract": config.extract.model_copy(update={"method": "rules"})}
    )
    scores, _ = evaluate_gold(shared_path("gold", "dev.json"), rules)
    return scores


@pytest.mark.slow
def test_reference_article_f1_gate(dev_scores):
    summary = summarise(dev_scores, [REFERENCE]).set_index("category")
    for category in CATEGORIES:
        assert summary.loc[category, "f1"] >= 0.85, category


# Measured with `pipeline evaluate --gold ../shared/data/gold/dev.json` on 2026-11-28 (all 13
# gold articles, micro F1): signs 0.667, causes 0.745, interventions 0.772, claims 0.913.
# Floors are 0.02 below; raise them when extraction improves.
DEV_F1_FLOORS = {"signs": 0.647, "causes": 0.725, "interventions": 0.752, "claims": 0.893}


@pytest.mark.slow
def test_all_gold_articles_f1_floors(dev_scores, gold):
    assert list(dev_scores["article"].unique()) == [article["id"] for article in gold]
    # Every gold article was loaded and scored: none of its items went missing as a whole.
    found = dev_scores[dev_scores["category"] != "claims"].groupby("article")["tp"].sum()
    assert (found > 0).all()
    summary = summarise(dev_scores).set_index("category")
    for category, floor in DEV_F1_FLOORS.items():
        assert summary.loc[category, "f1"] >= floor, (category, summary.loc[category, "f1"])
