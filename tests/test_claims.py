"""Cited claims found by the rule cue patterns (`extract.method: rules`, and a feature of the
tagger): every cue style of the gold file, strength and hedging, and real FakeHealth citations,
through the real spaCy component (sentences and PERSON entities included). The tagger's claims
are gated on unseen articles in test_tagger.py."""

import gzip
import json

import pytest

from pipeline.extract.claims import claim_strength, find_claims
from pipeline.extract.evaluate import MATCH_THRESHOLD
from pipeline.extract.stage import extraction_pipeline, rules_config
from pipeline.text import dice
from tests.conftest import REFERENCE, shared_path

_QUOTES = '“”"‘’'


@pytest.fixture(scope="module")
def nlp(config):
    return extraction_pipeline(config.spacy.model, rules_config(config.extract))


def _article(article_id: str, reference_raw: str) -> str:
    if article_id == REFERENCE:
        return reference_raw
    return shared_path("articles", f"{article_id}.txt").read_text(encoding="utf-8")


def _paragraph(text: str, needle: str) -> str:
    """The one line of an article text dump that holds `needle`."""
    lines = [line.strip() for line in text.splitlines() if needle in line]
    assert len(lines) == 1, needle
    return lines[0]


def _claims(nlp, paragraph: str):
    return nlp(paragraph)._.claims


# (article, gold cue, first words of the gold claim text): one row per gold claim the cue
# patterns are built to find.
GOLD_CLAIMS = [
    pytest.param(
        REFERENCE, "explains a 2019 study", "Attachment trauma makes", id="post-quote-year"
    ),
    pytest.param(REFERENCE, "add researchers", "Attachment trauma forces", id="add-researchers"),
    pytest.param(REFERENCE, "according to researchers", "it mostly occurs", id="according-mid"),
    pytest.param(REFERENCE, "explain researchers", "Children exposed", id="explain-researchers"),
    pytest.param(REFERENCE, "according to a study", "Child abuse", id="quote-according-to"),
    pytest.param(REFERENCE, "Studies have found that", "Poor parental", id="studies-found-quote"),
    pytest.param("health-com-anxiety-insomnia-sleep", "¹", "Sleep problems", id="footnote-1"),
    pytest.param("health-com-anxiety-insomnia-sleep", "²", "Sleeping at night", id="footnote-2"),
    pytest.param("health-com-anxiety-insomnia-sleep", "³", "When your internal", id="footnote-3"),
    pytest.param("health-com-anxiety-insomnia-sleep", "⁵,⁶", "Insomnia is", id="footnote-5-6"),
    pytest.param("health-com-anxiety-insomnia-sleep", "⁶", "Typical symptoms", id="footnote-6"),
    pytest.param(
        "health-com-anxiety-insomnia-sleep", "according to the CDC", "About a third", id="cdc"
    ),
    pytest.param(
        "eddinscounseling-complex-ptsd",
        "the National Center for PTSD reports",
        "around 5.2 million",
        id="organisation-reports",
    ),
    pytest.param(
        "holisticly-coping-with-depression",
        "The World Health Organization (WHO) estimates1 that",
        "nearly 280 million",
        id="who-estimates",
    ),
    pytest.param("nobu-overcome-codependency", "Research has shown", "codependency", id="research"),
    pytest.param(
        "medicinecontact-understanding-loneliness", "Research shows", "chronic", id="research-shows"
    ),
    pytest.param("shine-self-compassion-inner-critic", "Neff tells Shine", "A lot", id="expert"),
    pytest.param(
        "shine-self-compassion-inner-critic", "Neff tells Shine", "The problem", id="continuation"
    ),
    pytest.param("shine-self-compassion-inner-critic", "Neff warns", "it actually", id="warns"),
    pytest.param(
        "shine-self-compassion-inner-critic",
        "Neff is quick to point out that",
        "self-compassion does",
        id="quick-to-point-out",
    ),
    pytest.param(
        "shine-self-compassion-inner-critic",
        "her research shows",
        "self-compassion will",
        id="her-research",
    ),
]


@pytest.mark.parametrize("article_id, cue, text_start", GOLD_CLAIMS)
def test_gold_claim_is_found_with_its_source_type_and_year(
    nlp, gold, reference_raw, article_id, cue, text_start
):
    article = next(a for a in gold if a["id"] == article_id)
    expected = next(
        c for c in article["claims"] if c["cue"] == cue and c["text"].startswith(text_start)
    )
    paragraph = _paragraph(_article(article_id, reference_raw), cue)
    found = _claims(nlp, paragraph)
    claim = max(found, key=lambda c: dice(c.text, expected["text"]), default=None)
    assert claim is not None, paragraph
    assert dice(claim.text, expected["text"]) >= MATCH_THRESHOLD
    assert claim.text[:30] == expected["text"][:30]
    # The gold cue may carry a leading article ("the National Center ...") the pattern leaves out.
    assert cue.removeprefix("the ") in claim.cue
    assert claim.source_type == expected["source_type"]
    assert claim.year == expected["year"]
    # Offsets are consistent, and the claim holds neither its cue nor its outer quote marks.
    assert paragraph[claim.start : claim.end] == claim.text
    assert paragraph[claim.cue_start : claim.cue_end] == claim.cue
    assert claim.end <= claim.cue_start or claim.cue_end <= claim.start
    assert claim.text[0] not in _QUOTES and claim.text[-1] not in _QUOTES


def test_missing_opening_quote_is_noted_and_the_claim_starts_the_paragraph(nlp, reference_raw):
    paragraph = _paragraph(reference_raw, "explains a 2019 study")
    (claim,) = _claims(nlp, paragraph)
    assert claim.notes == ["opening quote missing"]
    assert claim.start == 0
    assert (claim.source_type, claim.year, claim.pattern) == ("study", 2019, "post_quote")
    quoted = _paragraph(reference_raw, "according to a study")
    assert [c.notes for c in _claims(nlp, quoted)] == [[]]


def test_according_to_in_mid_sentence_attributes_the_rest_of_the_sentence(nlp, reference_raw):
    paragraph = _paragraph(reference_raw, "according to researchers")
    (claim,) = _claims(nlp, paragraph)
    assert claim.pattern == "according_to"
    assert claim.text.startswith("it mostly occurs in specific relationships")
    assert "Also known as early relational trauma" not in claim.text


def test_named_expert_and_the_quotation_that_continues_after_the_cue(nlp):
    text = shared_path("articles", "shine-self-compassion-inner-critic.txt").read_text("utf-8")
    first, second = _claims(nlp, _paragraph(text, "Neff tells Shine"))
    assert (
        first.text
        == "A lot of people actually get fairly far in life with this harsh inner critic,"
    )
    assert second.text.startswith("The problem is, it has a lot of adverse consequences.")
    for claim in (first, second):
        assert (claim.cue, claim.source_type) == ("Neff tells Shine", "expert")
        assert claim.named_source.endswith("Neff")  # gold: "Kristin Neff", named earlier on


def test_continuation_quotation_runs_to_its_closing_quote_not_to_an_apostrophe(nlp):
    text = shared_path("articles", "shine-self-compassion-inner-critic.txt").read_text("utf-8")
    _, second = _claims(nlp, _paragraph(text, "Neff tells Shine"))
    assert second.text.endswith("you withdraw into yourself.")


def test_according_to_a_person_skips_the_appositive_that_describes_them(nlp):
    text = shared_path("articles", "shine-self-compassion-inner-critic.txt").read_text("utf-8")
    (claim,) = _claims(nlp, _paragraph(text, "According to Kristin Neff"))
    assert claim.text.startswith("self-criticism can work as a motivator")


def test_study_published_in_a_journal_names_the_journal(nlp):
    text = (
        "A study published in JAMA found that people who slept less than six hours a night were "
        "more likely to report anxiety."
    )
    (claim,) = _claims(nlp, text)
    assert claim.named_source == "JAMA"
    assert "study published in JAMA found" in claim.cue
    assert claim.text == (
        "people who slept less than six hours a night were more likely to report anxiety."
    )
    assert claim.strength == "correlational"


def test_study_published_in_jama_is_a_study_naming_the_journal(nlp):
    text = "A study published in JAMA found that short sleep was linked to anxiety in adults."
    (claim,) = _claims(nlp, text)
    assert claim.source_type == "study"  # the head noun decides; the journal is the named source


@pytest.mark.parametrize(
    "text",
    [
        "Practice deep breathing every day.",
        "Try journaling before bed.",
        "Practice deep breathing every day. It calms the nervous system and helps you sleep.",
    ],
)
def test_generic_advice_without_attribution_is_not_a_claim(nlp, text):
    assert _claims(nlp, text) == []
    assert find_claims(text, [(0, len(text))]) == []


def test_tips_from_the_reference_article_are_not_claims(nlp, reference_raw):
    for needle in ("A mental health professional will guide you", "The role of a therapist"):
        assert _claims(nlp, _paragraph(reference_raw, needle)) == []


@pytest.mark.parametrize(
    "text, strength",
    [
        (
            "Poor parental mental health has been associated with negative consequences.",
            "correlational",
        ),
        ("Child abuse and neglect are predictive of disorganized attachment.", "correlational"),
        (
            "Children exposed to maltreatment are less likely to be securely attached.",
            "correlational",
        ),
        ("Loneliness may lead to poorer sleep in older adults.", "conditional causal"),
        ("Chronic stress causes headaches and poor sleep in adults.", "direct causal"),
        ("Chronic stress was not associated with headaches in the trial.", "no relationship"),
        ("Insomnia is the most common sleep disorder.", "no relationship"),
    ],
)
def test_claim_strength(text, strength):
    assert claim_strength(text)[0] == strength


@pytest.mark.parametrize(
    "text, hedged",
    [
        ("Loneliness may lead to poorer sleep in older adults.", True),
        ("The results suggest that exercise improves mood.", True),
        ("Chronic stress causes headaches and poor sleep in adults.", False),
        ("Poor parental mental health has been associated with negative consequences.", False),
    ],
)
def test_hedges_are_detected(text, hedged):
    assert claim_strength(text)[1] is hedged


def test_comparative_likelihood_is_not_a_hedge():
    assert claim_strength(
        "Vegetarians were 22% less likely to be diagnosed with colon cancer."
    ) == (
        "correlational",
        False,
    )


# ------------------------------------------------------------------ FakeHealth news stories


@pytest.fixture(scope="module")
def fakehealth() -> dict[str, str]:
    path = shared_path("fakehealth", "health_story.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return {record["id"]: record["text"] for record in map(json.loads, lines)}


# (story id, cue, source type, named source, first words of the claim)
FAKEHEALTH = [
    (
        "story_reviews_00118",
        "study published in the New England Journal of Medicine found that",
        "study",
        "New England Journal of Medicine",
        "68 percent of patients experienced less sleep apnea",
    ),
    (
        "story_reviews_00223",
        "a small study published in the journal Gastroenterology suggests that",
        "study",
        "Gastroenterology",
        "taking a probiotic supplement may provide relief",
    ),
    (
        "story_reviews_00661",
        "researchers from Loma Linda University found that",
        "researchers",
        "Loma Linda University",
        "vegetarians were 22% less likely than meat-eaters",
    ),
    (
        "story_reviews_00921",
        "study published in this month's issue of the Archives of Neurology found that",
        "study",
        "",
        "the diet might protect against blood-vessel damage",
    ),
    (
        "story_reviews_01649",
        "researchers from Humboldt University in Berlin said",
        "researchers",
        "Humboldt University",
        "For ruling out coronary artery disease, CT is more accurate than MRI,",
    ),
]


@pytest.mark.parametrize("story, cue, source_type, named, claim_start", FAKEHEALTH)
def test_fakehealth_citations_are_found(
    nlp, fakehealth, story, cue, source_type, named, claim_start
):
    paragraph = _paragraph(fakehealth[story], cue)
    claim = next(c for c in _claims(nlp, paragraph) if c.text.startswith(claim_start))
    assert cue in claim.cue
    assert (claim.source_type, claim.named_source) == (source_type, named)
    assert paragraph[claim.start : claim.end] == claim.text


def test_sentence_initial_researchers_from_an_institution(nlp, fakehealth):
    paragraph = _paragraph(fakehealth["story_reviews_00168"], "Researchers from The University")
    (claim,) = _claims(nlp, paragraph)
    assert claim.cue.startswith("Researchers from The University of Tasmania")
    assert claim.text.startswith("breaking up with your diet for two weeks")


def test_a_cue_attributes_one_claim(nlp, fakehealth):
    paragraph = _paragraph(fakehealth["story_reviews_01649"], "researchers from Humboldt")
    assert len(_claims(nlp, paragraph)) == 1


# --- citation formats: note numbers glued to the sentence, author-year references --------------


@pytest.fixture(scope="module")
def train_texts() -> dict[str, str]:
    records = json.loads(shared_path("gold", "train.json").read_text(encoding="utf-8"))
    return {r["id"]: r["text"] for r in records}


@pytest.mark.parametrize(
    ("article_id", "needle", "cue", "pattern", "source_type", "year"),
    [
        # Real articles of gold/train.json, with their gold cue.
        (
            "curejoy-causes-seasonal-affective-disorder",
            "goes away come spring",
            "1",
            "footnote",
            "other",
            None,
        ),
        (
            "curejoy-causes-seasonal-affective-disorder",
            "control your mood",
            "5 6",
            "footnote",
            "other",
            None,
        ),
        (
            "inbloomvictoria-signs-boundaries",
            "Overcommitting can lead",
            "(Miller, 2020)",
            "author_year",
            "study",
            2020,
        ),
        (
            "inbloomvictoria-signs-boundaries",
            "prioritize your needs",
            "(Cloud & Townsend, 2017)",
            "author_year",
            "study",
            2017,
        ),
    ],
)
def test_citation_formats_make_claims_of_their_sentence(
    nlp, train_texts, article_id, needle, cue, pattern, source_type, year
):
    text = next(t for key, t in train_texts.items() if key.startswith(article_id))
    claims = _claims(nlp, _paragraph(text, needle))
    (claim,) = [c for c in claims if needle in c.text]
    assert (claim.cue, claim.pattern, claim.source_type, claim.year) == (
        cue,
        pattern,
        source_type,
        year,
    )
    assert cue not in claim.text  # the claim is the sentence, without its reference


@pytest.mark.parametrize(
    "text",
    [
        "The usual dose was 2.5 mg per day for most of the adults in the trial.",
        "Step 1. Take a slow breath and count to ten before you answer anyone.",
        "Call the helpline (available 24/7, 2019 figures) whenever you feel unsafe at night.",
    ],
)
def test_numbers_that_are_not_references_make_no_claim(nlp, text):
    assert _claims(nlp, text) == []


def test_the_tagger_pipeline_keeps_citation_claims(config, train_texts):
    """With `extract.method: model`, a sentence marked by a citation format is a claim, tagged
    or not: where no tagged claim covers it, the rule's claim stands beside the tagger's."""
    nlp_model = extraction_pipeline(config.spacy.model, config.extract)
    assert config.extract.method == "model"
    text = next(t for key, t in train_texts.items() if key.startswith("curejoy-causes"))
    claims = _claims(nlp_model, _paragraph(text, "goes away come spring"))
    found = [c for c in claims if "goes away come spring" in c.text]
    assert len(found) == 1 and found[0].cue == "1", [(c.pattern, c.cue, c.text) for c in claims]
    claims = _claims(
        nlp_model,
        "Say no more often. Overcommitting can lead to stress and burnout in many adults "
        "(Miller, 2020). Take a walk.",
    )
    (cited,) = [c for c in claims if c.cue == "(Miller, 2020)"]
    assert cited.text == "Overcommitting can lead to stress and burnout in many adults"
    assert cited.year == 2020


def test_the_tagger_pipeline_keeps_a_quotation_its_attribution_closes(config):
    """With `extract.method: model`, a quotation followed by its attribution is a claim also
    where the tagger marked none: the rule's claim stands beside the tagger's."""
    nlp_model = extraction_pipeline(config.spacy.model, config.extract)
    claims = _claims(
        nlp_model,
        "“Anxiety is the underlying issue in most panic attacks,” says Whitlow. “Basically your "
        "body is over-producing adrenaline in response to a threat.”",
    )
    assert {(c.cue, c.text) for c in claims} == {
        ("says Whitlow", "Anxiety is the underlying issue in most panic attacks,"),
        (
            "says Whitlow",
            "Basically your body is over-producing adrenaline in response to a threat.",
        ),
    }


def test_the_taggers_features_leave_citation_formats_out(nlp):
    """The shipped tagger was trained with rule-claim features that did not read note numbers
    or author-year references; its inputs must stay as they were (the rule claims stand beside
    it instead)."""
    from pipeline.extract.features import FLAG_NAMES, token_flags

    column = FLAG_NAMES.index("rule_claim")
    cited = nlp("Overcommitting can lead to stress in many adults (Miller, 2020). Rest helps.")
    assert any(c.pattern == "author_year" for c in cited._.claims)
    assert token_flags(cited)[:, column].sum() == 0
    noted = nlp("The low mood usually goes away come spring.1 Light helps.")
    assert any(c.cue == "1" for c in noted._.claims)
    assert token_flags(noted)[:, column].sum() == 0
    footnoted = nlp("The low mood usually goes away come spring.¹ Light helps.")
    assert token_flags(footnoted)[:, column].sum() > 0  # the old footnote markers still count


# --- the tagger's claims: the clause a cue governs, one claim per referenced sentence ---------


def _region_text(nlp, sentence: str, cue: str) -> str:
    """The claim text `_claim_region` and `claim_from_spans` make of a claim tagged over the
    whole of `sentence`, attributed through the words `cue`."""
    from pipeline.extract.claims import claim_from_spans
    from pipeline.extract.stage import _claim_region, _through_that

    doc = nlp(sentence)
    at = sentence.index(cue)
    cue_span = _through_that(doc, doc.char_span(at, at + len(cue), alignment_mode="expand"))
    start, end = _claim_region(doc, doc[:], cue_span)
    span = (doc[start].idx, doc[end - 1].idx + len(doc[end - 1].text))
    claim = claim_from_spans(sentence, span, (cue_span.start_char, cue_span.end_char))
    return claim.text


@pytest.mark.parametrize(
    ("sentence", "cue", "claim"),
    [
        (  # curejoy (gold/train.json): the cue in mid-sentence, then "that"
            "Interestingly enough, a large Norwegian study found that estradiol levels change "
            "with the seasons.",
            "study found that",
            "estradiol levels change with the seasons.",
        ),
        (  # the same, with the cue tagged one word past its "that" (seen out of fold)
            "Interestingly enough, a large Norwegian study found that estradiol levels change "
            "with the seasons.",
            "study found that estradiol",
            "estradiol levels change with the seasons.",
        ),
        (  # vimarsana (gold/train.json): a concession opens the sentence; the cue (tagged
            # short) stands in the main clause, which is what the experts say
            "Although it’s not listed in the Diagnostic and Statistical Manual of Mental "
            "Disorders (DSM), which is the gold standard for diagnosable psychiatric conditions, "
            "experts do recognise it as a deep-seated insecurity that can have a big impact.",
            "experts do",
            "experts do recognise it as a deep-seated insecurity that can have a big impact.",
        ),
        (  # a reporting verb closing the cue, with no "that"
            "In the end, her research shows, self-compassion will help us feel less anxious.",
            "research shows",
            "self-compassion will help us feel less anxious.",
        ),
        (  # a cue that does not introduce what follows keeps the whole sentence
            "Insecurity is a product of a perceived lack of value and, according to "
            "psychologist Mary Ainsworth, appears to be created during infancy.",
            "according to psychologist Mary Ainsworth",
            "Insecurity is a product of a perceived lack of value and, according to "
            "psychologist Mary Ainsworth, appears to be created during infancy.",
        ),
    ],
)
def test_a_tagged_claim_is_the_clause_its_cue_governs(nlp, sentence, cue, claim):
    assert _region_text(nlp, sentence, cue) == claim


def test_a_tagged_claim_running_past_note_markers_is_one_claim_per_sentence(train_texts):
    """choosingtherapy (gold/train.json): the tagger marked three referenced sentences as one
    claim, with "support.4" (one token) as its cue; the gold has three claims."""
    from pipeline.extract.claims import claim_from_spans
    from pipeline.extract.stage import _split_at_notes

    text = next(t for key, t in train_texts.items() if key.startswith("choosingtherapy-att"))
    paragraph = _paragraph(text, "throughout their lives.1")
    cue_at = paragraph.index("support.4")
    tagged = claim_from_spans(paragraph, (0, cue_at), (cue_at, cue_at + len("support.4")))
    tagged.confidence = 0.9
    pieces = _split_at_notes(paragraph, tagged, [])
    assert [(p.cue, p.text.split()[-1]) for p in pieces] == [
        ("1, 2", "lives."),
        ("3", "distressed."),
        ("4", "support."),
    ]
    assert pieces[1].text.startswith("Children develop a healthy and secure attachment")
    assert all(p.confidence == 0.9 and p.pattern == "model" for p in pieces)
    # One referenced sentence, or a rule's claim, stays as it is.
    single = claim_from_spans(paragraph, (0, paragraph.index("1, 2")), (0, 31))
    assert _split_at_notes(paragraph, single, []) == [single]
    ruled = claim_from_spans(paragraph, (0, cue_at), (cue_at, cue_at + 9), pattern="footnote")
    assert _split_at_notes(paragraph, ruled, []) == [ruled]


def test_a_lone_function_word_is_no_cue(nlp):
    """The tagger once took the "a" of markup left in a text file (<a href=…>) for a cue and
    made advice a cited claim; a cue that names a source makes the same span a claim."""
    from pipeline.extract.stage import _model_claims

    text = (
        "Different forms of therapy can help in healing attachment trauma and can empower "
        'people to build healthier relationships, <a href="x">click</a> here, explains a study.'
    )
    doc = nlp(text)
    claim = doc.char_span(0, text.index(", <a"), alignment_mode="expand")

    def claims_with(cue_text: str, at: int) -> list:
        cue = doc.char_span(at, at + len(cue_text))
        assert cue is not None, cue_text
        doc.spans["sh_claim"] = [claim]
        doc.spans["sh_claim"].attrs["scores"] = [0.9]
        doc.spans["sh_cue"] = [cue]
        return _model_claims(doc, 0.5, [])

    assert claims_with("a", text.index("<a") + 1) == []
    (found,) = claims_with("explains a study", text.index("explains"))
    assert found.cue == "explains a study" and found.text.startswith("Different forms of therapy")


def test_a_citation_after_a_concession_attributes_the_main_clause(nlp):
    """psych2go (gold/train.json): the reference backs the main clause, not the concession."""
    text = (
        "Although emotional abuse has occurred in interpersonal relationships for years, it has "
        "only recently been added to the definition of domestic violence (Francis & Pearson, 2019)."
    )
    (claim,) = _claims(nlp, text)
    assert claim.text == "it has only recently been added to the definition of domestic violence"
    assert (claim.pattern, claim.year) == ("author_year", 2019)


def test_a_concession_that_holds_the_cue_stays_in_the_claim():
    from pipeline.extract.claims import claim_from_spans

    text = "Although a 2019 study found that naps help, many adults still sleep too little."
    at = text.index("a 2019 study found that")
    claim = claim_from_spans(text, (0, len(text)), (at, at + len("a 2019 study found that")))
    assert claim.text == text


@pytest.mark.parametrize(
    ("sentence", "cue", "attributes"),
    [
        # simplypsychology (gold/train.json), tagged out of fold: nobody is cited
        ("The term gaslighting is believed to originate from a 1938 play.", "believed", False),
        ("It is believed to originate from the 1944 movie titled Gaslight.", "1944", False),
        # bona (gold/train.json): the fast tagger marks the verb; the speaker is the subject
        ("The publication adds that you view criticism as proof of failure.", "adds", True),
        ("Research shows that sleep loss raises anxiety the next day.", "Research shows", True),
        ("Sleep loss raises anxiety, Neff warns in her book.", "Neff warns", True),
        ("The low mood usually goes away come spring.1 Light helps.", "1", True),
    ],
)
def test_a_cue_names_a_source_or_a_note(nlp, sentence, cue, attributes):
    from pipeline.extract.stage import _attributes

    doc = nlp(sentence)
    at = sentence.index(cue)
    assert _attributes(doc.char_span(at, at + len(cue), alignment_mode="expand")) is attributes


def test_a_cue_closing_a_concession_keeps_it_in_the_claim():
    """cheatsheet (gold/train.json): the association is cited for the concession itself."""
    from pipeline.extract.claims import claim_from_spans

    text = (
        "Though the disorder only affects about 1% of the adult population in the U.S., says "
        "the Anxiety and Depression Association of America, you may still wonder."
    )
    at = text.index("says the Anxiety")
    cue = (at, text.index(", you may"))
    assert claim_from_spans(text, (0, len(text)), cue).text == text
