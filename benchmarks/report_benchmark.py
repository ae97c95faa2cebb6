"""Time to regenerate the report from cached stage outputs, against a 10 s target.

Runs the whole pipeline once on data/raw/articles and data/raw/html-benchmark into a temporary
folder (or uses the tables already in --tables DIR), then times `write_report` (figures, HTML,
Markdown and CSV exports) --repeat times into a fresh folder each time ("fresh"), and as often
again into the folder of the first render ("again": CSV exports and figures of unchanged tables
are kept), and prints the min and median seconds of each.

Usage: python benchmarks/report_benchmark.py [--tables DIR] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INPUTS = [REPO / "data" / "raw" / "articles", REPO / "data" / "raw" / "html-benchmark"]
TARGET_S = 10.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=Path, help="folder of pipeline tables to report on")
    parser.add_argument("--repeat", type=int, default=3, help="timed renders (default 3)")
    args = parser.parse_args()
    if args.tables and not (args.tables / "documents.parquet").exists():
        print(f"no pipeline tables in {args.tables}", file=sys.stderr)
        return 2

    from pipeline.config import load_config
    from pipeline.io import read_table
    from pipeline.report import write_report
    from pipeline.runner import run_pipeline

    config = load_config()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        out = args.tables
        if out is None:
            out = work / "out"
            start = time.perf_counter()
            run_pipeline(INPUTS, out, config, report_dir=work / "first-report")
            print(f"pipeline run (not timed below): {time.perf_counter() - start:.1f} s")
        sizes = {
            name: len(read_table(out, name))
            for name in ("documents", "segments", "mentions", "claims", "support", "topics")
        }
        print(f"tables in {out}: " + ", ".join(f"{n} {k}" for k, n in sizes.items()))

        # The same stamp every time: only the rendering is timed, and the outputs are the same.
        timings: dict[str, list[float]] = {"fresh": [], "again": []}
        for kind in timings:
            for i in range(args.repeat):
                folder = work / ("report-0" if kind == "again" else f"report-{i}")
                start = time.perf_counter()
                write_report(out, folder, config, generated_at="benchmark")
                timings[kind].append(time.perf_counter() - start)

    for kind, seconds in timings.items():
        low, median = min(seconds), statistics.median(seconds)
        print(
            f"{kind:<6}" + "".join(f"{s:>8.2f}" for s in seconds) + f"  seconds: min {low:.2f}, "
            f"median {median:.2f} (target <= {TARGET_S:.0f} s: "
            f"{'met' if median <= TARGET_S else 'NOT met'})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
