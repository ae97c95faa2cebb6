"""Topic models compared in one run: NPMI coherence, diversity, topics, time and peak memory.

Models, all on the same topic units (distinct segments of kind topics.unit):
  (a) this project's configuration (pipeline.topics.fit_topics), three times:
      - "first run": UMAP's numba kernels compiled and cached (once per machine and version);
      - the steady state: kernels cached; lemmas from the extract stage's `lemmas` table;
      - "+ lemmatising": the same, but lemmatising every unit from scratch as if extraction
        had not made them;
      each with a fresh embedding cache, so embedding is always timed (the distilled model2vec
      model is built once beforehand, like a download, and not timed);
  (b) BERTopic with default parameters and all-MiniLM-L6-v2;
  (c) scikit-learn LDA and (d) scikit-learn NMF, both with as many topics as (a).
NPMI is gensim's c_npmi over each model's top-10 words, with the evaluation corpus itself
(tokenised by that model's own analyzer) as reference, as OCTIS and the BERTopic paper do.
Diversity is unique top-10 words / (10 x topics). Each model runs in its own process, so the
peak RSS column is that model's own; seconds cover embedding and fitting, imports included.

Usage:
  python benchmarks/topics_benchmark.py --corpus default  # data/raw
  python benchmarks/topics_benchmark.py --corpus shared   # counsel-chat + FakeHealth (~4,400)
  options: --models a,b,c,d  --unit paragraph|sentence|item  --backend model2vec|minilm
           --limit N (documents per input file, for quick runs)
           --work DIR: keep the prepared tables there and reuse them on the next run
           --ablation: instead, (a) with one `topics` setting changed at a time (not timed)
"""

from __future__ import annotations

import argparse
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


def _inputs(corpus: str, limit: int | None, work: Path) -> list[Path]:
    if corpus == "default":
        return [REPO / "data" / "raw"]
    paths = [
        SHARED / "counsel-chat" / "counsel_chat.csv",
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

    overrides = {"topics": {"unit": args.unit, "backend": args.backend}}
    if cache_dir is not None:
        overrides["embeddings"] = {"cache_dir": str(cache_dir)}
    return load_config(overrides=overrides)


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
        units = topic_units(segments, config.topics).drop_duplicates("text")
        texts = [doc.split() for doc in unit_lemmas(units, lemmas, config)]  # cached: fast
        return words, texts, seconds

    return run


def _unit_texts(config, tables) -> list[str]:
    from pipeline.io import read_table
    from pipeline.topics import topic_units

    segments = read_table(tables, "segments")
    return topic_units(segments, config.topics).drop_duplicates("text")["text"].tolist()


def _run_bertopic_default(config, tables, _k):
    docs = _unit_texts(config, tables)
    start = time.perf_counter()
    from bertopic import BERTopic
    from sentence_transformers import SentenceTransformer

    from pipeline.embed import minilm_path

    model = BERTopic(embedding_model=SentenceTransformer(str(minilm_path()), device="cpu"))
    model.fit_transform(docs)
    seconds = time.perf_counter() - start
    from sklearn.feature_extraction.text import CountVectorizer

    words = [[w for w, _ in model.get_topic(t)] for t in sorted(model.get_topics()) if t >= 0]
    analyzer = CountVectorizer().build_analyzer()
    return words, [analyzer(d) for d in docs], seconds


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
        model.fit(matrix)
        seconds = time.perf_counter() - start
        vocab = vectorizer.get_feature_names_out()
        words = [[vocab[i] for i in row.argsort()[::-1][:10]] for row in model.components_]
        analyzer = vectorizer.build_analyzer()
        return words, [analyzer(d) for d in docs], seconds

    return run


# (row name, `topics` overrides): one change at a time from the defaults.
ABLATIONS = [
    ("none (defaults)", {}),
    ("top words by c-TF-IDF (BERTopic's)", {"top_words": "ctfidf"}),
    ("top words by frequency (lambda = 1)", {"relevance_lambda": 1.0}),
    ("MMR (0.3) over the top words", {"mmr_diversity": 0.3}),
    ("no topic merging", {"nr_topics": None}),
    ("nr_topics: auto", {"nr_topics": "auto"}),
    ("no guided topics", {"guided": False}),
    ("500 UMAP epochs", {"umap_epochs": 500}),
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
    print(f"corpus={args.corpus} unit={args.unit} backend={args.backend} limit={args.limit}")
    print(f"{'change':<40}{'topics':>7}{'largest':>9}{'NPMI':>8}{'divers.':>9}")
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
        largest = result.topics["size"].max() / result.topics["size"].sum()
        print(f"{name:<40}{len(topics):>7}{largest:>9.0%}{npmi:>8.3f}{diversity:>9.3f}")


# key: (row name, runner, cache: None (not ours), "cold" or "warm")
RUNNERS = {
    "a_cold": ("(a) first run: compiles UMAP kernels", _ours(True), "cold"),
    "a": ("(a) this project's configuration", _ours(True), "warm"),
    "a_lem": ("(a) + lemmatising from scratch", _ours(False), "warm"),
    "b": ("(b) BERTopic defaults + MiniLM", _run_bertopic_default, None),
    "c": ("(c) scikit-learn LDA", _sklearn_model("lda"), None),
    "d": ("(d) scikit-learn NMF", _sklearn_model("nmf"), None),
}


def _child(key, args, tables, cache_dir, queue):
    config = _config(args, cache_dir)
    words, texts, seconds = RUNNERS[key][1](config, tables, args.k)
    npmi, diversity = _npmi_and_diversity(words, texts)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((key, len(words), npmi, diversity, seconds, peak, len(texts)))


def _row(name: str, result: tuple) -> str:
    _, n, npmi, div, sec, peak, units = result
    return f"{name:<40}{n:>7}{npmi:>8.3f}{div:>9.3f}{sec:>9.1f}{peak:>10.0f}{units:>8}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=["shared", "default"], default="shared")
    parser.add_argument("--models", default="a,b,c,d")
    parser.add_argument("--unit", default="paragraph", choices=["sentence", "paragraph", "item"])
    parser.add_argument("--backend", default="model2vec", choices=["model2vec", "minilm"])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--ablation", action="store_true")
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="keep the prepared tables here, and reuse them if present (default: a temp dir)",
    )
    args = parser.parse_args()
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
    if args.ablation:
        _ablation(args, tables, work)
        tmp.cleanup()
        return 0
    print(f"corpus={args.corpus} unit={args.unit} backend={args.backend} limit={args.limit}")
    print(
        f"{'model':<40}{'topics':>7}{'NPMI':>8}{'divers.':>9}{'seconds':>9}{'peak MiB':>10}"
        f"{'units':>8}",
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
