"""Print the title chosen for each real article, and flag the ones that are not titles.

Loads the 13 articles of `../shared/data/articles` and the 126 texts of
`../shared/data/gold/train.json` (each written to `<id>.txt`, as a user would save them) with the
pipeline's own loader, and prints one row per document: its title, the rule that chose it
(`title_source`) and a flag when the title looks like navigation, a byline, a reading time, a
badge, a numbered item or a fragment of running text. The flags are a second, independent list of
checks (not the loader's patterns), so the loader cannot pass its own test by construction; read
the list as well.

Usage:
    python benchmarks/titles_audit.py [--shared ../shared/data] [--only-flagged]
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# What a reader would call "not a title", written independently of pipeline/defaults.yaml.
CHECKS = {
    "navigation": re.compile(
        r"\b(skip|top of page|menu|logo|icon|navigation|subscribe|newsletter|cookie|"
        r"log ?in|sign ?in|home page|call today|accepting)\b",
        re.I,
    ),
    "byline": re.compile(r"^\s*(by|written by|author|reviewed by|posted by)\b", re.I),
    "date or reading time": re.compile(
        r"\b\d+\s*min(ute)?s?\b|\b(updated|published)\b|\b(19|20)\d\d-\d\d\b", re.I
    ),
    "badge": re.compile(r"\b(verified|fact[- ]?checked|reviewed|editorial|policy)\b", re.I),
    "numbered item": re.compile(r"^\s*(\d+\s*[.):]|[•*-]\s)"),
    "section label": re.compile(
        r"^\s*(key takeaways|introduction|summary|overview|contents|share)\W*$", re.I
    ),
}


def flags(title: str) -> list[str]:
    """The checks a title fails; a fragment is long, or running text ending mid-sentence."""
    found = [name for name, pattern in CHECKS.items() if pattern.search(title)]
    words = title.split()
    if len(words) > 20 or (title.rstrip().endswith((".", ",")) and len(words) > 8):
        found.append("fragment")
    if not title.strip():
        found.append("empty")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--only-flagged", action="store_true")
    args = parser.parse_args()

    from pipeline.config import load_config
    from pipeline.ingest import load_documents

    config = load_config()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        articles = sorted((args.shared / "articles").glob("*.txt"))
        for path in articles:
            (folder / path.name).write_bytes(path.read_bytes())
        train = json.loads((args.shared / "gold" / "train.json").read_text(encoding="utf-8"))
        for record in train:
            (folder / f"{record['id']}.txt").write_text(record["text"], encoding="utf-8")
        documents, _ = load_documents([folder], config)
    bad = 0
    for row in documents.sort_values("source").itertuples():
        failed = flags(row.title)
        bad += bool(failed)
        if failed or not args.only_flagged:
            mark = f"  <- {', '.join(failed)}" if failed else ""
            print(f"{row.source[:44]:44}  {row.title_source:13}  {row.title[:70]}{mark}")
    sources = Counter(documents["title_source"])
    print()
    print(f"{len(documents)} documents ({len(articles)} articles + {len(train)} train texts)")
    print("title_source: " + ", ".join(f"{k} {v}" for k, v in sources.most_common()))
    print(f"flagged: {bad} ({bad / max(len(documents), 1):.1%})")


if __name__ == "__main__":
    main()
