"""Extraction throughput against bare spaCy, in the same run, as a ratio.

Loads and segments FakeHealth stories, then times over the same paragraphs:
  (a) bare `nlp.pipe` of the configured spaCy pipeline (en_core_web_sm, all components);
  (b) our extraction components (`extract_documents`: lexicon, structure, tagger, merge, claims);
  (c) (b) plus concept normalisation (MiniLM embeddings of new wordings; a corpus-level step).
Prints words/s for each and (b)/(a), (c)/(a). Target: (b)/(a) >= 0.70.

Usage: python benchmarks/extract_throughput.py [--limit N] [--n-process N]
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
import time
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

    from pipeline.config import load_config
    from pipeline.extract.stage import extract_documents, extraction_pipeline, finish_extraction
    from pipeline.io import read_table
    from pipeline.nlp import full_pipeline
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
    paragraphs = segments[segments["kind"] == "paragraph"]["text"].tolist()
    words = sum(len(t.split()) for t in paragraphs)

    # Load both pipelines first: model loading is not throughput.
    bare = full_pipeline(config.spacy.model)
    extraction_pipeline(config.spacy.model, config.extract)
    for _ in bare.pipe(paragraphs[:50]):
        pass

    start = time.perf_counter()
    for _ in bare.pipe(paragraphs, batch_size=config.spacy.batch_size, n_process=args.n_process):
        pass
    bare_s = time.perf_counter() - start

    start = time.perf_counter()
    mentions, claims, _lemmas, failures = extract_documents(documents, segments, config)
    ours_s = time.perf_counter() - start

    start = time.perf_counter()
    finish_extraction(mentions, claims, config)
    concepts_s = time.perf_counter() - start

    rows = [
        ("bare spaCy nlp.pipe (all components)", bare_s),
        ("our extraction (extract_documents)", ours_s),
        ("our extraction + concept normalisation", ours_s + concepts_s),
    ]
    print(
        f"{len(documents)} stories, {len(paragraphs)} paragraphs, {words} words; "
        f"model {config.spacy.model}, n_process={args.n_process}"
    )
    print(f"{'system':<42}{'seconds':>9}{'words/s':>10}{'ratio':>8}")
    for name, seconds in rows:
        print(f"{name:<42}{seconds:>9.2f}{words / seconds:>10.0f}{bare_s / seconds:>8.2f}")
    print(f"mentions {len(mentions)}, claims {len(claims)}, failed paragraphs {len(failures)}")
    ratio = bare_s / ours_s
    print(f"extraction at {ratio:.0%} of bare spaCy throughput (target >= 70%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
