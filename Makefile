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
# The browser tests drive this Chromium (tests/browser/labdriver.py reads POLAB_CHROMIUM);
# `make browser-deps` installs Debian's `chromium` there through $(APT) when it is missing.
CHROMIUM ?= $(or $(POLAB_CHROMIUM),/usr/bin/chromium)
APT     ?= apt-get
export POLAB_CHROMIUM := $(CHROMIUM)

.PHONY: install browser-deps lab test test-fast test-browser run book bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name polab --display-name "Python (polab)" >/dev/null
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install polab with its lab and dev extras

# Root installs directly, a user through passwordless `sudo -n`; anyone else gets one message,
# before anything else runs, saying what to install.
browser-deps:  ## Chromium for the browser tests: installs Debian's `chromium` when it is missing
	@command -v "$(CHROMIUM)" >/dev/null 2>&1 && exit 0; \
	if [ "$$(id -u)" = 0 ]; then sudo=; \
	elif sudo -n true >/dev/null 2>&1; then sudo="sudo -n"; \
	else sudo=no; fi; \
	why="that needs root or passwordless sudo"; \
	if [ "$$sudo" != no ]; then \
	    why="$(APT) did not install it, see above"; \
	    echo "make: no Chromium at $(CHROMIUM); installing Debian's chromium for the browser tests"; \
	    $$sudo env DEBIAN_FRONTEND=noninteractive $(APT) update -q \
	    && $$sudo env DEBIAN_FRONTEND=noninteractive $(APT) install -y -q chromium \
	    && command -v "$(CHROMIUM)" >/dev/null 2>&1 && exit 0; \
	fi; \
	echo "make: the browser tests need Chromium at $(CHROMIUM), which is missing and could not"; \
	echo "be installed here ($$why). Install it:"; \
	echo "    sudo apt-get update && sudo apt-get install chromium"; \
	echo "or use another Chromium/Chrome:  make test CHROMIUM=/path/to/chrome"; \
	echo "or leave the browser tests out:  make test-fast"; \
	exit 1

lab: install  ## open the notebook series in JupyterLab
	$(BIN)/jupyter lab --notebook-dir=notebooks --port=$(PORT) $(LAB_OPTS)

test: browser-deps install  ## ruff, import contracts, the whole pytest suite (notebooks, browser)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_OPTS)

test-fast: install  ## the suite without notebook and browser tests
	$(BIN)/python -m pytest --ignore=tests/browser --ignore=tests/test_notebooks.py $(PYTEST_OPTS)

test-browser: browser-deps install  ## only the real-browser JupyterLab tests
	$(BIN)/python -m pytest tests/browser $(PYTEST_OPTS)

run: install  ## execute every notebook headless into build/ (e.g. make run SMOKE=True)
	$(BIN)/python scripts/run_notebooks.py --smoke $(SMOKE) $(PARAMS)

book: install  ## the series as a static site in build/book/ (make book SMOKE=True: quick)
	$(BIN)/python scripts/run_notebooks.py --smoke $(SMOKE) --reuse $(PARAMS)
	$(BIN)/python scripts/build_book.py

bench: install  ## run every benchmark script and print its table
	@for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf build .pytest_cache
