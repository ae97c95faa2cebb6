"""The review queue and verdict store on a real run over the reference article: stable item
IDs, doubtful items first, the append-only log, stale items after a re-run over changed text,
export and import round trips, and the audit section of the report."""

from __future__ import annotations

import csv
import json
import sqlite3

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from pipeline.io import read_table
from pipeline.report import write_report
from pipeline.review import ConflictError, ReviewStore, VerdictError, build_items, doc_hash
from pipeline.review.app import load_run_items
from pipeline.review.items import ITEM_ID_RE
from tests.review_support import (
    REFERENCE_PATH,
    TABLES,
    pipeline_config,
    reference_tables,
    run_on_text,
)

NASTY_COMMENTS = (
    '=HYPERLINK("http://x","click")',
    "+1",
    "-2",
    "@SUM(A1)",
    "'=already quoted",
    "''",
    "<script>alert(1)</script> & <b>bold</b>",
    "line one\nline two\r\nline three\rend",
    "\ttab first",
    "comma, \"quotes\" and 'apostrophes'",
    "unicode: café, 心理学, emoji 🧠, line\u2028separator",
    "",
)


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    return reference_tables(tmp_path_factory)


@pytest.fixture(scope="module")
def items(tables):
    items, _ = load_run_items(tables, pipeline_config().review.claim_confidence)
    return items


def _run_docs(out) -> dict[str, str]:
    documents = read_table(out, "documents")
    return {d: doc_hash(t) for d, t in zip(documents["doc_id"], documents["text"])}


@pytest.fixture
def store(tmp_path, tables, items):
    store = ReviewStore(tmp_path / "verdicts.sqlite")
    store.sync(items, _run_docs(tables))
    return store


def _first(store, **filters) -> dict:
    rows, _ = store.queue({"status": "all", **filters}, limit=1)
    return rows[0]


# --- the queue --------------------------------------------------------------------------------


def test_queue_holds_claims_mentions_and_support_rows(tables, items):
    mentions, claims, support = (read_table(tables, n) for n in ("mentions", "claims", "support"))
    counts = items["item_type"].value_counts().to_dict()
    assert counts == {"mention": len(mentions), "claim": len(claims), "support": len(support)}
    claim = items[items["item_type"] == "claim"].iloc[0]
    assert claim["source_type"] and claim["support_status"] in ("backed", "partial", "unused")
    assert json.loads(claim["details"])["cue"]
    backed = items[(items["item_type"] == "claim") & (items["support_status"] == "backed")]
    assert len(backed), "the reference's maltreatment study backs the neglect and abuse rows"
    flagged = items[items["flags"].map(len) > 0]
    assert {"vague attribution", "strength mismatch"} <= {f for fs in flagged["flags"] for f in fs}


def test_item_ids_are_content_hash_offsets_and_category(tables, items):
    documents = read_table(tables, "documents")
    digest = doc_hash(documents["text"].iloc[0])
    assert items["item_id"].is_unique
    assert all(ITEM_ID_RE.match(i) for i in items["item_id"])
    mention = items[items["item_type"] == "mention"].iloc[0]
    assert mention["item_id"] == (
        f"mention:{digest}:{mention['start']}-{mention['end']}:{mention['category']}"
    )
    # Row order and row numbers play no part: shuffled tables give the same IDs.
    shuffled = {
        name: read_table(tables, name).sample(frac=1, random_state=1).reset_index(drop=True)
        for name in TABLES
    }
    again = build_items(*shuffled.values(), pipeline_config().review.claim_confidence)
    assert set(again["item_id"]) == set(items["item_id"])


def test_queue_puts_doubtful_items_first(store, items):
    rows, total = store.queue({"status": "all"}, limit=1000)
    assert total == len(items)
    confidences = [r["confidence"] for r in rows]
    assert confidences == sorted(confidences)
    assert confidences[0] < confidences[-1]


@pytest.mark.parametrize(
    ("filters", "check"),
    [
        ({"category": "cause"}, lambda r: r["category"] == "cause"),
        ({"type": "claim"}, lambda r: r["item_type"] == "claim"),
        ({"flag": "vague attribution"}, lambda r: "vague attribution" in r["flags"]),
        ({"flag": "strength mismatch"}, lambda r: r["item_type"] == "support"),
    ],
)
def test_queue_filters(store, filters, check):
    rows, total = store.queue({"status": "all", **filters}, limit=1000)
    assert total == len(rows) > 0
    assert all(check(r) for r in rows)


def test_queue_filters_by_article_and_review_status(store, items):
    doc_id = items["doc_id"].iloc[0]
    assert store.queue({"status": "all", "doc": doc_id})[1] == len(items)
    assert store.queue({"status": "all", "doc": "another-article"})[1] == 0
    first = _first(store)
    store.record_verdict(first["item_id"], "ann", "reject", 0)
    assert store.queue({"status": "unreviewed"})[1] == len(items) - 1
    assert [r["item_id"] for r in store.queue({"status": "reject"})[0]] == [first["item_id"]]
    assert store.queue({"status": "accept"})[1] == 0


# --- the log ----------------------------------------------------------------------------------


def test_log_keeps_who_when_old_and_new_value(store):
    item = _first(store, type="mention")
    first = store.record_verdict(item["item_id"], "ann", "accept", 0, "looks right")
    other = "sign" if item["category"] != "sign" else "cause"
    second = store.record_verdict(
        item["item_id"], "bob", "correct", first["seq"], correction={"category": other}
    )
    assert first["reviewer"] == "ann" and first["at"] and first["old_verdict"] is None
    assert first["old_value"] == first["new_value"]
    assert first["new_value"]["text"] == item["span"]
    assert second["old_verdict"] == "accept"
    assert second["old_value"]["category"] == item["category"]
    assert second["new_value"]["category"] == other
    current = store.item(item["item_id"])
    assert (current["verdict"], current["reviewer"], current["seq"]) == (
        "correct",
        "bob",
        second["seq"],
    )
    assert [h["seq"] for h in store.history(item["item_id"])] == [first["seq"], second["seq"]]


def test_log_is_append_only(store):
    item = _first(store)
    store.record_verdict(item["item_id"], "ann", "accept", 0)
    conn = sqlite3.connect(store.path)
    try:
        for statement in ("UPDATE verdict_log SET verdict = 'reject'", "DELETE FROM verdict_log"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(statement)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    assert store.item(item["item_id"])["verdict"] == "accept"


def test_a_stale_base_is_a_conflict_and_writes_nothing(store):
    item = _first(store)
    store.record_verdict(item["item_id"], "ann", "accept", 0)
    with pytest.raises(ConflictError) as caught:
        store.record_verdict(item["item_id"], "bob", "reject", 0)
    assert caught.value.current["reviewer"] == "ann"
    assert len(store.log()) == 1


def test_corrections_are_checked_against_the_item(store):
    mention = _first(store, type="mention")
    support = _first(store, type="support")
    bad = [
        (mention, {"category": "symptom"}, "category must be one of"),
        (mention, {"status": "backed"}, "cannot be corrected in status"),
        (mention, {"start": mention["context_start"] - 1}, "inside the source paragraph"),
        (mention, {"start": mention["end"], "end": mention["start"]}, "start < end"),
        (mention, {"start": "7"}, "whole number"),
        (mention, {"concept": "   "}, "must not be empty"),
        (mention, {"category": mention["category"]}, "must change something"),
        (mention, {}, "at least one of"),
        (support, {"status": "proven"}, "status must be one of"),
    ]
    for item, correction, message in bad:
        with pytest.raises(VerdictError, match=message):
            store.record_verdict(item["item_id"], "ann", "correct", 0, correction=correction)
    assert store.log() == []


# --- re-runs ----------------------------------------------------------------------------------


def test_rerun_over_changed_text_marks_items_stale_and_keeps_verdicts(
    store, tables, items, tmp_path
):
    judged = [_first(store, type=t)["item_id"] for t in ("mention", "claim", "support")]
    for item_id in judged:
        store.record_verdict(item_id, "ann", "accept", 0)
    # Same items again: nothing goes stale, every verdict stays attached.
    assert store.sync(items, _run_docs(tables)) == {"items": len(items), "new": 0, "stale": 0}
    assert all(store.item(i)["verdict"] == "accept" for i in judged)
    # Edit one sentence of the article and re-run the pipeline.
    text = REFERENCE_PATH.read_text(encoding="utf-8")
    assert "Let’s dive in." in text
    edited_out = run_on_text(text.replace("Let’s dive in.", "Let us dive in now."), tmp_path)
    edited, _ = load_run_items(edited_out, pipeline_config().review.claim_confidence)
    assert set(edited["doc_id"]) == set(items["doc_id"]), "same article, same doc_id"
    counts = store.sync(edited, _run_docs(edited_out))
    assert counts["stale"] == len(set(items["item_id"]) - set(edited["item_id"])) > 0
    for item_id in judged:
        item = store.item(item_id)
        assert item["stale"] and item["stale_reason"] == "source text changed"
        assert item["verdict"] == "accept", "the verdict is kept"
        with pytest.raises(ConflictError, match="stale"):
            store.record_verdict(item_id, "bob", "reject", item["seq"])
    # Nothing was re-attached: every item of the new run starts unreviewed.
    new_ids = set(edited["item_id"]) - set(items["item_id"])
    assert new_ids and all(store.item(i)["verdict"] is None for i in new_ids)
    stale_rows, total = store.queue({"status": "stale"}, limit=1000)
    assert total == counts["stale"] and set(judged) <= {r["item_id"] for r in stale_rows}
    assert len(store.log()) == len(judged)


def test_an_item_no_longer_extracted_is_stale_until_it_returns(store, tables, items):
    item_id = _first(store, type="mention")["item_id"]
    store.record_verdict(item_id, "ann", "reject", 0)
    store.sync(items[items["item_id"] != item_id], _run_docs(tables))
    assert store.item(item_id)["stale_reason"] == "no longer extracted"
    store.sync(items, _run_docs(tables))
    item = store.item(item_id)
    assert not item["stale"] and item["verdict"] == "reject"


def test_runs_sharing_a_database_keep_their_own_queues(tmp_path, tables, items):
    db = tmp_path / "shared.sqlite"
    first, other = ReviewStore(db, run_key="run-a"), ReviewStore(db, run_key="run-b")
    first.sync(items, _run_docs(tables))
    assert other.sync(items.iloc[:0], {"another-article": "0" * 16})["stale"] == 0
    assert first.queue({"status": "all"})[1] == len(items)
    assert other.queue({"status": "all"})[1] == 0
    assert first.facets()["docs"] and not other.facets()["docs"]


# --- export and import ------------------------------------------------------------------------


def _judge(store, comments=NASTY_COMMENTS) -> None:
    rows, _ = store.queue({"status": "all"}, limit=len(comments))
    for row, comment in zip(rows, comments):
        store.record_verdict(row["item_id"], "ann", "accept", 0, comment)
    entry = store.record_verdict(rows[0]["item_id"], "=bob", "reject", 1, "@second opinion")
    assert entry["seq"] == len(comments) + 1


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_export_import_round_trip(store, tmp_path, suffix):
    _judge(store)
    first = tmp_path / f"first{suffix}"
    assert store.export(first) == len(NASTY_COMMENTS) + 1
    other = ReviewStore(tmp_path / "other.sqlite")
    assert other.import_verdicts(first) == {"imported": len(NASTY_COMMENTS) + 1, "skipped": 0}
    assert [e["comment"] for e in other.log()] == [e["comment"] for e in store.log()]
    second = tmp_path / f"second{suffix}"
    other.export(second)
    assert second.read_bytes() == first.read_bytes()
    # Importing again adds nothing.
    assert other.import_verdicts(first) == {"imported": 0, "skipped": len(NASTY_COMMENTS) + 1}


def test_csv_export_neutralises_formulas(store, tmp_path):
    _judge(store)
    path = tmp_path / "verdicts.csv"
    store.export(path)
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    cells = [v for row in rows for v in row.values()]
    assert all(not c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells)
    assert '\'=HYPERLINK("http://x","click")' in cells and "'=bob" in cells
    assert "''=already quoted" in cells


def test_imported_verdicts_for_unknown_items_wait_as_stale_placeholders(store, tables, tmp_path):
    _judge(store)
    path = tmp_path / "verdicts.jsonl"
    store.export(path)
    fresh = ReviewStore(tmp_path / "fresh.sqlite")
    fresh.import_verdicts(path)
    some = store.log()[0]["item_id"]
    assert fresh.item(some)["stale"] and fresh.queue({"status": "all"})[1] == 0
    items, _ = load_run_items(tables, pipeline_config().review.claim_confidence)
    fresh.sync(items, _run_docs(tables))
    item = fresh.item(some)
    assert not item["stale"] and item["verdict"] == store.item(some)["verdict"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda rows: rows[1].update(verdict="maybe"), ":2: verdict must be one of"),
        (lambda rows: rows[0].update(item_id="row-7"), ":1: unknown item ID format"),
        (lambda rows: rows[1].update(comment="x" * 2001), ":2: comment is 2001 characters"),
        (lambda rows: rows[0].update(reviewer=" "), ":1: reviewer name must not be empty"),
        (lambda rows: rows[1].update(at="yesterday"), ":2: 'at' is not an ISO time"),
        (lambda rows: rows[1].update(comment="nul\x00"), ":2: comment contains control"),
    ],
)
def test_import_rejects_a_bad_row_and_writes_nothing(store, tmp_path, edit, message):
    _judge(store, comments=("a", "b", "c"))
    rows = [json.loads(line) for line in store.export_text("jsonl").splitlines()]
    edit(rows)
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    other = ReviewStore(tmp_path / "other.sqlite")
    with pytest.raises(VerdictError, match=message):
        other.import_verdicts(path)
    assert other.log() == []


def test_import_rejects_broken_files(store, tmp_path):
    other = ReviewStore(tmp_path / "other.sqlite")
    cases = {
        "a.csv": "seq,item_id\n1,x\n",
        "b.jsonl": '{"seq": 1}\nnot json\n',
        "c.txt": "",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        with pytest.raises(VerdictError):
            other.import_verdicts(tmp_path / name)
    assert other.log() == []


def _allowed_in_comments(text: str) -> bool:
    return not any((ord(c) < 32 and c not in "\n\r\t") or ord(c) == 127 for c in text)


_comment_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60).filter(
    _allowed_in_comments
)


@settings(max_examples=40, deadline=None)
@given(comment=_comment_text, reviewer=st.sampled_from(["ann", "=cmd", "'q", "-x", "@y", "+z"]))
def test_any_comment_survives_a_csv_round_trip(items, tmp_path_factory, comment, reviewer):
    base = tmp_path_factory.mktemp("roundtrip")
    one = items.iloc[:1]
    source = ReviewStore(base / "a.sqlite")
    source.sync(one, {one["doc_id"].iloc[0]: one["doc_sha"].iloc[0]})
    source.record_verdict(one["item_id"].iloc[0], reviewer, "accept", 0, comment)
    source.export(base / "v.csv")
    target = ReviewStore(base / "b.sqlite")
    target.import_verdicts(base / "v.csv")
    (entry,) = target.log()
    assert (entry["comment"], entry["reviewer"]) == (comment, reviewer)


# --- the report -------------------------------------------------------------------------------


def test_report_has_no_verdicts_section_without_a_database(tables, tmp_path):
    config = pipeline_config().model_copy(deep=True)
    config.review.db = tmp_path / "absent.sqlite"
    paths = write_report(tables, tmp_path / "report", config, generated_at="t")
    md = paths["md"].read_text(encoding="utf-8")
    section = md[md.index("## 7. Audit status") : md.index("## 8.")]
    assert "No review verdicts recorded yet" in section
    assert "reviewed precision" not in section
    assert not config.review.db.exists(), "the report never creates the database"


def test_report_shows_precision_coverage_and_kappa(store, items, tables, tmp_path):
    rows, _ = store.queue({"status": "all", "type": "mention"}, limit=6)
    ann = ["accept", "accept", "reject", "accept", "reject", "accept"]
    bob = ["accept", "reject", "reject", "accept", "accept", "accept"]
    for row, a, b in zip(rows, ann, bob):
        first = store.record_verdict(row["item_id"], "ann", a, 0)
        store.record_verdict(row["item_id"], "bob", b, first["seq"])
    config = pipeline_config().model_copy(deep=True)
    config.review.db = store.path
    paths = write_report(tables, tmp_path / "report", config, generated_at="t")
    md = paths["md"].read_text(encoding="utf-8")
    section = md[md.index("## 7. Audit status") : md.index("## 8.")]
    # bob's verdicts are the current ones: 4 of 6 accepted.
    assert f"6 of {len(items)} items reviewed" in section
    assert "reviewed precision 66.7%" in section
    by_category = pd.Series([r["category"] for r in rows]).value_counts()
    for category, n in by_category.items():
        total = int(((items["item_type"] == "mention") & (items["category"] == category)).sum())
        assert f"| mention | {category} | {total} | {n} | {100 * n / total:.1f}% |" in section
    kappa = cohen_kappa_score(ann, bob, labels=["accept", "reject", "correct"])
    assert f"| ann / bob | 6 | 66.7% | {kappa:.2f} |" in section
    html = paths["html"].read_text(encoding="utf-8")
    assert "Inter-reviewer agreement" in html and f"{kappa:.2f}" in html
