"""Training the statistical mention component (spaCy spancat) on silver labels.

The rule components (list structure + lexicon, resolved by the merger) label paragraphs of a
real corpus; a span categorizer learns from those labels, so it can find wordings the lexicon
does not list ("trouble opening up", "harsh inner voice"). The gold articles are never used, so
`pipeline evaluate` stays a fair test. Training is deterministic for a given seed and corpus.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import tempfile
import time
from importlib import resources
from pathlib import Path

import spacy
from spacy.tokens import DocBin

from pipeline.config import Config
from pipeline.extract import SPANCAT_DIR, _block_docs
from pipeline.io import read_table, write_json_atomic
from pipeline.screen import usable_documents

DEV_SHARE = 10  # one document in DEV_SHARE goes to the held-out split (by doc_id hash)


def _is_dev(doc_id: str) -> bool:
    return int(hashlib.sha256(doc_id.encode()).hexdigest(), 16) % DEV_SHARE == 0


def rules_pipeline(config: Config) -> spacy.Language:
    """Tokenizer plus the rule components only: all that silver labelling needs, and fast."""
    nlp = spacy.blank("en")
    nlp.add_pipe("selfhelp_lexicon_v1", name="selfhelp_lexicon")
    nlp.add_pipe(
        "selfhelp_structure_v1",
        name="selfhelp_structure",
        config={"max_title_words": config.extract.max_title_words},
    )
    nlp.add_pipe(
        "selfhelp_mentions_v1",
        name="selfhelp_mentions",
        config={"conflicts": config.extract.context_conflicts},
    )
    return nlp


def build_silver(
    out_dir: Path, config: Config, seed: int, negative_share: float, max_paragraphs: int
) -> tuple[DocBin, DocBin, dict]:
    """Label the paragraphs of a processed corpus with the rule components.

    Args:
        out_dir: a folder with `documents` and `segments` tables.
        config: the pipeline config; the trained component itself is switched off.
        seed: sampling seed.
        negative_share: paragraphs without any mention, as a share of those with one.
        max_paragraphs: cap on labelled paragraphs (before negatives).

    Returns:
        Train and dev DocBins (spans under "sh_model") and counts.
    """
    nlp = rules_pipeline(config)
    blank = spacy.blank("en")
    documents = usable_documents(read_table(out_dir, "documents"))
    segments = read_table(out_dir, "segments")
    positives, negatives = [], []
    for doc in nlp.pipe(_block_docs(nlp, documents, segments), batch_size=config.spacy.batch_size):
        target = blank.make_doc(doc.text)
        spans = [
            target.char_span(s.start_char, s.end_char, label=s.label_)
            for s in doc.spans["sh_mentions"]
        ]
        target.spans["sh_model"] = [s for s in spans if s is not None]
        (positives if target.spans["sh_model"] else negatives).append(
            (doc._.block["doc_id"], target)
        )
    rng = random.Random(seed)
    rng.shuffle(positives)
    rng.shuffle(negatives)
    positives = positives[:max_paragraphs]
    negatives = negatives[: int(len(positives) * negative_share)]
    train, dev = DocBin(store_user_data=False), DocBin(store_user_data=False)
    counts = {"train_paragraphs": 0, "dev_paragraphs": 0, "train_spans": 0, "dev_spans": 0}
    for doc_id, target in sorted(positives + negatives, key=lambda p: (p[0], p[1].text)):
        split = "dev" if _is_dev(doc_id) else "train"
        (dev if split == "dev" else train).add(target)
        counts[f"{split}_paragraphs"] += 1
        counts[f"{split}_spans"] += len(target.spans["sh_model"])
    return train, dev, counts


def train_spancat(
    inputs: list[Path],
    config: Config,
    target: Path = SPANCAT_DIR,
    seed: int = 0,
    max_steps: int = 1000,
    negative_share: float = 0.5,
    max_paragraphs: int = 12000,
) -> dict:
    """Build silver data from `inputs`, train spancat and install it at `target`.

    Returns:
        The training record written to `target/training.json`: inputs, counts, seed, steps,
        seconds, and precision/recall/F1 on the held-out split.
    """
    from spacy.cli.train import train as spacy_train

    from pipeline.runner import stage_load, stage_segment

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        stage_load(inputs, work / "tables", config)
        stage_segment(work / "tables", config)
        train, dev, counts = build_silver(
            work / "tables", config, seed, negative_share, max_paragraphs
        )
        train.to_disk(work / "train.spacy")
        dev.to_disk(work / "dev.spacy")
        cfg_path = Path(str(resources.files("pipeline").joinpath("resources/spancat.cfg")))
        spacy_train(
            cfg_path,
            output_path=work / "model",
            use_gpu=-1,
            overrides={
                "paths.train": str(work / "train.spacy"),
                "paths.dev": str(work / "dev.spacy"),
                "system.seed": seed,
                "training.max_steps": max_steps,
            },
        )
        best = work / "model" / "model-best"
        meta = json.loads((best / "meta.json").read_text(encoding="utf-8"))
        perf = meta.get("performance", {})
        record = {
            "inputs": [str(p) for p in inputs],
            "seed": seed,
            "max_steps": max_steps,
            "negative_share": negative_share,
            "max_paragraphs": max_paragraphs,
            **counts,
            "seconds": round(time.perf_counter() - started, 1),
            "heldout_precision": round(perf.get("spans_sh_model_p", 0.0), 4),
            "heldout_recall": round(perf.get("spans_sh_model_r", 0.0), 4),
            "heldout_f1": round(perf.get("spans_sh_model_f", 0.0), 4),
            "per_label": perf.get("spans_sh_model_per_type", {}),
        }
        write_json_atomic(best / "training.json", record)
        staging = target.with_name(target.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(best, staging)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return record
