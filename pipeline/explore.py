"""Helpers for the research notebooks: find (or build) the tables, and a config that works from
any working directory.

The notebooks in `notebooks/` start from the tables of a finished run. `find_tables` picks the
folder, in this order:

1. the `PIPELINE_NOTEBOOK_TABLES` environment variable: a table folder; the fast sample is built
   there if it holds no finished run yet (the test suite points it at a temporary folder);
2. `data/processed`, when `make run` has finished there (its `manifest.json` exists);
3. otherwise the fast sample: the pipeline run on `data/raw/articles` and
   `data/raw/html-benchmark` (two articles, under a minute) into
   `data/processed/notebook-sample/`, rebuilt when its config or inputs change.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.config import Config, load_config
from pipeline.io import read_table
from pipeline.schemas import TABLES
from pipeline.segment import with_sentences  # noqa: F401  (re-exported for notebooks)

TABLES_ENV = "PIPELINE_NOTEBOOK_TABLES"
SAMPLE_INPUTS = ("data/raw/articles", "data/raw/html-benchmark")
SAMPLE_DIR = "data/processed/notebook-sample"


def repo_root(start: Path | None = None) -> Path:
    """The repository root: the nearest folder at or above `start` (default: the working
    directory) that holds `pyproject.toml`, falling back to the folder of this package's parent.
    """
    start = Path(start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "pipeline").is_dir():
            return folder
    return Path(__file__).resolve().parents[1]


def notebook_config(overrides: dict[str, Any] | None = None, root: Path | None = None) -> Config:
    """`load_config(overrides=...)` with relative paths taken from the repository root.

    The CLI resolves `paths.*`, `embeddings.cache_dir` and `compare.evidence_csv` against the
    working directory, which is the repository root under `make`; a notebook runs in
    `notebooks/`, so the same relative paths are anchored to the root here.

    Args:
        overrides: nested config keys to override, e.g. `{"topics": {"min_cluster_size": 10}}`.
        root: the repository root (default: `repo_root()`).
    """
    root = root or repo_root()
    config = load_config(overrides=overrides)
    data = config.model_dump()

    def anchored(path: Path | None) -> Path | None:
        return path if path is None or Path(path).is_absolute() else root / path

    data["paths"] = {key: anchored(value) for key, value in data["paths"].items()}
    data["embeddings"]["cache_dir"] = anchored(data["embeddings"]["cache_dir"])
    data["compare"]["evidence_csv"] = anchored(data["compare"]["evidence_csv"])
    return Config.model_validate(data)


def _finished_run(folder: Path) -> dict | None:
    """The manifest of a finished `run_pipeline` in `folder`, or None."""
    path = folder / "manifest.json"
    return json.loads(path.read_text("utf-8")) if path.is_file() else None


def _sample_is_current(folder: Path, inputs: list[Path], config: Config) -> bool:
    """The sample in `folder` was built from these inputs (same bytes) with this config."""
    from pipeline.runner import input_hashes

    manifest = _finished_run(folder)
    return (
        manifest is not None
        and manifest.get("config") == config.model_dump(mode="json")
        and manifest.get("input_sha256") == input_hashes(inputs, config)
    )


def find_tables(
    out_dir: Path | None = None, inputs: list[Path] | None = None, config: Config | None = None
) -> Path:
    """The folder of tables the notebooks read, building the fast sample when needed.

    Args:
        out_dir: read this folder as it is (no run); it must hold `documents.parquet`.
        inputs: inputs of the sample run (default: `SAMPLE_INPUTS` under the repository root).
        config: config of the sample run (default: `notebook_config()`).

    Returns:
        A folder with every table of `pipeline.schemas.TABLES` and a `manifest.json`.

    Raises:
        FileNotFoundError: `out_dir` holds no `documents` table.
    """
    if out_dir is not None:
        out_dir = Path(out_dir)
        if not (out_dir / "documents.parquet").is_file():
            raise FileNotFoundError(f"no pipeline tables in {out_dir}")
        return out_dir
    root = repo_root()
    processed = root / "data" / "processed"
    target = Path(os.environ[TABLES_ENV]) if os.environ.get(TABLES_ENV) else None
    if target is not None and _finished_run(target):
        return target
    if target is None and _finished_run(processed):
        return processed
    target = target or root / SAMPLE_DIR
    inputs = [Path(p) for p in inputs] if inputs else [root / p for p in SAMPLE_INPUTS]
    config = config or notebook_config(root=root)
    if not _sample_is_current(target, inputs, config):
        from pipeline.runner import run_pipeline

        print(f"Running the pipeline on {', '.join(map(str, inputs))} into {target} ...")
        run_pipeline(inputs, target, config)
    return target


def load_tables(
    out_dir: Path | None = None, inputs: list[Path] | None = None, config: Config | None = None
) -> dict[str, pd.DataFrame]:
    """Every documented table of a run, by name (see `find_tables` for which run).

    Returns:
        `{name: DataFrame}` for each table in `pipeline.schemas.TABLES`; a table the run did not
        write is empty with its documented columns.
    """
    folder = find_tables(out_dir, inputs, config)
    return {name: read_table(folder, name) for name in TABLES}


def copy_tables(src: Path, dest: Path) -> Path:
    """Copy the tables of `src` into `dest`, to re-run a stage there with another config
    without overwriting the original run. Returns `dest`.

    The manifest is not copied: it would describe the original run, not the re-run.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for path in Path(src).glob("*.parquet"):
        shutil.copy2(path, dest / path.name)
    return dest
