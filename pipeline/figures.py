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


def _topic_names(topics: pd.DataFrame) -> dict[int, str]:
    return {int(t): f"{t}: {label}" for t, label in zip(topics["topic_id"], topics["label"])}


def _empty(message: str) -> Figure:
    fig, ax = plt.subplots(figsize=(8, 1.5))
    ax.text(0.5, 0.5, message, ha="center", va="center")
    ax.set_axis_off()
    return fig


def topics_over_time(over_time: pd.DataFrame, topics: pd.DataFrame, time_bin: str) -> Figure:
    """Lines: each of the 8 largest topics' share of the units per period."""
    if over_time["period"].nunique() < 2:
        return _empty("no topics over time: fewer than two periods with dated documents")
    table = over_time.pivot_table(index="period", columns="topic_id", values="share", fill_value=0)
    largest = topics[topics["topic_id"] >= 0].nlargest(8, "size")["topic_id"].tolist()
    names = _topic_names(topics)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    cmap = plt.get_cmap("tab10")
    for i, topic_id in enumerate(t for t in largest if t in table.columns):
        ax.plot(range(len(table)), table[topic_id], color=cmap(i), label=names[topic_id])
    step = max(len(table) // 12, 1)
    ax.set_xticks(range(0, len(table), step), labels=table.index[::step], rotation=45, fontsize=7)
    ax.set_ylabel("share of the period's units")
    ax.legend(fontsize=6, frameon=False, loc="upper left")
    ax.set_title(f"Topics over time (8 largest topics; bins: {time_bin})")
    fig.tight_layout()
    return fig


def topics_per_class(per_class: pd.DataFrame, topics: pd.DataFrame, by: str) -> Figure:
    """Heat map: each class's share of units (mentions, for categories) per topic, for the
    15 largest classes and 15 largest topics."""
    if per_class.empty:
        return _empty(f"no topics per {by}")
    largest = per_class.groupby("class")["n_units"].sum().nlargest(15).index
    topic_ids = topics[topics["topic_id"] >= 0].nlargest(15, "size")["topic_id"].tolist()
    table = (
        per_class[per_class["class"].isin(largest)]
        .pivot_table(index="class", columns="topic_id", values="share", fill_value=0)
        .reindex(index=largest, columns=topic_ids, fill_value=0)
    )
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(table) + 2.6))
    image = ax.imshow(table.to_numpy(), aspect="auto", cmap="Blues", vmin=0)
    names = _topic_names(topics)
    ax.set_xticks(
        range(len(topic_ids)),
        labels=[names[t][:28] for t in topic_ids],
        rotation=60,
        ha="right",
        fontsize=6,
    )
    ax.set_yticks(range(len(table)), labels=[str(c)[:40] for c in table.index], fontsize=7)
    fig.colorbar(image, ax=ax, shrink=0.7, label="share of the class")
    what = "mentions" if by == "category" else "units"
    ax.set_title(f"Topics per {by} (share of each {by}'s {what})")
    fig.tight_layout()
    return fig


def topic_hierarchy(hierarchy: pd.DataFrame, topic_ids: list[int], topics: pd.DataFrame) -> Figure:
    """Dendrogram: which topics merge first (average linkage of the topic centroids)."""
    if hierarchy.empty:
        return _empty("no hierarchy: fewer than two topics")
    import numpy as np
    from scipy.cluster.hierarchy import dendrogram

    matrix = np.array(
        [[r.left, r.right, r.distance, len(r.topics)] for r in hierarchy.itertuples()],
        dtype=float,
    )
    names = _topic_names(topics)
    fig, ax = plt.subplots(figsize=(9, 0.3 * len(topic_ids) + 1.5))
    dendrogram(
        matrix,
        orientation="right",
        labels=[names.get(t, str(t))[:45] for t in topic_ids],
        ax=ax,
        color_threshold=0,
        above_threshold_color="#4C72B0",
        leaf_font_size=7,
    )
    ax.set_xlabel("cosine distance between topic centroids")
    ax.set_title("Topic hierarchy (which topics merge first)")
    fig.tight_layout()
    return fig


def intertopic_map(layout: pd.DataFrame, topics: pd.DataFrame) -> Figure:
    """Bubbles: topics placed by the distances of their centroids, sized by units."""
    if layout.empty:
        return _empty("no intertopic map: no topics")
    names = _topic_names(topics)
    fig, ax = plt.subplots(figsize=(8, 6.5))
    ax.scatter(
        layout["x"],
        layout["y"],
        s=layout["size"] / layout["size"].max() * 1500 + 20,
        alpha=0.45,
        color="#4C72B0",
        edgecolors="#1f3b63",
    )
    for row in layout.itertuples():
        ax.annotate(
            names.get(row.topic_id, str(row.topic_id))[:30], (row.x, row.y), fontsize=6, ha="center"
        )
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title("Intertopic distance map (bubble area: units)")
    fig.tight_layout()
    return fig


def intertopic_map_html(layout: pd.DataFrame, topics: pd.DataFrame, path: Path) -> Path:
    """The intertopic map as an interactive page: plotly with its script inlined (no CDN),
    hovering a bubble shows the topic's size and top words."""
    import plotly.graph_objects as go

    words = {
        int(t): ", ".join(list(w)[:8]) for t, w in zip(topics["topic_id"], topics["top_words"])
    }
    names = _topic_names(topics)
    fig = go.Figure(
        go.Scatter(
            x=layout["x"],
            y=layout["y"],
            mode="markers+text",
            text=[names.get(t, str(t))[:30] for t in layout["topic_id"]],
            textposition="middle center",
            hovertext=[
                f"{names.get(t, t)}<br>{n} units<br>{words.get(t, '')}"
                for t, n in zip(layout["topic_id"], layout["size"])
            ],
            hoverinfo="text",
            marker={
                "size": (layout["size"] / max(layout["size"].max(), 1) * 80 + 10).tolist(),
                "opacity": 0.5,
            },
        )
    )
    fig.update_layout(
        title="Intertopic distance map (bubble size: units; hover for top words)",
        xaxis={"visible": False},
        yaxis={"visible": False},
        template="plotly_white",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fixed div id: plotly draws a random one, and the same tables must give the same bytes.
    fig.write_html(path, include_plotlyjs=True, full_html=True, div_id="intertopic-map")
    return path


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
