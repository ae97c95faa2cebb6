"""Shared fixtures: the real data in ../shared/data, the default config, the reference article;
and the reliability summary printed at the end of the run (see tests/reliability.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.config import load_config

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
REFERENCE = "tips-for-healing-attachment-trauma"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data; skips the test with a clear message when it is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (see ../shared/data/README.md)")
    return path


@pytest.fixture(scope="session")
def config():
    return load_config()


@pytest.fixture(scope="session")
def gold() -> list[dict]:
    return json.loads(shared_path("gold", "dev.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def reference_raw() -> str:
    return (REPO / "data" / "raw" / "articles" / f"{REFERENCE}.txt").read_text(encoding="utf-8")


def pytest_terminal_summary(terminalreporter) -> None:
    """Print what the reliability tests tried and lost (nothing when none of them ran)."""
    from tests.reliability import summary_lines

    lines = summary_lines()
    if lines:
        terminalreporter.section("reliability: inputs tried, faults injected, runs resumed")
        for line in lines:
            terminalreporter.write_line(line)
