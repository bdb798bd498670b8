# Every target sets itself up from a fresh clone: the venv is made and the package installed
# on first use. torch 2.14.1 / torchvision 0.29.1 are pinned here because those wheels lie on
# this kind of machine's disk (other versions download several GB); pyproject admits ranges.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= demo-results
# Learning rates each (problem, optimizer) pair of the demo tries on the reserved tuning seed
# (same budget for every optimizer); 4 keeps `make demo` within 5 minutes of a fresh clone.
TUNE_SAMPLES ?= 4

.PHONY: install browser data test test-fast lint demo bench clean docs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Headless Chromium and its WebDriver, for tests/test_html_report.py (the report's web page in a
# real browser): Debian's packages, installed when missing (about 30 s here, apt-get update included).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  ($(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)

# Data that packages ship, for the full-size problems (`make demo` runs it; `make test` needs none):
# full Fashion-MNIST from Debian's dataset-fashion-mnist, installed where apt is available.
FASHION_DEB := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
data:
	@test -f $(FASHION_DEB) || { command -v apt-get >/dev/null || { echo "make data: no apt-get here; put Fashion-MNIST's four .gz files (github.com/zalandoresearch/fashion-mnist) in a folder and pass --option data_dir=FOLDER" >&2; exit 1; }; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; }

# Every test of every tier. Two xdist workers: the tests that start Ray or a `ray start` cluster
# (marks ray, cluster) run one after another in one of them (xdist group "ray"), sharing one
# session Ray; the rest are spread over both. The session fails if a test changed the source
# tree (tests/conftest.py compares `git status` before and after).
test: $(STAMP) browser
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup $(PYTEST_ARGS)

# The unit tier for the inner loop: no Ray, no cluster, no browser, no long end-to-end run.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not (ray or cluster or slow or browser)" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check raybench problems tuning rl reproduce tests benchmarks examples

demo: $(STAMP) data
	$(BIN)/raybench run --suite quick --tune-lr --tune-samples $(TUNE_SAMPLES) --out $(OUT) --resume
	$(BIN)/raybench report $(OUT)

# The documentation site (mkdocs-material) into site/, warnings as errors; its reference pages are made
# from the code while it builds (tools/gen_docs.py, the hook mkdocs.yml names).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

bench: $(STAMP)
	$(BIN)/python benchmarks/loop_overhead.py
	$(BIN)/python benchmarks/suite_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache $(OUT)
