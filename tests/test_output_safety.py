"""Paths made from inputs never leave the output folder: web cache names from URLs, doc_ids from
names, titles and record IDs. (Report escaping and CSV formula neutralising are tested in
test_report.py; the torture run in test_torture.py checks a whole run writes only under --out.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from webserver import serve

from pipeline.config import load_config
from pipeline.fetch import Fetcher
from pipeline.ingest import Record, make_doc_id
from tests.reliability import record_reliability

_CACHE_NAME = re.compile(r"[0-9a-f]{64}\.(body|json)")
# Letters, digits and dashes, never leading: no dot, slash or NUL, and not taken for an option.
_DOC_ID = re.compile(r"[a-z0-9][a-z0-9-]*-[0-9a-f]{8}")

HOSTILE_PATHS = [
    "/../../../../tmp/escaped",
    "/%2e%2e/%2e%2e/etc/passwd",
    "//etc/passwd",
    "/a%00b",
    "/" + "x" * 5000,
    "/C:\\Windows\\win.ini",
]


@pytest.mark.network
def test_web_cache_file_names_never_come_from_the_url(tmp_path):
    """404s are cached, so every hostile URL below writes cache files: all are hashes."""
    cache = tmp_path / "sandbox" / "cache"
    cfg = load_config(
        overrides={"fetch": {"allow_private_hosts": True, "per_host_delay_s": 0, "max_retries": 0}}
    ).fetch
    with serve({}) as base, Fetcher(cfg, cache) as fetcher:
        results = [fetcher.fetch(base + path) for path in HOSTILE_PATHS]
        raw_nul = fetcher.fetch(f"{base}/nul\x00byte")
    created = [p for p in tmp_path.rglob("*") if p.is_file()]
    for path in HOSTILE_PATHS:
        escaped = any(not p.is_relative_to(cache) for p in created)
        record_reliability("input:path", f"URL path {path[:40]}", lost=int(escaped))
    assert all(r.status == 404 for r in results), [r.error for r in results]
    assert raw_nul.error and raw_nul.body is None  # refused by httpx, reported, not raised
    assert len(created) == len(HOSTILE_PATHS)  # the sidecar of each cached 404 (it has no body)
    assert all(p.parent == cache and _CACHE_NAME.fullmatch(p.name) for p in created)


@settings(max_examples=300, deadline=None)
@given(name=st.text(max_size=300), title=st.text(max_size=300), source=st.text(max_size=300))
def test_doc_ids_are_safe_file_names_whatever_the_input(name, title, source):
    """doc_ids end up in file names and URLs (review app, notebooks): letters, digits, dashes."""
    doc_id = make_doc_id(Record(source=source, format="txt", raw_text="", title=title, name=name))
    assert _DOC_ID.fullmatch(doc_id)
    assert len(doc_id) <= 57  # a 48-character slug, a dash, 8 hex digits
    assert Path(doc_id).name == doc_id


@pytest.mark.parametrize(
    "name",
    ["../../../../tmp/escaped", "/etc/passwd", "nul\x00byte", "x" * 5000, "..", ".", "~root"],
)
def test_hostile_record_ids_give_distinct_safe_doc_ids(name):
    record = Record(source=f"records.jsonl#{name}", format="jsonl", raw_text="", name=name)
    doc_id = make_doc_id(record)
    assert _DOC_ID.fullmatch(doc_id) and doc_id not in (".", "..")
    other = Record(source=f"records.jsonl#{name}2", format="jsonl", raw_text="", name=name)
    assert make_doc_id(other) != doc_id  # the same slug, told apart by the source hash
