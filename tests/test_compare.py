"""The compare stage: what the reference article asserts against the research it cites, small
hand-built articles for each rule (backed, weaker, contradicted, hedging, strength, items
named only inside a claim, a narrower concept), the coverage tables, and matching against an
external evidence base (HealthFC)."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.compare import (
    SUPPORT_STATUSES,
    category_coverage,
    compare_articles,
    concept_coverage,
    match_evidence,
)
from pipeline.config import load_config
from pipeline.extract.claims import claim_strength
from pipeline.io import read_table
from pipeline.runner import stage_compare, stage_extract, stage_load, stage_segment
from tests.conftest import REFERENCE, REPO, shared_path

REFERENCE_PATH = REPO / "data" / "raw" / "articles" / f"{REFERENCE}.txt"
TABLES = ("documents", "mentions", "claims", "concepts", "support", "flags", "concept_coverage")


@pytest.fixture(scope="module")
def reference(config, tmp_path_factory):
    """The reference article's tables with the rules baseline's extraction, so that these
    tests pin the comparison rules on known mentions (the tagger is tested on its own)."""
    config = config.model_copy(
        update={"extract": config.extract.model_copy(update={"method": "rules"})}
    )
    out = tmp_path_factory.mktemp("compare-reference")
    stage_load([REFERENCE_PATH], out, config)
    stage_segment(out, config)
    stage_extract(out, config)
    stage_compare(out, config)
    return {name: read_table(out, name) for name in TABLES}


def _row(support: pd.DataFrame, concept: str) -> pd.Series:
    rows = support[support["concept"] == concept]
    assert len(rows) == 1, f"expected one support row for {concept!r}, got {len(rows)}"
    return rows.iloc[0]


def _claim(claims: pd.DataFrame, fragment: str) -> pd.Series:
    rows = claims[claims["text"].str.contains(fragment, regex=False)]
    assert len(rows) == 1, fragment
    return rows.iloc[0]


# --- the reference article -----------------------------------------------------------------


def test_neglect_and_abuse_are_backed_by_the_cited_attachment_findings(reference):
    support, claims = reference["support"], reference["claims"]
    texts = dict(zip(claims["claim_id"], claims["text"]))
    for concept, finding in (
        ("childhood neglect", "predictive of disorganized attachment"),
        ("abuse", "predictive of disorganized attachment"),
        ("maltreatment", "Children exposed to maltreatment"),
    ):
        row = _row(support, concept)
        assert row["category"] == "cause"
        assert row["status"] == "backed"
        assert set(row["relations"]) == {"supports"}
        backing = [texts[c] for c in row["claim_ids"]]
        assert any(finding in t for t in backing), backing
        assert finding[:30] in row["reason"] or "…" in row["reason"]


def test_parental_mental_health_is_weaker_backing_an_association(reference):
    row = _row(reference["support"], "parental mental health issues")
    claims = reference["claims"].set_index("claim_id")
    assert row["status"] == "weaker"
    assert list(row["relations"]) == ["weaker"]
    (claim_id,) = row["claim_ids"]
    assert "has been associated with" in claims.loc[claim_id, "text"]
    assert "only an association" in row["reason"]


def test_separation_and_inconsistent_caregiving_are_unbacked(reference):
    support = reference["support"]
    for concept in ("separation or loss", "inconsistent caregiving"):
        row = _row(support, concept)
        assert (row["category"], row["status"]) == ("cause", "unbacked")
        assert len(row["claim_ids"]) == 0


def test_every_sign_and_intervention_is_unbacked(reference):
    support = reference["support"]
    rest = support[support["category"].isin(["sign", "intervention"])]
    assert set(rest["category"]) == {"sign", "intervention"}
    assert (rest["status"] == "unbacked").all(), rest[rest["status"] != "unbacked"]["concept"]
    # The therapies are named without any citation.
    for therapy in ("EMDR", "psychodynamic therapy", "somatic experiencing"):
        assert _row(support, therapy)["status"] == "unbacked"


def test_support_rows_give_a_reason_and_point_at_real_claims(reference):
    support, claims = reference["support"], reference["claims"]
    known = set(claims["claim_id"])
    assert len(support)
    for row in support.itertuples(index=False):
        assert row.reason.strip(), row.concept
        assert set(row.claim_ids) <= known, row.concept
        # A status resting on claims names them; unbacked names none.
        assert (len(row.claim_ids) > 0) == (row.status != "unbacked"), row.concept
        assert len(row.relations) == len(row.link_scores) == len(row.claim_ids)
        assert all(0 <= p <= 1 for p in row.link_scores)


def test_most_citations_are_vague_attributions(reference):
    flags, claims = reference["flags"], reference["claims"]
    assert len(claims) == 6
    vague = flags[(flags["item_type"] == "claim") & (flags["flag"] == "vague attribution")]
    assert set(vague["item_id"]) <= set(claims["claim_id"])
    assert vague["item_id"].nunique() >= 5


def test_claim_missing_its_opening_quote_gets_a_quote_integrity_flag(reference):
    flags, claims = reference["flags"], reference["claims"]
    quote = flags[flags["flag"] == "quote integrity"]
    broken = _claim(claims, "(commission trauma),")
    assert broken["cue"] == "explains a 2019 study"
    assert broken["claim_id"] in set(quote["item_id"])
    # A properly quoted claim is not flagged.
    intact = _claim(claims, "predictive of disorganized attachment")
    assert intact["claim_id"] not in set(quote["item_id"])


def test_causal_assertion_backed_only_by_correlation_is_a_strength_mismatch(reference):
    flags, support, claims = reference["flags"], reference["support"], reference["claims"]
    strength = dict(zip(claims["claim_id"], claims["strength"]))
    mismatch = flags[flags["flag"] == "strength mismatch"]
    detail = dict(zip((item.split("|", 1)[1] for item in mismatch["item_id"]), mismatch["detail"]))
    # "it can affect their ability…" backed only by "…less likely to be securely attached".
    assert "can affect" in detail["cause:maltreatment"]
    for concept_id in detail:
        row = support[support["concept_id"] == concept_id].iloc[0]
        assert row["category"] == "cause"
        assert {strength[c] for c in row["claim_ids"]} == {"correlational"}


# --- hand-built articles, one rule each ------------------------------------------------------

DOC = "synthetic-attachment-article"
TITLE = "Healing Attachment Trauma"
# Enough sentences naming the condition for "attachment" and "trauma" to be its topic words.
CONTEXT = [
    "Attachment trauma shapes how adults relate to others.",
    "Many adults carry attachment trauma from their childhood.",
]
CUE = " explains a 2019 study."


def _tables(sentences, mentions, quotations, in_claim=None):
    """documents, segments, mentions and claims tables for one article.

    Args:
        sentences: the article, one sentence each (joined by spaces).
        mentions: (sentence index, phrase, concept_id, label) for each mention.
        quotations: (sentence index, quoted claim text) for each cited claim; strength and
            hedging come from the real `claim_strength`.
        in_claim: override of the mentions' in_claim flags (default: inside a claim span).
    """
    text, starts = "", []
    for s in sentences:
        starts.append(len(text) + (1 if text else 0))
        text = f"{text} {s}" if text else s
    documents = pd.DataFrame([{"doc_id": DOC, "title": TITLE, "text": text}])
    segments = pd.DataFrame(
        [
            {"doc_id": DOC, "kind": "sentence", "start": st, "end": st + len(s), "text": s}
            for st, s in zip(starts, sentences)
        ]
    )
    claim_rows = []
    for i, quote in quotations:
        start = text.index(quote, starts[i])
        strength, hedged = claim_strength(quote)
        claim_rows.append(
            {
                "doc_id": DOC,
                "claim_id": f"{DOC}:clm:{start}-{start + len(quote)}",
                "text": quote,
                "start": start,
                "end": start + len(quote),
                "cue": CUE.strip(" ."),
                "named_source": "",
                "year": 2019,
                "notes": [],
                "strength": strength,
                "hedged": hedged,
            }
        )
    mention_rows = []
    for i, phrase, concept_id, label in mentions:
        start = text.index(phrase, starts[i])
        end = start + len(phrase)
        mention_rows.append(
            {
                "doc_id": DOC,
                "mention_id": f"{DOC}:men:{start}-{end}",
                "text": phrase,
                "start": start,
                "end": end,
                "category": concept_id.split(":")[0],
                "concept_id": concept_id,
                "concept": label,
                "method": "lexicon",
                "in_claim": any(c["start"] <= start and end <= c["end"] for c in claim_rows),
            }
        )
    mentions_df = pd.DataFrame(mention_rows)
    if in_claim is not None:
        mentions_df["in_claim"] = in_claim
    for c in claim_rows:
        inside = mentions_df[
            (mentions_df["start"] >= c["start"]) & (mentions_df["end"] <= c["end"])
        ]
        c["concept_ids"] = sorted(set(inside["concept_id"]))
    return documents, segments, mentions_df, pd.DataFrame(claim_rows)


def _compare(config, *tables):
    support, flags = compare_articles(*tables, config)
    return support.set_index("concept_id"), flags


def _flags_on(flags: pd.DataFrame, concept_id: str) -> set[str]:
    return set(flags[flags["item_id"] == f"{DOC}|{concept_id}"]["flag"])


def _neglect(config, assertion: str, quote: str):
    """An article asserting childhood neglect, then citing `quote` about neglect."""
    tables = _tables(
        [*CONTEXT, assertion, f"“{quote}”{CUE}"],
        [
            (2, "Childhood neglect", "cause:childhood-neglect", "childhood neglect"),
            (3, "Neglect", "cause:childhood-neglect", "childhood neglect"),
        ],
        [(3, quote)],
    )
    return _compare(config, *tables)


@pytest.mark.parametrize(
    ("assertion", "dropped"),
    [
        ("Childhood neglect causes attachment trauma in adults.", True),
        ("Childhood neglect may cause attachment trauma in adults.", False),
    ],
)
def test_hedged_claim_stated_flatly_is_hedging_dropped(config, assertion, dropped):
    quote = "Neglect may contribute to attachment trauma in later life,"
    support, flags = _neglect(config, assertion, quote)
    assert support.loc["cause:childhood-neglect", "status"] == "backed"
    assert ("hedging dropped" in _flags_on(flags, "cause:childhood-neglect")) is dropped


@pytest.mark.parametrize(
    ("quote", "mismatch"),
    [
        ("Neglected children are less likely to form secure attachment after trauma,", True),
        ("Neglect in childhood can lead to attachment trauma in many adults,", False),
    ],
)
def test_causal_assertion_needs_causal_backing(config, quote, mismatch):
    support, flags = _neglect(config, "Childhood neglect can lead to attachment trauma.", quote)
    assert support.loc["cause:childhood-neglect", "status"] == "backed"
    assert ("strength mismatch" in _flags_on(flags, "cause:childhood-neglect")) is mismatch


@pytest.mark.parametrize(
    ("quote", "status", "relation"),
    [
        ("Parental depression may harm a child's wellbeing over many years,", "backed", "supports"),
        ("Parental depression is linked to attachment trauma in children,", "weaker", "weaker"),
        ("Parental depression was not associated with attachment trauma,", "contradicted", None),
    ],
)
def test_the_claims_wording_decides_the_relation(config, quote, status, relation):
    tables = _tables(
        [
            *CONTEXT,
            "Parental depression can leave attachment trauma in children.",
            f"“{quote}”{CUE}",
        ],
        [
            (2, "Parental depression", "cause:parental-depression", "parental depression"),
            (3, "Parental depression", "cause:parental-depression", "parental depression"),
        ],
        [(3, quote)],
    )
    support, _ = _compare(config, *tables)
    row = support.loc["cause:parental-depression"]
    assert row["status"] == status
    assert list(row["claim_ids"]) == list(tables[3]["claim_id"])
    assert list(row["relations"]) == [relation or "contradicts"]
    assert "names it inside the claim" in row["reason"]


def test_an_association_backs_a_sign_fully(config):
    """Signs are associations by nature: "linked to" is not weaker backing for a sign."""
    quote = "Hypervigilance is linked to attachment trauma in adults,"
    tables = _tables(
        [*CONTEXT, "Hypervigilance is a common sign.", f"“{quote}”{CUE}"],
        [
            (2, "Hypervigilance", "sign:hypervigilance", "hypervigilance"),
            (3, "Hypervigilance", "sign:hypervigilance", "hypervigilance"),
        ],
        [(3, quote)],
    )
    support, _ = _compare(config, *tables)
    assert support.loc["sign:hypervigilance", "status"] == "backed"


@pytest.mark.parametrize("in_claim", [True, False])
def test_an_item_named_only_inside_a_claim_is_backed_by_it(config, in_claim):
    quote = "Maltreatment is linked to attachment trauma in children,"
    tables = _tables(
        [*CONTEXT, "Attachment trauma is common.", f"“{quote}”{CUE}"],
        [(3, "Maltreatment", "cause:maltreatment", "maltreatment")],
        [(3, quote)],
        in_claim=in_claim,
    )
    support, _ = _compare(config, *tables)
    # The article states the cause through the claim it cites: the claim speaks about it.
    row = support.loc["cause:maltreatment"]
    assert row["status"] == "weaker"
    assert list(row["claim_ids"]) == list(tables[3]["claim_id"])


@pytest.mark.parametrize(
    ("quote", "phrase", "concept_id", "label", "abuse_status"),
    [
        # "substance abuse" names another item, not a kind of abuse: no link to "abuse".
        (
            "Substance abuse is linked to attachment trauma in young adults,",
            "Substance abuse",
            "cause:substance-abuse",
            "substance abuse",
            "unbacked",
        ),
        # The lexicon says child abuse is a kind of abuse: the claim speaks about abuse too.
        (
            "Child abuse predicts attachment trauma in adults,",
            "Child abuse",
            "cause:child-abuse",
            "child abuse",
            "backed",
        ),
    ],
)
def test_a_claim_about_another_item_backs_only_the_broader_concept_it_is_a_kind_of(
    config, quote, phrase, concept_id, label, abuse_status
):
    tables = _tables(
        [
            *CONTEXT,
            "Abuse in childhood can lead to attachment trauma.",
            "Friends matter too.",
            "Loneliness is hard.",
            f"“{quote}”{CUE}",
        ],
        [(2, "Abuse", "cause:abuse", "abuse"), (5, phrase, concept_id, label)],
        [(5, quote)],
    )
    support, _ = _compare(config, *tables)
    assert support.loc["cause:abuse", "status"] == abuse_status
    assert support.loc[concept_id, "status"] != "unbacked"


# --- coverage tables -------------------------------------------------------------------------


def test_coverage_tables_count_a_hand_built_support_table():
    support = pd.DataFrame(
        [
            ("a", "cause:abuse", "cause", "abuse", "backed"),
            ("b", "cause:abuse", "cause", "abuse", "weaker"),
            ("c", "cause:abuse", "cause", "abuse", "contradicted"),
            ("d", "cause:abuse", "cause", "abuse", "unbacked"),
            ("a", "sign:shame", "sign", "shame", "unbacked"),
            ("b", "sign:shame", "sign", "shame", "unbacked"),
        ],
        columns=["doc_id", "concept_id", "category", "concept", "status"],
    )
    concepts = concept_coverage(support).set_index("concept_id")
    columns = ["n_articles", "n_backed", "n_weaker", "n_contradicted"]
    assert concepts.loc["cause:abuse", columns].tolist() == [4, 1, 1, 1]
    assert concepts.loc["cause:abuse", "share_backed"] == pytest.approx(1 / 4, abs=1e-4)
    assert concepts.loc["sign:shame", ["n_articles", "n_backed", "share_backed"]].tolist() == [
        2,
        0,
        0.0,
    ]
    categories = category_coverage(support).set_index("category")
    assert categories.loc["cause", "assertions"] == 4
    for status in SUPPORT_STATUSES:
        assert categories.loc["cause", f"share_{status}"] == pytest.approx(1 / 4, abs=1e-4)
    assert categories.loc["sign", "share_unbacked"] == 1.0


def test_coverage_tables_agree_with_the_reference_support_table(reference):
    support = reference["support"]
    written = reference["concept_coverage"].set_index("concept_id")
    assert set(written.index) == set(support["concept_id"])
    for row in support.itertuples(index=False):
        cov = written.loc[row.concept_id]
        assert cov["n_articles"] == 1
        for status in ("backed", "weaker", "contradicted"):
            assert cov[f"n_{status}"] == int(row.status == status)
        assert cov["share_backed"] == float(row.status == "backed")
    categories = category_coverage(support).set_index("category")
    counts = support.groupby("category")["status"].value_counts()
    for category, group in support.groupby("category"):
        assert categories.loc[category, "assertions"] == len(group)
        for status in SUPPORT_STATUSES:
            expected = counts.get((category, status), 0) / len(group)
            assert categories.loc[category, f"share_{status}"] == pytest.approx(expected, abs=1e-4)


# --- evidence base ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def healthfc():
    return shared_path("healthfc", "healthfc.csv")


@pytest.fixture(scope="module")
def evidence(reference, healthfc):
    config = load_config(overrides={"compare": {"evidence_csv": str(healthfc)}})
    return match_evidence(reference["concepts"], config), config


def test_evidence_matches_rank_top_k_findings_per_cause_and_intervention(
    reference, healthfc, evidence
):
    matches, config = evidence
    base = pd.read_csv(healthfc, dtype=str).fillna("")
    concepts = reference["concepts"]
    targets = concepts[concepts["category"].isin(["cause", "intervention"])]
    assert set(matches["concept_id"]) == set(targets["concept_id"])
    k = config.compare.evidence_top_k
    verdict_of = dict(zip(base["en_claim"], base["label"]))
    for _, group in matches.groupby("concept_id"):
        assert group["rank"].tolist() == list(range(1, k + 1))
        assert group["similarity"].is_monotonic_decreasing
        assert group["similarity"].between(-1, 1).all()
        for finding, verdict in zip(group["finding"], group["verdict"]):
            assert verdict_of[finding] == verdict


def test_emdr_top_match_is_the_healthfc_emdr_finding(healthfc, evidence):
    matches, _ = evidence
    top = matches[(matches["concept_id"] == "intervention:emdr") & (matches["rank"] == 1)]
    assert len(top) == 1
    assert "EMDR" in top["finding"].iloc[0]
    base = pd.read_csv(healthfc, dtype=str).fillna("")
    # HealthFC's codes: 0 supported, 1 not enough information, 2 refuted (shared README).
    assert base[base["en_claim"].str.contains("EMDR")]["label"].eq(top["verdict"].iloc[0]).any()


def test_no_evidence_base_gives_an_empty_table(config, reference):
    matches = match_evidence(reference["concepts"], config)
    assert matches.empty
    assert list(matches.columns) == [
        "concept_id",
        "concept",
        "rank",
        "finding",
        "verdict",
        "source",
        "similarity",
    ]


def test_evidence_csv_without_the_configured_columns_is_a_clear_error(tmp_path, reference):
    path = tmp_path / "findings.csv"
    path.write_text("claim,verdict\nEMDR helps with PTSD,supported\n", encoding="utf-8")
    config = load_config(overrides={"compare": {"evidence_csv": str(path)}})
    with pytest.raises(ValueError, match=r"en_claim.*label"):
        match_evidence(reference["concepts"], config)


def test_a_list_item_title_is_asserted_by_its_whole_item_whoever_found_it():
    """The strength flag reads the sentences where an item is asserted. For a list-item title
    ("5. Parental Mental Health Issues") they are the item's sentences, also when the trained
    tagger rather than the structure rule found the title; a prose mention keeps its own."""
    from pipeline.compare.stage import _assertions

    text = (
        "5. Parental Mental Health Issues\n\nParents with depression become less available, "
        "which can lead to attachment trauma.\n\nAlso, some children grieve."
    )
    item_end = text.index("\n\nAlso")
    sentences = [
        (0, 32, text[0:32]),
        (34, item_end, text[34:item_end]),
        (item_end + 2, len(text), text[item_end + 2 :]),
    ]
    title = {"concept_id": "cause:pmh", "start": 3, "end": 32, "in_claim": False}
    prose = {"concept_id": "cause:grief", "start": text.index("grieve"), "in_claim": False}
    prose["end"] = prose["start"] + len("grieve")
    for method in ("model", "structure"):
        found = _assertions(
            text,
            [{**title, "method": method}, {**prose, "method": method}],
            sentences,
            [(0, item_end)],
        )
        assert found["cause:pmh"] == [sentences[0][2], sentences[1][2]], method
        assert found["cause:grief"] == [sentences[2][2]], method
