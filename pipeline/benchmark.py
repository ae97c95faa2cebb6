"""`pipeline benchmark`: speed and memory of the whole pipeline, every comparison a ratio measured
in the same run.

Sections (each prints one table):

1. end to end on the real corpus: wall time, documents/s and peak RSS per stage and in total,
   with a speed control (bare spaCy words/s) measured before and after the run;
2. growth: the same at 1x, 2x and 4x a base corpus, replicated as copies of the input files
   (distinct source keys, hence distinct doc IDs; duplicate flagging is switched off for these
   runs, or the copies would be flagged and skipped), with the fitted log-log slope of time and
   memory against the number of documents (1.0 = linear, 0 = flat);
3. re-run cost on the end-to-end output: nothing changed, ten new documents, report only;
4. extraction throughput against bare spaCy `nlp.pipe` on the same paragraphs;
5. the topic stage against BERTopic with default settings and all-MiniLM-L6-v2, same units;
6. the local executor against a Dask LocalCluster (two workers) on the same corpus.

Every pipeline run is a `python -m pipeline run` subprocess into a fresh folder, so each starts
cold and its per-stage figures come from its own manifest. Embeddings are cached under the
benchmark's work folder, never reused from an earlier benchmark.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import spacy
import yaml
from rich.console import Console
from rich.table import Table

from pipeline.config import Config, load_config
from pipeline.io import read_table
from pipeline.screen import usable_documents

PER_DOC_STAGES = ("load", "segment", "extract")


@dataclass
class RunFigures:
    """One subprocess run: its wall time and its manifest's stages."""

    label: str
    documents: int
    wall_s: float
    stages: list[dict]
    returncode: int

    @property
    def peak_mb(self) -> float:
        return max((s.get("peak_rss_mb", 0.0) for s in self.stages), default=0.0)

    def stage(self, name: str) -> dict:
        return next((s for s in self.stages if s["name"] == name), {"seconds": 0.0})


def _run(label: str, args: list[str], out: Path | None = None) -> RunFigures:
    """Run `python -m pipeline ARGS` and read the manifest it wrote into `out`."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PIPELINE_FAILPOINT", None)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 3):
        raise RuntimeError(f"{label}: pipeline {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    stages: list[dict] = []
    documents = 0
    if out is not None and (out / "manifest.json").exists():
        stages = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["stages"]
        documents = len(usable_documents(read_table(out, "documents")))
    return RunFigures(label, documents, wall, stages, proc.returncode)


def _write_config(path: Path, cache_dir: Path, extra: dict | None = None) -> Path:
    """A config file for benchmark runs: embeddings cached inside the work folder."""
    data = {"embeddings": {"cache_dir": str(cache_dir)}, **(extra or {})}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _seed_model_cache(cache_dir: Path, config: Config) -> None:
    """Copy the distilled model2vec model (a one-off ~25 s build, not a per-run cost) into a
    fresh cache folder; its embedding cache stays empty."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    for model in Path(config.embeddings.cache_dir).glob("model2vec-*"):
        if model.is_dir() and not (cache_dir / model.name).exists():
            shutil.copytree(model, cache_dir / model.name)


def _head_records(path: Path, n: int, target: Path) -> Path:
    """The first `n` records of a CSV or JSONL(.gz) file, written to `target`."""
    if path.suffix == ".csv":
        pd.read_csv(path, nrows=n).to_csv(target, index=False)
        return target
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        target.write_text("".join(line for _, line in zip(range(n), fh)), encoding="utf-8")
    return target


def _replicate(files: list[Path], times: int, folder: Path) -> Path:
    """`times` copies of each input file under distinct names (so distinct doc IDs)."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(times):
        for path in files:
            name = path.name.split(".", 1)
            shutil.copy(path, folder / f"{name[0]}-copy{k}.{name[1]}")
    return folder


def _slope(x: list[float], y: list[float]) -> float:
    """Exponent b of y = a * x^b fitted on a log-log scale."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def extraction_ratio(documents: pd.DataFrame, segments: pd.DataFrame, config: Config) -> dict:
    """Time our extraction, with each tagger encoder, and bare spaCy `nlp.pipe` (all
    components) on the same paragraphs.

    Returns:
        paragraphs, words, bare_s, and per encoder (fast, contextual) its seconds.
    """
    from pipeline.extract.features import ENCODERS, context_vectors
    from pipeline.extract.stage import extract_documents, extraction_pipeline

    paragraphs = segments[segments["kind"] == "paragraph"]["text"].tolist()
    bare = spacy.load(config.spacy.model)  # as shipped: all its components, its own ruler
    configs = {
        encoder: config.model_copy(
            update={"extract": config.extract.model_copy(update={"encoder": encoder})}
        )
        for encoder in ENCODERS
    }
    for cfg in configs.values():  # model loading is not throughput
        extraction_pipeline(cfg.spacy.model, cfg.extract)
    context_vectors()
    for _ in bare.pipe(paragraphs[:50]):
        pass
    start = time.perf_counter()
    for _ in bare.pipe(
        paragraphs, batch_size=config.spacy.batch_size, n_process=config.spacy.n_process
    ):
        pass
    figures = {
        "paragraphs": len(paragraphs),
        "words": sum(len(t.split()) for t in paragraphs),
        "bare_s": time.perf_counter() - start,
    }
    for encoder, cfg in configs.items():
        start = time.perf_counter()
        extract_documents(documents, segments, cfg)
        figures[encoder] = time.perf_counter() - start
    return figures


def control_texts(inputs: list[Path], config: Config, n_words: int = 20_000) -> list[str]:
    """The first paragraphs of the benchmark's inputs, about `n_words` words: the fixed
    workload of `speed_control`."""
    from pipeline.ingest import Record, find_inputs, read_input

    files, _ = find_inputs(inputs, config.load.ignore)
    texts: list[str] = []
    words = 0
    for item in files:
        for record in read_input(item, config):
            if not isinstance(record, Record):
                continue
            for paragraph in record.raw_text.split("\n"):
                if len(paragraph.split()) >= 8:
                    texts.append(paragraph.strip())
                    words += len(paragraph.split())
                if words >= n_words:
                    return texts
    return texts


def speed_control(nlp, texts: list[str], config: Config, repeats: int = 3) -> float:
    """Words per second of bare spaCy `nlp.pipe` on `texts`, one process, best of `repeats`.

    The pipeline is bound by spaCy, and this machine's speed moved by up to 1.9 times between
    days and 45% within an hour; the control, run before and after the end-to-end run, tells
    a slow machine from a slow pipeline."""
    for _ in nlp.pipe(texts[:20]):
        pass
    words = sum(len(t.split()) for t in texts)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in nlp.pipe(texts, batch_size=config.spacy.batch_size):
            pass
        best = min(best, time.perf_counter() - start)
    return words / best


def default_bertopic(texts: list[str]) -> tuple[float, int]:
    """BERTopic with default parameters on all-MiniLM-L6-v2 (encoding included).

    Returns:
        Seconds for embedding and fitting, and the number of topics (outliers excluded).
    """
    from bertopic import BERTopic
    from sentence_transformers import SentenceTransformer

    from pipeline.embed import minilm_path

    start = time.perf_counter()
    encoder = SentenceTransformer(str(minilm_path()), device="cpu")
    model = BERTopic(embedding_model=encoder)
    topics, _ = model.fit_transform(texts)
    return time.perf_counter() - start, len({t for t in topics if t >= 0})


def _table(title: str, columns: list[str], rows: list[list]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, name in enumerate(columns):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*[f"{v:,.2f}" if isinstance(v, float) else str(v) for v in row])
    return table


def _stage_rows(run: RunFigures) -> list[list]:
    rows = []
    for stage in run.stages:
        seconds = stage["seconds"]
        rate = run.documents / seconds if seconds and stage["name"] != "report" else float("nan")
        rows.append([stage["name"], seconds, rate, stage.get("peak_rss_mb", 0.0)])
    rows.append(
        ["total (wall, with start-up)", run.wall_s, run.documents / run.wall_s, run.peak_mb]
    )
    return rows


def run_benchmark(
    inputs: list[Path],
    work: Path,
    growth_base: int,
    new_docs: list[Path],
    sections: set[str],
    console: Console,
) -> None:
    """Run the selected sections (e2e, growth, rerun, extract, topics, executors); print tables.

    Args:
        inputs: the real corpus (CSV/JSONL files or folders).
        work: an empty work folder (runs, caches, copies).
        growth_base: records per input file in the 1x growth corpus.
        new_docs: ten article files added for the "ten new documents" re-run.
        sections: which sections to run.
        console: where tables go.
    """
    config = load_config()
    cache = work / "cache"
    _seed_model_cache(cache, config)
    cfg_file = _write_config(work / "bench.yaml", cache)
    e2e_out = work / "e2e"

    if sections & {"e2e", "rerun", "extract"}:
        args = ["run", *[a for p in inputs for a in ("-i", str(p))], "-c", str(cfg_file)]
        control = control_texts(inputs, config)
        bare = spacy.load(config.spacy.model)  # loaded once for both controls
        before = speed_control(bare, control, config)
        e2e = _run("end to end", [*args, "-o", str(e2e_out)], e2e_out)
        after = speed_control(bare, control, config)
        console.print(
            _table(
                f"1. End to end: {e2e.documents:,} usable documents, default config, "
                f"{os.cpu_count()} cores",
                ["stage", "seconds", "docs/s", "peak RSS MiB"],
                _stage_rows(e2e),
            )
        )
        console.print(
            f"   speed control, bare spaCy on the inputs' first {len(control):,} paragraphs "
            f"in one process: {before:,.0f} words/s before the run, {after:,.0f} after"
        )
        if "rerun" in sections:
            same = _run("no change", [*args, "-o", str(e2e_out)], e2e_out)
            extra = work / "new-articles"
            extra.mkdir(exist_ok=True)
            for path in new_docs:
                shutil.copy(path, extra / path.name)
            added = _run("ten new", [*args, "-i", str(extra), "-o", str(e2e_out)], e2e_out)
            report = _run("report only", ["report", "-o", str(e2e_out), "-c", str(cfg_file)])
            rows = [
                ["nothing changed", same.wall_s, 15.0, e2e.wall_s / same.wall_s],
                [f"{len(new_docs)} new documents", added.wall_s, "", e2e.wall_s / added.wall_s],
                ["report only", report.wall_s, 10.0, e2e.wall_s / report.wall_s],
            ]
            detail = ", ".join(
                f"{s['name']} {s['seconds']:.1f}s" for s in added.stages if s["seconds"] >= 0.5
            )
            console.print(
                _table(
                    "3. Re-run cost (whole command, with start-up); speed-up = first run / re-run",
                    ["re-run", "seconds", "target s", "speed-up"],
                    rows,
                )
            )
            console.print(f"   ten new documents, stages over 0.5 s: {detail}")

    if "extract" in sections:
        from pipeline.extract.features import ENCODERS

        documents = usable_documents(read_table(e2e_out, "documents"))
        sample = documents.head(300)
        segments = read_table(e2e_out, "segments")
        segments = segments[segments["doc_id"].isin(set(sample["doc_id"]))]
        fig = extraction_ratio(sample, segments, config)
        console.print(
            _table(
                f"4. Extraction vs bare spaCy nlp.pipe: {len(sample)} documents, "
                f"{fig['paragraphs']:,} paragraphs, {fig['words']:,} words",
                ["system", "seconds", "words/s", "ratio"],
                [
                    [
                        "bare spaCy (all components)",
                        fig["bare_s"],
                        fig["words"] / fig["bare_s"],
                        1.0,
                    ],
                    *(
                        [
                            f"our extraction, {encoder} tagger",
                            fig[encoder],
                            fig["words"] / fig[encoder],
                            fig["bare_s"] / fig[encoder],
                        ]
                        for encoder in ENCODERS
                    ),
                ],
            )
        )

    growth: dict[int, RunFigures] = {}
    if sections & {"growth", "topics", "executors"}:
        base = work / "base"
        base.mkdir(exist_ok=True)
        base_files = [
            _head_records(p, growth_base, base / p.name.removesuffix(".gz"))
            for p in inputs
            if p.is_file()
        ]
        cfg_growth = _write_config(
            work / "growth.yaml", cache, {"load": {"flag_duplicates": False}}
        )
        scales = (1, 2, 4) if "growth" in sections else (1,)
        for k in scales:
            folder = _replicate(base_files, k, work / f"x{k}")
            out = work / f"x{k}-out"
            args = ["run", "-i", str(folder), "-o", str(out), "-c", str(cfg_growth)]
            growth[k] = _run(f"{k}x", args, out)
        if "growth" in sections:
            rows = []
            for name in [*(s["name"] for s in growth[1].stages), "total"]:
                secs = [
                    g.wall_s if name == "total" else g.stage(name)["seconds"]
                    for g in growth.values()
                ]
                mems = [
                    g.peak_mb if name == "total" else g.stage(name).get("peak_rss_mb", 0.0)
                    for g in growth.values()
                ]
                docs = [g.documents for g in growth.values()]
                rows.append(
                    [name, *secs, _slope(docs, np.maximum(secs, 1e-3)), *mems, _slope(docs, mems)]
                )
            docs = " / ".join(f"{g.documents:,}" for g in growth.values())
            console.print(
                _table(
                    f"2. Growth: {docs} documents (1x, 2x, 4x); slope = log-log exponent",
                    ["stage", "1x s", "2x s", "4x s", "time slope"]
                    + ["1x MiB", "2x MiB", "4x MiB", "memory slope"],
                    rows,
                )
            )

    if "topics" in sections:
        from pipeline.topics import fit_topics, topic_units

        out = work / f"x{max(growth)}-out"  # the largest growth corpus
        segments, mentions = read_table(out, "segments"), read_table(out, "mentions")
        topic_cfg = load_config(overrides={"embeddings": {"cache_dir": str(work / "cache-topics")}})
        _seed_model_cache(work / "cache-topics", config)
        start = time.perf_counter()
        ours = fit_topics(segments, mentions, topic_cfg, lemmas=read_table(out, "lemmas"))
        ours_s = time.perf_counter() - start
        texts = topic_units(segments, config.topics)["text"].drop_duplicates().tolist()
        default_s, default_n = default_bertopic(texts)
        console.print(
            _table(
                f"5. Topic stage vs BERTopic defaults + MiniLM: {len(texts):,} units "
                "(embedding and fitting)",
                ["model", "seconds", "topics", "speed-up"],
                [
                    [
                        "this project's configuration",
                        ours_s,
                        int((ours.topics["topic_id"] >= 0).sum()),
                        default_s / ours_s,
                    ],
                    ["BERTopic defaults", default_s, default_n, 1.0],
                ],
            )
        )

    if "executors" in sections:
        folder = _replicate(base_files, 2, work / "exec-in")
        figures = {}
        for name in ("local", "dask"):
            out = work / f"exec-{name}"
            args = ["run", "-i", str(folder), "-o", str(out), "-c", str(cfg_growth)]
            figures[name] = _run(name, [*args, "--executor", name], out)
        same = all(
            read_table(work / "exec-local", t).equals(read_table(work / "exec-dask", t))
            for t in ("documents", "segments", "mentions", "claims")
        )
        rows = []
        for stage in PER_DOC_STAGES:
            local_s = figures["local"].stage(stage)["seconds"]
            dask_s = figures["dask"].stage(stage)["seconds"]
            rows.append([stage, local_s, dask_s, local_s / dask_s if dask_s else float("nan")])
        rows.append(
            [
                "total (wall)",
                figures["local"].wall_s,
                figures["dask"].wall_s,
                figures["local"].wall_s / figures["dask"].wall_s,
            ]
        )
        console.print(
            _table(
                f"6. Local executor vs Dask LocalCluster (2 workers): "
                f"{figures['local'].documents:,} documents; identical tables: {same}",
                ["stage", "local s", "dask s", "local / dask"],
                rows,
            )
        )
