"""The research notebooks run top to bottom on the fast sample, and are committed clean."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from pipeline import explore

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
KERNEL = "selfhelp-pipeline-test"


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def test_notebooks_exist():
    assert len(NOTEBOOKS) >= 4, "expected the four research notebooks in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_committed_clean(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has outputs"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"


def test_repo_root_found_from_notebooks_folder():
    assert explore.repo_root(REPO / "notebooks") == REPO


def test_notebook_config_anchors_relative_paths():
    config = explore.notebook_config({"compare": {"evidence_csv": "evidence.csv"}}, root=REPO)
    assert config.embeddings.cache_dir == REPO / "data" / "cache"
    assert config.paths.processed == REPO / "data" / "processed"
    assert config.compare.evidence_csv == REPO / "evidence.csv"


@pytest.fixture(scope="session")
def sample_tables(tmp_path_factory) -> Path:
    """The fast sample, built once into a temporary folder (not data/processed)."""
    folder = tmp_path_factory.mktemp("notebook-tables")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(explore.TABLES_ENV, str(folder))
        assert explore.find_tables() == folder
    return folder


@pytest.fixture(scope="session")
def kernel_dirs(tmp_path_factory) -> list[str]:
    """A kernel spec that starts this interpreter (sys.executable), whatever kernels the user
    has registered, so the notebooks run against the installed package."""
    from ipykernel.kernelspec import write_kernel_spec

    folder = tmp_path_factory.mktemp("kernels")
    write_kernel_spec(folder / KERNEL)
    return [str(folder)]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs(
    path: Path, sample_tables: Path, kernel_dirs: list[str], monkeypatch: pytest.MonkeyPatch
):
    """Every cell runs without error, in notebooks/, and the notebook shows a figure."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    km = KernelManager(
        kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=kernel_dirs)
    )
    client = NotebookClient(
        nb,
        km=km,
        timeout=600,
        allow_errors=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    # The kernel inherits the environment, so the notebook reads the sample built above.
    monkeypatch.setenv(explore.TABLES_ENV, str(sample_tables))
    client.execute()  # raises CellExecutionError on the first failing cell
    images = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    assert images, f"{path.name} shows no figure"


@pytest.mark.slow
def test_sample_is_reused_and_mentions_get_their_sentence(sample_tables: Path, monkeypatch):
    manifest = sample_tables / "manifest.json"
    built = manifest.stat().st_mtime_ns
    monkeypatch.setenv(explore.TABLES_ENV, str(sample_tables))
    tables = explore.load_tables()
    assert manifest.stat().st_mtime_ns == built, "a finished sample must not be rebuilt"
    assert tables["documents"]["source"].str.contains("tips-for-healing-attachment-trauma").any()
    mentions = explore.with_sentences(tables["mentions"], tables["segments"])
    assert len(mentions) and all(m in s for m, s in zip(mentions["text"], mentions["sentence"]))
