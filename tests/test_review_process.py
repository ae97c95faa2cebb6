"""`pipeline review` as a real process: a SIGKILL loses no committed verdict, `--backup` copies
the database consistently while the app writes, and `--export`/`--import` round-trip."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading

import pytest

from pipeline.review import ReviewStore
from tests.conftest import REPO
from tests.reliability import record_reliability
from tests.review_support import (
    STARTUP_GUARD_S,
    copy_tables,
    reference_tables,
    reviewer_client,
    server_process,
)

pytestmark = [pytest.mark.network, pytest.mark.slow]


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    return reference_tables(tmp_path_factory)


def _review(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "review", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
    )


def _said(result: subprocess.CompletedProcess) -> str:
    """What the command printed, with the console's line wrapping undone."""
    return " ".join((result.stdout + result.stderr).split())


def _rows(db, table: str = "verdict_log") -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
    finally:
        conn.close()


def test_a_killed_server_loses_no_committed_verdict(tables, tmp_path):
    db = tmp_path / "verdicts.sqlite"
    out = copy_tables(tables, tmp_path / "out")
    committed = []
    with server_process(out, db) as (process, url):
        with reviewer_client(url, "ann") as ann:
            items = ann.get("/api/items", params={"limit": 25}).json()["items"]
            for n, item in enumerate(items):
                response = ann.post(
                    f"/api/items/{item['item_id']}/verdicts",
                    json={
                        "verdict": "accept" if n % 3 else "reject",
                        "base_seq": 0,
                        "comment": f"#{n}",
                    },
                )
                assert response.status_code == 201, response.text
                committed.append(response.json())
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL
    # Reopened as it was left: WAL file included, no clean shutdown.
    store = ReviewStore(db)
    log = store.log()
    found = {(e["seq"], e["item_id"], e["verdict"], e["comment"]) for e in log}
    lost = sum((e["seq"], e["item_id"], e["verdict"], e["comment"]) not in found for e in committed)
    record_reliability("fault:review-server-sigkill", f"{len(committed)} verdicts posted", lost)
    assert lost == 0
    assert len(log) == len(committed) == 25
    assert all(store.item(e["item_id"])["verdict"] == e["verdict"] for e in committed)


def test_backup_while_the_app_writes_is_consistent(tables, tmp_path):
    db = tmp_path / "verdicts.sqlite"
    out = copy_tables(tables, tmp_path / "out")
    backup = tmp_path / "backup.sqlite"
    with server_process(out, db) as (_, url), reviewer_client(url, "ann") as ann:
        items = [
            i["item_id"] for i in ann.get("/api/items", params={"limit": 1000}).json()["items"]
        ]
        stop = threading.Event()
        posted: list[int] = []
        statuses: list[int] = []
        committed_before_backup = threading.Event()

        def write() -> None:
            # Round and round the queue until the backup is done, so it runs amid writes.
            seqs: dict[str, int] = {}
            n = 0
            while not stop.is_set():
                item_id = items[n % len(items)]
                n += 1
                response = ann.post(
                    f"/api/items/{item_id}/verdicts",
                    json={"verdict": "accept", "base_seq": seqs.get(item_id, 0), "comment": str(n)},
                )
                statuses.append(response.status_code)
                if response.status_code != 201:
                    break
                seqs[item_id] = response.json()["seq"]
                posted.append(seqs[item_id])
                if len(posted) == 5:
                    committed_before_backup.set()
            committed_before_backup.set()

        writer = threading.Thread(target=write)
        writer.start()
        committed_before_backup.wait(STARTUP_GUARD_S)
        before = len(posted)
        result = _review("--db", str(db), "--backup", str(backup))
        stop.set()
        writer.join()
    assert result.returncode == 0, result.stderr
    assert "backup of" in _said(result)
    assert statuses and set(statuses) == {201}
    live, copy = _rows(db), _rows(backup)
    # A consistent snapshot: a gap-free prefix of the live log, identical row for row, with
    # every verdict committed before the backup started.
    assert before <= len(copy) <= len(live)
    assert copy == live[: len(copy)]
    assert [row[0] for row in copy] == list(range(1, len(copy) + 1))
    assert _rows(backup, "items") and len(_rows(backup, "items")) == len(_rows(db, "items"))
    lost = max(0, before - len(copy))
    record_reliability("fault:review-backup-during-writes", f"{len(copy)} verdicts copied", lost)
    # The copy is a standalone database that opens and exports like the original.
    assert len(ReviewStore(backup).log()) == len(copy)
    wal = tmp_path / "backup.sqlite-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def test_export_and_import_from_the_command_line(tables, tmp_path):
    db = tmp_path / "verdicts.sqlite"
    out = copy_tables(tables, tmp_path / "out")
    with server_process(out, db) as (_, url), reviewer_client(url, "ann") as ann:
        for item in ann.get("/api/items", params={"limit": 3}).json()["items"]:
            ann.post(
                f"/api/items/{item['item_id']}/verdicts",
                json={"verdict": "reject", "base_seq": 0, "comment": "=1+1"},
            ).raise_for_status()
        exported = _review("--db", str(db), "--export", str(tmp_path / "v.csv"))
    assert exported.returncode == 0, exported.stderr
    assert "exported 3 verdicts" in _said(exported)
    imported = _review("--db", str(tmp_path / "copy.sqlite"), "--import", str(tmp_path / "v.csv"))
    assert imported.returncode == 0, imported.stderr
    assert "imported 3, already present 0" in _said(imported)
    assert [e["comment"] for e in ReviewStore(tmp_path / "copy.sqlite").log()] == ["=1+1"] * 3
    bad = _review("--db", str(tmp_path / "copy.sqlite"), "--import", str(tmp_path / "nope.txt"))
    assert bad.returncode == 2 and "use a .csv or .jsonl file" in _said(bad)
    missing = _review("--db", str(tmp_path / "absent.sqlite"), "--backup", str(tmp_path / "b"))
    assert missing.returncode == 2 and "no verdict database" in _said(missing)
