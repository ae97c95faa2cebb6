"""The trained tagger: a quality floor on articles it never saw (a fixed cross-validation fold,
scored by the shared scorer), reproducible training, learning from reviewers' verdicts, and
bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.extract.evaluate import article_folds, cross_validate
from pipeline.extract.gold import place_items, prepare_gold, read_gold
from pipeline.extract.model import Tagger, decode
from pipeline.extract.train import fit, paragraph_tags
from tests.conftest import REFERENCE, shared_path

SCORER = Path(__file__).resolve().parents[2] / "shared" / "tools" / "score_extraction.py"

# Fold 0 of the 5-fold split (seed 0), trained on the other four folds, per encoder.
# The fast tagger, measured with `pipeline evaluate --cv --folds 0` and this test, same code,
# three times:
#   2026-12-01 install:             signs 0.551, causes 0.279, interventions 0.573
#   2026-12-02 fresh install:       signs 0.571, causes 0.220, interventions 0.563 (claims 0.591)
#   same, training's sums reordered: signs 0.543, causes 0.210, interventions 0.605 (claims 0.558)
# (rules on the same articles: 0.382, 0.184, 0.402, claims 0.650). Float-level differences in
# training move one category of one fold by up to 0.07, causes most (125 gold items, about 40
# predicted), while the micro F1 over the three categories stayed at 0.508-0.513. So the gate
# holds that micro F1 to a tight floor, which a real regression crosses, and each category to a
# floor below its measured range (causes: about the rules' level on this fold). With 4 final
# epochs at the lower rate (2026-12-03, `pipeline evaluate --cv`, then inference with today's
# claim code): signs 0.545, causes 0.347, interventions 0.608, claims 0.762 (16 of 25), micro F1
# 0.527; the causes, claims and micro floors rise with it.
# The contextual tagger (2026-12-02, mention threshold 0.45): signs 0.647, causes 0.356,
# interventions 0.664, claims 0.791, micro F1 0.600 (at threshold 0.35: 0.659, 0.500, 0.639,
# 0.791; causes on this fold swing most with the threshold, while over all five folds they
# stayed at 0.515-0.516). With four networks (2026-12-03, `pipeline evaluate --cv`): signs 0.691,
# causes 0.400, interventions 0.669, claims 0.744, micro F1 0.634. With 4 final epochs at the
# lower rate (2026-12-03, `pipeline evaluate --cv`): signs 0.692, causes 0.530, interventions
# 0.681, claims 0.698 (15 of 25), micro F1 0.657. Its floors keep about the same margins below.
# Claims that take in the list they introduce, and quotations closed by their attribution
# (2026-12-03): claims 0.744 (16 of 25); one claim moves it by about 0.03.
FOLD0_FLOOR = {
    "fast": {"signs": 0.50, "causes": 0.27, "interventions": 0.50, "claims": 0.68},
    "contextual": {"signs": 0.62, "causes": 0.45, "interventions": 0.60, "claims": 0.68},
}
FOLD0_ITEMS_FLOOR = {"fast": 0.49, "contextual": 0.61}


def _small(config, epochs: int = 2, **changes):
    return config.train.model_copy(
        update={
            "epochs": epochs,
            "final_epochs": dict.fromkeys(config.train.final_epochs, 0),
            "ensemble": dict.fromkeys(config.train.ensemble, 1),
            "calibration_folds": 0,
            **changes,
        }
    )


@pytest.fixture(scope="module")
def gold_corpus(config):
    articles = read_gold(shared_path("gold", "dev.json"))
    return articles, *prepare_gold(articles, config)


@pytest.mark.slow
@pytest.mark.parametrize("encoder", ["contextual", "fast"])
def test_a_fold_the_model_never_saw_stays_above_its_floor(config, tmp_path, encoder):
    if not SCORER.is_file():
        pytest.skip(f"shared scorer not found at {SCORER}")
    paths = [shared_path("gold", "train.json"), shared_path("gold", "dev.json")]
    config = config.model_copy(
        update={"extract": config.extract.model_copy(update={"encoder": encoder})}
    )
    scores = cross_validate(paths, config, tmp_path, SCORER, folds=[0], log=lambda *_: None)
    model = scores["all"]["model"].set_index("category")
    rules = scores["all"]["rules"].set_index("category")
    print(model.to_string(), rules.to_string(), sep="\n")
    for category, floor in FOLD0_FLOOR[encoder].items():
        assert model.loc[category, "F1"] >= floor, category
    items = model.loc[["signs", "causes", "interventions"], ["tp", "pred", "gold"]].sum()
    micro_f1 = 2 * items["tp"] / (items["pred"] + items["gold"])
    assert micro_f1 >= FOLD0_ITEMS_FLOOR[encoder], micro_f1
    meta = json.loads((tmp_path / "folds" / "0" / "meta.json").read_text())
    assert meta["encoder"] == encoder
    # The tagger beats the rules it was built to replace on unseen articles.
    assert model["F1"].mean() > rules["F1"].mean()
    assert (tmp_path / "folds" / "0" / "model.safetensors").is_file()


def test_folds_split_articles_not_paragraphs_and_cover_each_once():
    ids = [f"a{i}" for i in range(139)]
    folds = article_folds(ids, 5, seed=0)
    assert sorted(folds) == sorted(ids)
    sizes = np.bincount(list(folds.values()))
    assert sizes.tolist() == [28, 28, 28, 28, 27]
    assert article_folds(list(reversed(ids)), 5, seed=0) == folds


def test_gold_items_are_placed_on_the_cleaned_text(gold_corpus):
    articles, docs, _, _ = gold_corpus
    reference = next(d for d in docs if d.id == REFERENCE)
    labels = {reference.text[s:e]: label for s, e, label in reference.spans}
    assert labels["Fear of Commitment"] == "sign"
    assert labels["1. Childhood Neglect"] == "cause"
    assert any(label == "claim" for label in labels.values())
    assert sum(d.unplaced for d in docs) <= 2


def test_a_word_named_twice_is_placed_where_the_annotator_was():
    text = "Anxiety is common. Signs: poor sleep, anxiety, and irritability."
    article = {"signs": [{"evidence": "poor sleep"}, {"evidence": "anxiety"}]}
    spans, unplaced = place_items(article, text)
    assert unplaced == 0
    assert (text.index("anxiety,"), text.index("anxiety,") + 7, "sign") in spans


def test_decoding_opens_a_span_on_an_inside_tag_and_scales_the_outside_tag():
    labels = ("sign", "cause", "intervention")
    probs = np.full((4, 7), 0.01)
    probs[0, 0] = 0.9  # O
    probs[1, 2] = 0.6  # I-sign without a B
    probs[2, 2] = 0.7
    probs[3, 0], probs[3, 3] = 0.55, 0.4  # O narrowly over B-cause
    spans = decode(probs, labels)
    assert [(s, e, lab) for s, e, lab, _ in spans] == [(1, 3, "sign")]
    spans = decode(probs, labels, outside_weight=0.5)
    assert [(s, e, lab) for s, e, lab, _ in spans] == [(1, 3, "sign"), (3, 4, "cause")]


def test_training_is_reproducible_and_saved_weights_predict_the_same(gold_corpus, config, tmp_path):
    from pipeline.extract.train import featurize

    _, docs, documents, segments = gold_corpus
    examples = featurize(docs[:4], documents, segments, config, "contextual")
    first, second = fit(examples, _small(config)), fit(examples, _small(config))
    feats = [e.features for e in examples[:8]]
    a, b = first.predict_features(feats), second.predict_features(feats)
    assert all(np.array_equal(x["mention"], y["mention"]) for x, y in zip(a, b))
    first.save(tmp_path)
    loaded = Tagger.load(tmp_path)
    c = loaded.predict_features(feats)
    assert all(np.allclose(x["mention"], y["mention"], atol=2e-2) for x, y in zip(a, c))
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["train"]["seed"] == config.train.seed
    assert meta["encoder"] == loaded.encoder == "contextual"
    layers = config.train.layers["contextual"]
    assert meta["architecture"]["layers"] == layers == loaded.nets[0].lstm.num_layers


def test_a_deeper_tagger_is_saved_and_loaded_with_its_depth(gold_corpus, config, tmp_path):
    from pipeline.extract.train import featurize

    _, docs, documents, segments = gold_corpus
    examples = featurize(docs[:2], documents, segments, config, "fast")
    cfg = _small(config, epochs=1, layers={"contextual": 1, "fast": 2})
    tagger = fit(examples, cfg)
    tagger.save(tmp_path)
    loaded = Tagger.load(tmp_path)
    assert loaded.nets[0].lstm.num_layers == 2
    feats = [e.features for e in examples[:4]]
    a, b = tagger.predict_features(feats), loaded.predict_features(feats)
    assert all(np.allclose(x["mention"], y["mention"], atol=2e-2) for x, y in zip(a, b))


def test_the_final_epochs_train_at_their_own_rate(gold_corpus, config):
    from pipeline.extract.train import featurize

    _, docs, documents, segments = gold_corpus
    examples = featurize(docs[:2], documents, segments, config, "fast")

    def weights(**changes):
        tagger = fit(examples, _small(config, epochs=1, **changes))
        return np.concatenate([v.flatten().numpy() for v in tagger.nets[0].state_dict().values()])

    plain = weights()
    # An epoch at a rate of almost nothing leaves the weights where the first epoch left them;
    # at the first epochs' rate it moves them.
    one = dict.fromkeys(config.train.final_epochs, 1)
    settled = weights(final_epochs=one, final_learning_rate=1e-12)
    moved = weights(final_epochs=one, final_learning_rate=config.train.learning_rate)
    assert np.abs(settled - plain).max() < 1e-6
    assert np.abs(moved - plain).max() > 1e-3


def test_longer_gold_spans_win_over_shorter_ones_inside_them(config):
    from pipeline.nlp import load_model

    nlp = load_model(config.spacy.model, exclude=("parser",))
    doc = nlp.make_doc("Fear of rejection and fear of abandonment")
    tags = paragraph_tags(doc, [(0, 7, "sign"), (0, 17, "cause")])
    assert tags["mention"].tolist()[:3] == [3, 4, 4]  # B-cause I-cause I-cause


def test_the_packaged_tagger_runs_on_bad_input_without_spurious_items(config, tmp_path):
    """Empty, non-English, very long and structure-free documents go through load, segment and
    extract: no crash, and no items from text that names none."""
    from pipeline.io import read_table
    from pipeline.runner import stage_extract, stage_load, stage_segment

    texts = {
        "empty": "",
        "german": "Die Katze sitzt auf der Matte und schaut aus dem Fenster. " * 20,
        "long": "The bus left the station at nine and the streets were quiet. " * 400,
        "flat": "word " * 3000,
        "symbols": "@@ ## $$ %% ^^ && ** (( )) " * 50,
    }
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name, text in texts.items():
        (inputs / f"{name}.txt").write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    stage_load([inputs], out, config)
    stage_segment(out, config)
    stage = stage_extract(out, config)
    assert stage.counts["failed_paragraphs"] == 0
    mentions, claims = read_table(out, "mentions"), read_table(out, "claims")
    assert mentions.empty and claims.empty, (mentions.text.tolist(), claims.text.tolist())
    rejected = read_table(out, "rejected")
    assert {"in/empty.txt", "in/german.txt"} <= set(rejected["input"])


@pytest.mark.slow
def test_a_reviewers_correction_changes_the_next_models_output(config, tmp_path, tmp_path_factory):
    """A reviewer re-labels a mention the model found; a model trained with that verdict tags
    the same words with the new category, one trained without it does not."""
    from pipeline.extract.features import encoder_features
    from pipeline.extract.stage import block_docs, extraction_pipeline, rules_config
    from pipeline.extract.train import train_tagger
    from pipeline.io import read_table
    from pipeline.review.app import load_run_items
    from pipeline.review.store import ReviewStore
    from tests.review_support import reference_tables

    tables = reference_tables(tmp_path_factory)
    items, docs = load_run_items(tables, config.review.claim_confidence)
    store = ReviewStore(tmp_path / "review.sqlite")
    store.sync(items, {d: v["doc_sha"] for d, v in docs.items()})
    signs = items[(items["item_type"] == "mention") & (items["category"] == "sign")]
    target = signs.sort_values("confidence", ascending=False).iloc[0]
    store.record_verdict(
        target["item_id"], "tester", "correct", 0, correction={"category": "cause"}
    )
    cfg = config.model_copy(update={"train": _small(config, epochs=6)})
    gold = [shared_path("gold", "dev.json")]
    without = train_tagger(cfg, gold)
    with_verdict = train_tagger(cfg, gold, tmp_path / "review.sqlite", tables)
    assert with_verdict.meta["review_paragraphs"] == 1

    nlp = extraction_pipeline(config.spacy.model, rules_config(config.extract))
    documents = read_table(tables, "documents")
    segments = read_table(tables, "segments")
    own = segments[segments["doc_id"] == target["doc_id"]]
    doc = next(
        d
        for d in nlp.pipe(block_docs(nlp, documents, own), disable=["selfhelp_mentions"])
        if d._.block["offset"] == target["context_start"]
    )
    offset = doc._.block["offset"]
    span = doc.char_span(target["start"] - offset, target["end"] - offset)

    def label_at(tagger: Tagger) -> set[str]:
        found = tagger.predict_spans(encoder_features([doc], tagger.encoder))[0]["mention"]
        return {lab for s, e, lab, _ in found if s < span.end and span.start < e}

    assert "cause" not in label_at(without), target["span"]
    assert label_at(with_verdict) == {"cause"}, target["span"]


def test_calibration_maps_scores_to_the_share_of_right_spans(gold_corpus, config):
    from pipeline.extract.train import calibration, featurize

    _, docs, documents, segments = gold_corpus
    examples = featurize(docs, documents, segments, config, "fast")
    folds = article_folds([d.doc_id for d in docs], 3, seed=0)
    tables, report = calibration(examples, folds, _small(config, epochs=4), 0.5)
    mention = tables["mention"]
    assert mention["x"] == sorted(mention["x"]) and mention["y"] == sorted(mention["y"])
    assert 0.0 <= min(mention["y"]) <= max(mention["y"]) <= 1.0
    assert 0.0 <= report["mention"]["ece_calibrated"] <= 1.0
    tagger = Tagger([], {"calibration": tables})
    assert tagger.calibrated("mention", [0.0, 1.0]) == [mention["y"][0], mention["y"][-1]]
    assert tagger.calibrated("cue", [0.3]) == [0.3]  # no map: unchanged


@pytest.mark.parametrize("encoder", ["contextual", "fast"])
def test_the_packaged_tagger_records_how_it_was_trained(config, encoder):
    from pipeline.extract.features import WIDTHS
    from pipeline.extract.model import TAGGER_DIRS

    folder = TAGGER_DIRS[encoder]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta.get("encoder", "fast") == encoder
    assert meta["architecture"].get("n_in", WIDTHS["fast"]) == WIDTHS[encoder]
    # The committed weights are what `pipeline train` makes with today's config.
    assert meta["architecture"].get("layers", 1) == config.train.layers[encoder]
    assert meta["articles"] == 139 and meta["unplaced_items"] <= 30
    assert meta["members"] == meta["train"]["ensemble"][encoder] == config.train.ensemble[encoder]
    assert meta["train"]["final_epochs"][encoder] == config.train.final_epochs[encoder]
    assert "mention" in meta["calibration"]  # thousands of spans: calibration must help
    for head, reliability in meta["calibration_report"].items():
        # Out-of-fold: a shipped map brings confidences closer to the share of right spans;
        # a map that would not is not shipped.
        assert reliability["used"] == (head in meta["calibration"]), head
        if reliability["used"]:
            assert reliability["ece_calibrated"] < reliability["ece_raw"], head
    size = (folder / "model.safetensors").stat().st_size
    assert size < 50 * 2**20


def test_a_sequences_tags_do_not_depend_on_the_batch_it_runs_in():
    from pipeline.extract.features import FEATURE_WIDTH
    from pipeline.extract.model import load_tagger

    rng = np.random.default_rng(0)
    feats = [rng.normal(size=(n, FEATURE_WIDTH)).astype(np.float32) for n in (3, 90, 0, 17, 1, 40)]
    tagger = load_tagger()
    alone = [tagger.predict_features([f], group=1)[0] for f in feats]
    together = tagger.predict_features(feats, group=4)
    backwards = tagger.predict_features(feats[::-1])[::-1]
    for f, one, *others in zip(feats, alone, together, backwards):
        assert one["mention"].shape[0] == len(f)
        for other in others:
            for head, probs in one.items():
                assert probs.shape == other[head].shape
                assert np.allclose(probs, other[head], atol=1e-5)


def test_auto_picks_the_contextual_tagger_for_a_corpus_up_to_its_size_limit(config):
    from pipeline.extract.stage import resolve_encoder

    cfg = config.extract.model_copy(update={"encoder": "auto", "contextual_max_words": 1000})
    assert resolve_encoder(cfg, 1000).encoder == "contextual"
    assert resolve_encoder(cfg, 1001).encoder == "fast"
    chosen = cfg.model_copy(update={"encoder": "fast"})
    assert resolve_encoder(chosen, 10).encoder == "fast"  # a chosen encoder is kept


def test_contextual_vectors_cover_every_word_and_depend_on_the_sentence(config):
    """Each word gets the mean of its word pieces, across window boundaries too, and the same
    word reads differently in another sentence (what the static vectors cannot do)."""
    from pipeline.extract.features import CONTEXT_WIDTH, ContextVectors
    from pipeline.nlp import load_model

    nlp = load_model(config.spacy.model)
    encode = ContextVectors(window=8)  # small windows: long paragraphs span several
    docs = [
        nlp.make_doc("Unhappiness after the breakup made her withdraw from friends."),
        nlp.make_doc("She sat on the river bank."),
        nlp.make_doc("He paid the money into the bank."),
    ]
    vectors = encode(docs)
    for doc, v in zip(docs, vectors):
        assert v.shape == (len(doc), CONTEXT_WIDTH)
        assert (np.abs(v).sum(axis=1) > 0).all(), doc.text
    river, money = vectors[1][5], vectors[2][6]
    assert docs[1][5].text == docs[2][6].text == "bank"
    cosine = river @ money / (np.linalg.norm(river) * np.linalg.norm(money))
    assert cosine < 0.95
    whole = ContextVectors()([docs[0]])[0]
    assert whole.shape == vectors[0].shape


def _threads_after_loading_a_tagger() -> int:
    import torch

    from pipeline.extract.model import TAGGER_DIR, load_tagger

    load_tagger.__wrapped__(str(TAGGER_DIR))
    return torch.get_num_threads()


def test_only_a_pool_worker_runs_the_tagger_on_one_thread():
    """A run's worker processes already use every core, so each runs torch on one thread; a
    run in one process (evaluation, `make bench-extract`) keeps all of them for MiniLM."""
    from concurrent.futures import ProcessPoolExecutor

    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert _threads_after_loading_a_tagger() == 2
        with ProcessPoolExecutor(1) as pool:
            assert pool.submit(_threads_after_loading_a_tagger).result() == 1
    finally:
        torch.set_num_threads(before)
