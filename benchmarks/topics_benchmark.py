"""Topic models compared in one run: NPMI coherence, diversity, topics, time and peak memory.

Models, all on the same topic units (segments of kind topics.unit):
  (a) this project's configuration (pipeline.topics.fit_topics);
  (b) BERTopic with default parameters and all-MiniLM-L6-v2;
  (c) scikit-learn LDA and (d) scikit-learn NMF, both with as many topics as (a).
NPMI is gensim's c_npmi over each model's top-10 words, with the evaluation corpus itself
(tokenised by that model's own analyzer) as reference, as OCTIS and the BERTopic paper do.
Diversity is unique top-10 words / (10 x topics). Each model runs in its own process, so the
peak RSS column is that model's own.

Usage:
  python benchmarks/topics_benchmark.py --corpus shared   # counsel-chat + FakeHealth (~4,400)
  python benchmarks/topics_benchmark.py --corpus default  # data/raw
  options: --models a,b,c,d  --unit paragraph|sentence|item  --backend model2vec|minilm
           --limit N (documents per input file, for quick runs)
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


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


def _config(args):
    from pipeline.config import load_config

    return load_config(overrides={"topics": {"unit": args.unit, "backend": args.backend}})


def _prepare(args, work: Path) -> Path:
    """Load, segment and extract once; every model reads these tables (not timed)."""
    from pipeline.runner import stage_extract, stage_load, stage_segment

    config = _config(args)
    out = work / "tables"
    stage_load(_inputs(args.corpus, args.limit, work), out, config)
    stage_segment(out, config)
    stage_extract(out, config)
    return out


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


def _run_ours(config, segments, mentions, _k):
    from pipeline.topics import fit_topics, lemmatise, topic_units

    result = fit_topics(segments, mentions, config)
    words = [
        list(w) for t, w in zip(result.topics["topic_id"], result.topics["top_words"]) if t >= 0
    ]
    units = topic_units(segments, config.topics).drop_duplicates("text")
    texts = [doc.split() for doc in lemmatise(units["text"].tolist(), config)]
    return words, texts


def _run_bertopic_default(config, segments, mentions, _k):
    from bertopic import BERTopic
    from sentence_transformers import SentenceTransformer
    from sklearn.feature_extraction.text import CountVectorizer

    from pipeline.embed import minilm_path
    from pipeline.topics import topic_units

    docs = topic_units(segments, config.topics).drop_duplicates("text")["text"].tolist()
    model = BERTopic(embedding_model=SentenceTransformer(str(minilm_path()), device="cpu"))
    model.fit_transform(docs)
    words = [[w for w, _ in model.get_topic(t)] for t in sorted(model.get_topics()) if t >= 0]
    analyzer = CountVectorizer().build_analyzer()
    return words, [analyzer(d) for d in docs]


def _sklearn_model(kind: str):
    def run(config, segments, mentions, k):
        from sklearn.decomposition import NMF, LatentDirichletAllocation
        from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

        from pipeline.topics import topic_units

        docs = topic_units(segments, config.topics).drop_duplicates("text")["text"].tolist()
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
        vocab = vectorizer.get_feature_names_out()
        words = [[vocab[i] for i in row.argsort()[::-1][:10]] for row in model.components_]
        analyzer = vectorizer.build_analyzer()
        return words, [analyzer(d) for d in docs]

    return run


RUNNERS = {
    "a": ("(a) this project's configuration", _run_ours),
    "b": ("(b) BERTopic defaults + MiniLM", _run_bertopic_default),
    "c": ("(c) scikit-learn LDA", _sklearn_model("lda")),
    "d": ("(d) scikit-learn NMF", _sklearn_model("nmf")),
}


def _child(key, args, tables, queue):
    from pipeline.io import read_table

    config = _config(args)
    segments, mentions = read_table(tables, "segments"), read_table(tables, "mentions")
    start = time.perf_counter()
    words, texts = RUNNERS[key][1](config, segments, mentions, args.k)
    seconds = time.perf_counter() - start
    npmi, diversity = _npmi_and_diversity(words, texts)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((key, len(words), npmi, diversity, seconds, peak, len(texts)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=["shared", "default"], default="shared")
    parser.add_argument("--models", default="a,b,c,d")
    parser.add_argument("--unit", default="paragraph", choices=["sentence", "paragraph", "item"])
    parser.add_argument("--backend", default="model2vec", choices=["model2vec", "minilm"])
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    results = {}
    args.k = 20  # replaced by (a)'s topic count once (a) has run
    tmp = tempfile.TemporaryDirectory()
    tables = _prepare(args, Path(tmp.name))
    for key in args.models.split(","):
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(key, args, tables, queue))
        proc.start()
        proc.join()
        if proc.exitcode != 0:
            print(f"{RUNNERS[key][0]} failed with exit code {proc.exitcode}", file=sys.stderr)
            continue
        results[key] = queue.get()
        if key == "a":
            args.k = max(results["a"][1], 2)
    print(f"corpus={args.corpus} unit={args.unit} backend={args.backend} limit={args.limit}")
    print(
        f"{'model':<36}{'topics':>7}{'NPMI':>8}{'divers.':>9}{'seconds':>9}{'peak MiB':>10}"
        f"{'units':>8}"
    )
    for key, (_, n, npmi, div, sec, peak, units) in results.items():
        print(
            f"{RUNNERS[key][0]:<36}{n:>7}{npmi:>8.3f}{div:>9.3f}{sec:>9.1f}{peak:>10.0f}{units:>8}"
        )
    tmp.cleanup()
    if "a" in results and "b" in results:
        print(
            f"speed-up (a) vs (b): {results['b'][4] / results['a'][4]:.1f}x; "
            f"NPMI (a) - (b): {results['a'][2] - results['b'][2]:+.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
