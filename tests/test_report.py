"""The report stage: the whole pipeline on the reference article with markup and a spreadsheet
formula planted in it, then the report's files, sections, provenance, escaping, CSV exports
and byte-for-byte determinism."""

from __future__ import annotations

import csv
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest
from markdown_it import MarkdownIt

from pipeline.config import load_config
from pipeline.io import read_table
from pipeline.report import CSV_TABLES, _md_cell, export_csv, safe_csv_value, write_report
from pipeline.runner import run_pipeline
from tests.conftest import REFERENCE, REPO

REFERENCE_PATH = REPO / "data" / "raw" / "articles" / f"{REFERENCE}.txt"
FORMULA = '=HYPERLINK("http://x")'
# (original text, text with a payload) applied to the reference article: markup in the title,
# in prose sentences the report quotes as evidence, and in a cited claim.
PAYLOADS = (
    ("8 Tips For Healing", f"{FORMULA} <script>alert(3)</script> 8 Tips For Healing"),
    (
        "Let’s dive in.",
        "Let’s dive in.\n\n“<script>alert(2)</script> Insecure attachment causes "
        'lasting harm to children <a href="javascript:alert(1)">and</a> adults,” explains a '
        "2019 study.",
    ),
    (
        "trusting and secure attachments.",
        "trusting and secure attachments <script>alert(1)</script> for life.",
    ),
    ("and somatic experiencing that", "and somatic experiencing <img src=x onerror=alert(1)> that"),
    (
        "build healthier relationships.",
        'build healthier relationships, <a href="javascript:alert(1)">click</a> here.',
    ),
)
SECTIONS = (
    "Corpus summary",
    "Recurring signs, causes and interventions",
    "Topics",
    "Cited claims",
    "Support matrix",
    "Evidence-base matches",
    "Audit status",
    "Methods and reproducibility",
)
FIGURES = (
    "topic_sizes",
    "segment_map",
    "topics_per_article",
    "topics_over_time",
    "topics_per_category",
    "topics_per_site",
    "topics_per_format",
    "topic_hierarchy",
    "intertopic_map",
)
STAMP = "2024-05-01T12:00:00+00:00"


class _Page(HTMLParser):
    """Tags with their attributes, headings, and table rows as plain (unescaped) text."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.headings: list[str] = []
        self.rows: list[str] = []
        self._heading: list[str] | None = None
        self._row: list[str] | None = None
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))
        if tag == "h2":
            self._heading = []
        elif tag == "tr":
            self._row = []

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_endtag(self, tag):
        if tag == "h2" and self._heading is not None:
            self.headings.append("".join(self._heading))
            self._heading = None
        elif tag == "tr" and self._row is not None:
            self.rows.append("".join(self._row))
            self._row = None

    def handle_data(self, data):
        for part in (self._heading, self._row):
            if part is not None:
                part.append(data)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("report")
    text = REFERENCE_PATH.read_text(encoding="utf-8")
    for original, planted in PAYLOADS:
        assert original in text, original
        text = text.replace(original, planted, 1)
    article = work / "planted.txt"
    article.write_text(text, encoding="utf-8")
    # One topic for everything: the report needs a topics table, not a fitted model, and this
    # skips UMAP/HDBSCAN (about 20 s of compilation on a first run).
    config = load_config(overrides={"topics": {"min_units": 10_000}})
    run_pipeline([article], work / "out", config)
    return {
        "out": work / "out",
        "report": work / "out" / "report",
        "config": config,
        "html": (work / "out" / "report" / "report.html").read_text(encoding="utf-8"),
        "md": (work / "out" / "report" / "report.md").read_text(encoding="utf-8"),
    }


# --- files and structure ---------------------------------------------------------------------


def test_report_writes_html_markdown_figures_and_tables(run):
    report = run["report"]
    assert (report / "report.html").stat().st_size > 0
    assert (report / "report.md").stat().st_size > 0
    for name in FIGURES:
        assert (report / "figures" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
        page = (report / "figures" / f"{name}.html").read_text(encoding="utf-8")
        assert "data:image/png;base64," in page and "<script" not in page
    for name in CSV_TABLES:
        assert (report / "tables" / f"{name}.csv").exists(), name


def test_the_interactive_intertopic_map_carries_its_own_script(run):
    page = (run["report"] / "figures" / "intertopic_map_interactive.html").read_text("utf-8")
    # plotly inlined: the page works offline and fetches nothing.
    assert "<script" in page and "Plotly.newPlot" in page
    assert not re.search(r"<script[^>]+src=", page)
    assert "figures/intertopic_map_interactive.html" in run["html"]


def test_html_is_self_contained(run):
    html = run["html"]
    page = _Page(html)
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert 'src="http' not in html
    for tag, attrs in page.tags:
        for name, value in attrs:
            if name in ("src", "href") and value:
                assert urlparse(value).scheme in ("", "data"), (tag, value)
                assert not value.startswith("//"), (tag, value)
    csp = [
        dict(attrs)
        for tag, attrs in page.tags
        if tag == "meta" and dict(attrs).get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp and "default-src 'none'" in csp[0]["content"]


def test_html_has_the_eight_numbered_sections(run):
    headings = _Page(run["html"]).headings
    assert headings == [f"{i}. {name}" for i, name in enumerate(SECTIONS, start=1)]


def test_markdown_has_the_eight_numbered_sections(run):
    headings = [line for line in run["md"].splitlines() if line.startswith("## ")]
    assert headings == [f"## {i}. {name}" for i, name in enumerate(SECTIONS, start=1)]


def test_each_claim_is_shown_with_its_article(run):
    claims = read_table(run["out"], "claims")
    documents = read_table(run["out"], "documents")
    titles = dict(zip(documents["doc_id"], documents["title"]))
    rows = _Page(run["html"]).rows
    assert len(claims) == 7  # the reference's six and the planted one
    for claim in claims.itertuples(index=False):
        assert any(claim.text in row and titles[claim.doc_id] in row for row in rows), claim.text


# --- article text is inert -------------------------------------------------------------------


def test_markup_in_articles_is_escaped_in_the_html(run):
    html = run["html"]
    # The payloads reached the report, as text.
    planted = [f"&lt;script&gt;alert({i})&lt;/script&gt;" for i in (1, 2, 3)]
    for escaped in (*planted, "&lt;img src=x onerror=alert(1)&gt;", "&lt;a href="):
        assert escaped in html, escaped
    assert 'href="javascript:' not in html
    page = _Page(html)
    assert "script" not in {tag for tag, _ in page.tags}
    assert "a" not in {tag for tag, _ in page.tags}
    for tag, attrs in page.tags:
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            assert not (value or "").strip().lower().startswith("javascript:"), (tag, value)


def test_markup_in_articles_is_escaped_in_the_markdown(run):
    """Markdown escapes, not HTML entities: a CommonMark reader shows the payloads as text."""
    md = run["md"]
    assert "\\<script\\>alert(2)\\</script\\>" in md
    for entity in ("&lt;", "&gt;", "&#39;", "&#34;", "&amp;", "&quot;"):
        assert entity not in md, entity
    assert "Let’s" in md or "Insecure attachment causes" in md
    rendered = MarkdownIt("commonmark").enable("table").render(md)
    page = _Page(rendered)
    assert {tag for tag, _ in page.tags}.isdisjoint({"script", "a", "iframe"})
    for tag, attrs in page.tags:
        assert not any(name.startswith("on") for name, _ in attrs), (tag, attrs)
        if tag == "img":  # only the report's own figures
            assert dict(attrs)["src"].endswith(".png"), attrs
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in rendered
    assert "&lt;img src=x onerror=alert(1)&gt;" in rendered


def test_markdown_cells_escape_formatting_and_table_syntax():
    assert _md_cell("a | b") == "a \\| b"
    assert _md_cell("# heading") == "\\# heading"
    assert _md_cell("`code` and *stars* and [link](x)") == (
        "\\`code\\` and \\*stars\\* and \\[link\\](x)"
    )
    assert _md_cell('it\'s "quoted" & fine') == 'it\'s "quoted" \\& fine'
    assert _md_cell("two\nlines") == "two lines"
    table = f"| x |\n|---|\n| {_md_cell('a | b <b>c</b>')} |\n"
    cells = MarkdownIt("commonmark").enable("table").render(table)
    assert "<td>a | b &lt;b&gt;c&lt;/b&gt;</td>" in cells


# --- CSV exports -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        (FORMULA, f"'{FORMULA}"),
        ("abuse", "abuse"),
        ("a = b", "a = b"),
        ("", ""),
        (3, 3),
        (None, None),
    ],
)
def test_safe_csv_value_neutralises_formulas(value, expected):
    assert safe_csv_value(value) == expected


def test_export_csv_neutralises_formulas_in_text_columns(tmp_path):
    table = pd.DataFrame({"concept": ["abuse", "-self-doubt"], "text": [FORMULA, "@mention"]})
    export_csv(table, tmp_path / "mentions.csv")
    with open(tmp_path / "mentions.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["concept"] for r in rows] == ["abuse", "'-self-doubt"]
    assert [r["text"] for r in rows] == [f"'{FORMULA}", "'@mention"]


def _csv_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_exported_documents_csv_neutralises_a_formula_title(run):
    (row,) = _csv_rows(run["report"] / "tables" / "documents.csv")
    assert row["title"].startswith(f"'{FORMULA}")


def test_exported_list_columns_are_joined(run):
    support = read_table(run["out"], "support")
    backed = support[support["claim_ids"].map(len) > 1].iloc[0]
    rows = _csv_rows(run["report"] / "tables" / "support.csv")
    (row,) = [r for r in rows if r["concept_id"] == backed["concept_id"]]
    assert row["claim_ids"] == "; ".join(backed["claim_ids"])


# --- determinism -----------------------------------------------------------------------------


def test_same_tables_and_stamp_give_identical_reports(run, tmp_path):
    first = write_report(run["out"], tmp_path / "a", run["config"], generated_at=STAMP)
    second = write_report(run["out"], tmp_path / "b", run["config"], generated_at=STAMP)
    assert STAMP in first["html"].read_text(encoding="utf-8")
    files = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    assert {p.suffix for p in files} >= {".html", ".md", ".csv", ".png"}
    assert files == sorted(
        p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file()
    )
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert second["md"].read_bytes() == first["md"].read_bytes()


# --- regeneration into the same folder -------------------------------------------------------


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {
        p.relative_to(folder).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in (".csv", ".png")
    }


def test_regeneration_keeps_exports_of_unchanged_tables_and_redoes_changed_ones(run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(run["out"], out, ignore=shutil.ignore_patterns("report", "cache"))
    folder = tmp_path / "report"
    write_report(out, folder, run["config"], generated_at=STAMP)
    first = _snapshot(folder)
    assert "tables/claims.csv" in first and "figures/segment_map.png" in first

    write_report(out, folder, run["config"], generated_at=STAMP)
    assert _snapshot(folder) == first  # nothing rewritten: same bytes, same mtimes

    # One table changes: only its export is redone, and it shows the change.
    claims = read_table(out, "claims")
    assert len(claims) > 1
    claims.iloc[1:].to_parquet(out / "claims.parquet", index=False)
    write_report(out, folder, run["config"], generated_at=STAMP)
    after = _snapshot(folder)
    changed = {name for name in first if after[name] != first[name]}
    assert changed == {"tables/claims.csv"}
    assert len(pd.read_csv(folder / "tables" / "claims.csv")) == len(claims) - 1

    # A deleted export is written again; unreadable bookkeeping means everything is redone.
    (folder / "tables" / "mentions.csv").unlink()
    write_report(out, folder, run["config"], generated_at=STAMP)
    assert (folder / "tables" / "mentions.csv").read_bytes() == first["tables/mentions.csv"][1]
    (folder / ".sources.json").write_text("{not json", encoding="utf-8")
    write_report(out, folder, run["config"], generated_at=STAMP)
    redone = _snapshot(folder)
    assert all(redone[name][0] != after[name][0] for name in after if name in redone)
    assert {name: data for name, (_, data) in redone.items()} == {
        name: data for name, (_, data) in after.items()
    } | {"tables/mentions.csv": first["tables/mentions.csv"][1]}
