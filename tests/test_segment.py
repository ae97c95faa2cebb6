import pandas as pd
import pytest

from pipeline.clean import clean_text
from pipeline.segment import section_role, segment_text


def _segments(raw: str, config, title: str = "") -> tuple[str, pd.DataFrame]:
    title = title or raw.splitlines()[0]
    text = clean_text(raw, config.clean, title).text
    return text, pd.DataFrame(segment_text("doc", text, title, config))


@pytest.fixture(scope="module")
def reference(config, reference_raw):
    return _segments(reference_raw, config)


def test_reference_list_sections_have_6_5_8_items_with_roles(reference):
    _, seg = reference
    items = seg[seg.kind == "item"]
    listed = [
        (sec.section_role, int((items.parent_id == sec.segment_id).sum()))
        for sec in seg[seg.kind == "section"].sort_values("start").itertuples()
    ]
    listed = [(role, n) for role, n in listed if n and role != "faq"]
    assert listed == [("signs", 6), ("causes", 5), ("interventions", 8)]
    assert set(items[items.section_role == "causes"].item_title) == {
        "Childhood Neglect",
        "Abuse",
        "Separation or Loss",
        "Inconsistent Caregiving",
        "Parental Mental Health Issues",
    }


def test_numbered_item_owns_its_body_paragraphs(reference):
    _, seg = reference
    item = seg[(seg.kind == "item") & (seg.item_title == "Parental Mental Health Issues")].iloc[0]
    assert "Studies have found that" in item.text
    assert "Tips for Healing" not in item.text


def test_faq_questions_are_items_of_the_faq_section(reference):
    _, seg = reference
    faq = seg[(seg.kind == "section") & (seg.section_role == "faq")]
    assert len(faq) == 1
    questions = seg[(seg.kind == "item") & (seg.parent_id == faq.segment_id.iloc[0])]
    assert list(questions.item_title) == [
        "What does attachment trauma feel like?",
        "How do you overcome attachment trauma?",
        "What is the attachment trauma response in relationships?",
    ]


def test_offsets_point_into_the_cleaned_text_and_levels_do_not_overlap(reference):
    text, seg = reference
    assert all(text[s:e] == t for s, e, t in zip(seg.start, seg.end, seg.text))
    for _, level in seg.groupby("kind"):
        spans = sorted(zip(level.start, level.end))
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))


def test_sentences_nest_inside_their_paragraphs(reference):
    _, seg = reference
    by_id = seg.set_index("segment_id")
    for sent in seg[seg.kind == "sentence"].itertuples():
        parent = by_id.loc[sent.parent_id]
        assert parent.kind == "paragraph"
        assert parent.start <= sent.start < sent.end <= parent.end
    assert (seg.kind == "sentence").sum() > 80


def test_colon_items_bullets_and_lead_in_roles(config):
    raw = (
        "Anxious Attachment\n"
        "Anxious attachment shows itself in many small ways in a relationship.\n"
        "Recognizing the signs of anxious attachment can help:\n"
        "Seeking Reassurance: Constantly seeking reassurance from your partner.\n"
        "Fear of Abandonment: Feeling intense fear of being abandoned.\n"
        "Common Causes of Feeling Lonely\n"
        "- Loss of a loved one\n"
        "- Moving to a new place\n"
    )
    _, seg = _segments(raw, config, "Anxious Attachment")
    items = seg[seg.kind == "item"]
    assert list(zip(items.item_title, items.section_role)) == [
        ("Seeking Reassurance", "signs"),
        ("Fear of Abandonment", "signs"),
        ("Loss of a loved one", "causes"),
        ("Moving to a new place", "causes"),
    ]


@pytest.mark.parametrize(
    "heading, role",
    [
        ("Signs of Adult Attachment Trauma in Adults", "signs"),
        ("Causes of Attachment Trauma in Adults", "causes"),
        ("Tips for Healing Attachment Trauma", "interventions"),
        ("What is Attachment Trauma?", "definition"),
        ("Frequently Asked Questions (FAQs)", "faq"),
        ("Why Do People Ruminate?", "causes"),
        ("Insomnia and Anxiety", "other"),
    ],
)
def test_section_role_from_heading(config, heading, role):
    assert section_role(heading, config.segment) == role


def test_text_without_structure_is_one_section(config):
    raw = "Some title\n" + "This is plain prose without any heading at all. " * 5
    _, seg = _segments(raw, config)
    assert (seg.kind == "section").sum() == 1
    assert (seg.kind == "item").sum() == 0


def test_no_sentence_starts_inside_a_quotation(config):
    from pipeline.nlp import sentence_splitter

    nlp = sentence_splitter(config.spacy.model)
    quoted = "“Insecure attachment causes harm. It shapes adults too,” explains a 2019 study."
    doc = nlp(f"{quoted} Next comes another sentence.")
    assert [s.text for s in doc.sents] == [quoted, "Next comes another sentence."]
    # A quote mark that is never closed changes nothing.
    stray = nlp("A stray “ quote. And more text here.")
    assert [s.text for s in stray.sents] == ["A stray “ quote.", "And more text here."]


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (75, "“Trauma bonds form fast. They last,” says Dr. Ames. A second sentence."),
        (60, "“Trauma bonds form fast. They last,” says Dr. Ames."),
        (10, "“Trauma bonds form fast. They last,” says Dr. Ames."),  # never less than one
    ],
)
def test_excerpt_keeps_whole_sentences_and_quotations(limit, expected):
    from pipeline.text import excerpt

    text = "“Trauma bonds form fast. They last,” says Dr. Ames. A second sentence. A third one."
    assert excerpt(text, limit) == expected
