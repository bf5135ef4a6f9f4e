# Two commands for a fresh machine (Python 3.11 + pip):
#   make book   builds the executed book into _build/html
#   make test   runs every test: unit tests, every chapter under nbval, the -W book build, an offline browser
#               test, the student notebooks on a simulated bare Colab runtime, the unit tests at the oldest
#               versions pyproject.toml allows (needs npm and, for the browser test, a Chromium)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
REQS   := requirements.txt $(wildcard requirements-real.txt requirements-nodeps.txt) pyproject.toml

.PHONY: book js test unit notebooks build-check browser colab bounds exercises clean

$(STAMP): $(REQS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt
	if [ -f requirements-real.txt ]; then $(BIN)/pip install --quiet -r requirements-real.txt -c requirements.txt; fi
	if [ -f requirements-nodeps.txt ]; then $(BIN)/pip install --quiet --no-deps --require-hashes -r requirements-nodeps.txt; fi
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

book: $(STAMP) js
	$(BIN)/jupyter-book build -W -n --keep-going .
	@echo "open _build/html/index.html"

# MathJax, require.js and the widget manager for an offline book: pinned npm packages, sha512 checked,
# copied into _build/html/_vendor by the build (html_extra_path in _config.yml).
js:
	$(PYTHON) tools/vendor_js.py _build/vendor_js

# Unit tests on two workers, one thread each (two torch processes with two threads each thrash 2 cores).
unit: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/pytest -q -n 2 --dist loadfile -m "not browser and not colab" tests

# Chapters run one at a time with both cores; only cells tagged nbval-check-output are compared.
notebooks: $(STAMP)
	$(BIN)/pytest -q --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
		chapters

build-check: book

browser: $(STAMP)
	command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || true
	$(BIN)/pytest -q -m browser tests/test_browser.py

# Colab as it runs: every student notebook in an empty folder on a fresh venv without superpos_lib, the
# setup cell installing it from the repository URL (git rewrites it to this checkout's HEAD).
colab: $(STAMP)
	$(BIN)/pytest -q -m colab tests/test_colab.py

# pyproject.toml's lower bounds hold: the unit tests with the oldest numpy, scipy, matplotlib, tqdm and
# ipywidgets it allows, next to the pinned torch (one venv in _build/venv-bounds, one thread).
bounds:
	$(PYTHON) tools/install_bounds.py

test: unit notebooks build-check browser colab bounds

exercises: $(STAMP)
	$(BIN)/python -m superpos_lib.exercises build

clean:
	rm -rf _build
