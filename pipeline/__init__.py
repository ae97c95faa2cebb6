"""Topic-modelling research pipeline for self-help articles.

Stages, one module each: ingest (load) -> clean -> screen -> segment -> extract -> topics ->
compare -> report. `pipeline.runner` wires them; `pipeline.cli` is the `pipeline` command.
"""

__version__ = "0.1.0"
