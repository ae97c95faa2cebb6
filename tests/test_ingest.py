import gzip
import json
import os
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.ingest import Record, Rejection, decode_text, find_inputs, load_documents, read_input
from tests.conftest import REPO, shared_path


def _load(paths, config):
    docs, rejected = load_documents([Path(p) for p in paths], config)
    return docs, {Path(r.input.split("#")[0].split(":")[0]).name: r.reason for r in rejected}


def test_reference_article_title_and_stable_id(config):
    path = REPO / "data" / "raw" / "articles"
    docs, _ = _load([path], config)
    doc = docs.iloc[0]
    assert doc.title == "8 Tips For Healing Attachment Trauma And Building Healthy Connections"
    assert doc.doc_id.startswith("tips-for-healing-attachment-trauma-")
    assert doc.source == "articles/tips-for-healing-attachment-trauma.txt"
    again, _ = _load([path], config)
    assert again.doc_id.tolist() == docs.doc_id.tolist()


def test_fakehealth_jsonl_gz_loads_with_its_columns(config):
    path = shared_path("fakehealth", "health_release.jsonl.gz")
    docs, rejected = load_documents([path], config)
    assert len(docs) == 594  # 599 lines, 5 of them with an empty text
    assert len(rejected) == 5 and all("no text" in r.reason for r in rejected)
    row = docs.iloc[0]
    with gzip.open(path, "rt") as fh:
        first = json.loads(fh.readline())
    assert row.title == first["title"] and row.url == first["url"]
    assert row.raw_text == first["text"]
    assert row.source == f"health_release.jsonl.gz#{first['id']}"
    assert docs.published.str.len().gt(0).mean() > 0.5


def test_counsel_chat_csv_loads_answers_with_question_titles(config):
    path = shared_path("counsel-chat", "counsel_chat.csv")
    docs, rejected = load_documents([path], config)
    assert len(docs) + len(rejected) == 2129
    assert docs.title.str.len().gt(0).all()
    assert docs.url.str.startswith("https://").mean() > 0.9
    assert docs.doc_id.is_unique


def test_html_file_loads_main_text_and_metadata(config):
    docs, _ = _load([REPO / "data" / "raw" / "html-benchmark"], config)
    doc = docs.iloc[0]
    assert doc.title == "15 Tips to Overcome Binge Eating"
    assert doc.site and doc.published.startswith("2019")
    assert "## 1. Ditch the diet" in doc.raw_text


def test_ignore_patterns_skip_licences_and_web_cache(tmp_path, config):
    (tmp_path / "LICENSE").write_text("MIT", encoding="utf-8")
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "cached.txt").write_text("cached", encoding="utf-8")
    (tmp_path / "a.txt").write_text("Title\nBody", encoding="utf-8")
    files, rejected = find_inputs([tmp_path], config.load.ignore)
    assert [f.path.name for f in files] == ["a.txt"] and not rejected


@pytest.fixture
def bad_inputs(tmp_path: Path, reference_raw: str) -> Path:
    """Real text in broken containers, one file per failure mode."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    body = reference_raw[:3000]
    (folder / "good.txt").write_text(body, encoding="utf-8")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (folder / "cp1252.txt").write_bytes(body.encode("cp1252", errors="replace"))
    (folder / "latin1.txt").write_bytes(("Caf\u00e9 anxiety\n" + body).encode("latin-1", "replace"))
    (folder / "broken.html").write_text("<html><body><<div <p class=", encoding="utf-8")
    page_path = next((REPO / "data" / "raw" / "html-benchmark").glob("*.gz"))
    page = gzip.decompress(page_path.read_bytes())
    (folder / "truncated.html").write_bytes(page[: len(page) // 2])
    (folder / "huge.txt").write_text("word " * 100_000, encoding="utf-8")
    (folder / "spanish.txt").write_text(
        "Ansiedad\n" + "La ansiedad es una respuesta normal del cuerpo ante el estrés y las "
        "preocupaciones de la vida diaria, pero a veces se vuelve persistente. " * 4,
        encoding="utf-8",
    )
    (folder / "notes.docx").write_bytes(b"PK\x03\x04")
    locked = folder / "locked.txt"
    locked.write_text(body, encoding="utf-8")
    locked.chmod(0)
    return folder


def test_bad_inputs_are_rejected_with_reasons_and_the_rest_loads(bad_inputs, config):
    cfg = load_config(overrides={"load": {"max_file_bytes": 400_000}})
    docs, reasons = _load([bad_inputs], cfg)
    assert reasons["empty.txt"] == "empty file"
    assert "binary" in reasons["binary.txt"]
    assert "broken.html" in reasons and "HTML" in reasons["broken.html"]
    assert "over load.max_file_bytes" in reasons["huge.txt"]
    assert "unsupported file type .docx" in reasons["notes.docx"]
    if os.geteuid() != 0:  # root can read a chmod-0 file
        assert "locked.txt" in reasons
    loaded = {Path(s).name: enc for s, enc in zip(docs.source, docs.encoding)}
    assert loaded["good.txt"] == "utf-8"
    # Mis-encoded text is decoded, not lost: curly quotes survive cp1252.
    assert loaded["cp1252.txt"] == "cp1252"
    cp = docs[docs.source.str.endswith("cp1252.txt")].raw_text.iloc[0]
    assert "Let’s dive in." in cp
    assert "spanish.txt" in loaded  # loaded; flagged non-English by screening
    assert "truncated.html" in loaded  # broken markup that still has an article is recovered


def test_missing_path_is_rejected_not_raised(tmp_path, config):
    docs, reasons = _load([tmp_path / "absent"], config)
    assert docs.empty and reasons == {"absent": "path does not exist"}


def test_jsonl_broken_lines_are_reported_by_line_and_good_lines_load(tmp_path, config):
    lines = [
        json.dumps({"id": "a", "title": "A", "text": "one " * 30}),
        "{broken json",
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": "a", "text": "two " * 30}),
        json.dumps({"id": "c", "title": "no text"}),
    ]
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    docs, rejected = load_documents([path], config)
    assert docs.source.tolist() == ["records.jsonl#a", "records.jsonl#a@line4"]
    assert sorted(r.reason for r in rejected) == [
        "line 2: invalid JSON (Expecting property name enclosed in double quotes)",
        "line 3: not a JSON object",
        f"line 5: no text in any of the columns {config.load.text_columns}",
    ]


def test_csv_without_text_column_is_rejected_whole(tmp_path, config):
    path = tmp_path / "table.csv"
    path.write_text("id,title\n1,Hello\n", encoding="utf-8")
    outs = list(read_input(find_inputs([path], [])[0][0], config))
    assert len(outs) == 1 and isinstance(outs[0], Rejection)
    assert "CSV has no text column" in outs[0].reason


def test_gzip_bomb_is_refused(tmp_path, config):
    path = tmp_path / "bomb.html.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b"<p>" + b"a" * 50_000_000 + b"</p>")
    cfg = load_config(overrides={"load": {"max_file_bytes": 1_000_000}})
    outs = list(read_input(find_inputs([path], [])[0][0], cfg))
    assert isinstance(outs[0], Rejection) and "decompresses to over" in outs[0].reason


def test_decode_text_handles_boms(config):
    assert decode_text("\ufeffhello".encode("utf-8"), config.load) == ("hello", "utf-8-sig")
    text, enc = decode_text("hello".encode("utf-16"), config.load)
    assert (text, enc) == ("hello", "utf-16")


def test_markdown_heading_title(tmp_path, config):
    path = tmp_path / "note.md"
    path.write_text("# Coping With Stress\n\nBody text here.", encoding="utf-8")
    out = next(read_input(find_inputs([path], [])[0][0], config))
    assert isinstance(out, Record) and out.title == "Coping With Stress"
