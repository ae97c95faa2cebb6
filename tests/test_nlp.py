"""The spaCy pipeline as loaded by `pipeline.nlp`: the cached attribute ruler must leave every
token exactly as spaCy's own attribute ruler does."""

import spacy

from pipeline.config import load_config
from pipeline.nlp import CachedAttributeRuler, load_model
from tests.conftest import shared_path

# The tag map's exceptions: contractions, two-token rules, negation, whitespace tokens.
TRICKY = [
    "Y'all ain't gonna believe it, c'mon, let's go: we gotta try.",
    "I said it wasn't nothin'. You don't know; it isn't that simple, is it?",
    "That which we call a rose\n\n  by any other name   would smell as sweet.",
    "  \t ",
    "",
    "Whether or not they'd have done it, I'm sure he's been there - and she'd've gone.",
]


def _attributes(nlp, texts: list[str]) -> list[list[tuple]]:
    return [
        [(t.tag_, t.pos_, str(t.morph), t.lemma_, t.dep_, t.ent_type_) for t in doc]
        for doc in nlp.pipe(texts)
    ]


def test_the_cached_attribute_ruler_sets_what_spacys_ruler_sets(reference_raw):
    name = load_config().spacy.model
    answers = shared_path("counsel-chat", "counsel_chat.csv").read_text(encoding="utf-8")
    texts = TRICKY + reference_raw.split("\n\n") + answers.splitlines()[1:400]
    plain = spacy.load(name, exclude=["parser"])
    cached = load_model(name, exclude=("parser",))
    ruler = cached.get_pipe("attribute_ruler")
    assert isinstance(ruler, CachedAttributeRuler)
    assert type(plain.get_pipe("attribute_ruler")) is not CachedAttributeRuler

    assert _attributes(cached, texts) == _attributes(plain, texts)
    assert ruler._rules  # the cache, not the Matcher fallback, did the work


def test_a_rule_the_cache_cannot_test_falls_back_to_the_matcher():
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("sh_cached_attribute_ruler", name="attribute_ruler")
    ruler.add_patterns(
        [
            {"patterns": [[{"LOWER": "see"}]], "attrs": {"LEMMA": "look"}},
            {"patterns": [[{"LENGTH": 3}]], "attrs": {"NORM": "three"}},
        ]
    )
    doc = nlp("Dogs see the cat")
    assert ruler._rules is None  # LENGTH is not among the cached attributes
    assert doc[1].lemma_ == "look"
    assert [t.norm_ for t in doc] == ["dogs", "three", "three", "three"]


def test_rules_added_after_a_match_take_effect():
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("sh_cached_attribute_ruler", name="attribute_ruler")
    ruler.add_patterns([{"patterns": [[{"LOWER": "see"}]], "attrs": {"LEMMA": "look"}}])
    assert nlp("we see")[1].lemma_ == "look"
    ruler.add_patterns([{"patterns": [[{"LOWER": "we"}]], "attrs": {"LEMMA": "us"}}])
    assert [t.lemma_ for t in nlp("we see")] == ["us", "look"]
