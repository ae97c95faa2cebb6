"""Loading stage: local files (txt, md, html, jsonl, csv, gzipped too) and fetched URL lists.

Each reader yields `Record`s or `Rejection`s, never raises for bad input: a bad file or line
becomes a row of the `rejected` table and the run goes on.
"""

from __future__ import annotations

import csv
import fnmatch
import gzip
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from pipeline.config import CleanConfig, Config, LoadConfig
from pipeline.io import sha256_text, short_hash

SUPPORTED_SUFFIXES = (
    ".txt",
    ".md",
    ".html",
    ".htm",
    ".html.gz",
    ".htm.gz",
    ".jsonl",
    ".jsonl.gz",
    ".csv",
)
_SLUG = re.compile(r"[^a-z0-9]+")
_MD_HEADING = re.compile(r"^#{1,6}\s+")


@dataclass
class Record:
    """One document as read from its source, before cleaning."""

    source: str
    format: str
    raw_text: str
    title: str = ""
    url: str = ""
    site: str = ""
    author: str = ""
    published: str = ""
    fetched_at: str = ""
    name: str = ""  # a human name for the doc_id slug
    encoding: str = "utf-8"


@dataclass
class Rejection:
    input: str
    stage: str
    reason: str
    doc_id: str = ""


class InputError(ValueError):
    """A whole input that cannot be used (missing path, unreadable folder)."""


# ---------------------------------------------------------------- helpers


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _read_bytes(path: Path, cfg: LoadConfig) -> bytes:
    """Read a file (decompressing .gz) with a size cap that also stops gzip bombs.

    Raises:
        ValueError: the file or its decompressed content is over `max_file_bytes`.
    """
    size = path.stat().st_size
    if size > cfg.max_file_bytes:
        raise ValueError(f"file is {size} bytes, over load.max_file_bytes ({cfg.max_file_bytes})")
    if path.name.lower().endswith(".gz"):
        with gzip.open(path, "rb") as fh:
            data = fh.read(cfg.max_file_bytes + 1)
        if len(data) > cfg.max_file_bytes:
            raise ValueError(
                f"decompresses to over load.max_file_bytes ({cfg.max_file_bytes}); refused"
            )
        return data
    return path.read_bytes()


def decode_text(data: bytes, cfg: LoadConfig) -> tuple[str, str]:
    """Decode bytes to text: BOMs first, then the configured encodings in order.

    Returns:
        (text, encoding used).

    Raises:
        ValueError: the bytes look binary (NUL bytes or many control characters).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), "utf-16"
    head = data[:8192]
    controls = sum(b < 9 or 13 < b < 32 for b in head)
    if b"\x00" in head or (head and controls / len(head) > 0.05):
        raise ValueError("binary content (NUL or control bytes), not text")
    for encoding in cfg.encodings:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace"), "utf-8 (with replacements)"


def _first(row: dict, columns: list[str]) -> str:
    for col in columns:
        value = row.get(col)
        if value is not None and str(value).strip() and str(value) != "nan":
            if isinstance(value, list):
                return ", ".join(str(v) for v in value)
            return str(value).strip()
    return ""


def _date(value: str) -> str:
    """A publication date as ISO when it is a Unix timestamp (FakeHealth), else as given."""
    try:
        stamp = float(value)
    except ValueError:
        return value
    return datetime.fromtimestamp(stamp, UTC).date().isoformat()


def _site(value: str) -> str:
    """The host of a URL; a value that is not a URL (a site name) is kept."""
    if "://" not in value:
        return value
    return urlparse(value).hostname or ""


def _plain_title(text: str, clean: CleanConfig) -> str:
    """The title of a plain-text dump: its first line that no boilerplate pattern matches."""
    patterns = [re.compile(p, re.I) for p in clean.line_patterns.values()]
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not any(p.match(stripped) for p in patterns):
            return _MD_HEADING.sub("", stripped)[:300]
    return ""


# ---------------------------------------------------------------- readers


def read_text_file(path: Path, source: str, config: Config) -> Iterator[Record | Rejection]:
    """A .txt/.md web dump: the first (non-navigation) line is the title."""
    text, encoding = decode_text(_read_bytes(path, config.load), config.load)
    yield Record(
        source=source,
        format=_suffix(path).lstrip("."),
        raw_text=text,
        title=_plain_title(text, config.clean),
        name=path.stem,
        encoding=encoding,
    )


def parse_html(
    html: str | bytes,
    source: str,
    clean: CleanConfig,
    url: str = "",
    fetched_at: str = "",
    name: str = "",
) -> Record | Rejection:
    """Main text and metadata of an HTML page through trafilatura (markdown keeps headings)."""
    import trafilatura
    from trafilatura.metadata import extract_metadata

    try:
        text = trafilatura.extract(
            html,
            url=url or None,
            output_format="markdown",
            include_comments=False,
            include_tables=True,
            include_formatting=True,
        )
        meta = extract_metadata(html, default_url=url or None)
    except Exception as exc:  # trafilatura raises assorted lxml errors on broken markup
        return Rejection(source, "load", f"HTML could not be parsed: {type(exc).__name__}: {exc}")
    if not text or not re.search(r"\w\w", text):
        return Rejection(source, "load", "HTML has no extractable main text (broken or empty page)")
    meta_url = (meta.url if meta else "") or url
    return Record(
        source=source,
        format="html" if not fetched_at else "url",
        raw_text=text,
        title=(meta.title if meta and meta.title else "") or _plain_title(text, clean),
        url=meta_url or "",
        site=(meta.sitename or meta.hostname or "") if meta else _site(url),
        author=(meta.author or "") if meta else "",
        published=(meta.date or "") if meta else "",
        fetched_at=fetched_at,
        name=name or (meta.title if meta and meta.title else ""),
    )


def read_html_file(path: Path, source: str, config: Config) -> Iterator[Record | Rejection]:
    """An .html/.htm file, gzipped or not."""
    text, encoding = decode_text(_read_bytes(path, config.load), config.load)
    record = parse_html(text, source, config.clean, name=path.name.split(".")[0])
    if isinstance(record, Record):
        record.encoding = encoding
    yield record


def _record_from_row(
    row: dict, source: str, fmt: str, cfg: LoadConfig, name: str, encoding: str
) -> Record | Rejection:
    text = _first(row, cfg.text_columns)
    if not text:
        return Rejection(source, "load", f"no text in any of the columns {cfg.text_columns}")
    url = _first(row, cfg.url_columns)
    return Record(
        source=source,
        format=fmt,
        raw_text=text,
        title=_first(row, cfg.title_columns),
        url=url,
        site=_site(_first(row, ["source", "site"]) or url),
        author=_first(row, cfg.author_columns),
        published=_date(_first(row, cfg.published_columns)),
        name=name,
        encoding=encoding,
    )


def read_jsonl_file(path: Path, source: str, cfg: LoadConfig) -> Iterator[Record | Rejection]:
    """One JSON object per line; a broken line is rejected with its line number."""
    text, encoding = decode_text(_read_bytes(path, cfg), cfg)
    seen: set[str] = set()
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Rejection(
                f"{source}:{line_no}", "load", f"line {line_no}: invalid JSON ({exc.msg})"
            )
            continue
        if not isinstance(row, dict):
            yield Rejection(f"{source}:{line_no}", "load", f"line {line_no}: not a JSON object")
            continue
        key = _first(row, cfg.id_columns) or f"line{line_no}"
        if key in seen:  # a duplicate ID keeps both records apart, by line number
            key = f"{key}@line{line_no}"
        seen.add(key)
        yield _record_from_row(row, f"{source}#{key}", "jsonl", cfg, key, encoding)


def read_csv_file(path: Path, source: str, cfg: LoadConfig) -> Iterator[Record | Rejection]:
    """A CSV with a header row; the text column is the first of `load.text_columns` present."""
    text, encoding = decode_text(_read_bytes(path, cfg), cfg)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = reader.fieldnames or []
    if not any(c in columns for c in cfg.text_columns):
        yield Rejection(
            source,
            "load",
            f"CSV has no text column: expected one of {cfg.text_columns}, found {columns[:12]}",
        )
        return
    seen: set[str] = set()
    for row_no, row in enumerate(reader, start=1):
        key = _first(row, cfg.id_columns) or f"row{row_no}"
        if key in seen:
            key = f"{key}@row{row_no}"
        seen.add(key)
        yield _record_from_row(row, f"{source}#{key}", "csv", cfg, f"{path.stem}-{key}", encoding)


def read_url_list_file(
    path: Path, source: str, config: Config, web_cache: Path
) -> Iterator[Record | Rejection]:
    """A .txt of URLs: expand sitemaps and feeds, fetch each page politely, extract it."""
    from pipeline.fetch import Fetcher, discover_urls, read_url_list

    with Fetcher(config.fetch, web_cache) as fetcher:
        for listed in read_url_list(path):
            urls, errors = discover_urls(fetcher, listed)
            for url, reason in errors:
                yield Rejection(url, "load", reason)
            for url in urls:
                result = fetcher.fetch(url)
                if not result.ok:
                    yield Rejection(url, "load", result.error or "fetch failed")
                    continue
                content_type = result.headers.get("content-type", "")
                try:
                    body, encoding = decode_text(result.body or b"", config.load)
                except ValueError as exc:
                    yield Rejection(url, "load", str(exc))
                    continue
                if "html" in content_type or body.lstrip()[:1] == "<":
                    record = parse_html(
                        body, url, config.clean, url=result.final_url, fetched_at=result.fetched_at
                    )
                else:
                    record = Record(
                        source=url,
                        format="txt",
                        raw_text=body,
                        title=_plain_title(body, config.clean),
                        url=result.final_url,
                        site=_site(result.final_url),
                        fetched_at=result.fetched_at,
                    )
                if isinstance(record, Record):
                    record.encoding = encoding
                yield record


def _is_url_list(path: Path) -> bool:
    if _suffix(path) != ".txt":
        return False
    from pipeline.fetch import looks_like_url_list

    try:
        head = path.read_bytes()[:65536].decode("utf-8", errors="replace")
    except OSError:
        return False
    return looks_like_url_list(head)


# ---------------------------------------------------------------- discovery and dispatch


@dataclass(frozen=True)
class InputFile:
    path: Path
    source: str  # path relative to the input root: stable across clones and machines


def find_inputs(
    inputs: Iterable[Path], ignore: list[str]
) -> tuple[list[InputFile], list[Rejection]]:
    """Expand files and folders into input files, sorted for a deterministic order.

    Args:
        inputs: files or folders.
        ignore: glob patterns (relative to each folder) of files to skip, e.g. licences.
    """
    found: list[InputFile] = []
    rejected: list[Rejection] = []
    for root in inputs:
        root = Path(root)
        if not root.exists():
            rejected.append(Rejection(str(root), "load", "path does not exist"))
        elif root.is_file():
            found.append(InputFile(root, root.name))
        else:
            try:
                paths = sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())
            except OSError as exc:
                rejected.append(Rejection(str(root), "load", f"cannot list folder: {exc}"))
                continue
            for path in paths:
                rel = path.relative_to(root).as_posix()
                if any(part.startswith(".") for part in Path(rel).parts):
                    continue
                if any(
                    fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(path.name, pat) for pat in ignore
                ):
                    continue
                found.append(InputFile(path, f"{root.name}/{rel}"))
    return found, rejected


def read_input(item: InputFile, config: Config) -> Iterator[Record | Rejection]:
    """Dispatch one input file to its reader; any failure becomes a Rejection."""
    cfg = config.load
    suffix = _suffix(item.path)
    try:
        if suffix not in SUPPORTED_SUFFIXES:
            yield Rejection(
                item.source,
                "load",
                f"unsupported file type {suffix or '(none)'}; supported: "
                f"{', '.join(SUPPORTED_SUFFIXES)}",
            )
        elif not item.path.is_file():
            yield Rejection(item.source, "load", "not a regular file")
        elif item.path.stat().st_size == 0:
            yield Rejection(item.source, "load", "empty file")
        elif suffix in (".html", ".htm", ".html.gz", ".htm.gz"):
            yield from read_html_file(item.path, item.source, config)
        elif suffix in (".jsonl", ".jsonl.gz"):
            yield from read_jsonl_file(item.path, item.source, cfg)
        elif suffix == ".csv":
            yield from read_csv_file(item.path, item.source, cfg)
        elif _is_url_list(item.path):
            yield from read_url_list_file(item.path, item.source, config, config.paths.web_cache)
        else:
            yield from read_text_file(item.path, item.source, config)
    except (OSError, ValueError, EOFError, gzip.BadGzipFile, csv.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        yield Rejection(item.source, "load", f"cannot read: {reason}")


def make_doc_id(record: Record) -> str:
    """Stable ID: a readable slug plus a hash of the source key (not of a row number)."""
    slug = _SLUG.sub("-", (record.name or record.title or "doc").lower()).strip("-")[:48]
    return f"{slug or 'doc'}-{short_hash(record.source, length=8)}"


RAW_COLUMNS = [
    "doc_id",
    "source",
    "format",
    "title",
    "url",
    "site",
    "author",
    "published",
    "fetched_at",
    "sha256",
    "encoding",
    "raw_text",
]
"""Columns of the documents table as read, before cleaning."""


def record_row(record: Record) -> dict:
    """The documents-table row of a record (columns RAW_COLUMNS)."""
    return {
        "doc_id": make_doc_id(record),
        "source": record.source,
        "format": record.format,
        "title": record.title,
        "url": record.url,
        "site": record.site,
        "author": record.author,
        "published": record.published,
        "fetched_at": record.fetched_at,
        "sha256": sha256_text(record.raw_text),
        "encoding": record.encoding,
        "raw_text": record.raw_text,
    }


def drop_repeated_ids(rows: Iterable[dict], rejected: list[Rejection]) -> list[dict]:
    """Keep the first row of each doc_id (the same source key loaded twice, e.g. an input given
    twice); later ones become rejections."""
    kept, seen = [], set()
    for row in rows:
        if row["doc_id"] in seen:
            rejected.append(
                Rejection(row["source"], "load", "same source loaded twice", row["doc_id"])
            )
            continue
        seen.add(row["doc_id"])
        kept.append(row)
    return kept


def read_rows(item: InputFile, config: Config) -> tuple[list[dict], list[Rejection]]:
    """Read one input file into documents-table rows and rejections."""
    rows: list[dict] = []
    rejected: list[Rejection] = []
    for out in read_input(item, config):
        if isinstance(out, Rejection):
            rejected.append(out)
        else:
            rows.append(record_row(out))
    return rows, rejected


def load_documents(
    inputs: Iterable[Path], config: Config, progress=None
) -> tuple[pd.DataFrame, list[Rejection]]:
    """Read every input into the documents table (before cleaning).

    Returns:
        The documents (columns RAW_COLUMNS), and the rejections.
    """
    files, rejected = find_inputs(inputs, config.load.ignore)
    rows: list[dict] = []
    for item in files:
        file_rows, file_rejected = read_rows(item, config)
        rows.extend(file_rows)
        rejected.extend(file_rejected)
        if progress is not None:
            progress(item.source)
    return pd.DataFrame(drop_repeated_ids(rows, rejected), columns=RAW_COLUMNS), rejected
