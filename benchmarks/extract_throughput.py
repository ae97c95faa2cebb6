"""Extraction throughput against bare spaCy, in the same run, as ratios.

Loads and segments FakeHealth stories, then times over the same paragraphs
(`pipeline.benchmark.extraction_ratio`, as `pipeline benchmark` section 4 does):
  (a) bare `nlp.pipe` of the configured spaCy pipeline (en_core_web_sm, all components);
  (b) our extraction (`extract_documents`: lexicon, structure, tagger, merge, claims) with the
      fast tagger, which `extract.encoder: auto` gives large corpora;
  (c) the same with the contextual tagger (a MiniLM pass per paragraph), for smaller ones.
Prints words/s for each and (b)/(a), (c)/(a). Target for the fast tagger: >= 0.70.

Usage: python benchmarks/extract_throughput.py [--limit N] [--n-process N]
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "fakehealth"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=400, help="stories to use (default 400)")
    parser.add_argument("--n-process", type=int, default=1, help="spaCy processes for both")
    args = parser.parse_args()
    source = SHARED / "health_story.jsonl.gz"
    if not source.exists():
        print(f"FakeHealth not found at {source}", file=sys.stderr)
        return 2

    from pipeline.benchmark import extraction_ratio
    from pipeline.config import load_config
    from pipeline.extract.features import ENCODERS
    from pipeline.io import read_table
    from pipeline.runner import stage_load, stage_segment
    from pipeline.screen import usable_documents

    config = load_config(overrides={"spacy": {"n_process": args.n_process}})
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subset = work / "stories.jsonl"
        with gzip.open(source, "rt", encoding="utf-8") as fh:
            subset.write_text("".join(line for _, line in zip(range(args.limit), fh)), "utf-8")
        stage_load([subset], work / "out", config)
        stage_segment(work / "out", config)
        documents = usable_documents(read_table(work / "out", "documents"))
        segments = read_table(work / "out", "segments")
    fig = extraction_ratio(documents, segments, config)
    words = fig["words"]
    print(
        f"{len(documents)} stories, {fig['paragraphs']} paragraphs, {words} words; "
        f"model {config.spacy.model}, n_process={args.n_process}"
    )
    print(f"{'system':<42}{'seconds':>9}{'words/s':>10}{'ratio':>8}")
    rows = [("bare spaCy nlp.pipe (all components)", fig["bare_s"])]
    rows += [(f"our extraction, {encoder} tagger", fig[encoder]) for encoder in ENCODERS]
    for name, seconds in rows:
        print(f"{name:<42}{seconds:>9.2f}{words / seconds:>10.0f}{fig['bare_s'] / seconds:>8.2f}")
    ratio = fig["bare_s"] / fig["fast"]
    print(f"fast extraction at {ratio:.0%} of bare spaCy throughput (target >= 70%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
