# voc-monitor — the commands a new user, a developer and CI run (see README.md).
#
#   make demo    the whole pipeline offline on bundled data into var/demo/ (alert emails in var/demo/outbox/)
#   make test    the test suite
#   make model   retrain the sentiment model into nlp/model/ (slow on a CPU)
#   make bench   the benchmarks in bench/
#   make lint    ruff, mypy (strict on core, indexer, voc, alerts) and the import-cycle check
#
# Each target first makes .venv in the repo root when it is missing or when pyproject.toml changed
# (the stamp file's name carries a hash of pyproject.toml, so an unchanged file never reinstalls).
# torch is installed first, pinned, so pip never picks another build while resolving the project.
# Extra pip options for torch (e.g. the CPU-only index) go in TORCH_PIP_ARGS:
#   make test TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
TORCH_VERSION := 2.13.0
TORCH_PIP_ARGS ?=
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: install demo test model bench lint clean

install: $(STAMP)

$(STAMP):
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || { echo "creating $(VENV) with $(PYTHON)"; \
		rm -rf $(VENV); $(PYTHON) -m venv $(VENV); }  # a venv cut short (no pip) is made again
	$(BIN)/python -m pip install torch==$(TORCH_VERSION) $(TORCH_PIP_ARGS)
	$(BIN)/python -m pip install -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: $(STAMP)
	$(BIN)/voc demo
	@echo
	@echo "voc is installed in $(BIN)/, not on your PATH: run it as $(BIN)/voc (e.g. $(BIN)/voc --help),"
	@echo "or first put it on the PATH of this shell with: source $(BIN)/activate"
	@echo
	@echo "The web console over the demo's store (http://127.0.0.1:8080/): create the first admin, then serve it:"
	@echo "  VOC_STORE__PATH=var/demo/voc.db $(BIN)/voc users add admin --role admin"
	@echo "  VOC_STORE__PATH=var/demo/voc.db $(BIN)/voc web"

# The suite runs on TEST_WORKERS processes (pytest-xdist); every test has its own tmp_path, ports
# and store, so they share nothing. `make test TEST_WORKERS=0` runs it in one process.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

model: $(STAMP)
	$(BIN)/python -m nlp.training.train

bench: $(STAMP)
	$(BIN)/python -m pip install -e '.[bench]'
	@set -e; for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script; done

CYCLES := ../shared/tools/import_cycles.py
PACKAGES := core voc nlp crawlers indexer alerts web care

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	@if [ -f $(CYCLES) ]; then \
		echo "import cycles (modules, deferred and type-only imports counted)"; \
		$(BIN)/python $(CYCLES) --all . $(PACKAGES) && \
		echo "import cycles (top-level packages: the layers)" && \
		$(BIN)/python $(CYCLES) --all --packages . $(PACKAGES); \
	else echo "note: $(CYCLES) not found (../shared absent): import-cycle check skipped"; fi

clean:
	rm -rf var/demo .pytest_cache .ruff_cache
