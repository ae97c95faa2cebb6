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
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from jinja2 import Environment, PackageLoader, select_autoescape

from pipeline.compare import SUPPORT_STATUSES, category_coverage, concept_coverage
from pipeline.io import (
    FORMULA_START,
    read_table,
    records,
    safe_csv_value,
    write_json_atomic,
    write_text_atomic,
)
from pipeline.segment import with_sentences
from pipeline.store import tables_key
from pipeline.text import excerpt

# topics.clusterer values in the words of the report's Methods.
_CLUSTERERS = {
    "ward": "Ward's agglomerative clustering",
    "knn_ward": "Ward's agglomerative clustering along a nearest-neighbour graph",
    "hdbscan": "UMAP + HDBSCAN",
    "kmeans": "UMAP + k-means",
}
# The extract stage's extractor (what extract.method and encoder chose) in words.
_EXTRACTORS = {
    "contextual tagger": "trained tagger on spaCy and all-MiniLM-L6-v2 contextual word vectors",
    "fast tagger": "trained tagger on spaCy vectors and static all-MiniLM-L6-v2 word vectors",
    "rules": "lexicon and list-structure rules (no trained model)",
}

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
FIGURE_TABLES = (
    "topics",
    "topic_map",
    "segment_topics",
    "document_topics",
    "documents",
    "segments",
    "mentions",
)
SOURCES_FILE = ".sources.json"  # in the report folder: the key each CSV and the figures came from

Tables = Callable[[str], pd.DataFrame]


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|&~])")


def _md_cell(value) -> str:
    """Article text as literal Markdown, one line: backslash escapes for the characters that
    would format it, start a table cell, an HTML tag or an entity (CommonMark lets any ASCII
    punctuation be escaped), and a leading `#` or `>`; never HTML entities, which Markdown shows
    verbatim."""
    text = " ".join(str(value).split())
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return "\\" + text if text[:1] in "#+-=" and text else text


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("pipeline", "templates"),
        # HTML entities for the HTML report only; the Markdown report escapes with `md`.
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = _md_cell
    return env


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
            risky = series.str.startswith(FORMULA_START).fillna(False).astype(bool)
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


def _other_languages(segment_topics: pd.DataFrame, seg_text: dict, seg_doc: dict, article):
    """Units kept out of the topic model for their language: counts and three examples."""
    if "language" not in segment_topics.columns:
        return None
    others = segment_topics[~segment_topics["language"].isin(["en", ""])]
    if others.empty:
        return None
    counts = others["language"].value_counts()
    return {
        "n": len(others),
        "by_language": ", ".join(f"{lang} {n}" for lang, n in counts.items()),
        "examples": [
            {
                "language": lang,
                "text": excerpt(seg_text.get(seg, ""), 200),
                "source": article(seg_doc.get(seg, "")),
            }
            for seg, lang in zip(others["segment_id"][:3], others["language"][:3])
        ],
    }


def build_context(
    out_dir: Path, config, figures: list[dict], generated_at: str, table: Tables | None = None
) -> dict:
    """Everything the templates show, from the tables in `out_dir` (read through `table`)."""
    table = table or (lambda name: read_table(out_dir, name))
    documents = table("documents")
    segments = table("segments")
    mentions = table("mentions")
    claims = table("claims")
    rejected = table("rejected")
    support = table("support")
    flags = table("flags")
    topics = table("topics")
    evidence = table("evidence_matches")
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
    recurring: dict[str, list] = {}
    mentions_per_concept = mentions["concept_id"].value_counts()
    # A concept's example is its most confident mention in the article's own words (one
    # inside a cited claim only when there is no other): the sentence that states it best.
    firsts = (
        mentions.assign(_own=~mentions["in_claim"])
        .sort_values(["_own", "confidence"], ascending=False, kind="stable")
        .drop_duplicates("concept_id")
        .set_index("concept_id")
    )
    for category in ("sign", "cause", "intervention"):
        rows = []
        top = coverage[coverage["category"] == category].head(25)
        examples = with_sentences(firsts.loc[top["concept_id"]].reset_index(), segments)
        for r, first in zip(top.itertuples(index=False), examples.itertuples(index=False)):
            rows.append(
                {
                    "concept": r.concept,
                    "n_articles": r.n_articles,
                    "n_mentions": int(mentions_per_concept.get(r.concept_id, 0)),
                    "n_backed": r.n_backed,
                    "n_weaker": r.n_weaker,
                    "n_contradicted": r.n_contradicted,
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
                "example": excerpt(seg_text.get(example_id, ""), 400),
                "example_source": article(seg_doc.get(example_id, "")),
            }
        )
    flag_lists = flags.groupby(["item_type", "item_id"])["flag"].agg(list).to_dict()
    claim_rows = [
        {
            "article": article(c["doc_id"]),
            "source": sources.get(c["doc_id"], ""),
            **{k: c[k] for k in ("text", "start", "end", "cue", "source_type", "named_source")},
            "strength": c["strength"],
            "year": None if pd.isna(c["year"]) else int(c["year"]),
            "hedged": bool(c["hedged"]),
            "flags": flag_lists.get(("claim", c["claim_id"]), []),
        }
        for c in records(claims)
    ]
    # The articles with the most support rows, each with its rows by category and concept.
    n_rows = support["doc_id"].value_counts()
    shown_docs = sorted(n_rows.index, key=lambda d: (-int(n_rows[d]), d))[
        : config.report.max_articles
    ]
    rank = {d: i for i, d in enumerate(shown_docs)}
    shown = support[support["doc_id"].isin(rank)]
    shown = shown.assign(_rank=shown["doc_id"].map(rank)).sort_values(
        ["_rank", "category", "concept"], kind="stable"
    )
    first_ids = [list(ids)[0] if len(ids) else None for ids in shown["evidence_mention_ids"]]
    located = with_sentences(mentions[mentions["mention_id"].isin(set(first_ids))], segments)
    sentence_of = {
        m: s or t for m, s, t in zip(located["mention_id"], located["sentence"], located["text"])
    }
    groups: dict[str, list[dict]] = {}
    for r, first_id in zip(records(shown), first_ids):
        groups.setdefault(r["doc_id"], []).append(
            {
                **{k: r[k] for k in ("category", "concept", "status", "reason")},
                "evidence": sentence_of.get(first_id, ""),
                "flags": flag_lists.get(("support", f"{r['doc_id']}|{r['concept_id']}"), []),
            }
        )
    support_groups = []
    for doc_id in shown_docs:
        rows = groups[doc_id]
        counts = {s: sum(row["status"] == s for row in rows) for s in SUPPORT_STATUSES}
        support_groups.append(
            {
                "article": f"{article(doc_id)} ({sources.get(doc_id, '')})",
                "rows": rows,
                "counts": ", ".join(f"{n} {s}" for s, n in counts.items()),
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
    extracted = next((s.get("counts", {}) for s in stages if s.get("name") == "extract"), {})
    if extracted.get("extractor"):
        methods["extraction"] = _EXTRACTORS.get(extracted["extractor"], extracted["extractor"])
    fitted = next((s.get("counts", {}) for s in stages if s.get("name") == "topics"), {})
    if fitted.get("backend"):  # what topics.backend/clusterer `auto` chose for this corpus
        clusterer = _CLUSTERERS.get(fitted["clusterer"], fitted["clusterer"])
        methods["topic model"] = f"{fitted['backend']} embeddings, {clusterer}"
    return {
        "title": config.report.title,
        "generated_at": generated_at,
        "tables_dir": str(out_dir),
        "corpus": corpus,
        "recurring": recurring,
        "coverage": category_coverage(support).to_dict("records"),
        "topics": topic_rows,
        "topics_note": next(
            (str(n) for n in topics.get("note", pd.Series(dtype=str)) if n),
            "" if len(topics) else "No topics were fitted for this run.",
        ),
        "other_languages": _other_languages(table("segment_topics"), seg_text, seg_doc, article),
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


def _views(table: Tables, config, model_dir: Path) -> dict:
    """BERTopic's analysis views from the tables (`topic_views`), for the figures; unit
    vectors come from the backend the saved model in `model_dir` was fitted with."""
    from pipeline import topic_views as views
    from pipeline.topics import corpus_backend

    segment_topics, segments = table("segment_topics"), table("segments")
    documents, mentions = table("documents"), table("mentions")
    backend = corpus_backend(config.topics, model_dir, segments)
    topic_ids, vectors = views.topic_vectors(
        segment_topics, segments, backend, config.embeddings.cache_dir
    )
    sizes = dict(zip(table("topics")["topic_id"], table("topics")["size"]))
    return {
        "over_time": views.topics_over_time(
            segment_topics, segments, documents, config.report.time_bin
        ),
        **{
            f"per_{by}": views.topics_per_class(segment_topics, segments, documents, mentions, by)
            for by in views.CLASSES
        },
        "topic_ids": topic_ids,
        "hierarchy": views.topic_hierarchy(topic_ids, vectors),
        "map": views.intertopic_map(topic_ids, vectors, sizes),
    }


def render_figures(
    out_dir: Path,
    report_dir: Path,
    config,
    table: Tables | None = None,
    reuse: bool = False,
) -> list[dict]:
    """Save the topic figures (PNG + HTML) into the report folder; return their descriptions.

    With `reuse`, figures already in the folder are kept (the caller checked that they were
    drawn from the same tables by the same code), and matplotlib is not even imported.
    """
    table = table or (lambda name: read_table(out_dir, name))
    topics = table("topics")
    if topics.empty:
        return []
    # Computed once, and only when drawn.
    views = cache(lambda _: _views(table, config, Path(out_dir) / "topic_model"))
    made = [  # name, title, drawing from the figures module
        ("topic_sizes", "Topic sizes and top words", lambda f: f.topic_sizes(topics)),
        (
            "segment_map",
            "Segments by topic",
            lambda f: f.segment_map(table("topic_map"), table("segment_topics"), topics),
        ),
        (
            "topics_per_article",
            "Topics per article",
            lambda f: f.topics_per_article(table("document_topics"), topics, table("documents")),
        ),
        (
            "topics_over_time",
            f"Topics over time (published dates, bins: {config.report.time_bin})",
            lambda f: f.topics_over_time(views(0)["over_time"], topics, config.report.time_bin),
        ),
        *[
            (
                f"topics_per_{by}",
                f"Topics per {by}",
                lambda f, by=by: f.topics_per_class(views(0)[f"per_{by}"], topics, by),
            )
            for by in ("category", "site", "format")
        ],
        (
            "topic_hierarchy",
            "Topic hierarchy",
            lambda f: f.topic_hierarchy(views(0)["hierarchy"], views(0)["topic_ids"], topics),
        ),
        (
            "intertopic_map",
            "Intertopic distance map",
            lambda f: f.intertopic_map(views(0)["map"], topics),
        ),
    ]
    folder = report_dir / "figures"
    out = []
    for name, title, draw in made:
        png, page = folder / f"{name}.png", folder / f"{name}.html"
        if not (reuse and png.exists() and page.exists()):
            from pipeline import figures

            png, page = figures.save_figure(draw(figures), folder, name, title)
            if name == "intertopic_map":  # also as an interactive page (plotly, inlined)
                figures.intertopic_map_html(
                    views(0)["map"], topics, folder / "intertopic_map_interactive.html"
                )
        out.append(
            {
                "title": title,
                "png_b64": base64.b64encode(png.read_bytes()).decode(),
                "png_name": f"figures/{png.name}",
                "html_name": "figures/intertopic_map_interactive.html"
                if name == "intertopic_map"
                else f"figures/{page.name}",
            }
        )
    return out


def _read_sources(path: Path) -> dict:
    """The keys recorded by the last report into this folder; unreadable means none."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_report(
    out_dir: Path, report_dir: Path, config, generated_at: str | None = None
) -> dict[str, Path]:
    """Render report.html and report.md and export the tables as CSV into `report_dir`.

    HTML and Markdown are always rendered. A CSV export, or the figures, already in
    `report_dir` are kept when the tables they come from and the code that makes them are
    unchanged (keys in `.sources.json`): regenerating a large corpus's report then costs the
    rendering only.
    """
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    stamp = generated_at or datetime.now(UTC).isoformat(timespec="seconds")
    table = cache(lambda name: read_table(out_dir, name))  # documents is wanted three times
    sources = {
        "figures": tables_key(
            out_dir,
            FIGURE_TABLES,
            ("figures.py", "topic_views.py"),
            config.report.time_bin,
            config.topics.backend,
        )
    }
    sources.update(
        {f"csv:{name}": tables_key(out_dir, [name], ("report.py",)) for name in CSV_TABLES}
    )
    sources_path = report_dir / SOURCES_FILE
    before = _read_sources(sources_path)
    # Until this report is complete, only the entries still true stand: a run killed half-way
    # must not leave a file claiming that a rewritten export is the old one.
    write_json_atomic(sources_path, {k: v for k, v in before.items() if sources.get(k) == v})
    figures = render_figures(
        out_dir, report_dir, config, table, reuse=before.get("figures") == sources["figures"]
    )
    context = build_context(out_dir, config, figures, stamp, table)
    env = _environment()
    paths = {"html": report_dir / "report.html", "md": report_dir / "report.md"}
    write_text_atomic(paths["html"], env.get_template("report.html.j2").render(**context))
    write_text_atomic(paths["md"], env.get_template("report.md.j2").render(**context))
    for name in CSV_TABLES:
        path = report_dir / "tables" / f"{name}.csv"
        if before.get(f"csv:{name}") != sources[f"csv:{name}"] or not path.exists():
            export_csv(table(name), path)
    write_json_atomic(sources_path, sources)
    return paths
