# The two commands of the README. Each sets up everything it needs on a fresh machine:
#   make demo   runs the main job on the built-in default data
#   make test   runs the test suite
# Both create .venv once (re-created when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench setup clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch is pinned to 2.13.0, the CPU build this machine kind serves; see pyproject.toml.
	$(BIN)/pip install --quiet -e ".[teacher,speech,dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/tinykd demo --out demo-out

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Every benchmark, one results file (bench/results/ALL.md); PROFILE=full for the sizes the docs quote.
PROFILE ?= quick
bench: $(STAMP)
	$(BIN)/python bench/run_all.py --profile $(PROFILE)

clean:
	rm -rf $(VENV) demo-out
