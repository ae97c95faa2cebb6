"""Support: for every item an article states, whether a claim it cites backs it.

For every article and every concept it states (a sign, cause or intervention, in its own words
or inside a cited claim) a `support` row says which cited claims of the same article speak
about it, as decided by the claim-to-item linker (`compare.link`), and how:

- `backed`: a claim speaks about the item and supports its role;
- `weaker`: the claims only report an association for an item the article states as a cause
  or as something that helps (same direction, weaker than the article asserts);
- `contradicted`: a claim reports no relation or no effect;
- `unbacked`: no cited claim of the article speaks about it.

Flags on claims and support rows: vague attribution, strength mismatch, hedging dropped, quote
integrity. An optional evidence base (a CSV of findings with verdicts) is matched to causes and
interventions by embedding similarity; the score is shown, no entailment is claimed.
"""

from __future__ import annotations

import re
from functools import lru_cache
from types import SimpleNamespace

import pandas as pd

from pipeline.compare.link import LinkClaim, LinkItem, LinkModel, explain, layouts, relation
from pipeline.config import Config
from pipeline.extract.claims import claim_strength
from pipeline.io import records
from pipeline.lexicon import load_lexicon
from pipeline.text import excerpt

SUPPORT_STATUSES = ("backed", "weaker", "contradicted", "unbacked")  # `support.status`
_STATUS_OF = {"supports": "backed", "weaker": "weaker", "contradicts": "contradicted"}
_CAUSAL = ("direct causal", "conditional causal")
_QUOTES_OPEN, _QUOTES_CLOSE = "“", "”"
SUPPORT_COLUMNS = [
    "doc_id",
    "concept_id",
    "category",
    "concept",
    "status",
    "claim_ids",
    "relations",
    "link_scores",
    "reason",
    "n_mentions",
    "evidence_mention_ids",
]


def _assertions(
    doc_text: str,
    mentions: list[dict],
    sentences: list[tuple[int, int, str]],
    items: list[tuple[int, int]],
) -> dict[str, list]:
    """Sentences in which each concept is asserted outside cited claims: the sentence around a
    prose mention, and every sentence of the item a list-item title heads ("2. Abuse … This
    can lead to …"), whichever component found the title."""
    out: dict[str, list] = {}
    for m in mentions:
        if m["in_claim"]:
            continue
        start, end = m["start"], m["end"]
        lo, hi = start, end
        item = next(((s, e) for s, e in items if s <= start and end <= e), None)
        if item is not None and not any(ch.isalpha() for ch in doc_text[item[0] : start]):
            lo, hi = item  # only numbering or a bullet before it: the mention is the title
        texts = [t for s, e, t in sentences if e > lo and s < hi] or [doc_text[start:end]]
        out.setdefault(m["concept_id"], []).extend(texts)
    return out


def _records_by_doc(frame: pd.DataFrame, columns: list[str]) -> dict[str, list[dict]]:
    """Rows of `frame` as plain dicts (`columns` only), grouped by doc_id."""
    out: dict[str, list[dict]] = {}
    for doc_id, row in zip(frame["doc_id"].tolist(), records(frame, columns)):
        out.setdefault(doc_id, []).append(row)
    return out


@lru_cache(maxsize=1)
def _broader() -> dict[str, str]:
    """Narrower concept -> broader concept, from the lexicon's `broader` entries."""
    return {e["label"]: e["broader"] for e in load_lexicon() if e.get("broader")}


def link_items(mentions: list[dict]) -> tuple[list[LinkItem], dict[str, list[dict]]]:
    """An article's items for the linker, one per concept (all its mentions' spans), and the
    mentions of each concept."""
    groups: dict[str, list[dict]] = {}
    for m in mentions:
        groups.setdefault(m["concept_id"], []).append(m)
    broader = _broader()
    items = [
        LinkItem(
            concept_id,
            group[0]["category"],
            group[0]["concept"],
            [(int(m["start"]), int(m["end"])) for m in group],
            broader.get(group[0]["concept"], ""),
        )
        for concept_id, group in sorted(groups.items())
    ]
    return items, groups


def support_items(mentions: pd.DataFrame, doc_id: str) -> list[LinkItem]:
    """The linker items of one document of a run (as `compare_articles` builds them)."""
    cols = ["mention_id", "concept_id", "category", "concept", "method", "start", "end"]
    return link_items(records(mentions[mentions["doc_id"] == doc_id], cols))[0]


def compare_articles(
    documents: pd.DataFrame,
    segments: pd.DataFrame,
    mentions: pd.DataFrame,
    claims: pd.DataFrame,
    config: Config,
    linker: LinkModel | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the `support` and `flags` tables.

    Args:
        documents: usable documents (doc_id, title, text).
        segments, mentions, claims: the stage tables.
        linker: the claim-to-item linker (default: `compare.link_model`, or the shipped one).

    Returns:
        `support` (columns `SUPPORT_COLUMNS`) and `flags` (doc_id, item_type, item_id, flag,
        detail).
    """
    if linker is None:
        linker = LinkModel.load(config.compare.link_model)
    support_rows, flag_rows = [], []
    # Group once into plain records: per-document DataFrame filtering is quadratic, and
    # row access on Arrow-backed frames is slow.
    mention_cols = ["mention_id", "concept_id", "category", "concept", "method", "start", "end"]
    mentions_of = _records_by_doc(mentions, mention_cols + ["in_claim"])
    claims_of = _records_by_doc(
        claims,
        ["claim_id", "text", "cue", "start", "end", "year", "named_source", "notes"]
        + ["strength", "hedged"],
    )
    layout_of = layouts(documents, segments)
    for doc_id, text in zip(documents["doc_id"], documents["text"]):
        doc_claims = claims_of.get(doc_id, [])
        flag_rows += _claim_flags(doc_id, doc_claims, text)
        doc_mentions = mentions_of.get(doc_id, [])
        if not doc_mentions:
            continue
        layout = layout_of[doc_id]
        items, groups = link_items(doc_mentions)
        link_claims = [
            LinkClaim(c["claim_id"], c["text"], c["start"], c["end"]) for c in doc_claims
        ]
        found: dict[int, list] = {}
        for i, c, score, features in linker.links(layout, items, link_claims, explain=True):
            found.setdefault(i, []).append((score, c, features))
        assertions = _assertions(
            text,
            doc_mentions,
            [(s, e, text[s:e]) for s, e in layout.sentences],
            [(s, e) for s, e, k in layout.blocks if k == "item"],
        )
        for i, item in enumerate(items):
            links = sorted(found.get(i, []), key=lambda t: -t[0])
            used = [doc_claims[c] for _, c, _ in links]
            relations = [relation(claim["text"], item.category) for claim in used]
            status = _status(relations)
            group = groups[item.key]
            support_rows.append(
                {
                    "doc_id": doc_id,
                    "concept_id": item.key,
                    "category": item.category,
                    "concept": item.label,
                    "status": status,
                    "claim_ids": [claim["claim_id"] for claim in used],
                    "relations": relations,
                    "link_scores": [round(score, 4) for score, _, _ in links],
                    "reason": _reason(item.label, used, relations, [f for _, _, f in links]),
                    "n_mentions": len(group),
                    "evidence_mention_ids": _evidence(group, used),
                }
            )
            if used:
                flag_rows += _support_flags(
                    doc_id, item.key, item.label, assertions.get(item.key, []), used
                )
    support = pd.DataFrame(support_rows, columns=SUPPORT_COLUMNS)
    flags = pd.DataFrame(flag_rows, columns=["doc_id", "item_type", "item_id", "flag", "detail"])
    return support, flags


def _evidence(group: list[dict], claims: list[dict]) -> list[str]:
    """Up to 5 mentions of a concept: those inside its linked claims first (where the claim
    speaks about it), then in reading order."""
    spans = [(c["start"], c["end"]) for c in claims]

    def inside(m: dict) -> bool:
        return any(s <= m["start"] and m["end"] <= e for s, e in spans)

    ordered = sorted(group, key=lambda m: (not inside(m), m["start"]))
    return [m["mention_id"] for m in ordered][:5]


def _status(relations: list[str]) -> str:
    """An item's status from the relations of its links: any support backs it; otherwise a
    contradiction, then an association, decides."""
    for rel in ("supports", "contradicts", "weaker"):
        if rel in relations:
            return _STATUS_OF[rel]
    return "unbacked"


def _reason(label: str, claims: list[dict], relations: list[str], features: list) -> str:
    """Why an item has its status, in words a reviewer can check against the claims."""
    if not claims:
        return f"no claim cited in the article speaks about '{label}'"
    parts = []
    for claim, rel, feats in zip(claims, relations, features):
        quoted = excerpt(claim["text"], 160)
        how = {
            "supports": "supports it",
            "weaker": "reports only an association (weaker than a stated cause or help)",
            "contradicts": "reports no relation or no effect",
        }[rel]
        parts.append(f"'{claim['cue']}': \"{quoted}\" {explain(feats)}; {how}")
    return " | ".join(parts)


def _claim_flags(doc_id: str, claims: list[dict], text: str) -> list[dict]:
    rows = []
    for claim in claims:
        c = SimpleNamespace(**claim)
        if not c.named_source and not re.search(r"https?://|doi\.org", c.cue):
            what = f"'{c.cue}'" + (f" (year {c.year} only)" if pd.notna(c.year) else "")
            rows.append(
                _flag(
                    doc_id,
                    "claim",
                    c.claim_id,
                    "vague attribution",
                    f"{what} names no author, journal, organisation or link a reader could follow",
                )
            )
        window = text[max(c.start - 2, 0) : min(c.end + 2, len(text))]
        if "opening quote missing" in list(c.notes) or (
            window.count(_QUOTES_OPEN) != window.count(_QUOTES_CLOSE)
        ):
            rows.append(
                _flag(
                    doc_id,
                    "claim",
                    c.claim_id,
                    "quote integrity",
                    "quotation with unbalanced or missing quote marks",
                )
            )
    return rows


def _support_flags(
    doc_id: str, concept_id: str, concept: str, sentences: list[str], backing: list[dict]
) -> list[dict]:
    rows = []
    strengths = [claim_strength(s) for s in sentences]
    causal = [s for s, (strength, _) in zip(sentences, strengths) if strength in _CAUSAL]
    if causal and backing and all(c["strength"] == "correlational" for c in backing):
        rows.append(
            _flag(
                doc_id,
                "support",
                f"{doc_id}|{concept_id}",
                "strength mismatch",
                f"the article asserts '{concept}' causally (\"{excerpt(causal[0], 300)}\") "
                f"but the cited backing is correlational",
            )
        )
    unhedged = [s for s, (_, hedged) in zip(sentences, strengths) if not hedged]
    if unhedged and backing and all(c["hedged"] for c in backing):
        rows.append(
            _flag(
                doc_id,
                "support",
                f"{doc_id}|{concept_id}",
                "hedging dropped",
                f"the cited claim is hedged but the article states '{concept}' "
                f'without hedging ("{excerpt(unhedged[0], 300)}")',
            )
        )
    return rows


def _flag(doc_id: str, item_type: str, item_id: str, flag: str, detail: str) -> dict:
    return {
        "doc_id": doc_id,
        "item_type": item_type,
        "item_id": item_id,
        "flag": flag,
        "detail": detail,
    }


_LINKED = [s for s in SUPPORT_STATUSES if s != "unbacked"]
COVERAGE_COLUMNS = (
    ["concept_id", "category", "concept", "n_articles"]
    + [f"n_{s}" for s in _LINKED]
    + ["share_backed"]
)


def concept_coverage(support: pd.DataFrame) -> pd.DataFrame:
    """Corpus level: per concept, articles naming it, articles per linked status, and the share
    of articles that back it."""
    if support.empty:
        return pd.DataFrame(columns=COVERAGE_COLUMNS)
    # One indicator column per status, summed: a lambda per group took half a minute on the
    # shared corpus's 50,000 concepts.
    counts = support[["concept_id", "category", "concept", "doc_id"]].assign(
        **{f"n_{s}": (support["status"] == s).astype("int64") for s in _LINKED}
    )
    table = (
        counts.groupby(["concept_id", "category", "concept"])
        .agg(n_articles=("doc_id", "nunique"), **{f"n_{s}": (f"n_{s}", "sum") for s in _LINKED})
        .reset_index()
    )
    table["share_backed"] = (table["n_backed"] / table["n_articles"]).round(4)
    return table[COVERAGE_COLUMNS].sort_values(
        ["category", "n_articles", "concept_id"], ascending=[True, False, True], ignore_index=True
    )


def category_coverage(support: pd.DataFrame) -> pd.DataFrame:
    """Evidence coverage per category: shares of stated (article, concept) pairs by status."""
    shares = [f"share_{s}" for s in SUPPORT_STATUSES]
    rows = []
    for category, group in support.groupby("category"):
        rows.append(
            {
                "category": category,
                "assertions": len(group),
                **{
                    f"share_{s}": round(float((group["status"] == s).mean()), 4)
                    for s in SUPPORT_STATUSES
                },
            }
        )
    return pd.DataFrame(rows, columns=["category", "assertions", *shares])


def match_evidence(concepts: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Closest findings of the configured evidence base for each cause and intervention.

    Returns `evidence_matches` (concept_id, concept, rank, finding, verdict, source,
    similarity); empty when no evidence base is configured.
    """
    cfg = config.compare
    columns = ["concept_id", "concept", "rank", "finding", "verdict", "source", "similarity"]
    if not cfg.evidence_csv:
        return pd.DataFrame(columns=columns)
    from pipeline.embed import embed_cached

    base = pd.read_csv(cfg.evidence_csv, dtype=str).fillna("")
    missing = [
        c for c in (cfg.evidence_claim_column, cfg.evidence_verdict_column) if c not in base.columns
    ]
    if missing:
        raise ValueError(f"evidence CSV {cfg.evidence_csv} lacks columns {missing}")
    findings = base[cfg.evidence_claim_column].tolist()
    sources = (
        base[cfg.evidence_source_column].tolist()
        if cfg.evidence_source_column in base.columns
        else [""] * len(base)
    )
    targets = concepts[concepts["category"].isin(["cause", "intervention"])]
    if targets.empty or not findings:
        return pd.DataFrame(columns=columns)
    vectors = embed_cached(
        findings + targets["label"].tolist(), config.concepts.backend, config.embeddings.cache_dir
    )
    sims = vectors[len(findings) :] @ vectors[: len(findings)].T
    rows = []
    for row, concept in zip(sims, targets.itertuples(index=False)):
        for rank, j in enumerate(row.argsort()[::-1][: cfg.evidence_top_k], start=1):
            rows.append(
                {
                    "concept_id": concept.concept_id,
                    "concept": concept.label,
                    "rank": rank,
                    "finding": findings[j],
                    "verdict": base[cfg.evidence_verdict_column].iloc[j],
                    "source": sources[j],
                    "similarity": round(float(row[j]), 4),
                }
            )
    return pd.DataFrame(rows, columns=columns)
