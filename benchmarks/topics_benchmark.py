"""Topic models compared in one run: NPMI coherence, diversity, topics, time and peak memory.

Models, all on the same topic units (distinct segments of kind topics.unit):
  (a) this project's configuration (pipeline.topics.fit_topics), three times:
      - "first run": nothing cached (with the UMAP clusterers, its numba kernels are compiled
        and cached, once per machine and version);
      - the steady state: kernels cached; lemmas from the extract stage's `lemmas` table;
      - "+ lemmatising": the same, but lemmatising every unit from scratch as if extraction
        had not made them;
      each with a fresh embedding cache, so embedding is always timed (the distilled model2vec
      model is built once beforehand, like a download, and not timed);
  (b) BERTopic with default parameters and all-MiniLM-L6-v2, and (b19) the same reduced to
      as many topics as (a) (`nr_topics`);
  (c) scikit-learn LDA and (d) scikit-learn NMF, both with as many topics as (a);
  (e) turftopic's KeyNMF with all-MiniLM-L6-v2 and as many topics as (a): a modern peer. It
      pins an older `rich` than this project, so it runs in its own environment,
      `.venv-peers` (`make peers-venv`); the row is skipped with a note when that is missing.
NPMI is gensim's c_npmi over each model's top-10 words, with the evaluation corpus itself
(tokenised by that model's own analyzer) as reference, as OCTIS and the BERTopic paper do.
Diversity is unique top-10 words / (10 x topics). Largest: the share of units in the biggest
topic (outliers not counted as a topic); outliers: the share a model leaves unassigned. NMI
(counsel-chat only): normalised mutual information between each answer's main topic (the
topic most of its units have; outliers are one more group, as a user would see them) and the
site's own category of the answer (`topic` column). Each model runs in its own process, so the
peak RSS column is that model's own; seconds cover embedding and fitting, imports included.

Usage:
  python benchmarks/topics_benchmark.py --corpus default  # data/raw
  python benchmarks/topics_benchmark.py --corpus shared   # counsel-chat + FakeHealth (~4,400)
  python benchmarks/topics_benchmark.py --corpus counsel  # the 2,129 counsel-chat answers (NMI)
  options: --models a,b,b19,c,d,e  --unit paragraph|sentence|item
           --backend auto|model2vec|minilm (auto: as the pipeline decides by corpus size)
           --limit N (documents per input file, for quick runs)
           --work DIR: keep the prepared tables there and reuse them on the next run
           --ablation: instead, (a) with one `topics` setting changed at a time (not timed)
           --stability [--seeds 42 7 2026]: instead, (a) with three seeds: adjusted Rand index;
             then (a) on three corpora each lacking a different 10 % of the documents
           --topics KEY=VALUE: a `topics` setting for (a) (repeatable), e.g. n_clusters=60
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
MODEL2VEC_DIR = "model2vec-minilm-pca256"  # the distilled model inside embeddings.cache_dir


COUNSEL = SHARED / "counsel-chat" / "counsel_chat.csv"
PEERS_PYTHON = REPO / ".venv-peers" / "bin" / "python"


def _inputs(corpus: str, limit: int | None, work: Path) -> list[Path]:
    if corpus == "default":
        return [REPO / "data" / "raw"]
    paths = [COUNSEL]
    if corpus == "shared":
        paths += [
            SHARED / "fakehealth" / "health_story.jsonl.gz",
            SHARED / "fakehealth" / "health_release.jsonl.gz",
        ]
    missing = [p for p in paths if not p.exists()]
    if missing:
        sys.exit(f"shared data missing: {missing}")
    if not limit:
        return paths
    import gzip

    out = []
    for path in paths:  # the first `limit` records of each file
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as fh:
            lines = [line for _, line in zip(range(limit + 1), fh)]
        target = work / path.name.replace(".gz", "")
        target.write_text("".join(lines), encoding="utf-8")
        out.append(target)
    return out


def _config(args, cache_dir: Path | None = None):
    from pipeline.config import load_config

    overrides = {"topics": {"unit": args.unit, "backend": args.backend, **args.topics}}
    if cache_dir is not None:
        overrides["embeddings"] = {"cache_dir": str(cache_dir)}
    return load_config(overrides=overrides)


def _settings(pairs: list[str]) -> dict:
    """`KEY=VALUE` pairs as a dict, each value read as YAML (numbers, null, lists)."""
    import yaml

    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--topics takes KEY=VALUE, got {pair!r}")
        settings[key.strip()] = yaml.safe_load(value)
    return settings


def _prepare(args, work: Path) -> Path:
    """Load, segment and extract once; every model reads these tables (not timed). Build the
    distilled model2vec model once into work/models (or copy the project's)."""
    from pipeline.embed import get_encoder
    from pipeline.runner import stage_extract, stage_load, stage_segment

    config = _config(args)
    out = work / "tables"
    stage_load(_inputs(args.corpus, args.limit, work), out, config)
    stage_segment(out, config)
    stage_extract(out, config)
    models = work / "models"
    source = Path(config.embeddings.cache_dir) / MODEL2VEC_DIR
    if source.exists():
        shutil.copytree(source, models / MODEL2VEC_DIR, dirs_exist_ok=True)
    else:
        get_encoder("model2vec", str(models))
    return out


def _fresh_cache(work: Path, name: str, kernels_from: Path | None) -> Path:
    """An empty embedding/lemma cache holding the distilled model, and compiled UMAP kernels
    when `kernels_from` is given."""
    cache = work / name
    shutil.copytree(work / "models" / MODEL2VEC_DIR, cache / MODEL2VEC_DIR)
    if kernels_from is not None and (kernels_from / "numba").exists():
        shutil.copytree(kernels_from / "numba", cache / "numba")
    return cache


def _npmi_and_diversity(topic_words: list[list[str]], texts: list[list[str]]):
    from gensim.corpora import Dictionary
    from gensim.models.coherencemodel import CoherenceModel

    dictionary = Dictionary(texts)
    topics = [[w for w in words if w in dictionary.token2id][:10] for words in topic_words]
    topics = [t for t in topics if len(t) >= 2]
    if not topics:
        return float("nan"), float("nan")
    npmi = CoherenceModel(
        topics=topics, texts=texts, dictionary=dictionary, coherence="c_npmi", topn=10, processes=1
    ).get_coherence()
    diversity = len({w for t in topic_words for w in t[:10]}) / (10 * len(topic_words))
    return float(npmi), float(diversity)


def _ours(use_lemma_table: bool):
    def run(config, tables, _k):
        from pipeline.io import read_table

        segments, mentions = read_table(tables, "segments"), read_table(tables, "mentions")
        lemmas = None
        if use_lemma_table:
            try:
                lemmas = read_table(tables, "lemmas")
            except KeyError:  # an extract stage that does not write lemmas yet
                lemmas = None
        start = time.perf_counter()
        from pipeline.topics import fit_topics

        result = fit_topics(segments, mentions, config, lemmas)
        seconds = time.perf_counter() - start
        from pipeline.topics import topic_units, unit_lemmas

        words = [
            list(w) for t, w in zip(result.topics["topic_id"], result.topics["top_words"]) if t >= 0
        ]
        all_units = topic_units(segments, config.topics)
        units = all_units.drop_duplicates("text")
        texts = [doc.split() for doc in unit_lemmas(units, lemmas, config)]  # cached: fast
        topic_of = dict(zip(result.segment_topics["segment_id"], result.segment_topics["topic_id"]))
        topic_of_text = {
            t: int(topic_of.get(s, -1)) for s, t in zip(all_units["segment_id"], all_units["text"])
        }
        return words, texts, seconds, topic_of_text

    return run


def _unit_texts(config, tables) -> list[str]:
    from pipeline.io import read_table
    from pipeline.topics import topic_units

    segments = read_table(tables, "segments")
    return topic_units(segments, config.topics).drop_duplicates("text")["text"].tolist()


def _bertopic_default(reduce: bool):
    """BERTopic with its defaults and MiniLM; `reduce`: merged down to (a)'s topic count."""

    def run(config, tables, k):
        docs = _unit_texts(config, tables)
        start = time.perf_counter()
        from bertopic import BERTopic
        from sentence_transformers import SentenceTransformer

        from pipeline.embed import minilm_path

        model = BERTopic(
            embedding_model=SentenceTransformer(str(minilm_path()), device="cpu"),
            nr_topics=k if reduce else None,
        )
        topics, _ = model.fit_transform(docs)
        seconds = time.perf_counter() - start
        from sklearn.feature_extraction.text import CountVectorizer

        words = [[w for w, _ in model.get_topic(t)] for t in sorted(model.get_topics()) if t >= 0]
        analyzer = CountVectorizer().build_analyzer()
        return words, [analyzer(d) for d in docs], seconds, dict(zip(docs, map(int, topics)))

    return run


def _sklearn_model(kind: str):
    def run(config, tables, k):
        docs = _unit_texts(config, tables)
        start = time.perf_counter()
        from sklearn.decomposition import NMF, LatentDirichletAllocation
        from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

        vec_cls = CountVectorizer if kind == "lda" else TfidfVectorizer
        vectorizer = vec_cls(stop_words="english", min_df=5, max_df=0.5)
        matrix = vectorizer.fit_transform(docs)
        if kind == "lda":
            model = LatentDirichletAllocation(
                n_components=k, random_state=0, learning_method="online", n_jobs=1
            )
        else:
            model = NMF(n_components=k, init="nndsvd", random_state=0, max_iter=400)
        weights = model.fit_transform(matrix)
        seconds = time.perf_counter() - start
        vocab = vectorizer.get_feature_names_out()
        words = [[vocab[i] for i in row.argsort()[::-1][:10]] for row in model.components_]
        analyzer = vectorizer.build_analyzer()
        # A text with no weight on any topic (no word in the vocabulary) is an outlier.
        topics = [int(row.argmax()) if row.max() > 0 else -1 for row in weights]
        return words, [analyzer(d) for d in docs], seconds, dict(zip(docs, topics))

    return run


_KEYNMF = """
import json, sys, time
start = time.perf_counter()
from sentence_transformers import SentenceTransformer
from turftopic import KeyNMF
docs = json.load(open(sys.argv[1], encoding="utf-8"))
model = KeyNMF(int(sys.argv[3]), encoder=SentenceTransformer(sys.argv[2], device="cpu"),
               random_state=0)
weights = model.fit_transform(docs)
seconds = time.perf_counter() - start
vocab = model.get_vocab()
words = [[str(vocab[i]) for i in row.argsort()[::-1][:10]] for row in model.components_]
topics = [int(row.argmax()) if row.max() > 0 else -1 for row in weights]
with open(sys.argv[4], "w", encoding="utf-8") as fh:  # KeyNMF logs to stdout
    json.dump({"words": words, "topics": topics, "seconds": seconds}, fh)
"""


def _run_keynmf(config, tables, k):
    """turftopic's KeyNMF in `.venv-peers` (its `rich` pin conflicts with this project's)."""
    import json
    import os
    import subprocess

    from sklearn.feature_extraction.text import CountVectorizer

    from pipeline.embed import minilm_path

    if not PEERS_PYTHON.exists():
        raise RuntimeError(f"{PEERS_PYTHON} missing: run `make peers-venv`")
    docs = _unit_texts(config, tables)
    with tempfile.TemporaryDirectory() as tmp:
        inputs, outputs = Path(tmp) / "docs.json", Path(tmp) / "out.json"
        inputs.write_text(json.dumps(docs), encoding="utf-8")
        subprocess.run(
            [
                str(PEERS_PYTHON),
                "-c",
                _KEYNMF,
                str(inputs),
                str(minilm_path()),
                str(k),
                str(outputs),
            ],
            capture_output=True,
            check=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"},
        )
        out = json.loads(outputs.read_text(encoding="utf-8"))
    analyzer = CountVectorizer().build_analyzer()
    texts = [analyzer(d) for d in docs]
    return out["words"], texts, out["seconds"], dict(zip(docs, out["topics"]))


# (row name, `topics` overrides): one change at a time from the defaults.
ABLATIONS = [
    ("none (defaults)", {}),
    ("top words by c-TF-IDF (BERTopic's)", {"top_words": "ctfidf"}),
    ("no cap on the topics a word heads", {"max_topics_per_word": None}),
    ("no coherence re-ranking", {"coherence_weight": 0.0}),
    ("relevance alone (neither)", {"max_topics_per_word": None, "coherence_weight": 0.0}),
    ("20 clusters", {"n_clusters": 20}),
    ("40 clusters", {"n_clusters": 40}),
    ("large-corpus regime: model2vec, HDBSCAN", {"small_corpus_units": 0}),
    ("model2vec, Ward", {"backend": "model2vec", "clusterer": "ward"}),
    ("MiniLM, HDBSCAN, merged to 20", {"backend": "minilm", "clusterer": "hdbscan"}),
]


def _ablation(args, tables: Path, work: Path) -> None:
    """(a) under each of ABLATIONS, in this process: topics, largest topic, NPMI, diversity."""
    from pipeline.config import load_config
    from pipeline.io import read_table
    from pipeline.topics import fit_topics, topic_units, unit_lemmas

    segments, mentions = read_table(tables, "segments"), read_table(tables, "mentions")
    try:
        lemmas = read_table(tables, "lemmas")
    except KeyError:
        lemmas = None
    cache = _fresh_cache(work, "cache-ablation", None)
    labels = counsel_labels(tables)
    print(f"corpus={args.corpus} unit={args.unit} backend={args.backend} limit={args.limit}")
    print(
        f"{'change':<40}{'topics':>7}{'largest':>9}{'outliers':>10}{'NPMI':>8}{'divers.':>9}{'NMI':>7}"
    )
    for name, change in ABLATIONS:
        config = load_config(
            overrides={
                "topics": {"unit": args.unit, "backend": args.backend, **change},
                "embeddings": {"cache_dir": str(cache)},
            }
        )
        result = fit_topics(segments, mentions, config, lemmas)
        topics = result.topics[result.topics["topic_id"] >= 0]
        units = topic_units(segments, config.topics).drop_duplicates("text")
        texts = [doc.split() for doc in unit_lemmas(units, lemmas, config)]
        npmi, diversity = _npmi_and_diversity([list(w) for w in topics["top_words"]], texts)
        all_units = topic_units(segments, config.topics)
        topic_of = dict(zip(result.segment_topics["segment_id"], result.segment_topics["topic_id"]))
        largest, outliers, nmi = assignment_figures(
            {
                t: int(topic_of.get(s, -1))
                for s, t in zip(all_units["segment_id"], all_units["text"])
            },
            all_units,
            labels,
        )
        print(
            f"{name:<40}{len(topics):>7}{largest:>9.0%}{outliers:>10.0%}{npmi:>8.3f}"
            f"{diversity:>9.3f}{nmi:>7.3f}",
            flush=True,
        )


def _stability(args, tables: Path, work: Path) -> None:
    """(a) fitted with three `topics.random_state` seeds: adjusted Rand index between the unit
    assignments of every pair of runs, and each run's largest topic and NMI. Then, with the
    first seed, (a) fitted on three corpora that each lack a different 10 % of the documents
    (chosen by seeded hash): the adjusted Rand index over the units every pair shares, which
    says how much the topics depend on which documents happen to be in the corpus."""
    from itertools import combinations

    from sklearn.metrics import adjusted_rand_score

    from pipeline.config import load_config
    from pipeline.io import read_table
    from pipeline.topics import fit_topics, topic_units

    segments, mentions = read_table(tables, "segments"), read_table(tables, "mentions")
    lemmas = read_table(tables, "lemmas")
    labels = counsel_labels(tables)
    cache = _fresh_cache(work, "cache-stability", None)
    print(f"corpus={args.corpus} unit={args.unit} backend={args.backend} limit={args.limit}")

    def fit(seed: int, keep=None) -> dict[str, int]:
        config = load_config(
            overrides={
                "topics": {
                    "unit": args.unit,
                    "backend": args.backend,
                    **args.topics,
                    "random_state": seed,
                },
                "embeddings": {"cache_dir": str(cache)},
            }
        )
        segs = segments if keep is None else segments[segments["doc_id"].isin(keep)]
        result = fit_topics(segs, mentions[mentions["doc_id"].isin(segs["doc_id"])], config, lemmas)
        units = topic_units(segs, config.topics)
        topic_of = dict(zip(result.segment_topics["segment_id"], result.segment_topics["topic_id"]))
        run = {s: int(topic_of.get(s, -1)) for s in units["segment_id"]}
        largest, outliers, nmi = assignment_figures(
            dict(zip(units["text"], run.values())), units, labels
        )
        n = int((result.topics["topic_id"] >= 0).sum())
        print(
            f"  {n} topics, largest {largest:.0%}, outliers {outliers:.0%}, NMI {nmi:.3f}",
            flush=True,
        )
        return run

    def agreement(runs: dict, what: str) -> None:
        pairs = []
        for a, b in combinations(sorted(runs), 2):
            shared = sorted(set(runs[a]) & set(runs[b]))
            score = adjusted_rand_score([runs[a][s] for s in shared], [runs[b][s] for s in shared])
            pairs.append((f"{a}-{b}", score))
        listed = ", ".join(f"{name} {x:.3f}" for name, x in pairs)
        lowest = min(x for _, x in pairs)
        print(f"adjusted Rand index between {what}: {listed}; lowest {lowest:.3f}")

    seeds = {}
    for seed in args.seeds:
        print(f"seed {seed}:", flush=True)
        seeds[seed] = fit(seed)
    agreement(seeds, "seeds")
    docs = sorted(set(segments["doc_id"]))
    resampled = {}
    for drop in args.seeds:
        keep = [d for d in docs if int(hashlib.sha1(f"{drop}:{d}".encode()).hexdigest(), 16) % 10]
        print(f"seed {args.seeds[0]}, without the 10 % of documents picked by {drop}:", flush=True)
        resampled[drop] = fit(args.seeds[0], set(keep))
    agreement(resampled, "corpora missing different 10 % of documents (units they share)")


# key: (row name, runner, cache: None (not ours), "cold" or "warm")
RUNNERS = {
    "a_cold": ("(a) first run: cold caches", _ours(True), "cold"),
    "a": ("(a) this project's configuration", _ours(True), "warm"),
    "a_lem": ("(a) + lemmatising from scratch", _ours(False), "warm"),
    "b": ("(b) BERTopic defaults + MiniLM", _bertopic_default(False), None),
    "b19": ("(b) ... reduced to (a)'s topic count", _bertopic_default(True), None),
    "c": ("(c) scikit-learn LDA", _sklearn_model("lda"), None),
    "d": ("(d) scikit-learn NMF", _sklearn_model("nmf"), None),
    "e": ("(e) turftopic KeyNMF + MiniLM", _run_keynmf, None),
}


def counsel_labels(tables: Path) -> dict[str, str]:
    """doc_id -> the counsel-chat category of the answer (`topic`), for counsel-chat rows."""
    import pandas as pd

    from pipeline.io import read_table

    documents = read_table(tables, "documents")
    topic = pd.read_csv(COUNSEL)["topic"].fillna("").tolist()
    out = {}
    for doc_id, source in zip(documents["doc_id"], documents["source"]):
        name, _, key = str(source).partition("#")
        if Path(name).name == COUNSEL.name and key.startswith("row") and key[3:].isdigit():
            out[doc_id] = topic[int(key[3:]) - 1]
    return out


def assignment_figures(
    topic_of_text: dict[str, int], units, labels: dict[str, str]
) -> tuple[float, float, float]:
    """Largest-topic share and outlier share over all units, and NMI between each labelled
    document's main topic (outliers one more group) and its label."""
    from collections import Counter

    from sklearn.metrics import normalized_mutual_info_score

    topics = [topic_of_text.get(t, -1) for t in units["text"]]
    assigned = Counter(t for t in topics if t >= 0)
    largest = max(assigned.values(), default=0) / len(topics) if topics else float("nan")
    outliers = sum(t < 0 for t in topics) / len(topics) if topics else float("nan")
    per_doc: dict[str, Counter] = {}
    for doc_id, t in zip(units["doc_id"], topics):
        per_doc.setdefault(doc_id, Counter())[t] += 1
    docs = [d for d in per_doc if d in labels]
    if not docs:
        return largest, outliers, float("nan")
    main = [per_doc[d].most_common(1)[0][0] for d in docs]
    return largest, outliers, float(normalized_mutual_info_score([labels[d] for d in docs], main))


def _child(key, args, tables, cache_dir, queue):
    from pipeline.io import read_table
    from pipeline.topics import topic_units

    config = _config(args, cache_dir)
    words, texts, seconds, topic_of_text = RUNNERS[key][1](config, tables, args.k)
    npmi, diversity = _npmi_and_diversity(words, texts)
    # A peer run in a subprocess of its own (KeyNMF) counts with its peak, not ours.
    peak = (
        max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        )
        / 1024
    )
    units = topic_units(read_table(tables, "segments"), config.topics)
    largest, outliers, nmi = assignment_figures(topic_of_text, units, counsel_labels(tables))
    queue.put((key, len(words), npmi, diversity, seconds, peak, len(texts), largest, outliers, nmi))


def _row(name: str, result: tuple) -> str:
    _, n, npmi, div, sec, peak, units, largest, outliers, nmi = result
    return (
        f"{name:<40}{n:>7}{npmi:>8.3f}{div:>9.3f}{nmi:>7.3f}{largest:>9.0%}{outliers:>10.0%}"
        f"{sec:>9.1f}{peak:>10.0f}{units:>8}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=["shared", "counsel", "default"], default="shared")
    parser.add_argument("--models", default="a,b,b19,c,d,e")
    parser.add_argument("--unit", default="paragraph", choices=["sentence", "paragraph", "item"])
    parser.add_argument("--backend", default="auto", choices=["auto", "model2vec", "minilm"])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--ablation", action="store_true")
    parser.add_argument(
        "--stability",
        action="store_true",
        help="instead, fit (a) with each of --seeds and print the adjusted Rand index",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7, 2026])
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="keep the prepared tables here, and reuse them if present (default: a temp dir)",
    )
    parser.add_argument(
        "--topics",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a `topics` setting for (a), as YAML (e.g. n_clusters=60); repeatable",
    )
    args = parser.parse_args()
    args.topics = _settings(args.topics)
    keys = []
    for key in args.models.split(","):
        keys += ["a_cold", "a", "a_lem"] if key == "a" else [key]
    ctx = mp.get_context("spawn")
    results = {}
    args.k = 20  # replaced by (a)'s topic count once (a) has run
    tmp = tempfile.TemporaryDirectory()
    work = Path(tmp.name)
    if args.work is not None and (args.work / "tables" / "segments.parquet").exists():
        tables = args.work / "tables"
        shutil.copytree(args.work / "models", work / "models")
    else:
        tables = _prepare(args, args.work or work)
        if args.work is not None:
            shutil.copytree(args.work / "models", work / "models")
    if args.ablation or args.stability:
        (_ablation if args.ablation else _stability)(args, tables, work)
        tmp.cleanup()
        return 0
    print(f"corpus={args.corpus} unit={args.unit} backend={args.backend} limit={args.limit}")
    print(
        f"{'model':<40}{'topics':>7}{'NPMI':>8}{'divers.':>9}{'NMI':>7}{'largest':>9}"
        f"{'outliers':>10}{'seconds':>9}{'peak MiB':>10}{'units':>8}",
        flush=True,
    )
    cold = None
    for key in keys:  # each row is printed when its model is done, so a long run keeps them
        mode = RUNNERS[key][2]
        cache = None
        if mode is not None:
            cache = _fresh_cache(work, f"cache-{key}", None if mode == "cold" else cold)
            cold = cold or cache
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(key, args, tables, cache, queue))
        proc.start()
        proc.join()
        if proc.exitcode != 0:
            print(f"{RUNNERS[key][0]} failed with exit code {proc.exitcode}", flush=True)
            continue
        results[key] = queue.get()
        print(_row(RUNNERS[key][0], results[key]), flush=True)
        if key == "a":
            args.k = max(results["a"][1], 2)
    tmp.cleanup()
    if "b" in results:
        b = results["b"][4]
        short = {"a": "(a)", "a_cold": "(a) first run", "a_lem": "(a) + lemmatising"}
        ratios = [f"{short[key]} {b / results[key][4]:.1f}x" for key in short if key in results]
        if ratios:
            print("speed-up over (b): " + "; ".join(ratios))
        if "a" in results:
            print(f"NPMI (a) - (b): {results['a'][2] - results['b'][2]:+.3f}")
    print(
        "(a)'s rows take lemmas from the extract stage's `lemmas` table (made during extraction,"
        " not timed here) except '+ lemmatising from scratch'."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
