import re

from pipeline.clean import clean_text, english_ratio, to_raw_offset
from tests.conftest import REFERENCE


def _reference(gold):
    return next(article for article in gold if article["id"] == REFERENCE)


def _title(raw: str) -> str:
    return raw.splitlines()[0]


def test_reference_boilerplate_is_removed(config, gold, reference_raw):
    text = clean_text(reference_raw, config.clean, _title(reference_raw)).text
    for boilerplate in _reference(gold)["not_content"]:
        assert boilerplate not in text, boilerplate
    # The reader comment and the "Related:" links go too.
    assert "have been researching various health topics" not in text
    assert "Related:" not in text


def test_reference_gold_strings_survive_cleaning(config, gold, reference_raw):
    text = clean_text(reference_raw, config.clean, _title(reference_raw)).text
    article = _reference(gold)
    strings = [
        item["evidence"] for cat in ("signs", "causes", "interventions") for item in article[cat]
    ]
    strings += [claim["text"] for claim in article["claims"]]
    strings += [claim["cue"] for claim in article["claims"]]
    for s in strings:
        repaired = re.sub(r"([a-z][.!?])([A-Z])", r"\1 \2", s)  # the glued-sentence repair
        assert repaired in text, s


def test_glued_sentences_are_repaired_and_traced_back(config, reference_raw):
    result = clean_text(reference_raw, config.clean, _title(reference_raw))
    pos = result.text.index("emotional state. Attachment")
    raw_pos = to_raw_offset(result.offset_map, pos)
    assert reference_raw[raw_pos : raw_pos + len("emotional state.Attachment")] == (
        "emotional state.Attachment"
    )


def test_every_cleaned_character_maps_back_to_the_same_raw_character(config, reference_raw):
    result = clean_text(reference_raw, config.clean, _title(reference_raw))
    for i, ch in enumerate(result.text):
        if ch.strip():  # inserted separators map to the next raw character
            assert reference_raw[to_raw_offset(result.offset_map, i)] == ch


def test_removed_spans_are_recorded_with_rules(config, reference_raw):
    result = clean_text(reference_raw, config.clean, _title(reference_raw))
    rules = {span["rule"] for span in result.removed}
    assert {"title", "related_link", "share_block", "repeated_line"} <= rules
    assert any(rule.startswith("tail:") for rule in rules)
    for span in result.removed:
        assert reference_raw[span["raw_start"] : span["raw_end"]].startswith(span["text"][:50])


def test_unicode_spaces_and_ligatures_are_normalised(config):
    raw = "Title line\n\nThe \ufb01rst\u00a0step is   to breathe.\u200bThen rest.\n"
    text = clean_text(raw, config.clean, "Title line").text
    assert text == "The first step is to breathe. Then rest."


def test_photo_credit_and_its_caption_are_removed(config):
    raw = (
        "Sleep and anxiety\n\nA man sits in bed with a laptop at night.\n"
        "Ute Grabowsky / Getty Images\n\nThe body text stays here.\n"
    )
    result = clean_text(raw, config.clean, "Sleep and anxiety")
    assert result.text == "The body text stays here."
    assert {s["rule"] for s in result.removed} >= {"photo_credit", "caption"}


def test_english_ratio_separates_languages():
    assert english_ratio("It can be difficult to connect with others when you are hurt.") > 0.3
    assert english_ratio("La ansiedad es una respuesta normal del cuerpo ante el estrés.") < 0.1
    assert english_ratio("") == 0.0
