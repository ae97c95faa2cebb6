"""Incremental re-runs, --force, the run lock, crash safety (SIGKILL and resume) and the Dask
executor, on real articles from ../shared/data/articles."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline import runner
from pipeline.cli import app
from pipeline.config import load_config
from pipeline.io import read_table
from pipeline.store import OutputLocked, forget_state, read_state, run_lock
from tests.conftest import REPO, shared_path
from tests.reliability import record_reliability

PER_DOC_TABLES = ("documents", "boilerplate", "segments", "mentions", "claims", "lemmas")
ALL_TABLES = (
    *PER_DOC_TABLES,
    "concepts",
    "rejected",
    "topics",
    "segment_topics",
    "document_topics",
    "support",
    "flags",
    "concept_coverage",
)


@pytest.fixture(scope="module")
def articles(tmp_path_factory) -> Path:
    """Ten real articles in a folder of their own; three more are kept aside as 'new'."""
    folder = tmp_path_factory.mktemp("articles")
    for path in sorted(shared_path("articles").glob("*.txt"))[:10]:
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture(scope="module")
def new_articles() -> list[Path]:
    return sorted(shared_path("articles").glob("*.txt"))[10:13]


def small_config(**run):
    # Small partitions so that even ten articles make several; topics on so few units take
    # the single-topic path, which keeps these tests about execution, not clustering.
    return load_config(
        overrides={"run": {"partition_docs": 3, "partition_files": 3, **run}},
    )


def per_doc_stages(inputs, out, config, executor=None, force=False):
    return [
        runner.stage_load([inputs], out, config, executor=executor, force=force),
        runner.stage_segment(out, config, executor=executor, force=force),
        runner.stage_extract(out, config, executor=executor, force=force),
    ]


def assert_same_tables(a: Path, b: Path, names=PER_DOC_TABLES) -> None:
    for name in names:
        pd.testing.assert_frame_equal(read_table(a, name), read_table(b, name), obj=name)


def test_unchanged_rerun_recomputes_nothing(articles, tmp_path):
    config = small_config()
    first = per_doc_stages(articles, tmp_path, config)
    assert first[0].counts["docs_cleaned"] == 10
    again = per_doc_stages(articles, tmp_path, config)
    assert all(stage.counts.get("skipped") == "inputs unchanged" for stage in again)
    assert [s.counts["documents"] for s in first[:1]] == [s.counts["documents"] for s in again[:1]]


def test_new_articles_are_the_only_work(articles, new_articles, tmp_path):
    config = small_config()
    inputs = tmp_path / "in"
    shutil.copytree(articles, inputs)
    per_doc_stages(inputs, tmp_path / "out", config)
    for path in new_articles:
        shutil.copy(path, inputs / path.name)
    load, segment, extract = per_doc_stages(inputs, tmp_path / "out", config)
    assert (load.counts["files_read"], load.counts["files_reused"]) == (3, 10)
    assert (load.counts["docs_cleaned"], load.counts["docs_reused"]) == (3, 10)
    usable_new = segment.counts["docs_segmented"]
    assert 1 <= usable_new <= 3 and segment.counts["docs_reused"] >= 9
    assert extract.counts["docs_extracted"] == usable_new
    # The incremental result equals a run from scratch on the same 13 articles.
    per_doc_stages(inputs, tmp_path / "scratch", config)
    assert_same_tables(tmp_path / "out", tmp_path / "scratch")


def test_config_change_recomputes_only_the_stages_it_affects(articles, tmp_path):
    per_doc_stages(articles, tmp_path, small_config())
    changed = small_config()
    strict = {"model_threshold": {"contextual": 0.9, "fast": 0.9}}
    changed = changed.model_copy(update={"extract": changed.extract.model_copy(update=strict)})
    load, segment, extract = per_doc_stages(articles, tmp_path, changed)
    assert load.counts.get("skipped") and segment.counts.get("skipped")
    assert extract.counts["docs_extracted"] > 0 and extract.counts["docs_reused"] == 0


def test_the_whole_corpus_decides_the_tagger(articles, tmp_path):
    """`extract.encoder: auto` reads a corpus up to `contextual_max_words` words with the
    contextual tagger, a larger one with the fast tagger, every partition alike; changing the
    choice re-extracts everything."""
    config = small_config()
    assert config.extract.encoder == "auto"
    *_, extract = per_doc_stages(articles, tmp_path, config)
    assert extract.counts["extractor"] == "contextual tagger"
    small_limit = config.model_copy(
        update={"extract": config.extract.model_copy(update={"contextual_max_words": 100})}
    )
    *_, extract = per_doc_stages(articles, tmp_path, small_limit)
    assert extract.counts["extractor"] == "fast tagger"
    assert extract.counts["docs_extracted"] > 0 and extract.counts["docs_reused"] == 0


def test_force_recomputes_from_a_stage(articles, tmp_path):
    config = small_config()
    per_doc_stages(articles, tmp_path, config)
    load = runner.stage_load([articles], tmp_path, config)
    extract = runner.stage_extract(tmp_path, config, force=True)
    assert load.counts.get("skipped")
    assert extract.counts["docs_extracted"] > 0 and extract.counts["docs_reused"] == 0
    with pytest.raises(ValueError, match="unknown stage"):
        runner.run_pipeline([articles], tmp_path, config, force_from="nonsense")


def test_cli_force_option_rejects_unknown_stage(articles, tmp_path):
    result = CliRunner().invoke(
        app, ["run", "-i", str(articles), "-o", str(tmp_path), "--force", "x"]
    )
    assert result.exit_code == 2 and "--force takes a stage name" in result.output


def test_second_run_on_the_same_folder_is_refused(articles, tmp_path):
    with run_lock(tmp_path):
        with pytest.raises(OutputLocked, match="another pipeline run"):
            runner.run_pipeline([articles], tmp_path, small_config())
        result = CliRunner().invoke(app, ["load", "-i", str(articles), "-o", str(tmp_path)])
        assert result.exit_code == 2
        assert "another pipeline run" in result.output
    with run_lock(tmp_path):  # released when the holder finishes
        pass


def _pipeline(args: list[str], failpoint: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PIPELINE_FAILPOINT", None)
    if failpoint:
        env["PIPELINE_FAILPOINT"] = failpoint
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
def test_killed_runs_resume_to_identical_tables(articles, tmp_path):
    """SIGKILL the run inside every stage in turn; each re-run resumes from what the killed one
    finished, and the final tables equal those of a run that was never interrupted."""
    config_file = tmp_path / "small.yaml"
    config_file.write_text(
        "run: {partition_docs: 3, partition_files: 3}\ntopics: {min_units: 100000}\n",
        encoding="utf-8",
    )
    base = ["run", "-i", str(articles), "-c", str(config_file)]
    clean_out, killed_out = tmp_path / "clean", tmp_path / "killed"
    assert _pipeline([*base, "-o", str(clean_out)]).returncode in (0, 3)

    partitions = killed_out / "cache" / "extract"
    for point in ("read:2", "clean:2", "segment:2", "extract:2", "topics", "compare", "report"):
        before = {p: p.stat().st_mtime_ns for p in partitions.glob("*/*/done.json")}
        proc = _pipeline([*base, "-o", str(killed_out)], failpoint=point)
        assert proc.returncode == -9, f"{point}: expected SIGKILL, got {proc.returncode}"
        assert not list(killed_out.glob("*.tmp")) and not list(killed_out.glob(".*.tmp"))
        # Partitions finished before the kill are never redone.
        after = {p: p.stat().st_mtime_ns for p in partitions.glob("*/*/done.json")}
        assert all(after[p] == mtime for p, mtime in before.items())
        record_reliability("resume:" + point.split(":")[0], f"SIGKILL at {point}", lost=0)

    final = _pipeline([*base, "-o", str(killed_out)])
    assert final.returncode in (0, 3), final.stderr[-2000:]
    state = read_state(killed_out)
    assert set(state) >= {"load", "segment", "extract", "topics", "compare"}
    lost = len(read_table(clean_out, "documents")) - len(read_table(killed_out, "documents"))
    record_reliability("resume:final", "run after seven kills", lost=lost)
    assert_same_tables(clean_out, killed_out, ALL_TABLES)
    assert (killed_out / "report" / "report.html").exists()


def test_a_half_written_partition_is_ignored_and_redone(articles, tmp_path):
    config = small_config()
    per_doc_stages(articles, tmp_path, config)
    done_files = sorted((tmp_path / "cache" / "extract").glob("*/*/done.json"))
    lost_keys = sum(len(json.loads(p.read_text())["keys"]) for p in done_files[:2])
    done_files[0].unlink()  # as if the process died before committing this partition
    (done_files[1].parent / "mentions.parquet").write_bytes(b"")  # and a torn table file
    done_files[1].unlink()
    forget_state(tmp_path, ["extract"])  # the stage did not finish either
    extract = runner.stage_extract(tmp_path, config)
    assert extract.counts["docs_extracted"] == lost_keys
    assert (
        extract.counts["docs_reused"]
        == extract.counts["docs_extracted"] + extract.counts["docs_reused"] - lost_keys
    )
    fresh = tmp_path / "fresh"
    per_doc_stages(articles, fresh, config)
    assert_same_tables(tmp_path, fresh)


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_tables(articles, tmp_path):
    from pipeline.executor import DaskExecutor

    config = small_config()
    local, dask_out = tmp_path / "local", tmp_path / "dask"
    per_doc_stages(articles, local, config)
    executor = DaskExecutor(workers=2)
    try:
        assert len(executor.client.scheduler_info()["workers"]) == 2
        stages = per_doc_stages(articles, dask_out, config, executor=executor)
    finally:
        executor.close()
    assert stages[2].counts["docs_extracted"] == stages[1].counts["docs_segmented"] > 0
    assert_same_tables(local, dask_out, (*PER_DOC_TABLES, "concepts", "rejected"))


class _RecordingExecutor:
    """Runs partitions in this process and records the order they were handed out."""

    name = "local"

    def __init__(self) -> None:
        self.order: list = []

    def map(self, fn, payloads, config):
        for i, payload in enumerate(payloads):
            self.order.append(payload)
            yield i, fn(payload, config)

    def close(self) -> None:
        pass


def _rows(payload, config):
    return {"rows": pd.DataFrame({runner.KEY: payload, "value": [k.upper() for k in payload]})}


def test_costliest_partitions_start_first_and_results_keep_item_order(tmp_path):
    config = small_config()
    executor = _RecordingExecutor()
    parts = runner._Partitioned(tmp_path, config, executor, False, runner._no_progress)
    keys = [f"k{i}" for i in range(7)]
    cost = {"k0": 1, "k1": 1, "k2": 5, "k3": 5, "k4": 2, "k5": 9, "k6": 9}
    out, counts = parts.run(
        "step", "fp", keys, list, _rows, ("rows",), 2, cost=lambda c: sum(cost[k] for k in c)
    )
    assert executor.order == [["k4", "k5"], ["k2", "k3"], ["k6"], ["k0", "k1"]]
    assert out["rows"]["value"].tolist() == [k.upper() for k in keys]
    assert counts == {"computed": 7, "reused": 0}


def test_concept_wordings_are_embedded_on_the_executor_once(articles, tmp_path):
    config = small_config()
    config = config.model_copy(
        update={"embeddings": config.embeddings.model_copy(update={"cache_dir": tmp_path / "c"})}
    )
    first = per_doc_stages(articles, tmp_path / "a", config, executor=_RecordingExecutor())
    embedded = first[2].counts["wordings_embedded"]
    assert embedded > 0
    # A forced re-extraction finds every wording cached and gives the same concepts.
    again = runner.stage_extract(tmp_path / "a", config, executor=_RecordingExecutor(), force=True)
    assert again.counts["wordings_embedded"] == 0
    assert again.counts["concepts"] == first[2].counts["concepts"]
