"""Top-word ranking (`topics.RelevanceWords`): how many topics a word may head, and the
re-ranking towards words that co-occur. Small hand-made topics, no model fitted."""

from types import SimpleNamespace

import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer

from pipeline.topics import RelevanceWords


def _words(units: dict[int, list[str]], **kwargs) -> dict[int, list[str]]:
    documents = pd.DataFrame(
        [{"Topic": t, "Document": d} for t, docs in units.items() for d in docs]
    )
    vectorizer = CountVectorizer().fit(documents["Document"])
    model = SimpleNamespace(vectorizer_model=vectorizer)
    ranked = RelevanceWords(**kwargs).extract_topics(model, documents, None, sorted(units))
    return {t: [w for w, _ in words if w] for t, words in ranked.items()}


# Three topics that all use "help" (most in topic 2), each with words of its own.
UNITS = {
    0: ["help sleep night", "help sleep dream", "help night dream", "sleep night"],
    1: ["help anger calm", "help anger breathe", "help calm", "anger breathe"],
    2: ["help help grief loss", "help grief mourn", "help loss mourn", "grief loss help"],
}


def test_a_shared_word_heads_at_most_the_lists_it_is_most_frequent_in():
    free = _words(UNITS, relevance_lambda=1.0, min_count=1, top_n_words=3)
    assert sum("help" in words for words in free.values()) == 3
    capped = _words(UNITS, relevance_lambda=1.0, min_count=1, top_n_words=3, max_topics_per_word=1)
    assert [t for t, words in capped.items() if "help" in words] == [2]  # its largest share
    assert all(len(words) == 3 for words in capped.values())


def test_coherence_prefers_words_that_appear_with_the_first_one():
    # "rest" and "tea" are equally frequent in topic 0, but only "rest" shares units with its
    # first word "sleep"; "tea" is ranked above "rest" by position alone.
    units = {
        0: ["sleep sleep rest", "sleep sleep rest", "sleep tea", "tea dawn", "tea dawn"],
        1: ["work desk", "work desk boss", "desk boss", "boss work"],
    }
    plain = _words(units, relevance_lambda=1.0, min_count=1, top_n_words=2)
    coherent = _words(units, relevance_lambda=1.0, min_count=1, top_n_words=2, coherence_weight=0.9)
    assert plain[0] == ["sleep", "tea"]
    assert coherent[0] == ["sleep", "rest"]
