"""Loading stage: local files (txt, md, html, jsonl, csv, gzipped too) and fetched URL lists.

Each reader yields `Record`s or `Rejection`s, never raises for bad input: a bad file or line
becomes a row of the `rejected` table and the run goes on.
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import gzip
import io
import json
import re
import stat
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from pipeline.config import CleanConfig, Config, LoadConfig
from pipeline.io import sha256_text, short_hash
from pipeline.titles import choose_title

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
_GZIP_CHUNK = 1 << 20

_MAX_CONTROL_SHARE = 0.05  # more control bytes than this at the start: binary, not text
_MAX_NUL_SHARE = 0.01  # more NUL bytes than this anywhere: binary; fewer are stray and removed


@dataclass
class Record:
    """One document as read from its source, before cleaning."""

    source: str
    format: str
    raw_text: str
    title: str = ""
    title_source: str = "none"  # which rule chose the title (pipeline.titles.SOURCES)
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


def _read_bytes(path: Path, cfg: LoadConfig) -> tuple[bytes, str | None]:
    """Read a file (decompressing .gz) with a size cap that also stops gzip bombs.

    The cap is checked on the compressed size first, then while inflating, so a bomb is refused
    after `max_file_bytes` of output, not after inflating it all. A gzip stream that is cut short
    or corrupt keeps what came before the damage.

    Returns:
        (the bytes, None) or, for damaged gzip data, (the bytes before the damage, why).

    Raises:
        ValueError: the file or its decompressed content is over `max_file_bytes`.
    """
    cap = cfg.max_file_bytes
    size = path.stat().st_size
    if size > cap:
        raise ValueError(f"file is {size} bytes, over load.max_file_bytes ({cap})")
    if not path.name.lower().endswith(".gz"):
        return path.read_bytes(), None
    chunks: list[bytes] = []
    total = 0
    try:
        with gzip.open(path, "rb") as fh:
            # read1 returns what one inflate step gives: nothing decoded is lost when a later
            # step fails, unlike read(n), which drops its partial buffer on EOFError.
            while chunk := fh.read1(_GZIP_CHUNK):
                total += len(chunk)
                if total > cap:
                    raise ValueError(f"decompresses to over load.max_file_bytes ({cap}); refused")
                chunks.append(chunk)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        if not chunks:
            raise
        return b"".join(chunks), (
            f"gzip data is cut short or corrupt after {total} decompressed bytes ({exc}); "
            "the content before it was read"
        )
    return b"".join(chunks), None


def _utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' when `head` has the NUL pattern of BOM-less UTF-16 text.

    Latin-script text in UTF-16 has a NUL as every other byte; binary data has NULs anywhere.
    """
    even, odd = head[0::2], head[1::2]
    if len(head) < 64 or len(head) % 2:
        return None
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.02 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.02 * len(odd):
        return "utf-16-be"
    return None


def _without_nul(text: str, encoding: str) -> tuple[str, str]:
    """`text` without stray NUL characters, or ValueError when there are too many for text."""
    nuls = text.count("\x00")
    if not nuls:
        return text, encoding
    if nuls > _MAX_NUL_SHARE * len(text):
        raise ValueError("binary content (NUL or control bytes), not text")
    return text.replace("\x00", ""), f"{encoding} ({nuls} NUL characters removed)"


def decode_text(data: bytes, cfg: LoadConfig) -> tuple[str, str]:
    """Decode bytes to text: BOMs and BOM-less UTF-16 first, then the configured encodings.

    A few stray NUL bytes (a damaged copy) are removed; a UTF-8 character cut off at the end of
    a truncated file is dropped rather than turning the whole file into cp1252 mojibake.

    Returns:
        (text, encoding used, with a note in brackets when bytes were removed).

    Raises:
        ValueError: the bytes look binary (many NUL or control bytes).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return _without_nul(data[3:].decode("utf-8", errors="replace"), "utf-8-sig")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _without_nul(data.decode("utf-16", errors="replace"), "utf-16")
    head = data[:8192]
    utf16 = _utf16_without_bom(head)
    if utf16:
        return _without_nul(data.decode(utf16, errors="replace"), utf16)
    controls = sum(b < 9 or 13 < b < 32 for b in head)
    nuls = data.count(0)
    if (head and controls / len(head) > _MAX_CONTROL_SHARE) or nuls > _MAX_NUL_SHARE * len(data):
        raise ValueError("binary content (NUL or control bytes), not text")
    note = ""
    if nuls:
        data = data.replace(b"\x00", b"")
        note = f" ({nuls} NUL bytes removed)"
    for encoding in cfg.encodings:
        try:
            return data.decode(encoding), encoding + note
        except UnicodeDecodeError as exc:
            cut_short = exc.reason == "unexpected end of data" and exc.end == len(data)
            if cut_short and codecs.lookup(encoding).name == "utf-8":
                try:
                    text = data[: exc.start].decode(encoding)
                except UnicodeDecodeError:
                    continue
                return text, f"{encoding} (incomplete last character dropped){note}"
    return data.decode("utf-8", errors="replace"), f"utf-8 (with replacements){note}"


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
        return datetime.fromtimestamp(float(value), UTC).date().isoformat()
    except (ValueError, OverflowError, OSError):  # not a number, or out of any calendar's range
        return value


def _site(value: str) -> str:
    """The host of a URL; a value that is not a URL (a site name) is kept."""
    if "://" not in value:
        return value
    try:
        return urlparse(value).hostname or ""
    except ValueError:  # "http://[broken": a bad URL must not cost the record
        return ""


# ---------------------------------------------------------------- readers


def read_text_file(path: Path, source: str, config: Config) -> Iterator[Record | Rejection]:
    """A .txt/.md web dump: the first (non-navigation) line is the title."""
    data, damage = _read_bytes(path, config.load)
    if damage:
        yield Rejection(source, "load", damage)
    text, encoding = decode_text(data, config.load)
    title, title_source = choose_title(text, config.clean, name=path.stem)
    yield Record(
        source=source,
        format=_suffix(path).lstrip("."),
        raw_text=text,
        title=title,
        title_source=title_source,
        name=path.stem,
        encoding=encoding,
    )


# A run of the same tag opened (or closed) many times in a row, with nothing in between. lxml
# stops reading at 255 levels of nesting and silently drops the text below; no real page nests
# a tag 32 times in a row, so such runs are collapsed to one tag before parsing. Void elements
# (<meta>, <link>, <br>) do not nest: runs of them are left alone.
_VOID = r"(?!(?:area|base|br|col|embed|hr|img|input|link|meta|param|source|track|wbr)\b)"
_NESTED_OPEN = re.compile(
    rf"(<{_VOID}([a-zA-Z][\w-]*)\b[^<>]*>\s*)(?:<\2\b[^<>]*>\s*){{31,}}", re.I
)
_NESTED_CLOSE = re.compile(r"(</([a-zA-Z][\w-]*)\s*>\s*)(?:</\2\s*>\s*){31,}")


def _flatten_deep_nesting(html: str) -> str:
    """`html` with runs of 32 or more identical nested tags collapsed to one."""
    return _NESTED_CLOSE.sub(r"\1", _NESTED_OPEN.sub(r"\1", html))


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

    if isinstance(html, str):
        html = _flatten_deep_nesting(html)
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
    title, title_source = choose_title(
        text, clean, metadata_title=(meta.title or "") if meta else "", name=name, url=meta_url
    )
    return Record(
        source=source,
        format="html" if not fetched_at else "url",
        raw_text=text,
        title=title,
        title_source=title_source,
        url=meta_url or "",
        site=(meta.sitename or meta.hostname or "") if meta else _site(url),
        author=(meta.author or "") if meta else "",
        published=(meta.date or "") if meta else "",
        fetched_at=fetched_at,
        name=name or (meta.title if meta and meta.title else ""),
    )


def read_html_file(path: Path, source: str, config: Config) -> Iterator[Record | Rejection]:
    """An .html/.htm file, gzipped or not."""
    data, damage = _read_bytes(path, config.load)
    if damage:
        yield Rejection(source, "load", damage)
    text, encoding = decode_text(data, config.load)
    record = parse_html(text, source, config.clean, name=path.name.split(".")[0])
    if isinstance(record, Record):
        record.encoding = encoding
    yield record


def _record_from_row(
    row: dict, source: str, fmt: str, config: Config, name: str, encoding: str
) -> Record | Rejection:
    cfg = config.load
    text = _first(row, cfg.text_columns)
    if not text:
        return Rejection(source, "load", f"no text in any of the columns {cfg.text_columns}")
    url = _first(row, cfg.url_columns)
    # A row's own ID can name it ("tips-for-healing-attachment-trauma"); "17" or "a3f9" cannot.
    row_id = _first(row, cfg.id_columns)
    title, title_source = choose_title(
        text,
        config.clean,
        metadata_title=_first(row, cfg.title_columns),
        name=row_id if re.search(r"[^\W\d_]{3}", row_id) else "",
        url=url,
        name_source="record_id",
    )
    return Record(
        source=source,
        format=fmt,
        raw_text=text,
        title=title,
        title_source=title_source,
        url=url,
        site=_site(_first(row, ["source", "site"]) or url),
        author=_first(row, cfg.author_columns),
        published=_date(_first(row, cfg.published_columns)),
        name=name,
        encoding=encoding,
    )


def _unique_key(key: str, seen: set[str], where: str) -> str:
    """`key`, or `key@where` when an earlier record took it (then `key@where~2`, ...).

    Records with the same ID both load, apart; none overwrites another, even when an ID is
    literally some other record's generated key.
    """
    candidate, n = key, 1
    while candidate in seen:
        candidate = f"{key}@{where}" + (f"~{n}" if n > 1 else "")
        n += 1
    seen.add(candidate)
    return candidate


def _jsonl_lines(data: bytes, cfg: LoadConfig) -> Iterator[tuple[int, str | None, str]]:
    """(line number, text, encoding), or (line number, None, why) for a line that is not text.

    Lines are decoded one by one, so one line in another encoding (or with binary junk) does not
    turn every other line into mojibake. Lines end at \\n only: JSON strings may hold U+2028.
    """
    if data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) or _utf16_without_bom(
        data[:8192]
    ):
        text, encoding = decode_text(data, cfg)
        for line_no, line in enumerate(text.split("\n"), start=1):
            yield line_no, line, encoding
        return
    for line_no, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            yield line_no, "", "utf-8"
            continue
        try:
            line, encoding = decode_text(raw, cfg)
        except ValueError as exc:
            yield line_no, None, str(exc)
            continue
        yield line_no, line, encoding


def read_jsonl_file(path: Path, source: str, config: Config) -> Iterator[Record | Rejection]:
    """One JSON object per line; a broken line is rejected with its line number."""
    cfg = config.load
    data, damage = _read_bytes(path, cfg)
    if damage:
        yield Rejection(source, "load", damage)
    seen: set[str] = set()
    for line_no, line, encoding in _jsonl_lines(data, cfg):
        where = f"{source}:{line_no}"
        if line is None:
            yield Rejection(where, "load", f"line {line_no}: {encoding}")
            continue
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Rejection(where, "load", f"line {line_no}: invalid JSON ({exc.msg})")
            continue
        except RecursionError:
            yield Rejection(where, "load", f"line {line_no}: invalid JSON (nested too deeply)")
            continue
        except ValueError as exc:  # e.g. an integer of more digits than Python converts
            yield Rejection(where, "load", f"line {line_no}: invalid JSON ({exc})")
            continue
        if not isinstance(row, dict):
            yield Rejection(where, "load", f"line {line_no}: not a JSON object")
            continue
        key = _unique_key(_first(row, cfg.id_columns) or f"line{line_no}", seen, f"line{line_no}")
        record = _record_from_row(row, f"{source}#{key}", "jsonl", config, key, encoding)
        if isinstance(record, Rejection):
            record.reason = f"line {line_no}: {record.reason}"
        yield record


def read_csv_file(path: Path, source: str, config: Config) -> Iterator[Record | Rejection]:
    """A CSV with a header row; the text column is the first of `load.text_columns` present."""
    cfg = config.load
    data, damage = _read_bytes(path, cfg)
    if damage:
        yield Rejection(source, "load", damage)
    text, encoding = decode_text(data, cfg)
    # A whole article is one field: allow fields as long as the file may be (default 128 KiB).
    csv.field_size_limit(max(csv.field_size_limit(), cfg.max_file_bytes))
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
    row_no = 0
    try:
        for row_no, row in enumerate(reader, start=1):
            key = _unique_key(_first(row, cfg.id_columns) or f"row{row_no}", seen, f"row{row_no}")
            name = f"{path.stem}-{key}"
            yield _record_from_row(row, f"{source}#{key}", "csv", config, name, encoding)
    except csv.Error as exc:  # the rows before the damage are kept
        yield Rejection(
            f"{source}:{reader.line_num}",
            "load",
            f"CSV unreadable from row {row_no + 1} (line {reader.line_num}) on: {exc}",
        )


def read_url_list_file(
    path: Path, source: str, config: Config, web_cache: Path
) -> Iterator[Record | Rejection]:
    """A .txt of URLs: expand sitemaps and feeds, fetch each page politely, extract it."""
    from pipeline.fetch import Fetcher, discover_urls, read_url_list

    size = path.stat().st_size  # the list is read whole: the file size cap holds here too
    if size > config.load.max_file_bytes:
        raise ValueError(f"file is {size} bytes, over load.max_file_bytes")
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
                    title, title_source = choose_title(body, config.clean, url=result.final_url)
                    record = Record(
                        source=url,
                        format="txt",
                        raw_text=body,
                        title=title,
                        title_source=title_source,
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
        with path.open("rb") as fh:
            head = fh.read(65536).decode("utf-8", errors="replace")
    except OSError:
        return False
    return looks_like_url_list(head)


# ---------------------------------------------------------------- discovery and dispatch


@dataclass(frozen=True)
class InputFile:
    path: Path
    source: str  # path relative to the input root: stable across clones and machines


def _printable(path: str) -> str:
    """`path` with bytes that are not UTF-8 (Linux allows them in names) as \\x escapes.

    Such names come back from the file system as lone surrogates, which no table can store.
    """
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _not_plain_file(path: Path, root: Path | None) -> str | None:
    """Why `path` is not read as an input (a FIFO would block, a link may lead anywhere), or None.

    Args:
        path: a path found in an input folder, or given directly.
        root: the input folder it was found in; None for a path given directly.
    """
    try:
        if path.is_symlink():
            if not path.exists():
                return "broken symbolic link"
            if root is not None and not path.resolve().is_relative_to(root.resolve()):
                return "symbolic link to outside the input folder; not followed"
        mode = path.stat().st_mode
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if stat.S_ISREG(mode):
        return None
    kind = "folder" if stat.S_ISDIR(mode) else "FIFO" if stat.S_ISFIFO(mode) else "special file"
    return f"not a regular file ({kind})"


def find_inputs(
    inputs: Iterable[Path], ignore: list[str]
) -> tuple[list[InputFile], list[Rejection]]:
    """Expand files and folders into input files, sorted for a deterministic order.

    Links out of an input folder, broken links, FIFOs and devices are rejected here, so that no
    later step opens them.

    Args:
        inputs: files or folders.
        ignore: glob patterns (relative to each folder) of files to skip, e.g. licences.
    """
    found: list[InputFile] = []
    rejected: list[Rejection] = []
    for root in inputs:
        root = Path(root)
        if not root.exists() and not root.is_symlink():
            rejected.append(Rejection(_printable(str(root)), "load", "path does not exist"))
        elif not root.is_dir():
            problem = _not_plain_file(root, None)
            if problem:
                rejected.append(Rejection(_printable(root.name), "load", problem))
            else:
                found.append(InputFile(root, _printable(root.name)))
        else:
            try:
                # Folders are walked, not followed: rglob does not descend into linked folders.
                paths = sorted(p for p in root.rglob("*") if p.is_symlink() or not p.is_dir())
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
                source = _printable(f"{root.name}/{rel}")
                problem = _not_plain_file(path, root)
                if problem:
                    rejected.append(Rejection(source, "load", problem))
                else:
                    found.append(InputFile(path, source))
    return found, rejected


def _read_any(item: InputFile, config: Config) -> Iterator[Record | Rejection]:
    """Dispatch one input file to the reader of its type."""
    suffix = _suffix(item.path)
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
        yield from read_jsonl_file(item.path, item.source, config)
    elif suffix == ".csv":
        yield from read_csv_file(item.path, item.source, config)
    elif _is_url_list(item.path):
        yield from read_url_list_file(item.path, item.source, config, config.paths.web_cache)
    else:
        yield from read_text_file(item.path, item.source, config)


def read_input(item: InputFile, config: Config) -> Iterator[Record | Rejection]:
    """Read one input file; any failure becomes a Rejection, and so does a file with no record.

    Every input thus leaves a trace: at least one document or one row of `rejected`.
    """
    produced = False
    try:
        for out in _read_any(item, config):
            produced = True
            yield out
    except (OSError, ValueError, EOFError, gzip.BadGzipFile, csv.Error, zlib.error) as exc:
        produced = True
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        yield Rejection(item.source, "load", f"cannot read: {reason}")
    if not produced:
        yield Rejection(
            item.source, "load", "no records: the file holds no document (blank or header only)"
        )


def make_doc_id(record: Record) -> str:
    """Stable ID: a readable slug plus a hash of the source key (not of a row number)."""
    slug = _SLUG.sub("-", (record.name or record.title or "doc").lower()).strip("-")[:48]
    return f"{slug or 'doc'}-{short_hash(record.source, length=8)}"


RAW_COLUMNS = [
    "doc_id",
    "source",
    "format",
    "title",
    "title_source",
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
        "title_source": record.title_source,
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
    kept, seen = [], {}
    for row in rows:
        first = seen.get(row["doc_id"])
        if first is None:
            seen[row["doc_id"]] = row
            kept.append(row)
        elif first["source"] == row["source"] and first["sha256"] == row["sha256"]:
            rejected.append(
                Rejection(row["source"], "load", "same source loaded twice", row["doc_id"])
            )
        else:  # two inputs under folders of the same name, or a hash collision: say so
            rejected.append(
                Rejection(
                    row["source"],
                    "load",
                    f"doc_id {row['doc_id']} is taken by another input with different text "
                    f"({first['source']}); give input folders distinct names",
                    row["doc_id"],
                )
            )
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
