"""Every corpus finishes: the whole pipeline (`pipeline run`) on small, odd and hostile corpora.

The property test draws 1-8 real documents from ../shared/data (self-help articles, gold train
texts, counsel-chat answers, FakeHealth stories), mixes in broken inputs and injects markup into
real articles; every run must exit 0 or 3 with every table and the report written and no
traceback. Runs are in-process (typer's CliRunner), so models load once.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.schemas import TABLES
from tests.conftest import REFERENCE, REPO, SHARED

runner = CliRunner()
_CASES = itertools.count()

MARKUP = (
    ("<script>alert(1)</script>", "before"),  # a script tag before the title
    ('<img src=x onerror="alert(2)">', "after_first_item"),
    ('<a href="javascript:alert(3)">see</a>', "after_cue"),
)


@pytest.fixture(scope="module", autouse=True)
def _libraries_loaded_outside_the_runner():
    """Load the encoders and BERTopic once before any in-process run. Libraries that attach a
    logging handler on first use (transformers, BERTopic) would otherwise bind it to the stderr
    of the CliRunner call that loaded them, closed once that call returns; a later warning then
    prints a logging traceback into another run's output. (A real `pipeline run` process has
    one stderr for its whole life.)"""
    import bertopic  # noqa: F401

    from pipeline.config import load_config
    from pipeline.embed import get_encoder

    config = load_config()
    for backend in ("minilm", "model2vec"):  # model2vec is distilled here on a fresh clone
        get_encoder(backend, config.embeddings.cache_dir)


# ---------------------------------------------------------------- real documents


def _pool() -> list[tuple[str, str]]:
    """(file name, text) of real documents of four kinds."""
    if not SHARED.exists():
        pytest.skip(f"shared data not found at {SHARED}")
    articles = sorted((SHARED / "articles").glob("*.txt"))
    docs = [(p.name, p.read_text(encoding="utf-8")) for p in articles]
    train = json.loads((SHARED / "gold" / "train.json").read_text(encoding="utf-8"))
    docs += [(f"{r['id']}.txt", r["text"]) for r in train[::6]]
    with (SHARED / "counsel-chat" / "counsel_chat.csv").open(encoding="utf-8", newline="") as fh:
        answers = [r["answerText"] for r in csv.DictReader(fh) if len(r["answerText"].split()) > 60]
    docs += [(f"counsel-{i}.txt", text) for i, text in enumerate(answers[:40:4])]
    with gzip.open(SHARED / "fakehealth" / "health_story.jsonl.gz", "rt", encoding="utf-8") as fh:
        stories = [json.loads(line) for _, line in zip(range(30), fh)]
    docs += [(f"story-{i}.txt", f"{s['title']}\n\n{s['text']}") for i, s in enumerate(stories[::3])]
    return docs


POOL: list[tuple[str, str]] = []


def pool() -> list[tuple[str, str]]:
    if not POOL:
        POOL.extend(_pool())
    return POOL


def inject_markup(text: str) -> str:
    """The issue's three injections: a script before the title, an image handler after a list
    title, a javascript link after an attribution cue (where the text has them)."""
    lines = text.split("\n")
    lines.insert(0, MARKUP[0][0])
    for i, line in enumerate(lines):
        if line[:2].strip().rstrip(".").isdigit():  # "1. Childhood Neglect"
            lines[i] = f"{line} {MARKUP[1][0]}"
            break
    text = "\n".join(lines)
    for cue in ("according to", "explains", "study", "research"):
        at = text.find(cue)
        if at >= 0:
            return text[: at + len(cue)] + f" {MARKUP[2][0]}" + text[at + len(cue) :]
    return text + f"\n{MARKUP[2][0]}"


# ---------------------------------------------------------------- broken inputs


def _german() -> str:
    with (SHARED / "healthfc" / "healthfc.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))[:4]
    return "\n\n".join(f"{r['de_explanation']}\n{r['de_top_sentences']}" for r in rows)


def _bomb() -> bytes:
    """A gzip member that inflates far beyond load.max_file_bytes (64 MiB from ~64 KiB)."""
    return gzip.compress(b"\0" * (64 * 2**20), compresslevel=9)


BROKEN = {
    "empty.txt": lambda ref: b"",
    "binary.txt": lambda ref: bytes(range(256)) * 40,
    "utf16.txt": lambda ref: ref.encode("utf-16"),
    "nul.txt": lambda ref: ref[:3000].encode("utf-8").replace(b" ", b"\0", 50),
    "bomb.txt.gz": lambda ref: _bomb(),
    "duplicate.txt": lambda ref: ref.encode("utf-8"),
    "german.txt": lambda ref: _german().encode("utf-8"),
    "missing-columns.csv": lambda ref: b"id,title\n1,no text column here\n",
    "mixed.jsonl": lambda ref: (
        json.dumps({"id": "a", "text": ref[:1500]}) + '\nnot json\n[1, 2]\n{"id": "b"}\n'
    ).encode("utf-8"),
    "boilerplate.txt": lambda ref: b"Skip to content\nMenu\nHome\nSearch\nShare\nLeave a reply\n",
    "tiny.md": lambda ref: b"# Title\n\nOk.\n",
}


def _reference() -> str:
    return (REPO / "data" / "raw" / "articles" / f"{REFERENCE}.txt").read_text(encoding="utf-8")


def write_corpus(folder: Path, picks: list[int], broken: list[str], marked: list[int]) -> None:
    folder.mkdir(parents=True)
    docs = pool()
    for n, i in enumerate(picks):
        name, text = docs[i % len(docs)]
        if n in marked:
            text = inject_markup(text)
        (folder / f"{n}-{name}").write_text(text, encoding="utf-8")
    ref = _reference()
    for name in broken:
        (folder / name).write_bytes(BROKEN[name](ref))


def run_pipeline_cli(corpus: Path, out: Path) -> None:
    """`pipeline run` in-process; asserts the contract of a finished run."""
    result = runner.invoke(app, ["run", "-i", str(corpus), "-o", str(out)])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        result.exception,
        result.output[-2000:],
    )
    assert result.exit_code in (0, 3), result.output[-2000:]
    assert "Traceback" not in result.output
    missing = [name for name in TABLES if not (out / f"{name}.parquet").exists()]
    assert missing == [], missing
    for name in ("report.html", "report.md"):
        assert (out / "report" / name).stat().st_size > 0
    assert not (out / "logs").exists()  # no stage failed


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,  # the same corpora in every CI run; a failure is reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    picks=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=8),
    broken=st.lists(st.sampled_from(sorted(BROKEN)), max_size=4, unique=True),
    marked=st.sets(st.integers(min_value=0, max_value=7), max_size=3),
)
def test_any_small_corpus_finishes_with_tables_and_a_report(tmp_path, picks, broken, marked):
    work = tmp_path / f"case-{next(_CASES)}"  # hypothesis reuses tmp_path across examples
    try:
        write_corpus(work / "in", picks, broken, sorted(marked))
        run_pipeline_cli(work / "in", work / "out")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_reference_with_markup_alone_finishes(tmp_path):
    """The issue's first crash: the reference article alone, with markup injected."""
    corpus = tmp_path / "in"
    corpus.mkdir()
    (corpus / f"{REFERENCE}.txt").write_text(inject_markup(_reference()), encoding="utf-8")
    run_pipeline_cli(corpus, tmp_path / "out")
    md = (tmp_path / "out" / "report" / "report.md").read_text(encoding="utf-8")
    assert "<script" not in md and "&lt;" not in md


def test_reference_among_a_dozen_broken_inputs_finishes(tmp_path):
    """The issue's second crash: every input but the reference (and its duplicate) is broken."""
    corpus = tmp_path / "in"
    corpus.mkdir()
    (corpus / f"{REFERENCE}.txt").write_text(_reference(), encoding="utf-8")
    ref = _reference()
    for name, make in BROKEN.items():
        (corpus / name).write_bytes(make(ref))
    run_pipeline_cli(corpus, tmp_path / "out")
    from pipeline.io import read_table

    rejected = read_table(tmp_path / "out", "rejected")
    assert len(rejected) >= 8
    topics = read_table(tmp_path / "out", "topics")
    assert len(topics) >= 1
    if len(topics) == 1:  # one topic or none: the table says why
        assert topics["note"].iloc[0]


def test_a_failing_stage_is_one_line_exit_1_and_a_rerun_resumes(tmp_path, monkeypatch):
    import pipeline.runner as runner_module

    corpus = tmp_path / "in"
    corpus.mkdir()
    (corpus / f"{REFERENCE}.txt").write_text(_reference(), encoding="utf-8")
    out = tmp_path / "out"

    def broken_topics(*args, **kwargs):
        raise RuntimeError("simulated fault\nsecond line")

    monkeypatch.setattr(runner_module, "stage_topics", broken_topics)
    result = runner.invoke(app, ["run", "-i", str(corpus), "-o", str(out)])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an escaped exception
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if "error:" in ln]
    assert len(lines) == 1 and "stage topics failed: RuntimeError: simulated fault" in lines[0]
    log = out / "logs" / "topics-error.txt"
    assert "Traceback" in log.read_text(encoding="utf-8")
    assert "broken_topics" in log.read_text(encoding="utf-8")
    for name in ("documents", "segments", "mentions", "claims"):  # finished stages stay
        assert (out / f"{name}.parquet").exists(), name
    assert not (out / "topics.parquet").exists()

    monkeypatch.undo()
    again = runner.invoke(app, ["run", "-i", str(corpus), "-o", str(out)])
    assert again.exit_code == 0, again.output[-2000:]
    assert (out / "topics.parquet").exists()
    assert not (out / "logs").exists()  # the recorded failure is gone with the failure
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    counts = {s["name"]: s["counts"] for s in manifest["stages"]}
    for name in ("load", "segment", "extract"):  # resumed: the finished stages are not redone
        assert counts[name].get("skipped") == "inputs unchanged", (name, counts[name])
    assert "skipped" not in counts["topics"]


def test_a_corpus_with_nothing_usable_still_reports_why(tmp_path):
    """Every input rejected or too short to model: a run, a report, and a topics row saying why."""
    corpus = tmp_path / "in"
    corpus.mkdir()
    ref = _reference()
    for name in ("empty.txt", "binary.txt", "missing-columns.csv", "boilerplate.txt", "tiny.md"):
        (corpus / name).write_bytes(BROKEN[name](ref))
    run_pipeline_cli(corpus, tmp_path / "out")
    from pipeline.io import read_table

    topics = read_table(tmp_path / "out", "topics")
    assert len(topics) == 1 and topics["note"].iloc[0]
    assert "no topic" in (tmp_path / "out" / "report" / "report.md").read_text(encoding="utf-8")
