"""Measure load + clean + segment throughput and memory on the FakeHealth corpus.

Runs `pipeline.runner.stage_load` (read, clean, screen) and then `stage_segment` (blocks, items,
spaCy sentences) over the 2,237 FakeHealth stories and press releases
(`../shared/data/fakehealth/health_story.jsonl.gz` and `health_release.jsonl.gz`) into a
temporary folder, and prints documents and words per second for each stage and in total, and the
process's peak resident memory against its baseline before the run.

The spaCy model is loaded between the two stages and timed on its own, so the segment rate is the
steady rate; the total includes it. Words are those of the cleaned text (`documents.n_words`).

Usage:
    python benchmarks/load_throughput.py [--limit N] [--out DIR]
"""

from __future__ import annotations

import argparse
import gzip
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "fakehealth"
INPUT_NAMES = ("health_story.jsonl.gz", "health_release.jsonl.gz")

THROUGHPUT_COLUMNS = ["stage", "seconds", "documents", "docs_per_s", "words", "words_per_s"]


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _open_text(path: Path):
    return (
        gzip.open(path, "rt", encoding="utf-8")
        if path.suffix == ".gz"
        else path.open(encoding="utf-8")
    )


def count_records(paths: list[Path]) -> int:
    """Non-blank lines (one JSON record each) over the input files."""
    total = 0
    for path in paths:
        with _open_text(path) as fh:
            total += sum(1 for line in fh if line.strip())
    return total


def write_first_lines(paths: list[Path], limit: int, target: Path) -> Path:
    """Write the first `limit` non-blank lines of `paths`, in order, to the jsonl `target`."""
    written = 0
    with target.open("w", encoding="utf-8") as out:
        for path in paths:
            with _open_text(path) as fh:
                for line in fh:
                    if written >= limit:
                        return target
                    if line.strip():
                        out.write(line if line.endswith("\n") else line + "\n")
                        written += 1
    return target


def _rate(amount: float, seconds: float) -> float:
    return amount / seconds if seconds > 0 else float("nan")


def measure_throughput(inputs: list[Path], out_dir: Path, config=None) -> pd.DataFrame:
    """Run load (with clean and screening) and segment over `inputs` and time each step.

    Args:
        inputs: jsonl(.gz) files of records.
        out_dir: folder for the tables the stages write.
        config: a pipeline `Config`; the packaged defaults when None.

    Returns:
        One row per step (load, model load, segment, total) with columns `THROUGHPUT_COLUMNS`.
        `documents` counts input records for load and total, and usable documents for segment;
        `words` counts cleaned words of the same documents.
    """
    from pipeline.config import load_config
    from pipeline.io import read_table
    from pipeline.nlp import sentence_splitter
    from pipeline.runner import stage_load, stage_segment
    from pipeline.screen import usable_documents

    config = config or load_config()
    n_records = count_records(inputs)

    # 1. Load, clean and screen.
    load = stage_load(inputs, out_dir, config)
    documents = read_table(out_dir, "documents")
    usable = usable_documents(documents)
    # 2. The spaCy model, timed apart so the segment rate is not diluted by a one-off cost.
    start = time.perf_counter()
    sentence_splitter(config.spacy.model)
    model_seconds = time.perf_counter() - start
    # 3. Segment the usable documents.
    segment = stage_segment(out_dir, config)

    load_words = int(documents["n_words"].sum())
    usable_words = int(usable["n_words"].sum())
    total_seconds = load.seconds + model_seconds + segment.seconds
    rows = [
        ("load + clean + screen", load.seconds, n_records, load_words),
        ("spaCy model load", model_seconds, 0, 0),
        ("segment", segment.seconds, len(usable), usable_words),
        ("total", total_seconds, n_records, load_words),
    ]
    table = pd.DataFrame(
        [
            {
                "stage": name,
                "seconds": secs,
                "documents": docs,
                "docs_per_s": _rate(docs, secs) if docs else float("nan"),
                "words": words,
                "words_per_s": _rate(words, secs) if words else float("nan"),
            }
            for name, secs, docs, words in rows
        ],
        columns=THROUGHPUT_COLUMNS,
    )
    table.attrs["load_counts"] = load.counts
    table.attrs["segment_counts"] = segment.counts
    return table


def format_report(table: pd.DataFrame, baseline_mib: float, peak_mib: float) -> str:
    """The throughput table, stage counts and memory, as printable text."""
    lines = [f"{'stage':<22} {'seconds':>8} {'docs':>6} {'docs/s':>8} {'words':>10} {'words/s':>9}"]
    for row in table.itertuples(index=False):
        docs = f"{row.documents:>6d}" if row.documents else f"{'':>6}"
        docs_s = f"{row.docs_per_s:>8.1f}" if row.documents else f"{'':>8}"
        words = f"{row.words:>10,d}" if row.words else f"{'':>10}"
        words_s = f"{row.words_per_s:>9,.0f}" if row.words else f"{'':>9}"
        lines.append(f"{row.stage:<22} {row.seconds:>8.2f} {docs} {docs_s} {words} {words_s}")
    load_counts = table.attrs.get("load_counts", {})
    segment_counts = table.attrs.get("segment_counts", {})
    lines += [
        "",
        "load counts:    " + ", ".join(f"{k} {v}" for k, v in load_counts.items()),
        "segment counts: " + ", ".join(f"{k} {v}" for k, v in sorted(segment_counts.items())),
        "",
        f"peak RSS: {peak_mib:,.0f} MiB (baseline after imports, before the run: "
        f"{baseline_mib:,.0f} MiB; increase {peak_mib - baseline_mib:+,.0f} MiB)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit code (2 when the data is missing)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="use only the first N records (stories first), via a temp jsonl",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"FakeHealth folder (default: {DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="keep the tables in this folder instead of a temporary one",
    )
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    paths = [args.data_dir / name for name in INPUT_NAMES]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(
            f"error: FakeHealth input not found: {', '.join(missing)}; the benchmark expects "
            f"the shared data folder beside the repo (../shared/data/fakehealth/)",
            file=sys.stderr,
        )
        return 2

    # Import the pipeline before the baseline, so the baseline holds the libraries and the
    # increase is what the run itself costs.
    import pipeline.runner  # noqa: F401

    baseline = peak_rss_mib()
    with tempfile.TemporaryDirectory(prefix="load-throughput-") as tmp:
        inputs = paths
        if args.limit is not None:
            inputs = [
                write_first_lines(
                    paths, args.limit, Path(tmp) / f"fakehealth-first-{args.limit}.jsonl"
                )
            ]
        out_dir = args.out or Path(tmp) / "out"
        out_dir.mkdir(parents=True, exist_ok=True)
        print(f"inputs: {', '.join(p.name for p in inputs)}; tables in {out_dir}")
        table = measure_throughput(inputs, out_dir)
    print(format_report(table, baseline, peak_rss_mib()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
