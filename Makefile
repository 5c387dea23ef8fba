# polab — the two set-up commands are `make lab` and `make test` (see README.md).
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
# The CPU build of torch installs in seconds here; `make lab TORCH=torch` takes pip's default.
TORCH   ?= torch==2.13.0
PORT    ?= 8888
LAB_OPTS ?=
SMOKE   ?= False
PARAMS  ?=
PYTEST_OPTS ?=
STAMP   := $(VENV)/.polab-installed

.PHONY: install lab test test-fast test-browser run bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name polab --display-name "Python (polab)" >/dev/null
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install polab with its lab and dev extras

lab: install  ## open the notebook series in JupyterLab
	$(BIN)/jupyter lab --notebook-dir=notebooks --port=$(PORT) $(LAB_OPTS)

test: install  ## ruff, then the whole pytest suite (math, envs, algorithms, notebooks, browser)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_OPTS)

test-fast: install  ## the suite without notebook and browser tests
	$(BIN)/python -m pytest --ignore=tests/browser --ignore=tests/test_notebooks.py $(PYTEST_OPTS)

test-browser: install  ## only the real-browser JupyterLab tests
	$(BIN)/python -m pytest tests/browser $(PYTEST_OPTS)

run: install  ## execute every notebook headless into build/ (e.g. make run SMOKE=True)
	$(BIN)/python scripts/run_notebooks.py --smoke $(SMOKE) $(PARAMS)

bench: install  ## run every benchmark script and print its table
	@for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf build .pytest_cache
