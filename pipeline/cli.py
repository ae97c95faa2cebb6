"""The `pipeline` command: one subcommand per stage, plus `run` for all of them.

Exit codes: 0 all inputs processed; 3 the run finished but some inputs were rejected (see the
`rejected` table); 2 unusable arguments or config; 1 an unexpected failure.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.config import Config, ConfigError, load_config
from pipeline.store import STAGES, OutputLocked, StageFailed, run_lock, stage_guard


class _LazyRunner:
    """pipeline.runner, imported on first use: it loads spaCy, which `pipeline report`,
    `pipeline review` and `--help` do without (seconds of start-up)."""

    def __getattr__(self, name: str):
        from pipeline import runner as module

        return getattr(module, name)


runner = _LazyRunner()
EXIT_PARTIAL = 3
EXIT_USAGE = 2
EXIT_FAILED = 1

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Topic-modelling research pipeline for self-help articles.",
)
console = Console(stderr=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="YAML file overriding the packaged defaults (pipeline/defaults.yaml).",
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out", "-o", help="Output folder for the tables (default: paths.processed of the config)."
    ),
]


ForceOpt = Annotated[
    bool, typer.Option("--force", help="Recompute even if the inputs did not change.")
]


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def _config(path: Path | None) -> Config:
    if path is not None and not path.is_file():
        raise _fail(f"config file {path} does not exist")
    try:
        return load_config(path)
    except ConfigError as exc:
        raise _fail(str(exc)) from None


@contextmanager
def _locked():
    """Turn a held output folder (exit 2) or a failed stage (exit 1, traceback saved in the
    output folder) into a one-line error instead of a traceback."""
    try:
        yield
    except OutputLocked as exc:
        raise _fail(str(exc)) from None
    except StageFailed as exc:
        raise _fail(str(exc), EXIT_FAILED) from None


@contextmanager
def _progress():
    """A rich progress factory for the runner (see runner.Progress)."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bars:

        def factory(description: str, total: int | None) -> Callable[[int], None]:
            task = bars.add_task(description, total=total)
            return lambda n=1: bars.advance(task, n)

        yield factory


def _summary(stages: list[runner.StageResult], out_dir: Path, rejected: int) -> None:
    table = Table(title=f"Run into {out_dir}")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("peak MiB", justify="right")
    table.add_column("counts")
    for stage in stages:
        table.add_row(
            stage.name,
            f"{stage.seconds:.1f}",
            f"{stage.peak_rss_mb:.0f}",
            ", ".join(f"{k}={v}" for k, v in stage.counts.items()),
        )
    console.print(table)
    if rejected:
        console.print(f"[yellow]{rejected} input(s) rejected[/]: see {out_dir}/rejected.parquet")


def _inputs(given: list[Path] | None, cfg: Config) -> list[Path]:
    """The input paths (default: paths.raw); a missing one is a usage error."""
    inputs = list(given) if given else [cfg.paths.raw]
    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        raise _fail(f"input path does not exist: {', '.join(missing)}")
    return inputs


def _exit_for(rejected: int) -> None:
    if rejected:
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
def run(
    input: Annotated[
        list[Path] | None,
        typer.Option(
            "--input",
            "-i",
            help="File, folder or URL "
            "list to process; repeatable (default: paths.raw of the config).",
        ),
    ] = None,
    out: OutOpt = None,
    config: ConfigOpt = None,
    force: Annotated[
        str | None,
        typer.Option(
            "--force",
            help=f"Recompute this stage and every later one ({', '.join(STAGES)}), "
            "ignoring cached results.",
        ),
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option(
            "--executor", help="local or dask: where partitions run (default: run.executor)."
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Dask scheduler address, e.g. tcp://HOST:8786; without it --executor dask "
            "starts a LocalCluster.",
        ),
    ] = None,
) -> None:
    """Run every stage on the inputs and write the tables and the manifest.

    Stages whose inputs did not change are skipped and unchanged documents are reused from
    OUT/cache, so a re-run only processes what is new.
    """
    cfg = _config(config)
    inputs = _inputs(input, cfg)
    if force is not None and force not in STAGES:
        raise _fail(f"--force takes a stage name: {', '.join(STAGES)}")
    if executor is not None and executor not in ("local", "dask"):
        raise _fail("--executor is local or dask")
    if executor or scheduler:
        run_cfg = cfg.run.model_copy(
            update={"executor": executor or ("dask" if scheduler else cfg.run.executor)}
            | ({"scheduler": scheduler} if scheduler else {})
        )
        cfg = cfg.model_copy(update={"run": run_cfg})
    out_dir = out or cfg.paths.processed
    report_dir = out_dir / "report" if out else cfg.paths.reports
    with _locked(), _progress() as progress:
        result = runner.run_pipeline(
            inputs,
            out_dir,
            cfg,
            progress=progress,
            config_path=config,
            report_dir=report_dir,
            force_from=force,
        )
    _summary(result.stages, out_dir, result.rejected)
    _exit_for(result.rejected)


@app.command()
def load(
    input: Annotated[
        list[Path] | None,
        typer.Option(
            "--input", "-i", help="File, folder or URL list; repeatable (default: paths.raw)."
        ),
    ] = None,
    out: OutOpt = None,
    config: ConfigOpt = None,
    force: ForceOpt = False,
) -> None:
    """Load, clean and screen inputs: writes documents, boilerplate and rejected."""
    cfg = _config(config)
    inputs = _inputs(input, cfg)
    out_dir = out or cfg.paths.processed
    with (
        _locked(),
        run_lock(out_dir),
        _progress() as progress,
        stage_guard(out_dir, "load"),
    ):
        stage = runner.stage_load(inputs, out_dir, cfg, progress, force=force)
    _summary([stage], out_dir, stage.counts["rejected"])
    _exit_for(stage.counts["rejected"])


def _require_table(out_dir: Path, name: str) -> None:
    if not (out_dir / f"{name}.parquet").exists():
        raise _fail(
            f"{out_dir}/{name}.parquet not found: run the earlier stage first "
            f"(pipeline run --out {out_dir})"
        )


def _run_stage(
    stage_fn,
    out: Path | None,
    config: Path | None,
    requires: str,
    force: bool,
    failures: str | None = None,
) -> None:
    """Run one table-to-table stage on an output folder, with progress and a summary."""
    cfg = _config(config)
    out_dir = out or cfg.paths.processed
    _require_table(out_dir, requires)
    with (
        _locked(),
        run_lock(out_dir),
        _progress() as progress,
        stage_guard(out_dir, stage_fn.__name__.removeprefix("stage_")),
    ):
        stage = stage_fn(out_dir, cfg, progress, force=force)
    failed = stage.counts.get(failures, 0) if failures else 0
    _summary([stage], out_dir, failed)
    _exit_for(failed)


@app.command()
def segment(out: OutOpt = None, config: ConfigOpt = None, force: ForceOpt = False) -> None:
    """Split the loaded documents into sections, items, paragraphs and sentences."""
    _run_stage(runner.stage_segment, out, config, requires="documents", force=force)


@app.command()
def extract(out: OutOpt = None, config: ConfigOpt = None, force: ForceOpt = False) -> None:
    """Extract signs, causes, interventions and cited claims; build the concept table."""
    _run_stage(
        runner.stage_extract,
        out,
        config,
        requires="segments",
        force=force,
        failures="failed_paragraphs",
    )


@app.command()
def topics(
    out: OutOpt = None,
    config: ConfigOpt = None,
    force: ForceOpt = False,
    find: Annotated[
        str | None,
        typer.Option(
            "--find", help="Instead of fitting: the topics closest to this term, with top words."
        ),
    ] = None,
    top: Annotated[int, typer.Option(help="With --find: how many topics.", min=1)] = 5,
) -> None:
    """Fit BERTopic over the segments: topics, segment and document topic tables, the model;
    or (--find) search the fitted topics by a term."""
    if find is None:
        _run_stage(runner.stage_topics, out, config, requires="mentions", force=force)
        return
    import pandas as pd

    from pipeline.topics import find_topics

    cfg = _config(config)
    out_dir = out or cfg.paths.processed
    _require_table(out_dir, "topics")
    if not find.strip():
        raise _fail("--find needs a term")
    try:
        found = find_topics(out_dir / "topic_model", find.strip(), cfg, top)
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from exc
    from pipeline.io import read_table

    table = read_table(out_dir, "topics")[["topic_id", "label", "size", "top_words"]]
    found = found.merge(table, on="topic_id", how="left")
    found["top_words"] = [
        ", ".join(list(w)[:8]) if w is not None else "" for w in found["top_words"]
    ]
    _print_frame(f"topics closest to {find.strip()!r}", pd.DataFrame(found))


@app.command()
def compare(out: OutOpt = None, config: ConfigOpt = None, force: ForceOpt = False) -> None:
    """Compare what articles assert with the claims they cite: support, flags, coverage."""
    _run_stage(runner.stage_compare, out, config, requires="claims", force=force)


@app.command()
def report(
    out: OutOpt = None,
    config: ConfigOpt = None,
    report_dir: Annotated[
        Path | None,
        typer.Option(
            "--report-dir",
            help="Where to write the report (default: paths.reports, or OUT/report with --out).",
        ),
    ] = None,
) -> None:
    """Regenerate the report (HTML, Markdown, figures, CSV) from the stage tables."""
    cfg = _config(config)
    out_dir = out or cfg.paths.processed
    _require_table(out_dir, "support")
    target = report_dir or (out_dir / "report" if out else cfg.paths.reports)
    with _locked(), _progress() as progress, stage_guard(out_dir, "report"):
        stage = runner.stage_report(out_dir, target, cfg, progress)
    _summary([stage], out_dir, 0)
    console.print(f"report: {target / 'report.html'}")


@app.command()
def evaluate(
    gold: Annotated[
        list[Path] | None,
        typer.Option("--gold", "-g", help="Gold annotations (gold/dev.json format); repeatable."),
    ] = None,
    out: OutOpt = None,
    config: ConfigOpt = None,
    details: Annotated[bool, typer.Option(help="List unmatched items per article.")] = False,
    cv: Annotated[
        bool,
        typer.Option(
            "--cv",
            help="Article-level cross-validation of the tagger on the gold files "
            "(default: train.gold), with the rules as baseline, scored by train.scorer.",
        ),
    ] = False,
    folds: Annotated[
        str | None,
        typer.Option(help="With --cv: comma-separated folds to test (default: all)."),
    ] = None,
    support: Annotated[
        bool,
        typer.Option(
            "--support",
            help="Score the claim-to-item links against the gold `backs`: given the gold items "
            "and claims, and end to end on the tables of the last --cv run in --out.",
        ),
    ] = False,
) -> None:
    """Score extraction against gold annotations: a run on the gold articles, or (--cv)
    cross-validation that tests every article with a model that never saw it; --support
    scores the support links the same way."""
    cfg = _config(config)
    paths = gold or ([Path(p) for p in cfg.train.gold] if cv or support else [])
    if not paths:
        raise _fail("give --gold FILE, or --cv / --support to cross-validate on train.gold")
    for path in paths:
        if not path.is_file():
            raise _fail(f"gold file {path} does not exist")
    if cv or support:
        if cv:
            _cross_validate(paths, cfg, out, folds)
        _evaluate_support(paths, cfg, out or Path(cfg.paths.processed) / "cv", end_to_end=cv)
        return
    from pipeline.extract.evaluate import evaluate_gold, summarise

    scores, misses = evaluate_gold(paths[0], cfg, out)
    reference = scores["article"].iloc[0]
    for title, articles in (
        (f"reference article ({reference})", [reference]),
        ("all gold articles", None),
    ):
        _print_frame(title, summarise(scores, articles))
    if details:
        for article, rows in misses.items():
            typer.echo(f"\n{article}")
            for category, kind, label in rows:
                typer.echo(f"  {kind} {category:<13} {label}")


def _print_frame(title: str, frame) -> None:
    table = Table(title=title)
    for col in frame.columns:
        table.add_column(str(col), justify="left" if col == "category" else "right")
    for row in frame.itertuples(index=False):
        table.add_row(*[str(v) for v in row])
    Console().print(table)


def _cross_validate(paths: list[Path], cfg, out: Path | None, folds: str | None) -> None:
    import time

    from pipeline.extract.evaluate import cross_validate

    scorer = Path(cfg.train.scorer)
    if not scorer.is_file():
        raise _fail(f"scorer {scorer} does not exist (train.scorer)")
    try:
        chosen = [int(f) for f in folds.split(",")] if folds else None
    except ValueError as exc:
        raise _fail(f"--folds takes comma-separated numbers, not {folds!r}") from exc
    if chosen and not all(0 <= f < cfg.train.folds for f in chosen):
        raise _fail(f"folds are numbered 0 to {cfg.train.folds - 1}")
    target = out or Path(cfg.paths.processed) / "cv"
    started = time.perf_counter()
    scores = cross_validate(paths, cfg, target, scorer, chosen, log=console.print)
    for subset, systems in scores.items():
        for system, frame in systems.items():
            name = "trained tagger" if system == "model" else "rules only (baseline)"
            _print_frame(f"{subset}: {name}", frame)
    console.print(
        f"cross-validation: {cfg.train.folds} folds by article (seed {cfg.train.seed}), "
        f"{time.perf_counter() - started:.0f} s; tables and fold models in {target}"
    )


def _evaluate_support(paths: list[Path], cfg, cv_dir: Path, end_to_end: bool) -> None:
    """Link figures given the gold items and claims, then end to end when the tables of a
    cross-validation run are in `cv_dir` (required after --cv)."""
    import pandas as pd

    from pipeline.compare.evaluate import cross_validate_links, end_to_end_support
    from pipeline.extract.gold import read_gold

    articles = [a for path in paths for a in read_gold(path)]
    if not any(c.get("backs") for a in articles for c in a.get("claims", [])):
        console.print("support: the gold files carry no `backs` links; nothing to score")
        return
    figures, rows, models = cross_validate_links(articles, cfg)
    cv_dir.mkdir(parents=True, exist_ok=True)
    rows.to_csv(cv_dir / "links-given-gold.csv", index=False)
    table = [{"links": "given gold", **figures}]
    scorer = Path(cfg.train.scorer).with_name("score_support.py")
    if (cv_dir / "model" / "mentions.parquet").is_file() and scorer.is_file():
        try:
            e2e = end_to_end_support(articles, cv_dir, models, cfg, scorer)
        except ValueError as exc:
            raise _fail(str(exc)) from exc
        table.append(
            {
                "links": "end to end",
                **{k: int(e2e.get(k, 0)) for k in ("tp", "pred", "gold")},
                **{k: e2e.get(k) for k in ("P", "R", "F1")},
                "P_relation": e2e.get("relation_P"),
                "R_relation": e2e.get("relation_R"),
                "F1_relation": e2e.get("relation_F1"),
            }
        )
    elif end_to_end:
        raise _fail(f"no cross-validation tables or no {scorer}: cannot score end to end")
    else:
        console.print(
            f"end to end: no cross-validation tables in {cv_dir / 'model'} "
            "(run `pipeline evaluate --cv` first)"
        )
    columns = ["links", "tp", "pred", "gold", "P", "R", "F1", "P_relation", "R_relation"]
    columns += ["F1_relation"]
    _print_frame(
        "support links, article-level cross-validation (given gold: gold items and claims, "
        "the linker alone; end to end: extracted ones)",
        pd.DataFrame(table)[columns],
    )
    console.print(
        f"relation agreement on the links found given gold: {figures['relation_agreement']}; "
        f"links per fold in {cv_dir / 'links-given-gold.csv'}"
    )


@app.command()
def train(
    gold: Annotated[
        list[Path] | None,
        typer.Option(
            "--gold", "-g", help="Gold files to train on; repeatable (default: train.gold)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for the model (default: the packaged tagger)."),
    ] = None,
    review_db: Annotated[
        Path | None,
        typer.Option("--review-db", help="Also learn from the verdicts in this database."),
    ] = None,
    tables: Annotated[
        Path | None,
        typer.Option("--tables", help="The run the verdicts judged (default: paths.processed)."),
    ] = None,
    config: ConfigOpt = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: train.seed).")] = None,
    linker_only: Annotated[
        bool, typer.Option("--linker-only", help="Train only the claim-to-item linker (seconds).")
    ] = False,
    encoder: Annotated[
        str | None,
        typer.Option(
            help="Tagger to train: contextual or fast (default: extract.encoder; auto: both)."
        ),
    ] = None,
) -> None:
    """Train the extraction tagger and the claim-to-item linker on the annotated corpus (and
    reviewers' verdicts).

    Writes each tagger's weights and meta.json to --out/<encoder>, by default the packaged
    pipeline/resources/tagger-contextual/ and pipeline/resources/tagger/ (fast), which
    `extract.method: model` uses (`extract.model_dir` points a run at another folder), and
    the linker to linker.json in --out, by default pipeline/resources/linker.json
    (`compare.link_model` points a run at another file).
    """
    from pipeline.compare.train import train_linker
    from pipeline.extract.model import TAGGER_DIR, TAGGER_DIRS
    from pipeline.extract.train import train_tagger

    cfg = _config(config)
    chosen = encoder or cfg.extract.encoder
    if chosen not in ("auto", *TAGGER_DIRS):
        raise _fail(f"--encoder must be contextual, fast or auto, not {chosen!r}")
    encoders = list(TAGGER_DIRS) if chosen == "auto" else [chosen]
    if seed is not None:
        cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"seed": seed})})
    paths = gold or [Path(p) for p in cfg.train.gold]
    for path in paths:
        if not path.is_file():
            raise _fail(f"gold file {path} does not exist")
    if review_db is not None and not review_db.is_file():
        raise _fail(f"review database {review_db} does not exist")
    tables_dir = tables or cfg.paths.processed
    judged = tables_dir if review_db else None
    with console.status("training the claim-to-item linker"):
        linker = train_linker(cfg, paths, review_db, judged)
    linker_path = (out or TAGGER_DIR.parent) / "linker.json"
    linker.save(linker_path)
    console.print_json(data=linker.meta)
    console.print(f"linker: {linker_path}")
    if linker_only:
        return
    for name in encoders:
        with console.status(f"training the {name} tagger"):
            tagger = train_tagger(cfg, paths, review_db, judged, encoder=name)
        target = out / name if out else TAGGER_DIRS[name]
        tagger.save(target)
        console.print_json(data={k: v for k, v in tagger.meta.items() if k != "architecture"})
        console.print(f"{name} tagger: {target}")


@app.command()
def review(
    out: OutOpt = None,
    config: ConfigOpt = None,
    db: Annotated[
        Path | None,
        typer.Option("--db", help="Verdict database (default: review.db of the config)."),
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default: review.host, loopback).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port; 0 picks a free one (default: review.port).")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(help="Access token, required off loopback (default: $PIPELINE_REVIEW_TOKEN)."),
    ] = None,
    backup: Annotated[
        Path | None, typer.Option(help="Write a consistent copy of the database here and exit.")
    ] = None,
    export: Annotated[
        Path | None, typer.Option(help="Write the verdicts here (.csv or .jsonl) and exit.")
    ] = None,
    import_: Annotated[
        Path | None,
        typer.Option("--import", help="Add the verdicts of an export (.csv or .jsonl) and exit."),
    ] = None,
) -> None:
    """Start the review app: accept, reject or correct every extracted item against its source.

    With --import, --export or --backup it works on the verdict database instead (safe while
    the app runs) and exits.
    """
    import os
    from urllib.parse import quote

    from pipeline.review.app import InconsistentTablesError, Settings, is_loopback, make_server
    from pipeline.review.store import Limits, ReviewStore, VerdictError

    cfg = _config(config)
    db_path = db or cfg.review.db
    if backup or export or import_:
        if not import_ and not db_path.exists():
            raise _fail(f"no verdict database at {db_path}")
        store = ReviewStore(db_path, Limits.from_config(cfg.review))
        try:
            if import_:
                counts = store.import_verdicts(import_)
                console.print(f"imported {counts['imported']}, already present {counts['skipped']}")
            if export:
                console.print(f"exported {store.export(export)} verdicts to {export}")
        except VerdictError as exc:
            raise _fail(str(exc)) from None
        if backup:
            console.print(f"backup of {db_path} written to {store.backup(backup)}")
        return
    out_dir = out or cfg.paths.processed
    _require_table(out_dir, "support")
    token = token or os.environ.get(cfg.review.token_env) or None
    settings = Settings.from_config(cfg, out_dir, db=db, host=host, port=port, token=token)
    if not is_loopback(settings.host) and not settings.token:
        raise _fail(
            f"listening on {settings.host} needs an access token: --token or "
            f"${cfg.review.token_env}"
        )
    try:
        server, sock = make_server(settings)
    except OSError as exc:
        raise _fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}") from None
    except InconsistentTablesError as exc:
        raise _fail(f"the tables in {out_dir} do not fit together ({exc}): re-run") from None
    url = settings.url + (f"?token={quote(token, safe='')}" if token else "")
    typer.echo(f"Review app: {url}  (verdicts in {settings.db}; Ctrl+C stops it)")
    server.run(sockets=[sock])


_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@app.command()
def benchmark(
    input: Annotated[
        list[Path] | None,
        typer.Option(
            "--input",
            "-i",
            help="Corpus files (CSV/JSONL) (default: counsel-chat and FakeHealth in "
            "../shared/data).",
        ),
    ] = None,
    work: Annotated[
        Path | None,
        typer.Option("--work", help="Empty folder for the runs (default: a temporary folder)."),
    ] = None,
    growth_base: Annotated[
        int, typer.Option("--growth-base", help="Records per input file in the 1x growth corpus.")
    ] = 200,
    sections: Annotated[
        str,
        typer.Option(
            "--sections", help="Comma-separated: e2e, growth, rerun, extract, topics, executors."
        ),
    ] = "e2e,growth,rerun,extract,topics,executors",
) -> None:
    """Measure speed and memory: end to end, growth, re-runs, extraction, topics, executors."""
    import tempfile

    from pipeline.benchmark import run_benchmark

    inputs = (
        list(input)
        if input
        else [
            _SHARED / "counsel-chat" / "counsel_chat.csv",
            _SHARED / "fakehealth" / "health_story.jsonl.gz",
            _SHARED / "fakehealth" / "health_release.jsonl.gz",
        ]
    )
    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        raise _fail(f"benchmark input not found: {', '.join(missing)} (see ../shared/data)")
    chosen = {s.strip() for s in sections.split(",") if s.strip()}
    unknown = chosen - {"e2e", "growth", "rerun", "extract", "topics", "executors"}
    if unknown:
        raise _fail(f"unknown benchmark section(s): {', '.join(sorted(unknown))}")
    new_docs = sorted((_SHARED / "articles").glob("*.txt"))[:10]
    out = Console(width=140)  # tables to stdout (wide enough for every column); errors to stderr
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as tmp:
        folder = work or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        console.print(f"benchmark work folder: {folder}")
        run_benchmark(inputs, folder, growth_base, new_docs, chosen, out)


@app.command()
def schemas() -> None:
    """Print the documented table schemas as Markdown (the README's table reference)."""
    from pipeline.schemas import schema_markdown

    typer.echo(schema_markdown())


if __name__ == "__main__":
    app()
