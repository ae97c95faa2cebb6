"""Figures of the topic stage. Each function takes tables and returns a matplotlib Figure;
`save_figure` writes it as PNG and as a self-contained HTML page (the image inlined), so a
report opens offline with no JavaScript or CDN.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: render to files only
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

_MAX_TOPICS = 20


def topic_sizes(topics: pd.DataFrame) -> Figure:
    """Horizontal bars of topic sizes, labelled with each topic's top words."""
    shown = topics[topics["topic_id"] >= 0].sort_values("size", ascending=False).head(_MAX_TOPICS)
    fig, ax = plt.subplots(figsize=(9, 0.42 * max(len(shown), 3) + 1.2))
    labels = [
        f"{t}: {', '.join(list(w)[:5])}" for t, w in zip(shown["topic_id"], shown["top_words"])
    ]
    ax.barh(range(len(shown)), shown["size"], color="#4C72B0")
    ax.set_yticks(range(len(shown)), labels=labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("segments")
    ax.set_title(f"Topic sizes and top words ({len(shown)} largest topics)")
    fig.tight_layout()
    return fig


def segment_map(
    topic_map: pd.DataFrame, segment_topics: pd.DataFrame, topics: pd.DataFrame
) -> Figure:
    """The fitted units in 2-D, coloured by topic (outliers grey)."""
    data = topic_map.merge(segment_topics, on="segment_id", how="inner")
    fig, ax = plt.subplots(figsize=(8, 6.5))
    if data.empty:
        ax.text(0.5, 0.5, "no map: too few units to cluster", ha="center", va="center")
        ax.set_axis_off()
        return fig
    largest = topics[topics["topic_id"] >= 0].nlargest(10, "size")["topic_id"].tolist()
    cmap = plt.get_cmap("tab10")
    other = data[~data["topic_id"].isin(largest)]
    ax.scatter(other["x"], other["y"], s=3, c="#cccccc", label="other topics / outliers")
    names = dict(zip(topics["topic_id"], topics["label"]))
    for i, topic_id in enumerate(largest):
        part = data[data["topic_id"] == topic_id]
        ax.scatter(part["x"], part["y"], s=4, color=cmap(i), label=f"{topic_id}: {names[topic_id]}")
    ax.legend(fontsize=7, markerscale=3, loc="best", frameon=False)
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title("Segments by topic (10 largest topics in colour)")
    fig.tight_layout()
    return fig


def topics_per_article(
    document_topics: pd.DataFrame,
    topics: pd.DataFrame,
    documents: pd.DataFrame,
    max_articles: int = 25,
) -> Figure:
    """Stacked bars: the topic mix of the articles with the most segments."""
    sizes = document_topics.groupby("doc_id")["n_segments"].sum().nlargest(max_articles)
    table = (
        document_topics[document_topics["doc_id"].isin(sizes.index)]
        .pivot_table(index="doc_id", columns="topic_id", values="share", fill_value=0)
        .reindex(sizes.index)
    )
    keep = topics[topics["topic_id"] >= 0].nlargest(10, "size")["topic_id"].tolist()
    shown = table[[c for c in table.columns if c in keep]]
    shown = shown.assign(other=1 - shown.sum(axis=1).clip(upper=1))
    titles = dict(zip(documents["doc_id"], documents["title"]))
    fig, ax = plt.subplots(figsize=(9, 0.35 * max(len(shown), 3) + 1.5))
    left = pd.Series(0.0, index=shown.index)
    cmap = plt.get_cmap("tab10")
    names = dict(zip(topics["topic_id"], topics["label"]))
    for i, col in enumerate(shown.columns):
        color = "#cccccc" if col == "other" else cmap(i % 10)
        label = "other / outliers" if col == "other" else f"{col}: {names.get(col, col)}"
        ax.barh(range(len(shown)), shown[col], left=left, color=color, label=label)
        left += shown[col]
    ax.set_yticks(
        range(len(shown)), labels=[str(titles.get(d, d))[:50] for d in shown.index], fontsize=7
    )
    ax.invert_yaxis()
    ax.set_xlabel("share of the article's segments")
    ax.legend(fontsize=6, loc="lower right", frameon=False)
    ax.set_title("Topics per article")
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, folder: Path, name: str, title: str) -> tuple[Path, Path]:
    """Write `name.png` and a self-contained `name.html` (PNG inlined) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    # A fixed "Software" tag and no date keep the PNG bytes identical across runs.
    fig.savefig(buffer, format="png", dpi=120, metadata={"Software": "selfhelp-pipeline"})
    plt.close(fig)
    png = folder / f"{name}.png"
    png.write_bytes(buffer.getvalue())
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    page = folder / f"{name}.html"
    page.write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"</head><body><h1>{html.escape(title)}</h1>"
        f"<img alt='{html.escape(title)}' src='data:image/png;base64,{encoded}'></body></html>",
        encoding="utf-8",
    )
    return png, page
