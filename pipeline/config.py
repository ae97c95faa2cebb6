"""One validated configuration: packaged defaults, partly overridden by a user's YAML file."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Section(BaseModel):
    # Unknown keys are errors: a typo in a user file must not be silently ignored.
    model_config = ConfigDict(extra="forbid")


class PathsConfig(_Section):
    raw: Path
    processed: Path
    reports: Path
    web_cache: Path


class LoadConfig(_Section):
    max_file_bytes: int = Field(gt=0)
    ignore: list[str]
    encodings: list[str]
    text_columns: list[str]
    title_columns: list[str]
    url_columns: list[str]
    id_columns: list[str]
    author_columns: list[str]
    published_columns: list[str]
    min_words: int = Field(ge=0)
    max_paragraph_chars: int = Field(gt=0, le=1_000_000)
    english_min_ratio: float = Field(ge=0, le=1)
    flag_duplicates: bool
    near_duplicate_threshold: float = Field(gt=0, le=1)
    minhash_permutations: int = Field(ge=16)
    shingle_words: int = Field(ge=1)


class FetchConfig(_Section):
    user_agent: str
    timeout_s: float = Field(gt=0)
    per_host_delay_s: float = Field(ge=0)
    max_retries: int = Field(ge=0)
    backoff_base_s: float = Field(ge=0)
    max_retry_after_s: float = Field(ge=0)
    max_redirects: int = Field(ge=0)
    max_body_bytes: int = Field(gt=0)
    allowed_content_types: list[str]
    respect_robots: bool
    allow_private_hosts: bool
    max_sitemap_urls: int = Field(gt=0)


class CleanConfig(_Section):
    line_patterns: dict[str, str]
    title_patterns: dict[str, str]
    title_scan_lines: int = Field(ge=1)
    title_max_words: int = Field(ge=1)
    title_max_chars: int = Field(ge=10)
    tail_markers: list[str]
    repeated_line_min_count: int = Field(ge=2)
    repeated_line_max_words: int = Field(ge=1)
    caption_max_words: int = Field(ge=1)

    @field_validator("line_patterns", "title_patterns")
    @classmethod
    def _patterns_compile(cls, value: dict[str, str], info) -> dict[str, str]:
        for name, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"clean.{info.field_name}.{name} is not a valid regex: {exc}"
                ) from exc
        return value


class SegmentConfig(_Section):
    section_roles: dict[str, list[str]]
    max_heading_words: int = Field(ge=1)
    sentence_batch_size: int = Field(ge=1)


class SpacyConfig(_Section):
    model: str
    n_process: int = Field(ge=1)
    batch_size: int = Field(ge=1)


# The two taggers; settings that differ between them are dicts keyed by tagger.
Tagger = Literal["contextual", "fast"]


class ExtractConfig(_Section):
    method: Literal["model", "rules"]
    encoder: Literal["auto", "contextual", "fast"] = "auto"
    contextual_max_words: int = Field(default=400_000, ge=0)
    model_dir: str | None = None
    model_threshold: dict[Tagger, Annotated[float, Field(ge=0, le=1)]]
    outside_weight: float = Field(gt=0)
    claim_threshold: float = Field(ge=0, le=1)
    max_title_words: int = Field(ge=1)
    context_conflicts: dict[str, list[str]]


class TrainConfig(_Section):
    gold: list[str]
    scorer: str
    seed: int
    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    final_epochs: dict[Tagger, Annotated[int, Field(ge=0)]]
    final_learning_rate: float = Field(gt=0)
    hidden: int = Field(ge=8)
    layers: dict[Tagger, Annotated[int, Field(ge=1, le=4)]]
    dropout: float = Field(ge=0, lt=1)
    span_weight: float = Field(gt=0)
    ensemble: dict[Tagger, Annotated[int, Field(ge=1, le=8)]]
    threads: int = Field(ge=1)
    folds: int = Field(ge=2)
    review_weight: int = Field(ge=1)
    calibration_folds: int = Field(ge=0)
    link_c: float = Field(gt=0)
    link_inner_folds: int = Field(ge=0)


class ConceptsConfig(_Section):
    backend: Literal["minilm", "model2vec"]
    lexicon_similarity: float = Field(gt=0, le=1)
    cluster_similarity: float = Field(gt=0, le=1)
    max_cluster_keys: int = Field(ge=2)


class TopicsConfig(_Section):
    unit: Literal["sentence", "paragraph", "item"]
    backend: Literal["auto", "minilm", "model2vec"]
    small_corpus_units: int = Field(ge=0)
    min_words: int = Field(ge=1)
    other_languages: list[str]
    min_units: int = Field(ge=2)
    n_neighbors: int = Field(ge=2)
    n_components: int = Field(ge=2)
    umap_epochs: int = Field(ge=10)
    random_state: int
    clusterer: Literal["auto", "hdbscan", "kmeans", "ward", "knn_ward"]
    n_clusters: int = Field(ge=2)
    large_n_clusters: int = Field(ge=2)
    ward_neighbors: int = Field(ge=2)
    min_cluster_size: int = Field(ge=2)
    min_cluster_share: float = Field(ge=0, le=1)
    min_samples: int = Field(ge=1)
    cluster_selection_method: Literal["eom", "leaf"]
    guided: bool
    ngram_max: int = Field(ge=1, le=3)
    bm25_weighting: bool
    min_df: int = Field(ge=1)
    max_df: float = Field(gt=0, le=1)
    nr_topics: Literal["auto"] | int | None = Field(default=None)
    top_words: Literal["relevance", "ctfidf"]
    relevance_lambda: float = Field(ge=0, le=1)
    relevance_min_count: int = Field(ge=1)
    max_topics_per_word: int | None = Field(ge=1)
    coherence_weight: float = Field(ge=0, le=1)
    mmr_diversity: float | None = Field(ge=0, le=1)
    label_mmr_diversity: float = Field(ge=0, le=1)
    reduce_outliers: bool
    outlier_threshold: float
    max_seed_topics: int = Field(ge=0)
    extra_stop_words: list[str]
    max_fit_units: int = Field(ge=100)
    refit_share: float = Field(ge=0, le=1)


class CompareConfig(_Section):
    link_model: Path | None
    evidence_csv: Path | None
    evidence_claim_column: str
    evidence_verdict_column: str
    evidence_source_column: str
    evidence_verdict_labels: dict[str, str]
    evidence_top_k: int = Field(ge=1)


class ReportConfig(_Section):
    title: str
    max_articles: int = Field(ge=1)
    time_bin: Literal["Y", "Q", "M", "W"]


class RunConfig(_Section):
    executor: Literal["local", "dask"]
    workers: int = Field(ge=0)
    scheduler: str | None
    dask_workers: int = Field(ge=1)
    partition_docs: int = Field(ge=1)
    partition_files: int = Field(ge=1)
    cache: bool


class ReviewConfig(_Section):
    db: Path
    host: str
    port: int = Field(ge=0, le=65535)
    token_env: str
    max_comment_chars: int = Field(ge=1)
    max_concept_chars: int = Field(ge=1)
    max_reviewer_chars: int = Field(ge=1)
    max_body_bytes: int = Field(ge=1024)
    page_size: int = Field(ge=1)
    claim_confidence: dict[str, float]

    @field_validator("claim_confidence")
    @classmethod
    def _confidences(cls, value: dict[str, float]) -> dict[str, float]:
        if not value or not all(0 <= v <= 1 for v in value.values()):
            raise ValueError("review.claim_confidence needs values between 0 and 1")
        return value


class EmbeddingsConfig(_Section):
    cache_dir: Path


class Config(_Section):
    """The whole configuration; each stage reads its own section."""

    paths: PathsConfig
    run: RunConfig
    load: LoadConfig
    fetch: FetchConfig
    clean: CleanConfig
    segment: SegmentConfig
    spacy: SpacyConfig
    extract: ExtractConfig
    train: TrainConfig
    concepts: ConceptsConfig
    embeddings: EmbeddingsConfig
    topics: TopicsConfig
    compare: CompareConfig
    report: ReportConfig
    review: ReviewConfig


class ConfigError(ValueError):
    """A configuration file that cannot be read or does not validate."""


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge `override` into `base`: nested dicts merge, everything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def default_config_dict() -> dict[str, Any]:
    """The packaged defaults as a plain dict."""
    text = resources.files("pipeline").joinpath("defaults.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Load the packaged defaults, apply a user YAML file and then `overrides`, and validate.

    Raises:
        ConfigError: the file is missing, is not a YAML mapping, or fails validation.
    """
    data = default_config_dict()
    if path is not None:
        try:
            user = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
        if not isinstance(user, dict):
            raise ConfigError(f"config {path} must be a YAML mapping, got {type(user).__name__}")
        data = _deep_merge(data, user)
    if overrides:
        data = _deep_merge(data, overrides)
    try:
        return Config.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"invalid config: {exc}") from exc
