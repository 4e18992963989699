# Everyday commands. `make train` and `make test` install into .venv/ first when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=
# make test's pytest-xdist processes; each test file runs whole on one of them (--dist loadfile)
TEST_WORKERS ?= 2
DIR ?=

.PHONY: install train test test-all lint tensorboard bench diagram summarize reproduce clean

install: $(STAMP)

$(STAMP): setup.cfg requirements/torch.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements/torch.txt -r requirements/torch.txt
	$(PY) -m pip install -q -c requirements/torch.txt -e ".[dev]"
	touch $(STAMP)

train: $(STAMP)
	$(PY) train.py $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(ARGS)

lint: $(STAMP)  # every Python file of the repository: cnnlstm tests hydra_plugins experiments scripts train.py eval.py
	$(PY) -m ruff check .

tensorboard: $(STAMP)  # every run under DIR (default outputs), each named after its run directory
	$(VENV)/bin/tensorboard --logdir $(or $(DIR),outputs) --bind_all

bench: $(STAMP)
	$(PY) -m cnnlstm.bench $(ARGS)

diagram: $(STAMP)
	$(PY) -m cnnlstm.visualize $(ARGS)

summarize: $(STAMP)
	$(PY) -m cnnlstm.experiments.summarize $(DIR)

# rerun a committed study and refresh experiments/results/$(STUDY)/ with provenance.json
reproduce: $(STAMP)
	$(PY) -m cnnlstm.experiments.reproduce $(STUDY) $(ARGS)

clean:
	rm -rf outputs multirun .pytest_cache
