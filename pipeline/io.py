"""File helpers shared by the stages: atomic writes, Parquet tables with fixed schemas, hashes."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.schemas import TABLES

# Cells a spreadsheet would run as a formula start with one of these.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_csv_value(value):
    """Neutralise spreadsheet formulas: a text cell starting with = + - @ gets a leading '."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    """Hex SHA-256 of the UTF-8 encoding of `text`."""
    return sha256_bytes(text.encode("utf-8"))


def short_hash(*parts: str, length: int = 12) -> str:
    """A short stable hash of several strings, used for IDs."""
    return sha256_text("\x1f".join(parts))[:length]


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success rename it over `path`, else remove it.

    The rename is atomic on POSIX, so a reader sees the old file or the new one, never a half.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write `data` as indented, key-sorted JSON, atomically."""
    write_text_atomic(
        path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    )


def table_schema(name: str) -> pa.Schema:
    """The Arrow schema of a documented table (see pipeline/schemas.py)."""
    return pa.schema([pa.field(col.name, col.arrow_type) for col in TABLES[name].columns])


def write_table(df: pd.DataFrame, out_dir: Path, name: str) -> Path:
    """Write `df` as `<out_dir>/<name>.parquet` with the table's fixed schema, atomically.

    An empty frame is written with the documented columns, whatever columns it has.

    Raises:
        ValueError: `df` has rows but lacks a documented column (extra columns are an error
            too, so the schema in the README stays the truth).
    """
    schema = table_schema(name)
    if df.empty:  # no rows: whatever columns the frame has, write the documented ones
        df = schema.empty_table().to_pandas()
    missing = set(schema.names) - set(df.columns)
    extra = set(df.columns) - set(schema.names)
    if missing or extra:
        raise ValueError(f"table {name}: missing columns {sorted(missing)}, extra {sorted(extra)}")
    if df.empty:
        table = schema.empty_table()
    else:
        table = pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)
    path = Path(out_dir) / f"{name}.parquet"
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


def read_table(out_dir: Path, name: str) -> pd.DataFrame:
    """Read a table written by `write_table`; an absent table reads as empty with its columns."""
    path = Path(out_dir) / f"{name}.parquet"
    if not path.exists():
        return table_schema(name).empty_table().to_pandas()
    return pq.read_table(path).to_pandas()


def records(frame: pd.DataFrame, columns: list[str] | None = None) -> list[dict]:
    """Rows as plain dicts, converting column by column: row-wise access to Arrow-backed
    frames is slow enough to dominate on large corpora."""
    columns = list(frame.columns) if columns is None else columns
    return [dict(zip(columns, values)) for values in zip(*(frame[c].tolist() for c in columns))]


def empty_frame(name: str) -> pd.DataFrame:
    """An empty DataFrame with the columns of table `name`."""
    return table_schema(name).empty_table().to_pandas()
