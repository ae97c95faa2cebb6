"""Measure HTML extraction quality: bare trafilatura against our loader + cleaning.

Reads the article-extraction-benchmark pages (`../shared/data/html-benchmark/`: `html/<id>.html.gz`
and `ground-truth.json`, id -> {"articleBody", "url"}) and scores, in one run and on the same
decoded HTML, two systems:

- `trafilatura bare`: `trafilatura.extract(html)` with default arguments;
- `pipeline`: `pipeline.ingest.parse_html` then `pipeline.clean.clean_text`, as a local HTML file
  goes through the load stage (no URL is passed, as for a file read from disk).

A third row, `pipeline before clean`, scores the text parse_html returns before cleaning. It costs
no extra extraction and splits any loss into "trafilatura options" and "cleaning".

Scoring follows the evaluation of scrapinghub/article-extraction-benchmark (evaluate.py), written
anew here:

1. Tokens are the `\\w+` runs of the text, case kept, so markdown symbols ('#', '-', '**', '|')
   never count.
2. A page is compared as a multiset of 4-token shingles (ngram_n=1 gives a bag of tokens); tp, fp
   and fn are summed over shingles and divided by tp + fp + fn, so long pages weigh no more than
   short ones.
3. Precision is averaged over pages with something predicted (tp + fp > 0), recall over pages with
   a true body (tp + fn > 0); F1 is the harmonic mean of those two averages, not a mean of
   per-page F1s.
4. Accuracy is the share of pages whose token sequence equals the ground truth's exactly.
5. The spread (`*_std`) is the standard deviation over bootstrap resamples of the pages, as the
   benchmark reports; the F1 difference is bootstrapped on paired resamples.

Usage:
    python benchmarks/html_extraction.py [--limit N] [--ngram 4] [--worst 5]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "html-benchmark"

BARE = "trafilatura bare"
PIPELINE = "pipeline"
PIPELINE_RAW = "pipeline before clean"
SYSTEMS = (BARE, PIPELINE, PIPELINE_RAW)

SUMMARY_COLUMNS = ["system", "precision", "recall", "f1", "f1_std", "accuracy", "pages", "seconds"]
PAGE_COLUMNS = [
    "page_id",
    "url",
    "system",
    "tp",
    "fp",
    "fn",
    "precision",
    "recall",
    "f1",
    "exact",
    "true_tokens",
    "pred_tokens",
    "removed_rules",
    "rejection",
]

_TOKEN = re.compile(r"\w+")


class DataMissing(FileNotFoundError):
    """The benchmark folder, its ground truth or one of its pages is not there."""


@dataclass
class HtmlEvaluation:
    """Scores of one run.

    Attributes:
        summary: one row per system with columns `SUMMARY_COLUMNS` (benchmark averaging).
        pages: one row per page and system with columns `PAGE_COLUMNS` (tp/fp/fn normalised to
            sum to 1; `removed_rules` and `rejection` are filled for the pipeline only).
        f1_diff: pipeline F1 minus bare F1.
        f1_diff_std: bootstrap standard deviation of that difference (paired resamples).
    """

    summary: pd.DataFrame
    pages: pd.DataFrame
    f1_diff: float
    f1_diff_std: float

    def f1(self, system: str) -> float:
        """The mean F1 of one system."""
        return float(self.summary.set_index("system").loc[system, "f1"])


# ---------------------------------------------------------------- scoring


def tokenize(text: str | None) -> list[str]:
    """Word tokens of `text` (runs of `\\w`), case kept; markup symbols are dropped."""
    return _TOKEN.findall(text or "")


def _shingles(tokens: list[str], n: int) -> Counter:
    # A text shorter than n tokens is one short shingle, so it still matches itself.
    if len(tokens) <= n:
        return Counter([tuple(tokens)]) if tokens else Counter()
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def match_counts(true: str, pred: str, ngram_n: int = 4) -> tuple[float, float, float]:
    """(tp, fp, fn) of `pred` against `true` over token shingles, normalised to sum to 1.

    Returns:
        (0, 0, 0) when both texts have no tokens.
    """
    true_sh = _shingles(tokenize(true), ngram_n)
    pred_sh = _shingles(tokenize(pred), ngram_n)
    tp = sum((true_sh & pred_sh).values())
    fp = sum((pred_sh - true_sh).values())
    fn = sum((true_sh - pred_sh).values())
    total = tp + fp + fn
    if total == 0:
        return 0.0, 0.0, 0.0
    return tp / total, fp / total, fn / total


def page_precision(tp: float, fp: float, fn: float) -> float:
    """Precision of one page; a page with nothing wrong scores 1 even when both are empty."""
    if fp == fn == 0:
        return 1.0
    return tp / (tp + fp) if tp + fp > 0 else 0.0


def page_recall(tp: float, fp: float, fn: float) -> float:
    """Recall of one page; a page with nothing wrong scores 1 even when both are empty."""
    if fp == fn == 0:
        return 1.0
    return tp / (tp + fn) if tp + fn > 0 else 0.0


def page_f1(tp: float, fp: float, fn: float) -> float:
    """F1 of one page, for ranking pages (the summary F1 is computed from mean P and R)."""
    if fp == fn == 0:
        return 1.0
    return 2 * tp / (2 * tp + fp + fn)


def aggregate(counts: Sequence[tuple[float, float, float]]) -> dict[str, float]:
    """Mean precision, mean recall and their harmonic mean over pages, as the benchmark does."""
    precisions = [page_precision(*c) for c in counts if c[0] + c[1] > 0]
    recalls = [page_recall(*c) for c in counts if c[0] + c[2] > 0]
    precision = statistics.fmean(precisions) if precisions else 0.0
    recall = statistics.fmean(recalls) if recalls else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _bootstrap_f1(
    counts_by_system: dict[str, list], n_bootstrap: int, seed: int
) -> dict[str, list[float]]:
    """F1 of every system on the same `n_bootstrap` resamples of the pages."""
    rng = random.Random(seed)
    n = len(next(iter(counts_by_system.values())))
    samples: dict[str, list[float]] = {name: [] for name in counts_by_system}
    for _ in range(n_bootstrap if n > 1 else 0):
        idx = [rng.randrange(n) for _ in range(n)]
        for name, counts in counts_by_system.items():
            samples[name].append(aggregate([counts[i] for i in idx])["f1"])
    return samples


# ---------------------------------------------------------------- extraction


def load_benchmark(data_dir: Path, limit: int | None = None) -> list[tuple[str, str, str, str]]:
    """The benchmark pages in id order.

    Returns:
        (page_id, url, ground-truth article body, decoded HTML) per page.

    Raises:
        DataMissing: the folder, `ground-truth.json`, the `html/` folder or a page is missing.
    """
    from pipeline.config import load_config
    from pipeline.ingest import decode_text

    data_dir = Path(data_dir)
    truth_path, html_dir = data_dir / "ground-truth.json", data_dir / "html"
    for needed in (data_dir, truth_path, html_dir):
        if not needed.exists():
            raise DataMissing(
                f"{needed} not found; the benchmark expects the shared data folder "
                f"with html-benchmark/ground-truth.json and html-benchmark/html/"
            )
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    load_cfg = load_config().load
    pages = []
    for page_id in sorted(truth)[:limit]:
        path = html_dir / f"{page_id}.html.gz"
        if not path.exists():
            raise DataMissing(f"ground truth names page {page_id} but {path} is missing")
        # Decode as the load stage does, and hand the same string to both systems.
        html, _ = decode_text(gzip.decompress(path.read_bytes()), load_cfg)
        entry = truth[page_id]
        pages.append((page_id, entry.get("url", ""), entry.get("articleBody") or "", html))
    return pages


def _removed_rules(removed: list[dict]) -> str:
    counts = Counter(span["rule"] for span in removed)
    return ", ".join(f"{rule}:{n}" for rule, n in sorted(counts.items()))


def evaluate(
    data_dir: Path = DEFAULT_DATA_DIR,
    limit: int | None = None,
    ngram_n: int = 4,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> HtmlEvaluation:
    """Extract every benchmark page with both systems and score them.

    Args:
        data_dir: the html-benchmark folder.
        limit: score only the first `limit` pages in id order (all when None).
        ngram_n: shingle length in tokens; 4 as in the benchmark, 1 for a bag of tokens.
        n_bootstrap: bootstrap resamples for the standard deviations (0 to skip).
        seed: seed of the resampling, so a run can be repeated exactly.

    Returns:
        The summary and per-page scores; see `HtmlEvaluation`.

    Raises:
        DataMissing: the benchmark data is not there.
    """
    import trafilatura

    from pipeline.clean import clean_text
    from pipeline.config import load_config
    from pipeline.ingest import Rejection, parse_html

    clean_cfg = load_config().clean
    pages = load_benchmark(data_dir, limit)
    if not pages:
        raise DataMissing(f"no pages to score in {data_dir}")
    # One untimed pass over the first page: both systems load lazy modules on first use.
    trafilatura.extract(pages[0][3])
    parse_html(pages[0][3], "warm-up", clean_cfg)

    seconds = dict.fromkeys(SYSTEMS, 0.0)
    counts: dict[str, list[tuple[float, float, float]]] = {name: [] for name in SYSTEMS}
    exact: dict[str, list[bool]] = {name: [] for name in SYSTEMS}
    rows = []
    for page_id, url, true, html in pages:
        start = time.perf_counter()
        bare = trafilatura.extract(html) or ""
        parsed_at = time.perf_counter()
        record = parse_html(html, page_id, clean_cfg, name=page_id)
        cleaned_at = time.perf_counter()
        rejection, rules = "", ""
        if isinstance(record, Rejection):
            raw = cleaned = ""
            rejection = record.reason
        else:
            raw = record.raw_text
            result = clean_text(raw, clean_cfg, record.title, extracted=True)
            cleaned, rules = result.text, _removed_rules(result.removed)
        done_at = time.perf_counter()
        seconds[BARE] += parsed_at - start
        seconds[PIPELINE_RAW] += cleaned_at - parsed_at
        seconds[PIPELINE] += done_at - parsed_at

        true_tokens = tokenize(true)
        for name, pred in ((BARE, bare), (PIPELINE, cleaned), (PIPELINE_RAW, raw)):
            tp, fp, fn = match_counts(true, pred, ngram_n)
            pred_tokens = tokenize(pred)
            counts[name].append((tp, fp, fn))
            exact[name].append(pred_tokens == true_tokens)
            is_pipeline = name == PIPELINE
            rows.append(
                {
                    "page_id": page_id,
                    "url": url,
                    "system": name,
                    "tp": tp,
                    "fp": fp,
                    "fn": fn,
                    "precision": page_precision(tp, fp, fn),
                    "recall": page_recall(tp, fp, fn),
                    "f1": page_f1(tp, fp, fn),
                    "exact": pred_tokens == true_tokens,
                    "true_tokens": len(true_tokens),
                    "pred_tokens": len(pred_tokens),
                    "removed_rules": rules if is_pipeline else "",
                    "rejection": rejection if is_pipeline else "",
                }
            )

    boot = _bootstrap_f1(counts, n_bootstrap, seed)
    summary = pd.DataFrame(
        [
            {
                "system": name,
                **aggregate(counts[name]),
                "f1_std": statistics.stdev(boot[name]) if len(boot[name]) > 1 else float("nan"),
                "accuracy": statistics.fmean(exact[name]),
                "pages": len(pages),
                "seconds": seconds[name],
            }
            for name in SYSTEMS
        ],
        columns=SUMMARY_COLUMNS,
    )
    diffs = [p - b for p, b in zip(boot[PIPELINE], boot[BARE])]
    f1s = summary.set_index("system")["f1"]
    return HtmlEvaluation(
        summary=summary,
        pages=pd.DataFrame(rows, columns=PAGE_COLUMNS),
        f1_diff=float(f1s[PIPELINE] - f1s[BARE]),
        f1_diff_std=statistics.stdev(diffs) if len(diffs) > 1 else float("nan"),
    )


def worst_pages(pages: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The `n` pages where the pipeline's F1 falls furthest below bare trafilatura's.

    Args:
        pages: `HtmlEvaluation.pages`.

    Returns:
        Columns page_id, url, f1_bare, f1_before_clean, f1_pipeline, delta (pipeline - bare),
        pred_tokens_bare, pred_tokens_pipeline, true_tokens, removed_rules, rejection; only
        pages where the pipeline loses.
    """
    wide = pages.pivot(index="page_id", columns="system", values="f1")
    tokens = pages.pivot(index="page_id", columns="system", values="pred_tokens")
    info = pages[pages["system"] == PIPELINE].set_index("page_id")
    out = pd.DataFrame(
        {
            "url": info["url"],
            "f1_bare": wide[BARE],
            "f1_before_clean": wide[PIPELINE_RAW],
            "f1_pipeline": wide[PIPELINE],
            "delta": wide[PIPELINE] - wide[BARE],
            "pred_tokens_bare": tokens[BARE],
            "pred_tokens_pipeline": tokens[PIPELINE],
            "true_tokens": info["true_tokens"],
            "removed_rules": info["removed_rules"],
            "rejection": info["rejection"],
        }
    )
    out = out[out["delta"] < 0].sort_values(["delta", "url"]).head(n)
    return out.reset_index()


# ---------------------------------------------------------------- report


def format_report(result: HtmlEvaluation, ngram_n: int, n_worst: int) -> str:
    """The summary table, the F1 difference and the worst pages, as printable text."""
    unit = "tokens" if ngram_n == 1 else f"{ngram_n}-token shingles"
    lines = [
        f"HTML extraction quality ({unit}; P and R averaged over pages, F1 of the means)",
        "",
        f"{'system':<22} {'precision':>9} {'recall':>7} {'F1':>7} {'± std':>6} "
        f"{'accuracy':>8} {'pages':>5} {'seconds':>8}",
    ]
    for row in result.summary.itertuples(index=False):
        lines.append(
            f"{row.system:<22} {row.precision:>9.4f} {row.recall:>7.4f} {row.f1:>7.4f} "
            f"{row.f1_std:>6.4f} {row.accuracy:>8.3f} {row.pages:>5d} {row.seconds:>8.2f}"
        )
    lines += [
        "",
        f"F1 difference (pipeline - bare): {result.f1_diff:+.4f} "
        f"± {result.f1_diff_std:.4f} (bootstrap std, paired)",
    ]
    worst = worst_pages(result.pages, n_worst)
    lines += [
        "",
        f"Pages where the pipeline loses most against bare ({len(worst)} shown; "
        "F1 bare / before clean / pipeline, tokens bare -> pipeline of true):",
    ]
    for row in worst.itertuples(index=False):
        lines.append(
            f"  {row.page_id[:12]}  {row.f1_bare:.3f} / {row.f1_before_clean:.3f} / "
            f"{row.f1_pipeline:.3f}  ({row.delta:+.3f})  tokens {row.pred_tokens_bare}"
            f" -> {row.pred_tokens_pipeline} of {row.true_tokens}  {row.url}"
        )
        if row.removed_rules:
            lines.append(f"      cleaning removed: {row.removed_rules}")
        if row.rejection:
            lines.append(f"      rejected: {row.rejection}")
    if worst.empty:
        lines.append("  none: the pipeline scores at least as well as bare on every page")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit code (2 when the data is missing)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="score only the first N pages")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"html-benchmark folder (default: {DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--ngram",
        type=int,
        default=4,
        help="shingle length in tokens: 4 as in the benchmark, 1 for a bag of tokens",
    )
    parser.add_argument("--worst", type=int, default=5, help="how many losing pages to list")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    try:
        result = evaluate(args.data_dir, limit=args.limit, ngram_n=args.ngram)
    except DataMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(result, args.ngram, args.worst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
