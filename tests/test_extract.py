"""The extract stage's rule baseline end to end (`extract.method: rules`, the lexicon and list
structure the tagger takes as features): the reference article through load, segment and
extract, and inputs that should give nothing (or only plain lexicon mentions) without failing.
The trained tagger has its own tests in test_tagger.py."""

from pathlib import Path

import pandas as pd
import pytest

from pipeline.clean import to_raw_offset
from pipeline.config import load_config
from pipeline.io import read_table
from pipeline.runner import stage_extract, stage_load, stage_segment
from tests.conftest import REFERENCE, REPO

REFERENCE_PATH = REPO / "data" / "raw" / "articles" / f"{REFERENCE}.txt"
TABLES = ("documents", "segments", "mentions", "claims", "concepts", "rejected")

SIGN_TITLES = {
    "Fear of Commitment",
    "Lack of Trust",
    "Emotional Withdrawal",
    "Codependency",
    "Fear of rejection",
    "Low Self-Confidence",
}
CAUSE_TITLES = {
    "Childhood Neglect",
    "Abuse",
    "Separation or Loss",
    "Inconsistent Caregiving",
    "Parental Mental Health Issues",
}
INTERVENTION_TITLES = {
    "Seek Professional Help",
    "Practice Emotional Regulation",
    "Cultivate Self-Compassion",
    "Engage in Inner Child Work",
    "Build Supportive Relationships",
    "Set and Enforce Boundaries",
    "Practice Self-Reflection",
    "Practice Self-Validation",
}


@pytest.fixture(scope="module")
def config():
    """The rules baseline: these tests pin the lexicon and list-structure components."""
    return load_config(overrides={"extract": {"method": "rules"}})


def _run(inputs: list[Path], out: Path, config) -> dict:
    stage_load(inputs, out, config)
    stage_segment(out, config)
    stage_extract(out, config)
    return {name: read_table(out, name) for name in TABLES}


@pytest.fixture(scope="module")
def reference(config, tmp_path_factory):
    return _run([REFERENCE_PATH], tmp_path_factory.mktemp("reference"), config)


def test_list_item_titles_are_structure_mentions_of_their_section(reference):
    mentions = reference["mentions"]
    structure = mentions[mentions["method"] == "structure"]
    assert set(zip(structure["category"], structure["text"])) == (
        {("sign", t) for t in SIGN_TITLES}
        | {("cause", t) for t in CAUSE_TITLES}
        | {("intervention", t) for t in INTERVENTION_TITLES}
    )
    assert (structure["confidence"] == 0.9).all()


def test_therapies_named_in_prose_are_lexicon_interventions(reference):
    mentions = reference["mentions"]
    for therapy in ("EMDR", "psychodynamic therapy", "somatic experiencing"):
        found = mentions[mentions["text"] == therapy]
        assert set(zip(found["category"], found["method"])) == {("intervention", "lexicon")}


def test_reference_claims_are_the_six_gold_claims(reference, gold):
    expected = next(a for a in gold if a["id"] == REFERENCE)["claims"]
    claims = reference["claims"]
    assert sorted(claims["cue"]) == sorted(c["cue"] for c in expected)
    by_cue = claims.set_index("cue")
    for claim in expected:
        row = by_cue.loc[claim["cue"]]
        assert row["source_type"] == claim["source_type"], claim["cue"]
        year = None if pd.isna(row["year"]) else int(row["year"])
        assert year == claim["year"], claim["cue"]


def test_nothing_is_extracted_from_boilerplate(reference, gold, reference_raw):
    not_content = next(a for a in gold if a["id"] == REFERENCE)["not_content"]
    doc = reference["documents"].iloc[0]
    assert doc["raw_text"] == reference_raw
    offset_map = list(doc["offset_map"])
    # Every place a boilerplate string stands in the raw file.
    blocked = []
    for boilerplate in not_content:
        start = reference_raw.find(boilerplate)
        assert start >= 0, boilerplate
        while start >= 0:
            blocked.append((start, start + len(boilerplate)))
            start = reference_raw.find(boilerplate, start + 1)
    spans = list(zip(reference["mentions"]["start"], reference["mentions"]["end"]))
    spans += list(zip(reference["claims"]["start"], reference["claims"]["end"]))
    for start, end in spans:
        raw_start = to_raw_offset(offset_map, start)
        raw_end = to_raw_offset(offset_map, end - 1) + 1
        assert not any(raw_start < b_end and b_start < raw_end for b_start, b_end in blocked), doc[
            "text"
        ][start:end]
    for boilerplate in not_content:
        assert boilerplate not in doc["text"]
        assert not reference["mentions"]["text"].str.contains(boilerplate, regex=False).any()


def test_offsets_point_into_the_cleaned_text(reference):
    text = reference["documents"].iloc[0]["text"]
    mentions, claims = reference["mentions"], reference["claims"]
    assert len(mentions) > 0 and len(claims) > 0
    assert all(text[s:e] == t for s, e, t in zip(mentions.start, mentions.end, mentions.text))
    assert all(text[s:e] == t for s, e, t in zip(claims.start, claims.end, claims.text))
    assert all(text[s:e] == c for s, e, c in zip(claims.cue_start, claims.cue_end, claims.cue))
    assert mentions["mention_id"].is_unique and claims["claim_id"].is_unique


def test_ids_are_stable_across_runs(reference, config, tmp_path):
    again = _run([REFERENCE_PATH], tmp_path, config)
    assert list(again["documents"]["doc_id"]) == list(reference["documents"]["doc_id"])
    assert list(again["segments"]["segment_id"]) == list(reference["segments"]["segment_id"])
    for table, column in (
        ("mentions", "mention_id"),
        ("mentions", "concept_id"),
        ("claims", "claim_id"),
        ("concepts", "concept_id"),
    ):
        assert list(again[table][column]) == list(reference[table][column]), table


def test_mentions_inside_claims_are_flagged(reference):
    mentions, claims = reference["mentions"], reference["claims"]
    spans = list(zip(claims["start"], claims["end"]))
    inside = [
        any(cs <= s and e <= ce for cs, ce in spans) for s, e in zip(mentions.start, mentions.end)
    ]
    assert list(mentions["in_claim"]) == inside
    # "maltreatment" in the researchers' words, and in the article's own words too.
    maltreatment = mentions[mentions["text"] == "maltreatment"]
    assert set(maltreatment["in_claim"]) == {True, False}


def test_concept_table_agrees_with_the_mentions(reference):
    mentions, concepts = reference["mentions"], reference["concepts"]
    counts = mentions.groupby("concept_id").agg(
        n_docs=("doc_id", "nunique"), n_mentions=("mention_id", "size")
    )
    table = concepts.set_index("concept_id")
    assert set(table.index) == set(counts.index)
    assert table.loc[counts.index, "n_docs"].tolist() == counts["n_docs"].tolist()
    assert table.loc[counts.index, "n_mentions"].tolist() == counts["n_mentions"].tolist()
    assert int(table["n_mentions"].sum()) == len(mentions)


def test_claim_concepts_exist_and_come_from_mentions_inside_the_claim(reference):
    mentions, claims = reference["mentions"], reference["claims"]
    known = set(reference["concepts"]["concept_id"])
    assert any(len(ids) for ids in claims["concept_ids"])
    for claim in claims.itertuples():
        inside = mentions[(mentions.start >= claim.start) & (mentions.end <= claim.end)]
        assert set(claim.concept_ids) <= known
        assert set(claim.concept_ids) == set(inside["concept_id"])


# ------------------------------------------------------------------ inputs that give little


SPANISH = (
    "Cómo calmar la ansiedad\n\n"
    "La ansiedad es una respuesta natural del cuerpo ante el estrés. Muchas personas sienten "
    "miedo, preocupación constante y dificultad para dormir. Según los investigadores, la terapia "
    "cognitivo-conductual puede ayudar a reducir los síntomas. Practicar la respiración profunda "
    "cada día y mantener una rutina de sueño regular también son estrategias útiles.\n"
)
GERMAN = (
    "Wie man Angst lindert\n\n"
    "Angst ist eine natürliche Reaktion des Körpers auf Stress. Viele Menschen leiden unter "
    "ständiger Sorge und Schlafproblemen. Laut einer Studie aus dem Jahr 2019 kann eine kognitive "
    "Verhaltenstherapie die Beschwerden deutlich lindern. Tägliche Atemübungen und ein fester "
    "Schlafrhythmus helfen ebenfalls.\n"
)
# Prose paragraphs of the reference article (line numbers in the raw file): one set is run
# together into a single paragraph, the other repeated 200 times (disjoint, so that neither
# document is a near duplicate of the other).
FLAT_LINES = (16, 21, 29, 115)
LONG_LINES = (27, 31, 35, 76, 92)
LONG_PARAGRAPHS = 200


def _lines(raw: str, numbers: tuple[int, ...]) -> list[str]:
    lines = raw.splitlines()
    return [lines[n - 1].strip() for n in numbers]


@pytest.fixture(scope="module")
def odd_inputs(config, reference_raw, tmp_path_factory):
    folder = tmp_path_factory.mktemp("odd")
    inputs = folder / "in"
    inputs.mkdir()
    (inputs / "empty.txt").write_text("Notes\n\nComing soon.\n", encoding="utf-8")
    (inputs / "spanish.txt").write_text(SPANISH, encoding="utf-8")
    (inputs / "german.txt").write_text(GERMAN, encoding="utf-8")
    flat = " ".join(_lines(reference_raw, FLAT_LINES))
    (inputs / "flat.txt").write_text(f"Notes on relationships\n\n{flat}\n", encoding="utf-8")
    paragraphs = _lines(reference_raw, LONG_LINES)
    long = "\n\n".join(paragraphs[i % len(paragraphs)] for i in range(LONG_PARAGRAPHS))
    (inputs / "long.txt").write_text(f"Notes on relationships\n\n{long}\n", encoding="utf-8")
    tables = _run([inputs], folder / "out", config)
    doc_ids = {
        Path(s).stem: d for s, d in zip(tables["documents"].source, tables["documents"].doc_id)
    }
    return tables, doc_ids


def _rows(tables: dict, name: str, doc_id: str):
    return tables[name][tables[name]["doc_id"] == doc_id]


def test_odd_inputs_do_not_fail_extraction(odd_inputs):
    tables, doc_ids = odd_inputs
    assert set(doc_ids) == {"spanish", "german", "flat", "long"}
    assert (tables["rejected"]["stage"] != "extract").all()
    assert (tables["documents"]["duplicate_of"].fillna("") == "").all()


def test_an_almost_empty_document_is_rejected_before_extraction(odd_inputs):
    tables, _ = odd_inputs
    rejected = tables["rejected"].set_index("input")
    assert "words" in rejected.loc["in/empty.txt", "reason"]


@pytest.mark.parametrize("name", ["spanish", "german"])
def test_non_english_text_is_screened_out_before_extraction(odd_inputs, name):
    tables, doc_ids = odd_inputs
    doc = _rows(tables, "documents", doc_ids[name]).iloc[0]
    assert not doc["is_english"]
    assert "non-English" in tables["rejected"].set_index("doc_id").loc[doc_ids[name], "reason"]
    for table in ("segments", "mentions", "claims"):
        assert _rows(tables, table, doc_ids[name]).empty, table


def test_text_without_structure_gives_only_lexicon_mentions(odd_inputs):
    tables, doc_ids = odd_inputs
    doc = _rows(tables, "documents", doc_ids["flat"]).iloc[0]
    mentions = _rows(tables, "mentions", doc_ids["flat"])
    assert (_rows(tables, "segments", doc_ids["flat"])["kind"] == "paragraph").sum() == 1
    assert "lexicon" in set(mentions["method"])
    assert "structure" not in set(mentions["method"])
    assert {"EMDR", "psychodynamic therapy", "somatic experiencing"} <= set(mentions["text"])
    assert all(
        doc["text"][s:e] == t for s, e, t in zip(mentions.start, mentions.end, mentions.text)
    )


def test_every_copy_of_a_repeated_paragraph_gives_the_same_extractions(odd_inputs):
    tables, doc_ids = odd_inputs
    doc_id = doc_ids["long"]
    paragraphs = _rows(tables, "segments", doc_id)
    paragraphs = paragraphs[paragraphs["kind"] == "paragraph"]
    mentions, claims = _rows(tables, "mentions", doc_id), _rows(tables, "claims", doc_id)
    assert len(paragraphs) == LONG_PARAGRAPHS
    found: dict[str, set] = {}
    for par in paragraphs.itertuples():
        inside = mentions[mentions["segment_id"] == par.segment_id]
        relative = tuple(
            (m.start - par.start, m.end - par.start, m.category, m.concept_id)
            for m in inside.itertuples()
        )
        found.setdefault(par.text, set()).add(relative)
    assert len(found) == len(LONG_LINES)
    assert all(len(variants) == 1 for variants in found.values())
    assert "structure" not in set(mentions["method"])
    # The "add researchers" paragraph holds the one claim; each of its 40 copies keeps it.
    assert len(claims) == LONG_PARAGRAPHS // len(LONG_LINES)
    assert set(claims["cue"]) == {"add researchers"}


def test_a_run_with_no_usable_document_writes_empty_tables(config, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "empty.txt").write_text("Notes\n\nComing soon.\n", encoding="utf-8")
    (inputs / "spanish.txt").write_text(SPANISH, encoding="utf-8")
    tables = _run([inputs], tmp_path / "out", config)
    assert list(tables["documents"]["is_english"]) == [False]
    for table in ("segments", "mentions", "claims", "concepts"):
        assert tables[table].empty, table
    assert len(tables["rejected"]) == 2


def test_a_mention_is_inside_a_claim_of_its_own_document_only():
    from pipeline.extract.stage import _mentions_in_claims

    mentions = pd.DataFrame(
        {"doc_id": ["a", "a", "b", "c"], "start": [5, 30, 5, 0], "end": [10, 40, 10, 4]}
    )
    claims = pd.DataFrame({"doc_id": ["b", "a", "b"], "start": [6, 0, 5], "end": [50, 20, 10]})
    pairs = _mentions_in_claims(mentions, claims)
    # a's first mention lies in a's claim; b's mention exactly fills b's second claim (edges
    # count) but starts before its first; c has no claim; a's second mention is outside.
    assert sorted(map(tuple, pairs.to_numpy())) == [(0, 1), (2, 2)]
    assert _mentions_in_claims(mentions, claims.iloc[:0]).empty


LISTS = """Sleep Anxiety: Why Your Mind Races at Night

Sleep anxiety is a specific form of anxiety that appears around bedtime. Many readers know it
well from their own long nights.

According to the Sleep Foundation, common signs of sleep anxiety include:
- Racing thoughts at night
- Worrying about not getting enough sleep
- Fear of nightmares or disturbances
The ADAA notes that anxiety and sleep issues fuel one another: poor sleep raises anxiety.

Researchers at Harvard found that the most common triggers are:

What Helps

- Keeping a regular bedtime
- Writing worries down before bed

A 2019 study found that the symptoms of depression include:
-low mood,
-loss of interest,
-and fatigue.

Sleep gets better for most people with time and a little patience.
"""


def test_a_claim_that_introduces_a_list_takes_the_list_in(config, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "sleep-anxiety.txt").write_text(LISTS, encoding="utf-8")
    tables = _run([inputs], tmp_path / "out", config)
    text = tables["documents"]["text"].iloc[0]
    claims = tables["claims"].set_index("cue")
    # The list items right after the claim's paragraph, up to the next paragraph.
    listed = claims.loc["According to the Sleep Foundation"]
    assert listed["text"].startswith("common signs of sleep anxiety include:\n- Racing")
    assert listed["text"].endswith("- Fear of nightmares or disturbances")
    assert text[listed["start"] : listed["end"]] == listed["text"]
    # Lines opening with a bullet that segmenting left as paragraphs are a list too.
    assert claims.loc["A 2019 study found that", "text"].endswith(
        "-loss of interest,\n-and fatigue."
    )
    # A heading between the claim and a list: the list is not the claim's.
    assert (
        claims.loc["Researchers at Harvard found that", "text"] == "the most common triggers are:"
    )
    # The listed signs are inside the claim, and its concepts include theirs.
    mentions = tables["mentions"]
    inside = mentions[(mentions["start"] >= listed["start"]) & (mentions["end"] <= listed["end"])]
    assert len(inside) and inside["in_claim"].all()
    assert set(inside["concept_id"]) <= set(listed["concept_ids"])


def test_concept_variants_are_the_most_frequent_lower_cased_wordings():
    from pipeline.extract.concepts import concept_table

    texts = ["Shame", "shame", "guilt", "Guilt", "anger", *[f"w{i:02d}" for i in range(30)]]
    mentions = pd.DataFrame(
        {
            "concept_id": "sign:shame",
            "category": "sign",
            "concept": "shame",
            "doc_id": [f"d{i % 3}" for i in range(len(texts))],
            "text": texts,
        }
    )
    table = concept_table(mentions)
    row = table.iloc[0]
    assert (row["n_docs"], row["n_mentions"]) == (3, len(texts))
    # Two each for "guilt" and "shame" (alphabetical between them), then the singles.
    assert row["variants"][:4] == ["guilt", "shame", "anger", "w00"]
    assert len(row["variants"]) == 20


def test_concept_texts_are_what_assign_concepts_embeds(monkeypatch):
    import numpy as np

    from pipeline.extract import concepts

    seen: list[str] = []

    def fake_embed(texts, backend, cache_dir):
        seen.extend(texts)
        rng = np.random.default_rng(len(texts))
        vectors = rng.normal(size=(len(texts), 8))
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    monkeypatch.setattr(concepts, "embed_cached", fake_embed)
    raw = pd.DataFrame(
        {
            "category": ["sign", "sign", "cause", "intervention", "sign"],
            "lexicon_concept": ["", "", "", "", "anxiety"],
            "lemma": ["feel numb", "the fear of rejection", "childhood trauma", "go for walk", "x"],
        }
    )
    concepts.assign_concepts(raw, load_config())
    assert set(seen) == set(concepts.concept_texts(raw))
    assert "fear of rejection" in seen
