"""The verdict database: review items and an append-only verdict log in SQLite (WAL mode).

Every verdict is one row of `verdict_log` (who, when, the item, the old and the new value);
triggers refuse UPDATE and DELETE on it, and the current verdict of an item is its latest row.
Writers take the database lock (`BEGIN IMMEDIATE`) and compare the log position the reviewer
saw with the item's latest row, so two reviewers never overwrite each other: the second gets a
`ConflictError`. Each write commits with `synchronous=FULL`, so a killed server loses nothing
that was acknowledged.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from pipeline.compare import SUPPORT_STATUSES
from pipeline.io import atomic_path, safe_csv_value, write_text_atomic
from pipeline.lexicon import CATEGORIES
from pipeline.review.items import (
    ITEM_COLUMNS,
    ITEM_ID_RE,
    SOURCE_TYPES,
    item_value,
)

VERDICTS = ("accept", "reject", "correct")
STATUS_FILTERS = ("unreviewed", "reviewed", "accept", "reject", "correct", "stale", "all")
SCHEMA_VERSION = "1"
EXPORT_COLUMNS = (
    "seq",
    "item_id",
    "item_type",
    "doc_id",
    "category",
    "concept",
    "span",
    "reviewer",
    "at",
    "verdict",
    "old_verdict",
    "old_value",
    "new_value",
    "comment",
)
"""Columns of a verdict export (CSV and JSONL): the log, with enough of each item to read it."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    item_id TEXT PRIMARY KEY,
    item_type TEXT NOT NULL CHECK (item_type IN ('mention', 'claim', 'support')),
    doc_id TEXT NOT NULL,
    doc_sha TEXT NOT NULL,
    title TEXT NOT NULL,
    source TEXT NOT NULL,
    url TEXT NOT NULL,
    category TEXT NOT NULL,
    concept TEXT NOT NULL,
    concept_id TEXT NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    span TEXT NOT NULL,
    source_type TEXT NOT NULL,
    support_status TEXT NOT NULL,
    confidence REAL NOT NULL,
    flags TEXT NOT NULL,
    context TEXT NOT NULL,
    context_start INTEGER NOT NULL,
    details TEXT NOT NULL,
    stale INTEGER NOT NULL DEFAULT 0,
    stale_reason TEXT NOT NULL DEFAULT '',
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_queue ON items (confidence, doc_id, start, item_id);
CREATE INDEX IF NOT EXISTS items_doc ON items (doc_id);
CREATE TABLE IF NOT EXISTS run_docs (
    run_key TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    doc_sha TEXT NOT NULL,
    PRIMARY KEY (run_key, doc_id)
);
CREATE TABLE IF NOT EXISTS item_flags (
    item_id TEXT NOT NULL REFERENCES items (item_id),
    flag TEXT NOT NULL,
    PRIMARY KEY (item_id, flag)
);
CREATE TABLE IF NOT EXISTS verdict_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL REFERENCES items (item_id),
    reviewer TEXT NOT NULL,
    at TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('accept', 'reject', 'correct')),
    old_verdict TEXT,
    old_value TEXT NOT NULL,
    new_value TEXT NOT NULL,
    comment TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS verdict_log_item ON verdict_log (item_id, seq);
CREATE TRIGGER IF NOT EXISTS verdict_log_no_update BEFORE UPDATE ON verdict_log
BEGIN SELECT RAISE(ABORT, 'verdict_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS verdict_log_no_delete BEFORE DELETE ON verdict_log
BEGIN SELECT RAISE(ABORT, 'verdict_log is append-only'); END;
"""

# The item columns `sync` refreshes from a run (everything but the bookkeeping).
_SNAPSHOT = [c for c in ITEM_COLUMNS if c != "item_id"]
_IN_RUN = "doc_id IN (SELECT doc_id FROM run_docs WHERE run_key = ?)"
_LATEST = (
    "LEFT JOIN (SELECT item_id AS l_item, MAX(seq) AS l_seq FROM verdict_log GROUP BY item_id) "
    "ON l_item = i.item_id LEFT JOIN verdict_log v ON v.seq = l_seq"
)


class VerdictError(ValueError):
    """A verdict, comment, reviewer name or import row that cannot be recorded."""


class UnknownItemError(KeyError):
    """No item with this ID is in the database."""


class ConflictError(RuntimeError):
    """The item changed since the reviewer saw it (or went stale): nothing was recorded.

    Attributes:
        current: the item's latest log entry (None when it has none), for showing the conflict.
        reason: "changed" or "stale".
    """

    def __init__(self, message: str, current: dict | None, reason: str = "changed") -> None:
        super().__init__(message)
        self.current = current
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    """Sizes a reviewer's input may have (review.max_* in the config)."""

    max_comment_chars: int
    max_concept_chars: int
    max_reviewer_chars: int

    @classmethod
    def from_config(cls, review_config=None) -> Limits:
        """The limits of a `review:` config section (default: the packaged defaults)."""
        if review_config is None:
            from pipeline.config import load_config

            review_config = load_config().review
        return cls(
            review_config.max_comment_chars,
            review_config.max_concept_chars,
            review_config.max_reviewer_chars,
        )


def now_utc() -> str:
    """The current UTC time, ISO 8601 with microseconds (orders verdicts within a second)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _check_text(value, name: str, limit: int, *, required: bool, multiline: bool) -> str:
    """Validate free text from a reviewer: a string, not too long, no control characters."""
    if not isinstance(value, str):
        raise VerdictError(f"{name} must be text")
    if required and not value.strip():
        raise VerdictError(f"{name} must not be empty")
    if len(value) > limit:
        raise VerdictError(f"{name} is {len(value)} characters; at most {limit} are allowed")
    allowed = {"\n", "\r", "\t"} if multiline else set()
    if any((ord(ch) < 32 or ord(ch) == 127) and ch not in allowed for ch in value):
        raise VerdictError(f"{name} contains control characters")
    return value


def check_reviewer(name, limits: Limits) -> str:
    """A reviewer name, stripped; raises VerdictError when empty, too long or odd."""
    return _check_text(
        name.strip() if isinstance(name, str) else name,
        "reviewer name",
        limits.max_reviewer_chars,
        required=True,
        multiline=False,
    )


def _dumps(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _check_offset(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise VerdictError(f"{name} must be a whole number")
    return value


def corrected_value(item: dict, correction, limits: Limits) -> dict:
    """The item's value with a reviewer's correction applied, validated against the item.

    Raises:
        VerdictError: unknown or invalid fields, a span outside the source paragraph, or a
            correction that changes nothing.
    """
    allowed = {
        "mention": {"category", "concept", "start", "end"},
        "claim": {"start", "end", "source_type"},
        "support": {"status", "claim_ids"},
    }[item["item_type"]]
    if not isinstance(correction, dict) or not correction:
        raise VerdictError(f"a correction must give at least one of {', '.join(sorted(allowed))}")
    unknown = set(correction) - allowed
    if unknown:
        raise VerdictError(
            f"a {item['item_type']} cannot be corrected in {', '.join(sorted(unknown))}; "
            f"correctable: {', '.join(sorted(allowed))}"
        )
    extracted = item_value(item)
    value = {**extracted, **correction}
    if "category" in correction and value["category"] not in CATEGORIES:
        raise VerdictError(f"category must be one of {', '.join(CATEGORIES)}")
    if "concept" in correction:
        value["concept"] = _check_text(
            value["concept"], "concept", limits.max_concept_chars, required=True, multiline=False
        ).strip()
    if "source_type" in correction and value["source_type"] not in SOURCE_TYPES:
        raise VerdictError(f"source_type must be one of {', '.join(SOURCE_TYPES)}")
    if "status" in correction and value["status"] not in SUPPORT_STATUSES:
        raise VerdictError(f"status must be one of {', '.join(SUPPORT_STATUSES)}")
    if item["item_type"] == "support":
        value["claim_ids"] = _check_links(item, value, correction)
    if "start" in value:
        start = _check_offset(value["start"], "start")
        end = _check_offset(value["end"], "end")
        lo, hi = item["context_start"], item["context_start"] + len(item["context"])
        if not lo <= start < end <= hi:
            raise VerdictError(
                f"the span must lie inside the source paragraph ({lo}-{hi}) with start < end"
            )
    if value == extracted:
        raise VerdictError("a correction must change something; use accept instead")
    return _with_text(item, value)


def _check_links(item: dict, value: dict, correction: dict) -> list[str]:
    """The claims a corrected support row links: claims of the same article, none when the
    status is `unbacked` (set to unbacked alone, the links are dropped), at least one else."""
    ids = value["claim_ids"]
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise VerdictError("claim_ids must be a list of claim IDs")
    details = item["details"]
    details = json.loads(details) if isinstance(details, str) else details
    known = {c["claim_id"] for c in details.get("candidates", [])}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise VerdictError(f"not a claim of this article: {', '.join(unknown)}")
    if value["status"] == "unbacked":
        if "claim_ids" in correction and ids:
            raise VerdictError("an unbacked item links no claim: clear claim_ids")
        return []
    if not ids:
        raise VerdictError(f"a {value['status']} item needs at least one linked claim (claim_ids)")
    return list(dict.fromkeys(ids))


def _with_text(item: dict, value: dict) -> dict:
    """`value` plus the text its span covers (what a reader of an export needs)."""
    if "start" not in value:
        return value
    offset = item["context_start"]
    return {**value, "text": item["context"][value["start"] - offset : value["end"] - offset]}


def _escape_csv(value):
    """Formula-safe CSV text that reads back unchanged: a leading ' is doubled, too."""
    if isinstance(value, str) and value.startswith("'"):
        return "'" + value
    return safe_csv_value(value)


def _unescape_csv(value: str) -> str:
    return value[1:] if value.startswith("'") else value


class ReviewStore:
    """The verdict database at `path`, created on first use; `limits` default to the config's.

    `run_key` names the run this store's queue shows (the app uses its table folder), so apps
    serving different runs from one database do not hide each other's items. Each method
    opens its own connection, so one store serves many threads.
    """

    def __init__(self, path: Path, limits: Limits | None = None, run_key: str = "default") -> None:
        self.path = Path(path)
        self.limits = limits or Limits.from_config()
        self.run_key = run_key
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (SCHEMA_VERSION,),
            )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # Autocommit mode: every write below opens its own explicit transaction.
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the database lock from its start."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # --- items ------------------------------------------------------------------------------

    def sync(self, items: pd.DataFrame, run_docs: dict[str, str]) -> dict[str, int]:
        """Bring the items of one run into the database.

        Args:
            items: `build_items` output.
            run_docs: doc_id -> content hash of every document of the run.

        Returns:
            Counts: `items` in the run, `new` items, `stale` items marked in this sync.

        Items already known keep their ID and verdicts and get the run's snapshot. Known items
        of the run's documents that the run no longer has are marked stale (the reason says
        whether the text changed); they and their verdicts are kept and never re-attached.
        Items of documents outside the run are left as they are, out of this run's queue.
        """
        stamp = now_utc()
        rows = [
            (
                *(_dumps(list(v)) if col == "flags" else v for col, v in zip(ITEM_COLUMNS, values)),
                stamp,
                stamp,
            )
            for values in items[list(ITEM_COLUMNS)].itertuples(index=False, name=None)
        ]
        cols = ", ".join(f'"{c}"' for c in ITEM_COLUMNS)
        marks = ", ".join("?" for _ in range(len(ITEM_COLUMNS) + 2))
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in _SNAPSHOT)
        with self._write() as conn:
            known = {r[0] for r in conn.execute("SELECT item_id FROM items")}
            conn.execute("CREATE TEMP TABLE run_items (item_id TEXT PRIMARY KEY)")
            conn.execute("DELETE FROM run_docs WHERE run_key = ?", (self.run_key,))
            conn.executemany(
                "INSERT INTO run_docs VALUES (?, ?, ?)",
                ((self.run_key, d, sha) for d, sha in run_docs.items()),
            )
            conn.executemany("INSERT INTO run_items VALUES (?)", ((i,) for i in items["item_id"]))
            conn.executemany(
                f"INSERT INTO items ({cols}, first_seen, last_seen) VALUES ({marks}) "
                f"ON CONFLICT (item_id) DO UPDATE SET {updates}, "
                "stale = 0, stale_reason = '', last_seen = excluded.last_seen",
                rows,
            )
            conn.execute("DELETE FROM item_flags WHERE item_id IN (SELECT item_id FROM run_items)")
            conn.executemany(
                "INSERT OR IGNORE INTO item_flags VALUES (?, ?)",
                ((i, f) for i, flags in zip(items["item_id"], items["flags"]) for f in flags),
            )
            stale = conn.execute(
                "UPDATE items SET stale = 1, stale_reason = CASE "
                "WHEN doc_sha != (SELECT doc_sha FROM run_docs r "
                "WHERE r.run_key = ? AND r.doc_id = items.doc_id) "
                "THEN 'source text changed' ELSE 'no longer extracted' END "
                "WHERE stale = 0 AND doc_id IN (SELECT doc_id FROM run_docs WHERE run_key = ?) "
                "AND item_id NOT IN (SELECT item_id FROM run_items)",
                (self.run_key, self.run_key),
            ).rowcount
            conn.execute("DROP TABLE run_items")
        return {
            "items": len(items),
            "new": len(set(items["item_id"]) - known),
            "stale": stale,
        }

    def _filters(self, filters: dict) -> tuple[str, list]:
        """SQL conditions for the queue filters (article, type, category, flag, status)."""
        where, args = [f"i.{_IN_RUN}"], [self.run_key]
        for key, column in (
            ("doc", "i.doc_id"),
            ("type", "i.item_type"),
            ("category", "i.category"),
        ):
            if filters.get(key):
                where.append(f"{column} = ?")
                args.append(filters[key])
        if filters.get("flag"):
            where.append(
                "EXISTS (SELECT 1 FROM item_flags f WHERE f.item_id = i.item_id AND f.flag = ?)"
            )
            args.append(filters["flag"])
        status = filters.get("status") or "unreviewed"
        if status == "stale":
            where.append("i.stale = 1")
        elif status != "all":
            where.append("i.stale = 0")
            if status == "unreviewed":
                where.append("v.seq IS NULL")
            elif status == "reviewed":
                where.append("v.seq IS NOT NULL")
            else:
                where.append("v.verdict = ?")
                args.append(status)
        return " AND ".join(where), args

    def queue(self, filters: dict, limit: int = 50, offset: int = 0) -> tuple[list[dict], int]:
        """Items of the current run matching `filters`, doubtful (least confident) first.

        Returns:
            The page of items (each with `seq`, `verdict`, `reviewer`, `at` of its current
            verdict, None when unreviewed) and the number of matching items.
        """
        where, args = self._filters(filters)
        with self._connect() as conn:
            total = conn.execute(
                f"SELECT COUNT(*) FROM items i {_LATEST} WHERE {where}", args
            ).fetchone()[0]
            rows = conn.execute(
                f"SELECT i.*, v.seq, v.verdict, v.reviewer, v.at FROM items i {_LATEST} "
                f"WHERE {where} ORDER BY i.confidence, i.doc_id, i.start, i.item_id "
                "LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
        return [self._item_dict(r) for r in rows], total

    def neighbours(self, item_id: str, filters: dict) -> tuple[str | None, str | None]:
        """The items before and after `item_id` in the filtered queue (None at either end).

        When the item itself no longer matches (it was just reviewed), its place in the
        order still decides which item comes next.
        """
        where, args = self._filters(filters)
        order = "(i.confidence, i.doc_id, i.start, i.item_id)"
        with self._connect() as conn:
            me = conn.execute(
                "SELECT confidence, doc_id, start, item_id FROM items WHERE item_id = ?",
                (item_id,),
            ).fetchone()
            if me is None:
                return None, None
            key = list(me)
            before = conn.execute(
                f"SELECT i.item_id FROM items i {_LATEST} WHERE {where} "
                f"AND {order} < (?, ?, ?, ?) "
                "ORDER BY i.confidence DESC, i.doc_id DESC, i.start DESC, i.item_id DESC LIMIT 1",
                [*args, *key],
            ).fetchone()
            after = conn.execute(
                f"SELECT i.item_id FROM items i {_LATEST} WHERE {where} "
                f"AND {order} > (?, ?, ?, ?) "
                "ORDER BY i.confidence, i.doc_id, i.start, i.item_id LIMIT 1",
                [*args, *key],
            ).fetchone()
        return (before[0] if before else None, after[0] if after else None)

    @staticmethod
    def _item_dict(row: sqlite3.Row) -> dict:
        item = dict(row)
        item["flags"] = json.loads(item["flags"])
        item["details"] = json.loads(item["details"])
        item["stale"] = bool(item["stale"])
        return item

    def item(self, item_id: str) -> dict | None:
        """One item with its current verdict (`seq` 0 and `verdict` None when unreviewed)."""
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT i.*, v.seq, v.verdict, v.reviewer, v.at, v.new_value, v.comment "
                f"FROM items i {_LATEST} WHERE i.item_id = ?",
                (item_id,),
            ).fetchone()
        if row is None:
            return None
        item = self._item_dict(row)
        item["seq"] = item["seq"] or 0
        item["new_value"] = json.loads(item["new_value"]) if item["new_value"] else None
        item["value"] = _with_text(item, item_value(item))
        return item

    def facets(self) -> dict[str, list]:
        """The values the queue can be filtered by: articles, categories, flags."""
        with self._connect() as conn:
            docs = conn.execute(
                f"SELECT DISTINCT doc_id, title FROM items WHERE {_IN_RUN} ORDER BY title, doc_id",
                (self.run_key,),
            ).fetchall()
            categories = [
                r[0]
                for r in conn.execute(
                    f"SELECT DISTINCT category FROM items WHERE {_IN_RUN} ORDER BY category",
                    (self.run_key,),
                )
            ]
            flags = [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT f.flag FROM item_flags f JOIN items i USING (item_id) "
                    f"WHERE i.{_IN_RUN} ORDER BY f.flag",
                    (self.run_key,),
                )
            ]
        return {"docs": [dict(r) for r in docs], "categories": categories, "flags": flags}

    # --- verdicts ---------------------------------------------------------------------------

    def history(self, item_id: str) -> list[dict]:
        """Every log entry of one item, oldest first."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM verdict_log WHERE item_id = ? ORDER BY seq", (item_id,)
            ).fetchall()
        return [_entry(r) for r in rows]

    def record_verdict(
        self,
        item_id: str,
        reviewer: str,
        verdict: str,
        base_seq: int,
        comment: str = "",
        correction: dict | None = None,
    ) -> dict:
        """Append one verdict to the log, unless the item changed since the reviewer saw it.

        Args:
            item_id: the item judged.
            reviewer: who judges it.
            verdict: accept, reject or correct.
            base_seq: the `seq` of the item's latest verdict as the reviewer saw it (0: none).
            comment: optional free text.
            correction: for `correct`, the changed fields (see `corrected_value`).

        Returns:
            The new log entry.

        Raises:
            VerdictError: invalid input (nothing written).
            UnknownItemError: no such item.
            ConflictError: another verdict was recorded after `base_seq`, or the item is
                stale (nothing written).
        """
        # 1. Validate everything that does not need the lock.
        reviewer = check_reviewer(reviewer, self.limits)
        if verdict not in VERDICTS:
            raise VerdictError(f"verdict must be one of {', '.join(VERDICTS)}")
        comment = _check_text(
            comment, "comment", self.limits.max_comment_chars, required=False, multiline=True
        )
        if isinstance(base_seq, bool) or not isinstance(base_seq, int) or base_seq < 0:
            raise VerdictError("base_seq must be a whole number >= 0")
        if verdict != "correct" and correction:
            raise VerdictError("only the verdict 'correct' takes a correction")
        if not isinstance(item_id, str) or not ITEM_ID_RE.match(item_id):
            raise UnknownItemError(item_id)
        # 2. Under the lock: the item exists, is current, and nobody judged it meanwhile.
        with self._write() as conn:
            row = conn.execute("SELECT * FROM items WHERE item_id = ?", (item_id,)).fetchone()
            if row is None:
                raise UnknownItemError(item_id)
            item = dict(row)
            last = conn.execute(
                "SELECT * FROM verdict_log WHERE item_id = ? ORDER BY seq DESC LIMIT 1",
                (item_id,),
            ).fetchone()
            current = _entry(last) if last else None
            if item["stale"]:
                raise ConflictError(
                    f"item is stale ({item['stale_reason']}); its verdicts are kept read-only",
                    current,
                    reason="stale",
                )
            if (current["seq"] if current else 0) != base_seq:
                raise ConflictError(
                    "another verdict was recorded on this item since you opened it", current
                )
            extracted = _with_text(item, item_value(item))
            old_value = current["new_value"] if current else extracted
            new_value = (
                corrected_value(item, correction, self.limits)
                if verdict == "correct"
                else extracted
            )
            cursor = conn.execute(
                "INSERT INTO verdict_log (item_id, reviewer, at, verdict, old_verdict, "
                "old_value, new_value, comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    item_id,
                    reviewer,
                    now_utc(),
                    verdict,
                    current["verdict"] if current else None,
                    _dumps(old_value),
                    _dumps(new_value),
                    comment,
                ),
            )
            entry = conn.execute(
                "SELECT * FROM verdict_log WHERE seq = ?", (cursor.lastrowid,)
            ).fetchone()
        return _entry(entry)

    def log(self) -> list[dict]:
        """The whole verdict log with each item's type, document, category, concept and span."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT v.*, i.item_type, i.doc_id, i.category, i.concept, i.span "
                "FROM verdict_log v JOIN items i USING (item_id) ORDER BY v.seq"
            ).fetchall()
        return [_entry(r) for r in rows]

    def latest_verdicts(self, item_types: tuple[str, ...]) -> list[dict]:
        """The current (latest) verdict of every reviewed item of the given types."""
        latest: dict[str, dict] = {}
        for entry in self.log():
            if entry["item_type"] in item_types:
                latest[entry["item_id"]] = entry
        return list(latest.values())

    # --- export, import, backup -------------------------------------------------------------

    def export_text(self, kind: str) -> str:
        """The verdict log as CSV or JSONL text (`kind` "csv" or "jsonl")."""
        return _render_export(self.log(), kind)

    def export(self, path: Path) -> int:
        """Write the verdict log to `path` as CSV or JSONL (by suffix); return the row count."""
        path = Path(path)
        log = self.log()
        write_text_atomic(path, _render_export(log, _format(path)))
        return len(log)

    def import_verdicts(self, path: Path) -> dict[str, int]:
        """Append the verdicts of an export to the log; entries already present are skipped.

        Every row is validated first: one bad row fails the whole import with its line number
        and nothing is written. Items the database does not know yet are added as stale
        placeholders until a run brings them in.

        Returns:
            Counts of `imported` and `skipped` (already present) entries.
        """
        entries = _read_export(Path(path), self.limits)
        imported = skipped = 0
        with self._write() as conn:
            present = {_entry_key(_entry(r)) for r in conn.execute("SELECT * FROM verdict_log")}
            for e in sorted(entries, key=lambda e: e["seq"]):
                if _entry_key(e) in present:
                    skipped += 1
                    continue
                known = conn.execute(
                    "SELECT item_type FROM items WHERE item_id = ?", (e["item_id"],)
                ).fetchone()
                if known is None:
                    conn.execute(
                        "INSERT INTO items (item_id, item_type, doc_id, doc_sha, title, source, "
                        'url, category, concept, concept_id, start, "end", span, source_type, '
                        "support_status, confidence, flags, context, context_start, details, "
                        "stale, stale_reason, first_seen, last_seen) VALUES "
                        "(?, ?, ?, ?, ?, '', '', ?, ?, '', 0, 0, ?, '', '', 0, '[]', '', 0, "
                        "'{}', 1, 'imported; not in a run yet', ?, ?)",
                        (
                            e["item_id"],
                            e["item_type"],
                            e["doc_id"],
                            e["item_id"].split(":")[1],
                            e["doc_id"],
                            e["category"],
                            e["concept"],
                            e["span"],
                            e["at"],
                            e["at"],
                        ),
                    )
                conn.execute(
                    "INSERT INTO verdict_log (item_id, reviewer, at, verdict, old_verdict, "
                    "old_value, new_value, comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        e["item_id"],
                        e["reviewer"],
                        e["at"],
                        e["verdict"],
                        e["old_verdict"],
                        _dumps(e["old_value"]),
                        _dumps(e["new_value"]),
                        e["comment"],
                    ),
                )
                present.add(_entry_key(e))
                imported += 1
        return {"imported": imported, "skipped": skipped}

    def backup(self, dest: Path) -> Path:
        """Copy the database to `dest` with SQLite's online backup API, atomically.

        The copy is one consistent snapshot even while the app writes; it is checked with
        `PRAGMA integrity_check` before it replaces `dest`.
        """
        dest = Path(dest)
        with self._connect() as source, atomic_path(dest) as tmp:
            target = sqlite3.connect(tmp)
            try:
                source.backup(target)
                # The copy is a standalone file: no WAL beside it to lose.
                target.execute("PRAGMA journal_mode=DELETE")
                check = target.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                target.close()
            if check != "ok":
                raise RuntimeError(f"backup failed its integrity check: {check}")
        return dest


def _entry(row: sqlite3.Row) -> dict:
    entry = dict(row)
    entry["old_value"] = json.loads(entry["old_value"])
    entry["new_value"] = json.loads(entry["new_value"])
    return entry


def _render_export(log: list[dict], kind: str) -> str:
    """Export text of log entries.

    CSV cells that a spreadsheet would run as a formula get a leading ' (and a leading ' is
    doubled), which `import_verdicts` removes again, so the round trip is exact.
    """
    rows = [{c: e[c] for c in EXPORT_COLUMNS} for e in log]
    if kind == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    buffer = io.StringIO()
    # The default "\r\n" line ends make the writer quote any cell holding a \r or \n.
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    for r in rows:
        r = {**r, "old_value": _dumps(r["old_value"]), "new_value": _dumps(r["new_value"])}
        writer.writerow({k: _escape_csv("" if v is None else v) for k, v in r.items()})
    return buffer.getvalue()


def _entry_key(e: dict) -> tuple:
    """What makes two log entries the same verdict (the seq differs between databases)."""
    return (e["item_id"], e["reviewer"], e["at"], e["verdict"], _dumps(e["new_value"]))


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise VerdictError(f"{path}: use a .csv or .jsonl file")
    return suffix[1:]


def _read_export(path: Path, limits: Limits) -> list[dict]:
    """Parse and validate an export file; raises VerdictError naming the first bad line."""
    kind = _format(path)
    try:
        # Bytes, not read_text: universal newlines would turn a \r inside a CSV cell into \n.
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VerdictError(f"cannot read {path}: {exc}") from exc
    records: list[tuple[int, object]] = []
    if kind == "jsonl":
        # split("\n"), not splitlines(): U+2028 and friends may stand unescaped inside a line.
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                records.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise VerdictError(f"{path}:{number}: not JSON ({exc.msg})") from None
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if reader.fieldnames is None or set(reader.fieldnames) != set(EXPORT_COLUMNS):
            raise VerdictError(f"{path}: the header must be {','.join(EXPORT_COLUMNS)}")
        for row in reader:
            row = {k: _unescape_csv(v) for k, v in row.items()}
            try:
                row["seq"] = int(row["seq"])
                row["old_value"] = json.loads(row["old_value"])
                row["new_value"] = json.loads(row["new_value"])
            except (ValueError, TypeError) as exc:
                raise VerdictError(f"{path}:{reader.line_num}: {exc}") from None
            row["old_verdict"] = row["old_verdict"] or None
            records.append((reader.line_num, row))
    return [_check_entry(record, f"{path}:{number}", limits) for number, record in records]


def _check_entry(record, where: str, limits: Limits) -> dict:
    """One validated export row."""
    if not isinstance(record, dict) or set(record) != set(EXPORT_COLUMNS):
        raise VerdictError(f"{where}: a row must have exactly {', '.join(EXPORT_COLUMNS)}")
    try:
        if not isinstance(record["item_id"], str) or not ITEM_ID_RE.match(record["item_id"]):
            raise VerdictError(f"unknown item ID format {record['item_id']!r}")
        if record["item_id"].split(":")[0] != record["item_type"]:
            raise VerdictError("item_type does not match the item ID")
        if isinstance(record["seq"], bool) or not isinstance(record["seq"], int):
            raise VerdictError("seq must be a whole number")
        check_reviewer(record["reviewer"], limits)
        if record["verdict"] not in VERDICTS:
            raise VerdictError(f"verdict must be one of {', '.join(VERDICTS)}")
        if record["old_verdict"] not in (None, *VERDICTS):
            raise VerdictError("old_verdict must be empty or a verdict")
        try:
            datetime.fromisoformat(record["at"])
        except (TypeError, ValueError):
            raise VerdictError(f"'at' is not an ISO time: {record['at']!r}") from None
        for key in ("old_value", "new_value"):
            if not isinstance(record[key], dict):
                raise VerdictError(f"{key} must be a JSON object")
        _check_text(
            record["comment"], "comment", limits.max_comment_chars, required=False, multiline=True
        )
        for key in ("doc_id", "category", "concept", "span"):
            if not isinstance(record[key], str):
                raise VerdictError(f"{key} must be text")
    except VerdictError as exc:
        raise VerdictError(f"{where}: {exc}") from None
    return record


# --- the report's audit section ---------------------------------------------------------------


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def review_summary(db_path: Path, items: pd.DataFrame) -> dict | None:
    """Reviewed precision, coverage and inter-reviewer agreement for the items of one run.

    Args:
        db_path: the verdict database; None is returned when it does not exist.
        items: `build_items` output for the run.

    Returns:
        `rows`: per item type and category, the items, how many were reviewed (coverage) and
        the share of reviewed items accepted (precision; None when none was reviewed);
        `total`: the same over all items; `agreement`: per pair of reviewers who judged the
        same items (at least two), Cohen's kappa and raw agreement on their latest verdicts;
        `stale_verdicts`: items of these articles with verdicts that the run no longer has.
    """
    db_path = Path(db_path)
    if not db_path.exists():
        return None
    conn = _read_only(db_path)
    try:
        log = pd.read_sql_query(
            "SELECT seq, item_id, reviewer, verdict FROM verdict_log ORDER BY seq", conn
        )
        known = pd.read_sql_query("SELECT item_id, doc_id FROM items", conn)
    finally:
        conn.close()
    run_ids = set(items["item_id"])
    of_run = log[log["item_id"].isin(run_ids)]
    current = of_run.drop_duplicates("item_id", keep="last").set_index("item_id")["verdict"]
    judged = items.assign(verdict=items["item_id"].map(current))

    def counts(group: pd.DataFrame) -> dict:
        reviewed = int(group["verdict"].notna().sum())
        accepted = int((group["verdict"] == "accept").sum())
        return {
            "n_items": len(group),
            "reviewed": reviewed,
            "accepted": accepted,
            "corrected": int((group["verdict"] == "correct").sum()),
            "rejected": int((group["verdict"] == "reject").sum()),
            "coverage": reviewed / len(group) if len(group) else 0.0,
            "precision": accepted / reviewed if reviewed else None,
        }

    rows = [
        {"item_type": t, "category": c, **counts(g)}
        for (t, c), g in judged.groupby(["item_type", "category"], sort=True)
    ]
    latest = of_run.drop_duplicates(["item_id", "reviewer"], keep="last")
    by_reviewer = {r: g.set_index("item_id")["verdict"] for r, g in latest.groupby("reviewer")}
    names = sorted(by_reviewer)
    agreement = []
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            shared = by_reviewer[first].index.intersection(by_reviewer[second].index)
            if len(shared) < 2:
                continue
            from sklearn.metrics import cohen_kappa_score  # slow import: only when needed

            a, b = by_reviewer[first][shared], by_reviewer[second][shared]
            kappa = cohen_kappa_score(a, b, labels=list(VERDICTS))
            agreement.append(
                {
                    "reviewers": f"{first} / {second}",
                    "n_items": len(shared),
                    "agreement": float((a.values == b.values).mean()),
                    # Undefined when both used one label only: no chance baseline to beat.
                    "kappa": None if pd.isna(kappa) else float(kappa),
                }
            )
    run_docs = set(items["doc_id"])
    left = known[known["doc_id"].isin(run_docs) & ~known["item_id"].isin(run_ids)]
    return {
        "db": str(db_path),
        "rows": rows,
        "total": counts(judged),
        "agreement": agreement,
        "stale_verdicts": int(
            log.loc[log["item_id"].isin(set(left["item_id"])), "item_id"].nunique()
        ),
    }
