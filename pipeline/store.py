"""What makes re-runs incremental and killed runs resumable: partition caches, stage state and
the run lock of an output folder.

Layout inside an output folder:

- `cache/<stage>/<fingerprint>/<partition>/`: one Parquet file per result table of a
  partition, then `done.json` (written last, atomically) listing the item keys it covers. A
  partition without `done.json` was interrupted: it is ignored and redone.
- `state.json`: for each corpus-level stage, the key of the inputs its tables were made from,
  so a stage whose inputs did not change is skipped.
- `.lock`: held (flock) by the one run that may write the folder.

Item keys hash an item's content (a file's bytes, a document's text); fingerprints hash the
config sections, model versions and package modules a stage depends on, so a change to any of
them recomputes the stages it affects.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.io import sha256_bytes, sha256_text, write_json_atomic

STAGES = ("load", "segment", "extract", "topics", "compare", "report")
"""The pipeline's stages in run order (`pipeline run --force STAGE`)."""

KEY = "_key"  # column that ties a cached row to its item


@lru_cache(maxsize=32)
def code_fingerprint(names: tuple[str, ...]) -> str:
    """Hash of the named package files or folders (e.g. "extract.py", "resources"): a change
    to the code a stage runs invalidates that stage's caches, and only those."""
    root = Path(str(resources.files("pipeline")))
    digests = []
    for name in names:
        target = root / name
        paths = sorted(target.rglob("*")) if target.is_dir() else [target]
        for path in paths:
            if path.is_file() and "__pycache__" not in path.parts:
                rel = path.relative_to(root).as_posix()
                digests.append(f"{rel}:{sha256_bytes(path.read_bytes())}")
    return sha256_text("\n".join(digests))[:16]


def fingerprint(code: tuple[str, ...], *parts: object) -> str:
    """A short hash of the code files `code` and JSON-serialisable `parts` (config sections,
    model versions, other fingerprints)."""
    payload = json.dumps([code_fingerprint(code), *parts], sort_keys=True, default=str)
    return sha256_text(payload)[:16]


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks (inputs can be large)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tables_key(out_dir: Path, names: Iterable[str], code: tuple[str, ...], *parts: object) -> str:
    """Key of a corpus-level stage: the bytes of the tables it reads, its code and `parts`."""
    digests = []
    for name in names:
        path = Path(out_dir) / f"{name}.parquet"
        digests.append(file_digest(path) if path.exists() else "absent")
    return fingerprint(code, digests, *parts)


@dataclass
class PartitionCache:
    """Cached per-item results of one stage under one fingerprint.

    Args:
        root: the output folder's `cache/` directory.
        stage: the stage name.
        stage_fingerprint: hash of everything besides the items that shapes the results.
    """

    root: Path
    stage: str
    stage_fingerprint: str

    @property
    def folder(self) -> Path:
        return Path(self.root) / self.stage / self.stage_fingerprint

    def index(self) -> dict[str, Path]:
        """Item key -> folder of the completed partition that holds its results."""
        found: dict[str, Path] = {}
        if not self.folder.exists():
            return found
        for done in sorted(self.folder.glob("*/done.json")):
            try:
                keys = json.loads(done.read_text(encoding="utf-8"))["keys"]
            except (OSError, ValueError, KeyError):
                continue  # unreadable marker: treat the partition as not done
            for key in keys:
                found.setdefault(key, done.parent)
        return found

    def read(self, keys: Iterable[str], table: str, index: dict[str, Path]) -> pd.DataFrame:
        """Rows of `table` for `keys` (all found in `index`), with a `_key` column."""
        wanted = set(keys)
        frames = []
        for folder in sorted({index[k] for k in wanted}):
            frame = pq.read_table(folder / f"{table}.parquet").to_pandas()
            frames.append(frame[frame[KEY].isin(wanted)])
        if not frames:
            return pd.DataFrame(columns=[KEY])
        return pd.concat(frames, ignore_index=True)

    def write(self, keys: list[str], tables: dict[str, pd.DataFrame]) -> None:
        """Store one partition: each table must have a `_key` column naming its item."""
        name = sha256_text("\n".join(sorted(keys)))[:16]
        folder = self.folder / name
        if folder.exists():  # an interrupted write of the same partition
            shutil.rmtree(folder)
        tmp = self.folder / f".{name}.tmp{os.getpid()}"
        tmp.mkdir(parents=True, exist_ok=True)
        for table, frame in tables.items():
            pq.write_table(
                pa.Table.from_pandas(frame, preserve_index=False), tmp / f"{table}.parquet"
            )
        write_json_atomic(tmp / "done.json", {"keys": sorted(keys)})
        os.replace(tmp, folder)


def split(items: list, size: int) -> list[list]:
    """Consecutive chunks of at most `size` items."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def read_state(out_dir: Path) -> dict:
    """The per-stage input keys recorded by the last runs into `out_dir`."""
    path = Path(out_dir) / "state.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def record_state(out_dir: Path, stage: str, key: str, counts: dict) -> None:
    """Record that `stage`'s tables in `out_dir` were made from inputs with key `key`."""
    state = read_state(out_dir)
    state[stage] = {"key": key, "counts": counts}
    write_json_atomic(Path(out_dir) / "state.json", state)


def forget_state(out_dir: Path, stages: Iterable[str]) -> None:
    """Drop the recorded keys of `stages`, so they run again."""
    state = read_state(out_dir)
    for stage in stages:
        state.pop(stage, None)
    write_json_atomic(Path(out_dir) / "state.json", state)


class OutputLocked(RuntimeError):
    """Another run holds the output folder."""


@contextmanager
def run_lock(out_dir: Path) -> Iterator[None]:
    """Hold the output folder's lock for the duration of a run.

    Raises:
        OutputLocked: another process holds it (its PID is in the message).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / ".lock"
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the lock's lifetime
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise OutputLocked(
                f"another pipeline run (pid {holder}) is writing {out_dir}; wait for it to "
                "finish or use another --out folder"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()  # closing releases the flock


class StageFailed(RuntimeError):
    """A stage raised an error nobody expected; its traceback is written in the output folder.

    The stages before it finished and keep their tables, so a re-run resumes from this stage.
    """

    def __init__(self, stage: str, error: BaseException, log: Path) -> None:
        self.stage, self.error, self.log = stage, error, log
        message = " ".join(str(error).split())[:300] or "(no message)"
        super().__init__(
            f"stage {stage} failed: {type(error).__name__}: {message} "
            f"(full traceback: {log}); earlier stages' tables are kept, a re-run resumes here"
        )


@contextmanager
def stage_guard(out_dir: Path, stage: str):
    """Turn an unexpected exception inside a stage into StageFailed, with the traceback saved
    to `OUT/logs/<stage>-error.txt` (removed again once the stage succeeds). Lock and interrupt
    errors pass through unchanged."""
    log = Path(out_dir) / "logs" / f"{stage}-error.txt"
    try:
        yield
    except (OutputLocked, StageFailed):
        raise
    except Exception as exc:
        import traceback

        with suppress(OSError):  # an unwritable folder must not hide the original error
            log.parent.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            log.write_text(
                f"{stamp} stage {stage}\n" + "".join(traceback.format_exception(exc)),
                encoding="utf-8",
            )
        raise StageFailed(stage, exc, log) from exc
    with suppress(OSError):  # the failure it recorded is history now
        log.unlink(missing_ok=True)
        log.parent.rmdir()  # only when no other stage's log is left


def failpoint(name: str) -> None:
    """Fault injection for the crash-safety tests: when the environment variable
    PIPELINE_FAILPOINT equals `name`, the process kills itself with SIGKILL (no cleanup, no
    flushing), exactly as an out-of-memory kill or a pulled plug would."""
    if os.environ.get("PIPELINE_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
