"""Review stage: a local web app where reviewers accept, reject or correct extracted items.

`items` builds the review queue from the stage tables (pure functions over DataFrames),
`store` keeps the items and the append-only verdict log in SQLite, and `app` serves both.
"""

from pipeline.review.items import ITEM_COLUMNS, build_items, doc_hash
from pipeline.review.store import (
    ConflictError,
    ReviewStore,
    UnknownItemError,
    VerdictError,
    review_summary,
)

__all__ = [
    "ITEM_COLUMNS",
    "ConflictError",
    "ReviewStore",
    "UnknownItemError",
    "VerdictError",
    "build_items",
    "doc_hash",
    "review_summary",
]
