# Two entry points: `make demo` (the whole pipeline on the phantom, CPU) and `make test`.
# Both create the virtual environment on first use; re-running reuses it until pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test lint env clean-runs

env: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"cxrvlp needs Python 3.11, found {sys.version.split()[0]}"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[weights,tensorboard,detection,dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cxrvlp demo --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=15

lint: $(STAMP)
	$(BIN)/ruff check .

clean-runs:
	rm -rf runs
