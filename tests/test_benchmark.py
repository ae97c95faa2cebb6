"""The benchmark's corpus helpers and slope fit (the benchmark itself is run by hand)."""

from __future__ import annotations

import gzip

import pytest
import spacy

from pipeline.benchmark import _head_records, _replicate, _slope, control_texts, speed_control
from pipeline.config import load_config
from pipeline.ingest import find_inputs, read_rows


def test_head_records_of_a_gzipped_jsonl_is_readable_jsonl(tmp_path):
    source = tmp_path / "stories.jsonl.gz"
    lines = [
        f'{{"id": "s{i}", "text": "story number {i} ' + "word " * 30 + '"}\n' for i in range(5)
    ]
    with gzip.open(source, "wt", encoding="utf-8") as fh:
        fh.writelines(lines)
    head = _head_records(source, 3, tmp_path / "head.jsonl")
    assert head.read_text(encoding="utf-8") == "".join(lines[:3])
    folder = _replicate([head], 2, tmp_path / "x2")
    files, _ = find_inputs([folder], [])
    rows = [row for item in files for row in read_rows(item, load_config())[0]]
    assert len(rows) == 6 and len({r["doc_id"] for r in rows}) == 6  # distinct IDs per copy


@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0])
def test_slope_recovers_the_exponent(exponent):
    x = [100.0, 200.0, 400.0]
    assert _slope(x, [3.0 * v**exponent for v in x]) == pytest.approx(exponent)


def test_the_speed_control_reads_the_first_long_paragraphs_up_to_its_word_count(tmp_path):
    source = tmp_path / "answers.csv"
    rows = ["text"]
    for i in range(6):
        rows.append(f'"Short {i}.\nParagraph {i} has quite a few more words than eight in it."')
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = load_config()
    texts = control_texts([source], config, n_words=30)
    # Only the 12-word paragraphs, in input order, until 30 words are reached: three of them.
    assert texts == [
        f"Paragraph {i} has quite a few more words than eight in it." for i in range(3)
    ]
    assert speed_control(spacy.load(config.spacy.model), texts, config, repeats=1) > 0
