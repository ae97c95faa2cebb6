"""Property-based tests (hypothesis) of loading, cleaning, segmentation and extraction.

For any input: nothing raises, every offset is valid and leads back to the text it names,
segments of one level never overlap, nothing is lost between levels, and cleaning twice
changes nothing. Inputs are arbitrary Unicode and bytes, or shuffles of real article lines.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pipeline.clean import _CHAR_MAP, clean_text, to_raw_offset
from pipeline.extract.stage import extract_documents
from pipeline.ingest import Record, Rejection, decode_text, find_inputs, read_input
from pipeline.io import empty_frame
from pipeline.segment import segment_text
from tests.conftest import REFERENCE, REPO

_REFERENCE_LINES = [
    line
    for line in (REPO / "data" / "raw" / "articles" / f"{REFERENCE}.txt")
    .read_text(encoding="utf-8")
    .splitlines()
    if line.strip()
]
# Lines that exercise the rules: headings, numbered and bulleted items, colon items, FAQ
# questions, glued sentences, boilerplate and tail markers.
_RULE_LINES = [
    "Signs of Stress",
    "1. Poor sleep",
    "Stress can build up over weeks of work.",
    "Signs of Burnout",
    "1. Exhaustion",
    "2. Cynicism",
    "- Poor sleep",
    "Coping Strategies",
    "Rest: Take regular breaks from work.",
    "Sleep: Keep a steady schedule.",
    "FAQ",
    "Is burnout real?",
    "Yes, it is widely described.",
    "You may feel tired.It passes.",
    "Related: Other story",
    "— Share —",
    "healing stress",
    "Up Next",
    "**Bold** and *italic* with \\_escapes\\_ and <u>tags</u>.",
    "",
]
_LINE = st.one_of(
    st.sampled_from(_REFERENCE_LINES), st.sampled_from(_RULE_LINES), st.text(max_size=60)
)
_SEPARATOR = st.sampled_from(["\n", "\n\n", "\r\n", "\n \n", "\u2028"])


@st.composite
def article_like(draw) -> str:
    """Real and rule-exercising lines, with arbitrary text mixed in, joined by line breaks."""
    lines = draw(st.lists(_LINE, max_size=25))
    return draw(_SEPARATOR).join(lines)


_ANY_TEXT = st.one_of(st.text(max_size=400), article_like())
_TITLE = st.one_of(st.just(""), st.sampled_from(_REFERENCE_LINES[:3]), st.text(max_size=30))


# ---------------------------------------------------------------- cleaning


def check_clean(raw: str, text: str, offset_map: list[dict], removed: list[dict]) -> None:
    """Offsets tile the cleaned text, lead back to the same characters, in order, and never
    into a removed span; removed spans hold the raw text they name."""
    pos = 0
    for run in offset_map:
        assert run["clean_start"] == pos and run["length"] > 0
        assert run["raw_start"] >= 0 and run["raw_start"] + run["length"] <= len(raw)
        pos += run["length"]
    assert pos == len(text)
    sources = [to_raw_offset(offset_map, i) for i in range(len(text))]
    assert sources == sorted(sources)
    for span in removed:
        assert 0 <= span["raw_start"] <= span["raw_end"] <= len(raw)
        assert span["text"] == raw[span["raw_start"] : span["raw_end"]][:500]
    removed_at = {i for span in removed for i in range(span["raw_start"], span["raw_end"])}
    for char, src in zip(text, sources):
        if not char.isspace():  # separators and collapsed spaces map to a neighbour
            assert char == raw[src] or char in _CHAR_MAP.get(raw[src], ""), (char, raw[src])
            assert src not in removed_at


@settings(max_examples=200, deadline=None)
@given(_ANY_TEXT, _TITLE)
def test_cleaning_any_text_gives_valid_offsets_and_is_idempotent(config, raw, title):
    result = clean_text(raw, config.clean, title)
    check_clean(raw, result.text, result.offset_map, result.removed)
    again = clean_text(result.text, config.clean, title)
    assert again.text == result.text
    assert again.removed == []


@settings(max_examples=60, deadline=None)
@given(_ANY_TEXT)
def test_cleaning_extracted_html_text_is_valid_too(config, raw):
    """Text that trafilatura extracted skips the repeated-line rule; the guarantees hold."""
    result = clean_text(raw, config.clean, "", extracted=True)
    check_clean(raw, result.text, result.offset_map, result.removed)
    assert clean_text(result.text, config.clean, "", extracted=True).text == result.text


# ---------------------------------------------------------------- segmentation


def check_segments(text: str, seg: pd.DataFrame) -> None:
    """Spans equal their stored text, levels nest and never overlap, and nothing is dropped."""
    assert seg["segment_id"].is_unique
    for row in seg.itertuples(index=False):
        assert 0 <= row.start < row.end <= len(text)
        assert text[row.start : row.end] == row.text
        assert row.text == row.text.strip()
    for _, level in seg.groupby("kind"):
        spans = sorted(zip(level.start, level.end))
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    by_id = seg.set_index("segment_id")
    allowed_parents = {
        "section": {None},
        "item": {"section"},
        "paragraph": {"section", "item"},
        "sentence": {"paragraph"},
    }
    for row in seg.itertuples(index=False):
        parent = by_id.loc[row.parent_id] if row.parent_id else None
        assert (None if parent is None else parent.kind) in allowed_parents[row.kind]
        if parent is not None:
            assert parent.start <= row.start and row.end <= parent.end
    # Every visible character is in a section, and every one in a paragraph is in a sentence.
    sections = list(zip(seg[seg.kind == "section"].start, seg[seg.kind == "section"].end))
    for i, char in enumerate(text):
        if not char.isspace():
            assert any(s <= i < e for s, e in sections), i
    sentences = seg[seg.kind == "sentence"]
    for par in seg[seg.kind == "paragraph"].itertuples(index=False):
        own = sentences[sentences.parent_id == par.segment_id]
        covered = {i for s, e in zip(own.start, own.end) for i in range(s, e)}
        visible = {i for i in range(par.start, par.end) if not text[i].isspace()}
        assert visible <= covered, par.text


def _segments(text: str, title: str, config) -> pd.DataFrame:
    rows = segment_text("doc", text, title, config)
    return pd.DataFrame(rows) if rows else empty_frame("segments")


@settings(max_examples=80, deadline=None)
@given(_ANY_TEXT, _TITLE)
def test_segmenting_cleaned_text_gives_nested_non_overlapping_spans(config, raw, title):
    text = clean_text(raw, config.clean, title).text
    check_segments(text, _segments(text, title, config))


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_segmenting_uncleaned_unicode_does_not_fail(config, text):
    """Segmentation expects cleaned text, but raw text (tabs, odd breaks) must not break it."""
    check_segments(text, _segments(text, "", config))


# ---------------------------------------------------------------- extraction


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)  # the spaCy pipeline is slow; a few real-text documents per run
@given(st.lists(st.sampled_from(_REFERENCE_LINES), min_size=1, max_size=12), _TITLE)
def test_extraction_offsets_point_at_the_stored_text(config, lines, title):
    text = clean_text("\n".join(lines), config.clean, title).text
    assume(text.strip())
    segments = _segments(text, title, config).assign(doc_id="doc")
    documents = pd.DataFrame({"doc_id": ["doc"], "title": [title], "text": [text]})
    result = extract_documents(documents, segments, config)
    mentions, claims, failures = result[0], result[1], result[-1]
    assert failures == []
    paragraphs = segments[segments.kind == "paragraph"].set_index("segment_id")
    for m in mentions.itertuples(index=False):
        assert text[m.start : m.end] == m.text and m.start < m.end
        par = paragraphs.loc[m.segment_id]
        assert par.start <= m.start and m.end <= par.end
    for c in claims.itertuples(index=False):
        assert text[c.start : c.end] == c.text
        assert text[c.cue_start : c.cue_end] == c.cue
        par = paragraphs.loc[c.segment_id]
        assert par.start <= c.start and c.end <= par.end


# ---------------------------------------------------------------- loading


def _read(data: bytes, name: str, config) -> list[Record | Rejection]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        files, rejected = find_inputs([path], [])
        return rejected + [out for item in files for out in read_input(item, config)]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_decoding_any_bytes_gives_text_or_says_binary(config, data):
    try:
        text, encoding = decode_text(data, config.load)
    except ValueError as exc:
        assert "binary" in str(exc)
    else:
        assert isinstance(text, str) and encoding
        assert "\x00" not in text


_BYTES = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=500).map(lambda t: t.encode("utf-8")),
    st.text(max_size=300).map(lambda t: t.encode("utf-16")),
)


@settings(max_examples=120, deadline=None)
@given(_BYTES, st.sampled_from(["a.md", "a.html", "a.jsonl", "a.csv", "a.html.gz"]))
def test_any_file_loads_or_is_rejected_never_raises(config, data, name):
    outs = _read(data, name, config)
    assert outs, "every file leaves a trace"
    assert all(isinstance(o, Record | Rejection) for o in outs)
    for o in outs:  # blank text loads and is rejected by screening, after cleaning
        if isinstance(o, Rejection):
            assert o.reason and "\n" not in o.reason
        else:
            assert isinstance(o.raw_text, str) and "\x00" not in o.raw_text


_JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
_GOOD_LINE = st.builds(
    lambda text, extra: json.dumps({**extra, "text": text}),
    st.text(min_size=1, max_size=80).filter(str.strip),
    st.dictionaries(st.sampled_from(["title", "url", "published", "x"]), _JSON_VALUE, max_size=3),
).map(str.encode)
# Starts with "{", so never blank; otherwise anything but a line break.
_BAD_LINE = st.binary(max_size=40).filter(lambda b: b"\n" not in b).map(lambda b: b"{" + b)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.booleans(), _GOOD_LINE, _BAD_LINE), min_size=1, max_size=12))
def test_every_jsonl_line_gives_exactly_one_record_or_rejection(config, picks):
    lines = [good if use_good else bad for use_good, good, bad in picks]
    data = b"\n".join(lines)
    try:
        whole = decode_text(data, config.load)[1]
    except ValueError:
        whole = ""
    assume(not whole.startswith("utf-16"))  # read as one UTF-16 text, lines are not bytes
    outs = _read(data, "lines.jsonl", config)
    assert len(outs) == len(lines)
    records = [o for o in outs if isinstance(o, Record)]
    assert len(records) >= sum(use_good for use_good, _, _ in picks)
    assert len({r.source for r in records}) == len(records)
