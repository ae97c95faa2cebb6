"""Titles: the best candidate near the top, else the name, and the rule that chose it."""

import json

import pytest

from benchmarks.titles_audit import flags
from pipeline.ingest import load_documents
from pipeline.titles import choose_title
from tests.conftest import shared_path


@pytest.mark.parametrize(
    ("text", "name", "expected", "source"),
    [
        # Navigation, a logo's alt text, a badge and a byline above the real title.
        (
            "top of page\nSkip to content\nSimply Psychology Logo\nVerified by Psychology Today\n"
            "What Is Gaslighting? Examples & How To Respond\nBy Olivia Guy-Evans, PhD\n"
            "Gaslighting is a form of manipulation that makes a person doubt what they saw.",
            "is-someone-gaslighting-you",
            "What Is Gaslighting? Examples & How To Respond",
            "slug_heading",
        ),
        # A reading time and a date line are not titles either.
        (
            "5 min read\nUpdated: Jul 12, 2023\nRecovery from Narcissistic Abuse\n"
            "Narcissistic abuse is a unique and often traumatic kind of abuse that many face.",
            "recovery-from-narcissistic-abuse",
            "Recovery from Narcissistic Abuse",
            "slug_heading",
        ),
        # The text opens with a paragraph: the numbered heading below it is from the middle.
        (
            "Attachment trauma happens when the bond between a child and a caregiver is broken "
            "or never forms, and it can shape how adults relate to others.\n"
            "1. Difficulty Trusting Others\nA major indicator is the struggle to trust.",
            "brightlight-recognizing-attachment-trauma",
            "Brightlight recognizing attachment trauma",
            "file_name",
        ),
        # A heading that shares no word with a descriptive name is a section heading.
        (
            "Make a plan to act\nRather than repeating the same negative thinking over and over, "
            "take the time to make a plan.",
            "how-to-avoid-ruminating",
            "How to avoid ruminating",
            "file_name",
        ),
        # Without a descriptive name the first heading-like line is the title.
        (
            "Menu\nHow To Stop Being Codependent\nCodependency is a learned behaviour.",
            "",
            "How To Stop Being Codependent",
            "first_heading",
        ),
        ("", "", "", "none"),
    ],
)
def test_title_is_the_best_candidate(config, text, name, expected, source):
    assert choose_title(text, config.clean, name=name) == (expected, source)


def test_metadata_title_wins_unless_it_is_navigation(config):
    text = "Tips to Help Calm Anxiety\nTry these relaxation techniques."
    assert choose_title(text, config.clean, metadata_title="Calm Anxiety") == (
        "Calm Anxiety",
        "metadata",
    )
    assert choose_title(text, config.clean, metadata_title="Skip to main content") == (
        "Tips to Help Calm Anxiety",
        "first_heading",
    )
    url = "https://example.org/health/tips-help-calm-anxiety/"
    assert choose_title("", config.clean, url=url) == ("Tips help calm anxiety", "url_slug")


def test_real_articles_get_no_navigation_byline_or_fragment_titles(config, tmp_path):
    """The 13 shared articles and the 126 train texts, loaded as files (the issue's audit)."""
    for path in sorted(shared_path("articles").glob("*.txt")):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    train = json.loads(shared_path("gold", "train.json").read_text(encoding="utf-8"))
    for record in train:
        (tmp_path / f"{record['id']}.txt").write_text(record["text"], encoding="utf-8")
    documents, _ = load_documents([tmp_path], config)
    assert len(documents) == 139
    bad = {t: flags(t) for t in documents["title"] if flags(t)}
    assert bad == {}
    assert set(documents["title_source"]) <= {"slug_heading", "first_heading", "file_name"}
    # Most pages do carry their own title line; the name is the fallback, not the rule.
    assert (documents["title_source"] == "slug_heading").mean() > 0.6


def test_records_fall_back_to_a_wordy_id_never_a_number(config, tmp_path):
    text = "Attachment trauma happens when the bond between a child and a caregiver breaks down."
    rows = [
        {"id": "healing-attachment-trauma", "text": text},
        {"id": "17", "text": text},
        {"id": "9", "text": text, "url": "https://example.org/blog/calm-anxiety-tips"},
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    documents, _ = load_documents([path], config)
    got = list(zip(documents["title"], documents["title_source"]))
    assert got == [
        ("Healing attachment trauma", "record_id"),
        ("", "none"),
        ("Calm anxiety tips", "url_slug"),
    ]


def test_an_undecodable_file_name_gives_a_storable_title(config):
    # os.listdir keeps a Latin-1 byte of a UTF-8 file system as a lone surrogate.
    title, source = choose_title("", config.clean, name="Caf\udce9-notes")
    assert (title, source) == ("Caf\ufffd notes", "file_name")
    title.encode("utf-8")  # storable in Parquet


def test_control_characters_never_reach_a_title(config):
    title, source = choose_title("", config.clean, name="nul\x00byte", name_source="record_id")
    assert (title, source) == ("Nul byte", "record_id")
    title, source = choose_title("", config.clean, metadata_title="Sleep\x00 and\x07 anxiety")
    assert source == "metadata" and title.replace(" ", "") == "Sleepandanxiety"
    assert not any(ord(ch) < 32 for ch in title)
