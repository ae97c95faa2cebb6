"""Helpers for the review tests: one pipeline run over the reference article per session, the
app served on a free port of 127.0.0.1 (in a thread or as a `pipeline review` process), and
an HTTP client that has a session and a reviewer name."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from pipeline.config import load_config
from pipeline.review.app import Settings, make_server
from pipeline.runner import run_pipeline
from tests.conftest import REFERENCE, REPO

REFERENCE_PATH = REPO / "data" / "raw" / "articles" / f"{REFERENCE}.txt"
TABLES = ("documents", "segments", "mentions", "claims", "support", "flags")
# A guard against a hung server, not a performance bound.
STARTUP_GUARD_S = 180

_RUNS: dict[str, Path] = {}


def pipeline_config():
    """The default config with one topic for everything: the review needs the extraction and
    comparison tables, not a fitted topic model (this skips UMAP and HDBSCAN)."""
    return load_config(overrides={"topics": {"min_units": 10_000}})


def run_on_text(text: str, base: Path) -> Path:
    """Run the pipeline on `text` saved under the reference article's file name (so the
    document keeps its doc_id) and return the table folder."""
    inputs = base / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    article = inputs / REFERENCE_PATH.name
    article.write_text(text, encoding="utf-8")
    run_pipeline([article], base / "out", pipeline_config())
    return base / "out"


def reference_tables(tmp_path_factory) -> Path:
    """The tables of one pipeline run over the reference article, built once per session.

    Treat them as read-only; `copy_tables` gives a folder a test may change.
    """
    if "reference" not in _RUNS:
        base = tmp_path_factory.mktemp("review-reference")
        _RUNS["reference"] = run_on_text(REFERENCE_PATH.read_text(encoding="utf-8"), base)
    return _RUNS["reference"]


def copy_tables(source: Path, target: Path) -> Path:
    """Copy the tables the review reads into `target`, each replaced atomically."""
    target.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        tmp = target / f".{name}.parquet.tmp"
        shutil.copyfile(source / f"{name}.parquet", tmp)
        os.replace(tmp, target / f"{name}.parquet")
    return target


@contextmanager
def served(out_dir: Path, db: Path, **settings):
    """Serve the review app in a thread on a free port; yields its Settings (with `url`)."""
    config = Settings.from_config(pipeline_config(), out_dir, db=db, port=0, **settings)
    server, sock = make_server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_GUARD_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the review app did not start")
        time.sleep(0.02)
    try:
        yield config
    finally:
        server.should_exit = True
        thread.join()


@contextmanager
def reviewer_client(base_url: str, name: str, **kwargs):
    """A client with a session, a reviewer name and its CSRF token in every request."""
    with httpx.Client(base_url=base_url, **kwargs) as client:
        csrf = client.get("/api/session").json()["csrf"]
        client.headers["X-CSRF-Token"] = csrf
        client.post("/api/session", json={"reviewer": name}).raise_for_status()
        yield client


@contextmanager
def server_process(out_dir: Path, db: Path, *extra: str):
    """`pipeline review` as a child process on a free port; yields (process, base URL)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "review", "--out", str(out_dir), "--db", str(db)]
        + ["--port", "0", *extra],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        if not line.startswith("Review app: "):
            process.kill()
            raise RuntimeError(f"no URL printed: {line!r} {process.stderr.read()}")
        yield process, line.split()[2].rstrip("/")
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait()
        process.stdout.close()
        process.stderr.close()
