"""The concept lexicon (`resources/lexicon.yaml`): labels, categories, wordings, broader terms.

Kept apart from the spaCy components so that the stages and the report that only read the
lexicon do not import spaCy (seconds of start-up for `pipeline report`).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

CATEGORIES = ("sign", "cause", "intervention")


@lru_cache(maxsize=4)
def load_lexicon(path: str | None = None) -> tuple[dict, ...]:
    """Lexicon entries (label, category, also, patterns) from YAML; packaged one by default."""
    if path:
        text = Path(path).read_text(encoding="utf-8")
    else:
        text = resources.files("pipeline").joinpath("resources/lexicon.yaml").read_text("utf-8")
    entries = yaml.safe_load(text)
    for entry in entries:
        if entry["category"] not in CATEGORIES:
            raise ValueError(f"lexicon entry {entry['label']!r}: unknown category")
    return tuple(entries)
