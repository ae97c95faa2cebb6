"""Token features for the trained tagger, computed the same way in training and at run time.

Each token of a paragraph Doc becomes one row of three parts:

1. spaCy's contextual token vector (`doc.tensor`, the 96 dimensions en_core_web_sm's tok2vec
   computes anyway for its tagger and NER);
2. a static word vector from all-MiniLM-L6-v2: the mean of the model's input embeddings of
   the word's word pieces (pretrained lexical meaning for words the gold data never shows;
   read from the packaged safetensors file, nothing downloaded);
3. indicator features of the word and its place: part of speech, shape, entity type, lexicon
   and list-structure hits by category, the section's role, list item and heading, whether
   the word names the article's own condition (a title word), the claim and cue spans the
   rule patterns of `claims.py` find, and positions;
4. two context vectors shared by the paragraph's tokens: the mean word vector of its section
   heading and of the end of the paragraph before it (a lead-in such as "causes include:");
5. with the contextual encoder only: all-MiniLM-L6-v2's contextual vector of the word (the
   mean of its last two layers over the word's pieces), read within the paragraph. It costs
   a transformer pass per paragraph, which is why the fast encoder (parts 1-4) stays for
   large corpora (`extract.encoder`).

Structure is an input here, not a verdict: the model learns how far a "signs" heading or a
list title can be trusted.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from spacy.tokens import Doc

ROLES = ("signs", "causes", "interventions", "definition", "faq")
CATEGORIES = ("sign", "cause", "intervention")
POS = [
    "ADJ",
    "ADP",
    "ADV",
    "AUX",
    "CCONJ",
    "DET",
    "INTJ",
    "NOUN",
    "NUM",
    "PART",
    "PRON",
    "PROPN",
    "PUNCT",
    "SCONJ",
    "SYM",
    "VERB",
    "X",
]
ENTS = ("PERSON", "ORG", "DATE", "GPE", "NORP", "WORK_OF_ART", "CARDINAL")
_QUOTES = set('"“”‘’«»')
_BULLETS = set("-–—•*·")
FLAG_NAMES = (
    *(f"role={r}" for r in ROLES),
    "in_item",
    "item_head",
    "in_item_title",
    "heading_like",
    *(f"lexicon={c}" for c in CATEGORIES),
    *(f"structure={c}" for c in CATEGORIES),
    *(f"pos={p}" for p in POS),
    *(f"ent={e}" for e in ENTS),
    "is_title",
    "is_upper",
    "like_num",
    "is_punct",
    "is_stop",
    "sent_start",
    "quote",
    "bullet",
    "title_word",
    "rule_claim",
    "rule_cue",
    "first_paragraph",
    "doc_position",
    "sent_position",
    "par_length",
)
N_FLAGS = len(FLAG_NAMES)
_FLAG = {name: i for i, name in enumerate(FLAG_NAMES)}
TENSOR_WIDTH = 96
WORD_WIDTH = 384
CONTEXT_WIDTH = 384
ENCODERS = ("fast", "contextual")


class WordVectors:
    """Static word vectors: mean MiniLM input embedding of a word's word pieces, L2-normalised.

    Lower-cased words are cached, so a corpus pays the word-piece lookup once per word type.
    """

    def __init__(self) -> None:
        from safetensors import safe_open
        from tokenizers import Tokenizer

        from pipeline.embed import minilm_path

        folder = minilm_path()
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        with safe_open(str(folder / "model.safetensors"), framework="numpy") as fh:
            self.table = fh.get_tensor("embeddings.word_embeddings.weight").astype(np.float32)
        self.cache: dict[str, np.ndarray] = {}
        self.zero = np.zeros(self.table.shape[1], dtype=np.float32)

    def __call__(self, words: list[str]) -> np.ndarray:
        """One row per word."""
        missing = sorted({w for w in words if w not in self.cache})
        if missing:
            for word, enc in zip(
                missing, self.tokenizer.encode_batch(missing, add_special_tokens=False)
            ):
                ids = enc.ids
                if not ids:
                    self.cache[word] = self.zero
                    continue
                vec = self.table[ids].mean(axis=0)
                self.cache[word] = vec / (np.linalg.norm(vec) or 1.0)
        if not words:
            return np.zeros((0, self.table.shape[1]), dtype=np.float32)
        return np.stack([self.cache[w] for w in words])


@lru_cache(maxsize=1)
def word_vectors() -> WordVectors:
    """The process's word vectors (loaded once)."""
    return WordVectors()


def _mark_spans(flags: np.ndarray, spans, prefix: str) -> None:
    for span in spans:
        column = _FLAG.get(f"{prefix}={span.label_}")
        if column is not None:
            flags[span.start : span.end, column] = 1.0


def _mark_rule_claims(doc: Doc, flags: np.ndarray) -> None:
    """Mark the claim and cue spans that the cue patterns of `claims.py` find: a strong hint
    the tagger weighs against the context (a high-precision rule, not the verdict)."""
    from pipeline.extract.claims import find_doc_claims

    for claim in find_doc_claims(doc, citations=False):
        for (start, end), name in (
            ((claim.start, claim.end), "rule_claim"),
            ((claim.cue_start, claim.cue_end), "rule_cue"),
        ):
            span = doc.char_span(start, end, alignment_mode="expand")
            if span is not None:
                flags[span.start : span.end, _FLAG[name]] = 1.0


def token_flags(doc: Doc) -> np.ndarray:
    """The indicator and position features of every token (n_tokens x N_FLAGS)."""
    n = len(doc)
    flags = np.zeros((n, N_FLAGS), dtype=np.float32)
    if n == 0:
        return flags
    block = doc._.block or {}
    role = block.get("role", "")
    if role in ROLES:
        flags[:, _FLAG[f"role={role}"]] = 1.0
    if block.get("in_item"):
        flags[:, _FLAG["in_item"]] = 1.0
    if block.get("item_head"):
        flags[:, _FLAG["item_head"]] = 1.0
        title = block.get("item_title", "")
        pos = doc.text.find(title) if title else -1
        if pos >= 0:
            span = doc.char_span(pos, pos + len(title), alignment_mode="expand")
            if span is not None:
                flags[span.start : span.end, _FLAG["in_item_title"]] = 1.0
    if n <= 12 and not doc.text.rstrip().endswith((".", "!", "?")):
        flags[:, _FLAG["heading_like"]] = 1.0
    _mark_spans(flags, doc.spans.get("sh_lexicon", []), "lexicon")
    _mark_spans(flags, doc.spans.get("sh_structure", []), "structure")
    _mark_rule_claims(doc, flags)
    title_words = set(block.get("title_words", ()))
    flags[:, _FLAG["first_paragraph"]] = float(block.get("offset", 0) == 0)
    flags[:, _FLAG["doc_position"]] = block.get("doc_position", 0.0)
    flags[:, _FLAG["par_length"]] = min(n, 200) / 200
    pos_col = {p: _FLAG[f"pos={p}"] for p in POS}
    ent_col = {e: _FLAG[f"ent={e}"] for e in ENTS}
    has_sents = doc.has_annotation("SENT_START")
    sent_start, sent_len = 0, n
    for tok in doc:
        i = tok.i
        if has_sents and tok.is_sent_start:
            sent_start, sent_len = i, len(tok.sent)
            flags[i, _FLAG["sent_start"]] = 1.0
        flags[i, _FLAG["sent_position"]] = (i - sent_start) / max(sent_len, 1)
        column = pos_col.get(tok.pos_)
        if column is not None:
            flags[i, column] = 1.0
        column = ent_col.get(tok.ent_type_)
        if column is not None:
            flags[i, column] = 1.0
        text = tok.text
        flags[i, _FLAG["is_title"]] = float(tok.is_title)
        flags[i, _FLAG["is_upper"]] = float(tok.is_upper and len(text) > 1)
        flags[i, _FLAG["like_num"]] = float(tok.like_num)
        flags[i, _FLAG["is_punct"]] = float(tok.is_punct)
        flags[i, _FLAG["is_stop"]] = float(tok.is_stop)
        flags[i, _FLAG["quote"]] = float(text in _QUOTES)
        flags[i, _FLAG["bullet"]] = float(text in _BULLETS)
        flags[i, _FLAG["title_word"]] = float(tok.lower_ in title_words and not tok.is_stop)
    return flags


class ContextVectors:
    """Contextual word vectors from all-MiniLM-L6-v2 (the packaged model, read offline).

    A paragraph is cut into windows of at most `window` word pieces; each word gets the mean,
    over its pieces, of the mean of the model's last two layers. Windows of a batch run
    shortest first in groups, so padding stays small.
    """

    def __init__(self, window: int = 254, group: int = 16) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        from pipeline.embed import minilm_path  # sets HF_HUB_OFFLINE before the load

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()))
        # The sentence-transformers checkpoint carries a buffer the bare model does not use;
        # its load report would be printed into every run.
        verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            self.model = AutoModel.from_pretrained(str(minilm_path())).eval()
        finally:
            hf_logging.set_verbosity(verbosity)
            if bars:
                hf_logging.enable_progress_bar()
        self.window, self.group = window, group

    def __call__(self, docs: list[Doc]) -> list[np.ndarray]:
        """One matrix per Doc, n_tokens x CONTEXT_WIDTH."""
        torch = self.torch
        # Whole paragraphs, cut into windows below: no truncation, and no warning about
        # lengths above the model's 512 positions.
        encoded = self.tokenizer(
            [doc.text for doc in docs],
            add_special_tokens=False,
            return_offsets_mapping=True,
            verbose=False,
        )
        windows = []  # (doc index, first piece, piece ids)
        for d, ids in enumerate(encoded["input_ids"]):
            for lo in range(0, len(ids), self.window):
                windows.append((d, lo, ids[lo : lo + self.window]))
        pieces = [np.zeros((len(ids), CONTEXT_WIDTH), np.float32) for ids in encoded["input_ids"]]
        order = sorted(range(len(windows)), key=lambda w: len(windows[w][2]))
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        with torch.no_grad():
            for g in range(0, len(order), self.group):
                batch = [windows[w] for w in order[g : g + self.group]]
                width = max(len(ids) for _, _, ids in batch) + 2
                ids = torch.zeros(len(batch), width, dtype=torch.long)
                mask = torch.zeros(len(batch), width, dtype=torch.long)
                for i, (_, _, chunk) in enumerate(batch):
                    ids[i, : len(chunk) + 2] = torch.tensor([cls, *chunk, sep])
                    mask[i, : len(chunk) + 2] = 1
                hidden = self.model(
                    input_ids=ids, attention_mask=mask, output_hidden_states=True
                ).hidden_states
                mean = ((hidden[-1] + hidden[-2]) / 2).numpy()
                for i, (d, lo, chunk) in enumerate(batch):
                    pieces[d][lo : lo + len(chunk)] = mean[i, 1 : len(chunk) + 1]
        return [
            _pool_pieces(doc, vectors, offsets)
            for doc, vectors, offsets in zip(docs, pieces, encoded["offset_mapping"])
        ]


def _pool_pieces(doc: Doc, vectors: np.ndarray, offsets: list[tuple[int, int]]) -> np.ndarray:
    """Each token's mean over the word pieces that start inside it (zeros for none)."""
    out = np.zeros((len(doc), CONTEXT_WIDTH), np.float32)
    if not len(doc) or not len(vectors):
        return out
    starts = np.array([t.idx for t in doc])
    owner = np.searchsorted(starts, np.array([s for s, _ in offsets]), side="right") - 1
    counts = np.bincount(owner, minlength=len(doc)).astype(np.float32)
    np.add.at(out, owner, vectors)
    return out / np.maximum(counts, 1)[:, None]


@lru_cache(maxsize=1)
def context_vectors() -> ContextVectors:
    """The process's contextual encoder (loaded once)."""
    return ContextVectors()


def doc_features(doc: Doc, context: np.ndarray | None = None) -> np.ndarray:
    """All features of a paragraph Doc: n_tokens x (96 + 384 + N_FLAGS), float32, and the
    contextual vectors (`context`, n_tokens x 384) after them when given."""
    n = len(doc)
    tensor = doc.tensor if doc.tensor is not None and len(doc.tensor) == n else None
    if tensor is None or tensor.shape[1] != TENSOR_WIDTH:
        tensor = np.zeros((n, TENSOR_WIDTH), dtype=np.float32)
    words = word_vectors()([t.lower_ for t in doc])
    parts = [np.asarray(tensor, dtype=np.float32), words, token_flags(doc)]
    if context is not None:
        parts.append(context)
    return np.concatenate(parts, axis=1)


def encoder_features(docs: list[Doc], encoder: str) -> list[np.ndarray]:
    """`doc_features` of a batch of paragraph Docs for a tagger of `encoder` (ENCODERS)."""
    if encoder == "contextual":
        return [doc_features(d, c) for d, c in zip(docs, context_vectors()(docs))]
    return [doc_features(d) for d in docs]


FEATURE_WIDTH = TENSOR_WIDTH + WORD_WIDTH + N_FLAGS
WIDTHS = {"fast": FEATURE_WIDTH, "contextual": FEATURE_WIDTH + CONTEXT_WIDTH}
