"""Languages per paragraph: counsel-chat's bilingual answers (English, then Spanish) keep their
Spanish paragraphs out of the English topic model, and segment_topics says which and why."""

from __future__ import annotations

import re

import pandas as pd

from pipeline.clean import language_of
from pipeline.topics import other_language_units, topic_units, with_other_languages
from tests.conftest import shared_path

LANGUAGES = ("es", "fr", "de", "it", "pt", "nl")


def _paragraphs() -> list[str]:
    answers = pd.read_csv(shared_path("counsel-chat", "counsel_chat.csv"))["answerText"]
    return [p.strip() for text in answers.dropna() for p in text.split("\n") if len(p.split()) >= 5]


def test_the_language_of_real_paragraphs():
    assert (
        language_of(
            "Soy Consejera Profesional Licenciada en Texas y Puerto Rico, veo clientes", LANGUAGES
        )
        == "es"
    )
    assert language_of("no sea ansiedad, ni si quiera por mí misma.", LANGUAGES) == "es"
    assert (
        language_of("I feel anxious whenever my partner is away for the night.", LANGUAGES) == "en"
    )
    assert language_of("Ich habe Angst vor der Zukunft und bin sehr traurig.", LANGUAGES) == "de"
    # A signature has no function word of any language: undecided, so it stays in.
    assert language_of("Robin J. Landwehr, DBH, LPC, NCC", LANGUAGES) == ""


def test_counsel_chat_spanish_paragraphs_are_found_and_english_ones_kept():
    paragraphs = _paragraphs()
    found = {p: language_of(p, LANGUAGES) for p in paragraphs}
    spanish = [p for p, lang in found.items() if lang == "es"]
    # Accented Spanish words mark paragraphs that surely are Spanish.
    marked = [p for p in paragraphs if re.search(r"\b(?:está|también|así|más|relación)\b", p)]
    assert marked and all(found[p] == "es" for p in marked), [p for p in marked if found[p] != "es"]
    assert len(spanish) >= 40
    # Precision: every paragraph called Spanish holds common Spanish words.
    spanish_words = re.compile(
        r"\b(?:que|para|con|una|los|las|de|del|el|la|su|tu|te|mi|muy|pero|como|por|sea|es|otra)\b",
        re.I,
    )
    assert all(spanish_words.search(p) for p in spanish), [
        p for p in spanish if not spanish_words.search(p)
    ]
    # Of the 2,900 paragraphs, hardly any is called another language.
    others = [p for p, lang in found.items() if lang not in ("en", "", "es")]
    assert len(others) <= 3, others


def test_topic_units_leave_other_languages_out_and_segment_topics_says_so(config):
    texts = [
        "Attachment trauma shapes how adults relate to their partners and friends.",
        "La relación de consejería también puede terminar por no conformar los parámetros.",
        "Robin J. Landwehr, DBH, LPC, NCC and more",
    ]
    segments = pd.DataFrame(
        {
            "segment_id": ["s1", "s2", "s3"],
            "doc_id": ["d"] * 3,
            "kind": ["paragraph"] * 3,
            "start": [0, 100, 200],
            "end": [80, 190, 240],
            "text": texts,
            "item_title": [""] * 3,
        }
    )
    units = topic_units(segments, config.topics)
    assert units["segment_id"].tolist() == ["s1", "s3"]
    others = other_language_units(segments, config.topics)
    assert others[["segment_id", "language"]].values.tolist() == [["s2", "es"]]
    fitted = pd.DataFrame(
        {"segment_id": ["s1", "s3"], "topic_id": [0, 0], "probability": [0.9, 0.8]}
    )
    table = with_other_languages(fitted, others).set_index("segment_id")
    assert table.loc["s2", ["topic_id", "probability", "language"]].tolist() == [-1, 0.0, "es"]
    assert table.loc["s1", "language"] == "en"
    # No other language checked: every unit is fitted.
    plain = config.topics.model_copy(update={"other_languages": []})
    assert len(topic_units(segments, plain)) == 3
