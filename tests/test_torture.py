"""The torture corpus (tests/torture.py) through the load stage and through `pipeline run`.

Every file must load or land in `rejected` with its reason, and the run must finish with exit
code 3. Each file counts once per entry point in the reliability summary.
"""

from __future__ import annotations

import csv
import gzip
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner
from webserver import serve

from pipeline.cli import EXIT_PARTIAL, app
from pipeline.config import load_config
from pipeline.ingest import find_inputs, read_input
from pipeline.io import read_table
from pipeline.runner import stage_load
from tests.conftest import shared_path
from tests.reliability import record_reliability
from tests.torture import BOMB_MEMBER_BYTES, FORMULA_TITLE, Case, build_corpus, server_routes

pytestmark = pytest.mark.network  # the URL-list case is served on 127.0.0.1

ROOT = "torture"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, reference_raw):
    """The corpus folder, its cases and a config file, with the URL-list server running."""
    for part in ("fakehealth", "counsel-chat", "healthfc"):
        shared_path(part)
    base = tmp_path_factory.mktemp("torture-run")
    with serve(server_routes(reference_raw)) as base_url:
        cases = build_corpus(base / ROOT, reference_raw, base_url)
        config = base / "config.yaml"
        config.write_text(
            f"paths:\n  web_cache: {base / 'web'}\n"
            "fetch:\n  allow_private_hosts: true\n  per_host_delay_s: 0\n  max_retries: 0\n",
            encoding="utf-8",
        )
        yield base, cases, config


def _check(cases: list[Case], entry: str, docs: pd.DataFrame, rejected: pd.DataFrame) -> list[str]:
    """Record each case for the summary (a file in neither table is lost) and list problems."""
    problems = []
    for case in cases:
        lost = 0 if case.accounted(ROOT, docs, rejected) else 1
        record_reliability(case.kind, f"{entry}: {case.source[:60]}", lost=lost)
        problems.extend(case.problems(ROOT, docs, rejected))
    return problems


def _by_source(docs: pd.DataFrame) -> dict[str, pd.Series]:
    return {row.source: row for _, row in docs.iterrows()}


def test_load_stage_accounts_for_every_torture_file(corpus, reference_raw, tmp_path):
    base, cases, config_file = corpus
    out = tmp_path / "out"
    stage_load([base / ROOT], out, load_config(config_file))
    docs, rejected = read_table(out, "documents"), read_table(out, "rejected")
    assert _check(cases, "load stage", docs, rejected) == []
    assert docs["doc_id"].is_unique
    assert not rejected["reason"].str.contains("\n").any()  # one line each

    doc = _by_source(docs)
    # Mis-encoded and damaged text comes back as the original text, not mojibake.
    for name in ("utf-16-le-bom.txt", "utf-16-no-bom.txt", "nul-ridden.txt"):
        assert doc[f"{ROOT}/{name}"].raw_text == reference_raw, name
    assert doc[f"{ROOT}/utf-16-no-bom.txt"].encoding == "utf-16-le"
    assert doc[f"{ROOT}/nul-ridden.txt"].encoding == "utf-8 (46 NUL bytes removed)"
    assert "Let’s dive in." in doc[f"{ROOT}/cp1252.txt"].raw_text
    assert doc[f"{ROOT}/latin-1.txt"].raw_text.startswith("Café, naïveté\n")
    truncated = doc[f"{ROOT}/truncated-mid-character.txt"]
    assert reference_raw.startswith(truncated.raw_text)
    assert truncated.encoding == "utf-8 (incomplete last character dropped)"
    # One JSONL line in cp1252 is decoded on its own; its UTF-8 neighbours stay UTF-8.
    jsonl = docs[docs["source"].str.startswith(f"{ROOT}/broken-lines.jsonl#")]
    assert sorted(jsonl["encoding"]) == ["cp1252", "utf-8", "utf-8"]
    assert "Café “quotes”" in set(jsonl["title"])
    # The deep nesting is read, not cut off at lxml's 255 levels.
    assert "Are you trapped in a cycle" in doc[f"{ROOT}/deeply-nested.html"].raw_text
    # Another language is kept and flagged, not lost.
    assert not doc[f"{ROOT}/german.txt"].is_english
    # Hostile fields cost nothing: odd dates kept as given, a huge title never taken whole (a
    # million-character "title" is no title: the text's own heading or the record ID stands in).
    hostile = docs[docs["source"].str.startswith(f"{ROOT}/hostile-ids.jsonl#")]
    assert set(hostile["published"]) >= {"inf", "1e+300", "2019-01-01"}
    assert hostile["title"].str.len().max() <= load_config().clean.title_max_chars


def test_pipeline_run_over_the_torture_corpus_exits_partial_and_loses_nothing(corpus):
    base, cases, config_file = corpus
    out = base / "out"
    before = set(base.parent.rglob("*"))
    escape_target = Path("/tmp/escaped")  # where "../../../../tmp/escaped" would lead
    assert not escape_target.exists()
    result = CliRunner().invoke(
        app, ["run", "-i", str(base / ROOT), "-o", str(out), "-c", str(config_file)]
    )
    assert result.exit_code == EXIT_PARTIAL, result.output
    docs, rejected = read_table(out, "documents"), read_table(out, "rejected")
    assert _check(cases, "pipeline run", docs, rejected) == []
    # Nothing later in the run failed on what loading let through.
    assert set(rejected["stage"]) <= {"load", "clean"}
    segments = read_table(out, "segments")
    texts = dict(zip(docs["doc_id"], docs["text"]))
    assert all(
        texts[d][s:e] == t
        for d, s, e, t in zip(segments.doc_id, segments.start, segments.end, segments.text)
    )
    assert len(read_table(out, "mentions")) > 0

    # Paths from inputs never escape the output folder: every new file is in `out` or the web
    # cache, whatever the IDs, titles and URLs of the documents said.
    created = set(base.parent.rglob("*")) - before
    assert created and all(p.is_relative_to(out) or p.is_relative_to(base / "web") for p in created)
    assert not any("escaped" in p.name or p.name == "passwd" for p in created)
    assert not escape_target.exists()
    # Hostile titles reach the report escaped, and spreadsheet formulas are neutralised.
    html = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert "<script>alert(" not in html
    with (out / "report" / "tables" / "documents.csv").open(encoding="utf-8", newline="") as fh:
        titles = {row["title"] for row in csv.DictReader(fh)}
    assert "'" + FORMULA_TITLE in titles and FORMULA_TITLE not in titles


def test_gzip_bomb_is_refused_without_inflating_it(tmp_path):
    """2 GiB of inflated data behind 2 MB on disk: refused after the cap, in little memory."""
    path = tmp_path / "bomb.html.gz"
    member = gzip.compress(b"a" * BOMB_MEMBER_BYTES, compresslevel=9)
    path.write_bytes(member * 128)
    cap = 5_000_000
    config = load_config(overrides={"load": {"max_file_bytes": cap}})
    item = find_inputs([path], [])[0][0]
    tracemalloc.start()
    try:
        outs = list(read_input(item, config))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    lost = 0 if len(outs) == 1 else 1
    record_reliability("input:gzip-bomb", "bomb.html.gz (direct read)", lost=lost)
    assert len(outs) == 1 and "decompresses to over load.max_file_bytes" in outs[0].reason
    assert peak < 4 * cap  # the whole bomb would be 2 GiB


def test_a_run_in_which_every_input_is_rejected_still_finishes(tmp_path):
    """No document at all is a partial run (exit 3) with empty tables, not a crash."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "empty.txt").write_bytes(b"")
    (inputs / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (inputs / "notes.docx").write_bytes(b"PK\x03\x04")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", "-i", str(inputs), "-o", str(out)])
    rejected = read_table(out, "rejected")
    accounted = set(rejected["input"]) if (out / "rejected.parquet").exists() else set()
    for name in ("empty.txt", "image.txt", "notes.docx"):
        lost = 0 if f"inputs/{name}" in accounted else 1
        record_reliability("input:not-text", f"all-rejected run: {name}", lost=lost)
    assert result.exit_code == EXIT_PARTIAL, result.output
    assert accounted == {"inputs/empty.txt", "inputs/image.txt", "inputs/notes.docx"}
    assert read_table(out, "documents").empty and read_table(out, "segments").empty


def test_two_inputs_with_the_same_source_key_are_not_merged(tmp_path, reference_raw, config):
    """Two folders named alike give one source key; the second file is rejected, saying why."""
    paragraphs = [p for p in reference_raw.split("\n") if len(p.split()) > 25]
    first, second = tmp_path / "a" / "articles", tmp_path / "b" / "articles"
    for folder, text in ((first, paragraphs[0]), (second, paragraphs[1])):
        folder.mkdir(parents=True)
        (folder / "same-name.txt").write_text(text, encoding="utf-8")
    try:
        stage_load([first, second], tmp_path / "out", config)
    except Exception:
        record_reliability("input:duplicate-ids", "same file name in two folders", lost=2)
        raise
    docs, rejected = (
        read_table(tmp_path / "out", "documents"),
        read_table(tmp_path / "out", "rejected"),
    )
    reasons = rejected[rejected["input"] == "articles/same-name.txt"]["reason"].tolist()
    lost = 0 if len(docs) == 1 and len(reasons) == 1 else 1
    record_reliability("input:duplicate-ids", "same file name in two folders", lost)
    assert docs["raw_text"].tolist() == [paragraphs[0]]
    assert len(reasons) == 1 and "taken by another input with different text" in reasons[0]


def test_url_list_over_the_size_cap_is_refused_before_fetching(tmp_path):
    path = tmp_path / "urls.txt"
    path.write_text("https://example.invalid/article\n" * 100, encoding="utf-8")
    config = load_config(overrides={"load": {"max_file_bytes": 1000}})
    outs = list(read_input(find_inputs([path], [])[0][0], config))
    record_reliability("input:oversize", "URL list over the cap", lost=int(len(outs) != 1))
    assert len(outs) == 1 and "over load.max_file_bytes" in outs[0].reason
