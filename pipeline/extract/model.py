"""The trained tagger: signs, causes and interventions, claim spans and attribution cues.

A small head on pretrained encoders. Per paragraph, the token features of `features.py`
(spaCy's contextual vectors, MiniLM word vectors, structure and lexicon indicators, and with
the contextual encoder MiniLM's contextual vectors) go through
a dropout and a linear layer, a bidirectional LSTM over the paragraph, and three
softmax heads over BIO tags: mentions (sign, cause, intervention), claim spans and cues.
Trained on the gold corpus by `pipeline train` (`train.py`), committed per encoder in
`resources/tagger-contextual/` and `resources/tagger/` (the fast one): weights in fp16
safetensors, `meta.json` with the encoder and the training record.

The spaCy component `selfhelp_tagger_v1` runs it on batches of paragraph Docs and writes
`doc.spans["sh_model"]` (mentions; `attrs["scores"]` their raw scores, `attrs["confidence"]`
the calibrated ones), and
`doc.spans["sh_claim"]` and `doc.spans["sh_cue"]` for the claim detector.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterable, Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from spacy.language import Language
from spacy.tokens import Doc, Span
from torch import nn

from pipeline.extract.features import FEATURE_WIDTH, WIDTHS, encoder_features

_RESOURCES = Path(str(resources.files("pipeline").joinpath("resources")))
# The packaged tagger of each encoder (`extract.encoder`).
TAGGER_DIRS = {"fast": _RESOURCES / "tagger", "contextual": _RESOURCES / "tagger-contextual"}
TAGGER_DIR = TAGGER_DIRS["fast"]
MENTION_LABELS = ("sign", "cause", "intervention")
# BIO tags per head: 0 = outside, then (begin, inside) per label.
HEADS = {"mention": MENTION_LABELS, "claim": ("claim",), "cue": ("cue",)}


def n_tags(head: str) -> int:
    return 1 + 2 * len(HEADS[head])


class TaggerNet(nn.Module):
    """Dropout + linear projection, a (stacked) BiLSTM over the paragraph, one linear layer
    per head."""

    def __init__(
        self, n_in: int = FEATURE_WIDTH, hidden: int = 128, dropout: float = 0.3, layers: int = 1
    ):
        super().__init__()
        self.project = nn.Sequential(nn.Dropout(dropout), nn.Linear(n_in, hidden), nn.ReLU())
        self.lstm = nn.LSTM(
            hidden,
            hidden,
            num_layers=layers,
            bidirectional=True,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({h: nn.Linear(2 * hidden, n_tags(h)) for h in HEADS})

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits per head, batch x max_len x tags."""
        if self.training:
            h = self.project(x)
        else:
            # At inference only real tokens go through the projection (most rows of a batch
            # of paragraphs can be padding; packing ignores them either way). Training keeps
            # the padded product: the same floating-point sums, so the same trained weights.
            _, linear, relu = self.project
            real = torch.arange(x.shape[1])[None, :] < lengths[:, None]
            h = x.new_zeros(*x.shape[:2], linear.out_features)
            h[real] = relu(linear(x[real]))
        packed = nn.utils.rnn.pack_padded_sequence(
            h, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        out = self.dropout(out)
        return {name: head(out) for name, head in self.heads.items()}


def pad_batch(
    feats: list[np.ndarray], width: int = FEATURE_WIDTH
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack variable-length feature matrices (n x `width`) into a zero-padded batch."""
    lengths = torch.tensor([max(len(f), 1) for f in feats])
    x = torch.zeros(len(feats), int(lengths.max()), width)
    for i, f in enumerate(feats):
        if len(f):
            x[i, : len(f)] = torch.from_numpy(f)
    return x, lengths


def decode(
    probs: np.ndarray, labels: tuple[str, ...], outside_weight: float = 1.0
) -> list[tuple[int, int, str, float]]:
    """BIO decoding of one sequence's tag probabilities (n x tags).

    The outside tag's probability is scaled by `outside_weight` before the best tag is taken
    (below 1: more recall; items are rare, so the network leans towards "outside"). A span opens
    on B, or on an I that does not continue a span of its label; its confidence is the mean
    probability, over its tokens, of being inside a span of its label.
    """
    weighted = probs.copy()
    weighted[:, 0] *= outside_weight
    tags = weighted.argmax(axis=1)
    spans, start, label = [], None, None

    def close(end: int) -> None:
        if start is not None:
            k = labels.index(label)
            inside = probs[start:end, 1 + 2 * k] + probs[start:end, 2 + 2 * k]
            spans.append((start, end, label, float(inside.mean())))

    for i, tag in enumerate(tags):
        if tag == 0:
            close(i)
            start = label = None
            continue
        k, is_begin = divmod(int(tag) - 1, 2)
        if is_begin == 0 or label != labels[k]:
            close(i)
            start, label = i, labels[k]
    close(len(tags))
    return spans


class Tagger:
    """Trained TaggerNets (an ensemble of seeds) with their metadata; their tag probabilities
    are averaged. `meta["encoder"]` names the features they read (a tagger saved without it
    is a fast one)."""

    def __init__(self, nets: list[TaggerNet], meta: dict) -> None:
        self.nets = [net.eval() for net in nets]
        self.meta = meta
        self.encoder = meta.get("encoder", "fast")
        self.width = WIDTHS[self.encoder]

    @classmethod
    def load(cls, folder: Path = TAGGER_DIR) -> Tagger:
        from safetensors.torch import load_file

        meta = json.loads((Path(folder) / "meta.json").read_text(encoding="utf-8"))
        state = load_file(str(Path(folder) / "model.safetensors"))
        nets = []
        for k in range(meta.get("members", 1)):
            net = TaggerNet(**meta["architecture"])
            prefix = f"m{k}."
            net.load_state_dict(
                {
                    key[len(prefix) :]: v.float()
                    for key, v in state.items()
                    if key.startswith(prefix)
                }
            )
            nets.append(net)
        return cls(nets, meta)

    def save(self, folder: Path) -> None:
        """Weights in fp16 (half the size; the probabilities move in the 3rd decimal at most)."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {
            f"m{k}.{key}": v.detach().half().contiguous()
            for k, net in enumerate(self.nets)
            for key, v in net.state_dict().items()
        }
        save_file(state, str(folder / "model.safetensors"))
        meta = {**self.meta, "members": len(self.nets)}
        (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    @torch.no_grad()
    def predict_features(
        self, feats: list[np.ndarray], group: int = 16
    ) -> list[dict[str, np.ndarray]]:
        """Tag probabilities per head for each feature matrix (the members' mean).

        Sequences run shortest first in groups of `group`, so a group pads to a similar length
        (paragraphs in arrival order left 85 % of a batch's rows as padding); each sequence's
        result does not depend on its neighbours.
        """
        order = sorted(range(len(feats)), key=lambda i: len(feats[i]))
        results: list[dict[str, np.ndarray]] = [{} for _ in feats]
        for lo in range(0, len(order), group):
            members = order[lo : lo + group]
            x, lengths = pad_batch([feats[i] for i in members], self.width)
            probs: dict[str, np.ndarray] = {}
            for net in self.nets:
                for head, logits in net(x, lengths).items():
                    p = torch.softmax(logits, dim=-1).numpy()
                    probs[head] = probs[head] + p if head in probs else p
            for k, i in enumerate(members):
                n = len(feats[i])
                results[i] = {h: p[k, :n] / len(self.nets) for h, p in probs.items()}
        return results

    def calibrated(self, head: str, scores: list[float]) -> list[float]:
        """Scores mapped to the probability that such a span is right, by the isotonic fit that
        `pipeline train` stores (out-of-fold spans against gold); unchanged without one."""
        table = self.meta.get("calibration", {}).get(head)
        if not table or not scores:
            return list(scores)
        return [round(float(v), 3) for v in np.interp(scores, table["x"], table["y"])]

    def predict_spans(
        self, feats: list[np.ndarray], outside_weight: float = 1.0
    ) -> list[dict[str, list[tuple[int, int, str, float]]]]:
        """Decoded token spans (start, end, label, confidence) per head for each sequence."""
        return [
            {h: decode(p, HEADS[h], outside_weight) for h, p in probs.items()}
            for probs in self.predict_features(feats)
        ]


def tagger_encoder(folder: str | None, encoder: str) -> str:
    """The encoder of the tagger a run loads: that of `folder` (its meta.json) when given,
    else `encoder` (the packaged tagger's)."""
    if folder is None:
        return encoder
    meta = json.loads((Path(folder) / "meta.json").read_text(encoding="utf-8"))
    return meta.get("encoder", "fast")


@lru_cache(maxsize=2)
def load_tagger(folder: str = str(TAGGER_DIR)) -> Tagger:
    """A tagger folder (by default the packaged fast one), loaded once per process."""
    if multiprocessing.parent_process() is not None:
        torch.set_num_threads(1)  # a pool worker: the pool already uses every core
    return Tagger.load(Path(folder))


class TaggerComponent:
    """spaCy component: runs the tagger over batches of paragraph Docs."""

    def __init__(
        self, folder: str | None, encoder: str, batch_size: int, outside_weight: float
    ) -> None:
        self.tagger = load_tagger(folder or str(TAGGER_DIRS[encoder]))
        self.batch_size = batch_size
        self.outside_weight = outside_weight

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    def pipe(self, docs: Iterable[Doc], batch_size: int | None = None) -> Iterator[Doc]:
        batch: list[Doc] = []
        for doc in docs:
            batch.append(doc)
            if len(batch) >= (batch_size or self.batch_size):
                yield from self._tag(batch)
                batch = []
        if batch:
            yield from self._tag(batch)

    def _tag(self, docs: list[Doc]) -> list[Doc]:
        feats = encoder_features(docs, self.tagger.encoder)
        results = self.tagger.predict_spans(feats, self.outside_weight)
        for doc, result in zip(docs, results):
            for head, key in (("mention", "sh_model"), ("claim", "sh_claim"), ("cue", "sh_cue")):
                spans = [Span(doc, s, e, label=lab) for s, e, lab, _ in result[head]]
                scores = [c for _, _, _, c in result[head]]
                doc.spans[key] = spans
                # Raw scores decide (thresholds); calibrated ones are what a reviewer sees.
                doc.spans[key].attrs["scores"] = scores
                doc.spans[key].attrs["confidence"] = self.tagger.calibrated(head, scores)
        return docs


@Language.factory(
    "selfhelp_tagger_v1",
    default_config={"folder": None, "encoder": "fast", "batch_size": 64, "outside_weight": 1.0},
)
def make_tagger(
    nlp: Language,
    name: str,
    folder: str | None,
    encoder: str,
    batch_size: int,
    outside_weight: float,
) -> TaggerComponent:
    """`folder`: a tagger written by `pipeline train`; None: the packaged one of `encoder`."""
    return TaggerComponent(folder, encoder, batch_size, outside_weight)
