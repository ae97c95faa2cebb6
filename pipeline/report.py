"""Report stage: the comparison tables, the report (HTML, Markdown) and CSV exports.

The HTML is self-contained (styles inline, figures as data URIs, no script, a Content Security
Policy that forbids any fetch), and every piece of article text goes through Jinja2's
autoescaping, so markup in an article renders as inert text. Rows drawn from text carry their
source sentence and article. The same tables and config give the same report byte for byte,
apart from the generation time.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from jinja2 import Environment, PackageLoader, select_autoescape

from pipeline.compare import category_coverage, concept_coverage
from pipeline.io import read_table, write_text_atomic
from pipeline.segment import with_sentences

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_TABLES = (
    "documents",
    "rejected",
    "mentions",
    "claims",
    "concepts",
    "support",
    "flags",
    "concept_coverage",
    "topics",
    "document_topics",
    "evidence_matches",
)


def _md_cell(value) -> str:
    """Text safe inside a Markdown table cell: no pipes or line breaks."""
    return " ".join(str(value).replace("|", "\\|").split())


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("pipeline", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = _md_cell
    return env


def safe_csv_value(value):
    """Neutralise spreadsheet formulas: a text cell starting with = + - @ gets a leading '."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv_cell(value):
    """One CSV cell: list-like values joined with "; ", text made formula-safe."""
    if isinstance(value, (list, tuple, np.ndarray)):
        value = "; ".join(str(x) for x in value)
    return safe_csv_value(value)


def export_csv(table: pd.DataFrame, path: Path) -> None:
    """Write a table as CSV with formula injection neutralised, atomically."""
    safe = table.copy()
    for col in safe.columns:
        series = safe[col]
        # pandas 3 reads text as the "str" dtype (cleaned column-wise, which is fast) and
        # Parquet lists as numpy arrays in object columns (cleaned cell by cell).
        if isinstance(series.dtype, pd.StringDtype):
            risky = series.str.startswith(_FORMULA_START).fillna(False).astype(bool)
            safe[col] = series.astype(object).where(~risky, "'" + series.astype(object))
        elif pd.api.types.is_object_dtype(series):
            safe[col] = series.map(_csv_cell).astype(object)
    write_text_atomic(path, safe.to_csv(index=False))


def review_audit(documents, segments, mentions, claims, support, flags, config) -> dict | None:
    """Reviewed precision, coverage and agreement of this run's items (see
    `review.store.review_summary`); None when there is no verdict database."""
    from pipeline.review import build_items, review_summary

    if not Path(config.review.db).exists():  # nothing reviewed yet: skip building the queue
        return None
    items = build_items(
        documents, segments, mentions, claims, support, flags, config.review.claim_confidence
    )
    return review_summary(config.review.db, items)


def build_context(out_dir: Path, config, figures: list[dict], generated_at: str) -> dict:
    """Everything the templates show, from the tables in `out_dir`."""
    documents = read_table(out_dir, "documents")
    segments = read_table(out_dir, "segments")
    mentions = read_table(out_dir, "mentions")
    claims = read_table(out_dir, "claims")
    rejected = read_table(out_dir, "rejected")
    support = read_table(out_dir, "support")
    flags = read_table(out_dir, "flags")
    topics = read_table(out_dir, "topics")
    evidence = read_table(out_dir, "evidence_matches")
    manifest_path = out_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text("utf-8")) if manifest_path.exists() else {}
    titles = dict(zip(documents["doc_id"], documents["title"]))
    sources = dict(zip(documents["doc_id"], documents["source"]))

    def article(doc_id: str) -> str:
        return str(titles.get(doc_id) or doc_id)

    usable = documents[documents["is_english"] & (documents["duplicate_of"] == "")]
    corpus = {
        "documents": len(documents),
        "usable": len(usable),
        "non_english": int((~documents["is_english"]).sum()),
        "duplicates": int((documents["duplicate_of"] != "").sum()),
        "rejected": len(rejected),
        "sources": [
            {"format": f, "site": s or "(local)", "n": n}
            for (f, s), n in documents.groupby(["format", "site"])
            .size()
            .sort_values(ascending=False)
            .head(15)
            .items()
        ],
        "rejected_reasons": [
            {
                "stage": stage,
                "reason": reason,
                "n": len(g),
                "examples": ", ".join(g["input"].head(3)),
            }
            for (stage, reason), g in rejected.assign(
                reason=rejected["reason"].str.replace(r"\d+", "N", regex=True)
            ).groupby(["stage", "reason"], sort=True)
        ],
    }
    coverage = concept_coverage(support)
    asserted = mentions[~mentions["in_claim"]]
    recurring: dict[str, list] = {}
    firsts = asserted.drop_duplicates("concept_id").set_index("concept_id")
    for category in ("sign", "cause", "intervention"):
        rows = []
        top = coverage[coverage["category"] == category].head(25)
        examples = with_sentences(firsts.loc[top["concept_id"]].reset_index(), segments)
        for r, first in zip(top.itertuples(index=False), examples.itertuples(index=False)):
            rows.append(
                {
                    "concept": r.concept,
                    "n_articles": r.n_articles,
                    "n_mentions": int((asserted["concept_id"] == r.concept_id).sum()),
                    "n_backed": r.n_backed,
                    "n_partial": r.n_partial,
                    "share_backed": r.share_backed,
                    "example": first.sentence or first.text,
                    "example_source": f"{article(first.doc_id)} — {sources.get(first.doc_id, '')}",
                }
            )
        recurring[category] = rows
    # .tolist() first: iterating Arrow-backed columns element by element is slow.
    seg_ids = segments["segment_id"].tolist()
    seg_text = dict(zip(seg_ids, segments["text"].tolist()))
    seg_doc = dict(zip(seg_ids, segments["doc_id"].tolist()))
    topic_rows = []
    for t in topics.itertuples(index=False):
        example_id = (
            list(t.representative_segment_ids)[0] if len(t.representative_segment_ids) else ""
        )
        topic_rows.append(
            {
                "topic_id": t.topic_id,
                "label": t.label,
                "size": t.size,
                "share_sign": t.share_sign,
                "share_cause": t.share_cause,
                "share_intervention": t.share_intervention,
                "words": ", ".join(t.top_words),
                "example": seg_text.get(example_id, "")[:400],
                "example_source": article(seg_doc.get(example_id, "")),
            }
        )
    claim_flags = flags[flags["item_type"] == "claim"].groupby("item_id")["flag"].apply(list)
    claim_rows = [
        {
            "article": article(c.doc_id),
            "source": sources.get(c.doc_id, ""),
            "text": c.text,
            "start": c.start,
            "end": c.end,
            "cue": c.cue,
            "source_type": c.source_type,
            "year": None if pd.isna(c.year) else int(c.year),
            "named_source": c.named_source,
            "strength": c.strength,
            "hedged": bool(c.hedged),
            "flags": claim_flags.get(c.claim_id, []),
        }
        for c in claims.itertuples(index=False)
    ]
    support_flags = flags[flags["item_type"] == "support"].groupby("item_id")["flag"].apply(list)
    located = with_sentences(mentions, segments)
    sentence_of = {
        m: s or t for m, s, t in zip(located["mention_id"], located["sentence"], located["text"])
    }
    support_groups = []
    by_doc = support.groupby("doc_id", sort=False)
    n_rows = support["doc_id"].value_counts()
    ordered = sorted(by_doc.groups, key=lambda d: (-int(n_rows[d]), d))
    for doc_id in ordered[: config.report.max_articles]:
        group = by_doc.get_group(doc_id).sort_values(["category", "concept"])
        rows = []
        for r in group.itertuples(index=False):
            first_id = list(r.evidence_mention_ids)[0] if len(r.evidence_mention_ids) else None
            words = sentence_of.get(first_id, "")
            rows.append(
                {
                    "category": r.category,
                    "concept": r.concept,
                    "status": r.status,
                    "reason": r.reason,
                    "evidence": words,
                    "flags": support_flags.get(f"{doc_id}|{r.concept_id}", []),
                }
            )
        counts = group["status"].value_counts()
        support_groups.append(
            {
                "article": f"{article(doc_id)} ({sources.get(doc_id, '')})",
                "rows": rows,
                "counts": ", ".join(
                    f"{counts.get(s, 0)} {s}" for s in ("backed", "partial", "unbacked")
                ),
            }
        )
    audit = review_audit(documents, segments, mentions, claims, support, flags, config)
    stages = manifest.get("stages", [])
    methods = {
        "pipeline run started": manifest.get("started_at", ""),
        "pipeline run finished": manifest.get("finished_at", ""),
        "stage timings (s)": ", ".join(f"{s['name']} {s['seconds']}" for s in stages),
        "spaCy model": json.dumps(manifest.get("models", {}).get("spacy", {}), sort_keys=True),
        "package versions": ", ".join(
            f"{k} {v}" for k, v in sorted(manifest.get("packages", {}).items())
        ),
        "python": manifest.get("python", ""),
    }
    return {
        "title": config.report.title,
        "generated_at": generated_at,
        "tables_dir": str(out_dir),
        "corpus": corpus,
        "recurring": recurring,
        "coverage": category_coverage(support).to_dict("records"),
        "topics": topic_rows,
        "topics_note": "" if len(topics) else "No topics were fitted for this run.",
        "figures": figures,
        "claims": claim_rows,
        "support": support_groups,
        "evidence": evidence.assign(
            verdict=evidence["verdict"].map(
                lambda v: config.compare.evidence_verdict_labels.get(str(v), v)
            )
        ).to_dict("records"),
        "evidence_source": str(config.compare.evidence_csv or ""),
        "audit": audit,
        "audit_note": "No review verdicts recorded yet for this run"
        + ("." if audit else f" (no verdict database at {config.review.db})."),
        "methods": methods,
        "input_hashes": manifest.get("input_sha256", {}),
        "config_yaml": yaml.safe_dump(config.model_dump(mode="json"), sort_keys=True),
    }


def render_figures(out_dir: Path, report_dir: Path) -> list[dict]:
    """Save the topic figures (PNG + HTML) into the report folder; return their descriptions."""
    from pipeline import figures

    topics = read_table(out_dir, "topics")
    if topics.empty:
        return []
    documents = read_table(out_dir, "documents")
    made = [
        ("topic_sizes", "Topic sizes and top words", figures.topic_sizes(topics)),
        (
            "segment_map",
            "Segments by topic",
            figures.segment_map(
                read_table(out_dir, "topic_map"), read_table(out_dir, "segment_topics"), topics
            ),
        ),
        (
            "topics_per_article",
            "Topics per article",
            figures.topics_per_article(read_table(out_dir, "document_topics"), topics, documents),
        ),
    ]
    out = []
    for name, title, fig in made:
        png, page = figures.save_figure(fig, report_dir / "figures", name, title)
        out.append(
            {
                "title": title,
                "png_b64": base64.b64encode(png.read_bytes()).decode(),
                "png_name": f"figures/{png.name}",
                "html_name": f"figures/{page.name}",
            }
        )
    return out


def write_report(
    out_dir: Path, report_dir: Path, config, generated_at: str | None = None
) -> dict[str, Path]:
    """Render report.html and report.md and export the tables as CSV into `report_dir`."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    stamp = generated_at or datetime.now(UTC).isoformat(timespec="seconds")
    context = build_context(out_dir, config, render_figures(out_dir, report_dir), stamp)
    env = _environment()
    paths = {"html": report_dir / "report.html", "md": report_dir / "report.md"}
    write_text_atomic(paths["html"], env.get_template("report.html.j2").render(**context))
    write_text_atomic(paths["md"], env.get_template("report.md.j2").render(**context))
    tables = report_dir / "tables"
    for name in CSV_TABLES:
        export_csv(read_table(out_dir, name), tables / f"{name}.csv")
    return paths
