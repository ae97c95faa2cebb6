"""Duplicate flagging, and an extraction failure that lands in `rejected` without stopping."""

import pandas as pd

from pipeline.extract import stage as extract
from pipeline.io import read_table
from pipeline.runner import stage_extract, stage_load, stage_segment
from pipeline.screen import flag_duplicates


def _docs(texts: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"doc_id": [f"d{i}" for i in range(len(texts))], "text": texts})


def test_exact_and_near_duplicates_point_to_the_kept_document(config, reference_raw):
    body = reference_raw[:6000]
    near = body.replace("Attachment trauma refers to", "Attachment trauma describes", 1)
    other = reference_raw[6000:12000]
    flagged = flag_duplicates(_docs([body, body.upper(), near, other]), config.load)
    assert flagged["duplicate_of"].tolist() == ["", "d0", "d0", ""]
    assert flagged["duplicate_kind"].tolist() == ["", "exact", "near", ""]
    assert flagged["duplicate_similarity"].iloc[2] >= config.load.near_duplicate_threshold
    assert len(flagged) == 4  # flagged, never dropped


def test_a_paragraph_that_breaks_extraction_is_rejected_and_the_rest_goes_on(
    tmp_path, config, reference_raw, monkeypatch
):
    source = tmp_path / "inputs"
    source.mkdir()
    broken = reference_raw.replace("Trauma is a deep-rooted", "BOOM Trauma is a deep-rooted", 1)
    (source / "article.txt").write_text(broken, encoding="utf-8")
    out = tmp_path / "out"
    stage_load([source], out, config)
    stage_segment(out, config)
    real = extract.doc_persons

    def explode(doc):
        if "BOOM" in doc.text:
            raise RuntimeError("simulated failure")
        return real(doc)

    monkeypatch.setattr(extract, "doc_persons", explode)
    stage = stage_extract(out, config)
    assert stage.counts["failed_paragraphs"] == 1
    rejected = read_table(out, "rejected")
    row = rejected[rejected["stage"] == "extract"].iloc[0]
    assert "simulated failure" in row["reason"] and row["doc_id"]
    mentions = read_table(out, "mentions")
    assert {"Fear of Commitment", "EMDR"} <= set(mentions["text"])  # everything else extracted
    assert not mentions["text"].str.contains("BOOM").any()
