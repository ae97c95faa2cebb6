"""A process-wide log of what the reliability tests tried, summed up at the end of `make test`.

Tests that feed hostile input, inject faults or resume killed runs call `record_reliability`
once per input, fault or resumed run; `tests/conftest.py` prints the summary table after the
run. Record *before* asserting, so that a loss shows in the table even when the test fails.

Example::

    from tests.reliability import record_reliability

    lost = 0 if accounted_for(path) else 1
    record_reliability("input:gzip-bomb", path.name, lost=lost)
    assert lost == 0
"""

from __future__ import annotations

import importlib
import sys
from collections import Counter
from dataclasses import dataclass

GROUPS = {"input": "inputs tried", "fault": "faults injected", "resume": "runs resumed"}
"""Kind prefix -> what the summary calls it."""


@dataclass(frozen=True)
class Trial:
    """One thing a reliability test tried, and how many documents or verdicts it lost."""

    kind: str
    detail: str
    lost: int = 0

    @property
    def group(self) -> str:
        return self.kind.split(":", 1)[0]


_LOG: list[Trial] = []


def record_reliability(kind: str, detail: str, lost: int = 0) -> None:
    """Log one input tried, fault injected or run resumed.

    Args:
        kind: ``<group>:<what>``; group ``input`` (a hostile or broken input file or URL),
            ``fault`` (an injected fault: a dropped connection, a killed process, ...) or
            ``resume`` (a run resumed after being killed). E.g. ``input:gzip-bomb``,
            ``fault:mid-body-disconnect``, ``resume:extract``.
        detail: The case, e.g. a file name, URL path or stage.
        lost: Documents or verdicts lost because of it; anything above 0 is a failure.

    Raises:
        ValueError: `kind` has no known group, or `lost` is negative.
    """
    group = kind.split(":", 1)[0]
    if group not in GROUPS or ":" not in kind:
        raise ValueError(f"kind must be '<group>:<what>' with group in {sorted(GROUPS)}: {kind!r}")
    if lost < 0:
        raise ValueError(f"lost must be >= 0, got {lost}")
    _LOG.append(Trial(kind, detail, lost))


def trials() -> list[Trial]:
    """Everything recorded so far in this process."""
    return list(_LOG)


def summary_lines(recorded: list[Trial] | None = None) -> list[str]:
    """The summary table as lines of text: tries and losses per kind, then the totals.

    Empty when nothing was recorded (e.g. a test run without the reliability tests).
    """
    recorded = trials() if recorded is None else recorded
    if not recorded:
        return []
    tried = Counter(t.kind for t in recorded)
    lost = Counter()
    for t in recorded:
        lost[t.kind] += t.lost
    width = max(len(k) for k in tried) + 2
    lines = [f"{'kind':<{width}}{'tried':>7}{'lost':>7}"]
    for kind in sorted(tried, key=lambda k: (list(GROUPS).index(k.split(":")[0]), k)):
        lines.append(f"{kind:<{width}}{tried[kind]:>7}{lost[kind]:>7}")
    per_group = Counter(t.group for t in recorded)
    total_lost = sum(t.lost for t in recorded)
    lines.append(
        ", ".join(f"{label}: {per_group[group]}" for group, label in GROUPS.items())
        + f"; documents/verdicts lost: {total_lost}"
    )
    for t in recorded:
        if t.lost:
            lines.append(f"LOST {t.lost}: {t.kind} {t.detail}")
    return lines


if __name__ != "tests.reliability":
    # pytest also puts tests/ itself on sys.path, so `import reliability` would load a second
    # copy of this file with a log of its own; make every name share the one log.
    sys.modules[__name__] = importlib.import_module("tests.reliability")
