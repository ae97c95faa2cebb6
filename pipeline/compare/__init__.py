"""Comparison stage: what the articles assert against the research they cite.

`stage` builds the `support` and `flags` tables, `link` is the claim-to-item linker it uses,
`train` fits that linker on the gold `backs` links and reviewers' verdicts, and `evaluate`
measures it (given the gold items, and end to end).
"""

from pipeline.compare.stage import (
    SUPPORT_STATUSES,
    category_coverage,
    compare_articles,
    concept_coverage,
    match_evidence,
)

__all__ = [
    "SUPPORT_STATUSES",
    "category_coverage",
    "compare_articles",
    "concept_coverage",
    "match_evidence",
]
