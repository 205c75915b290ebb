# Two entry points (see README.md):
#   make demo   set everything up and run a real workflow on the local engine
#   make test   set everything up and run the whole test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PLUGINS := $(patsubst %/,%,$(sort $(dir $(wildcard plugins/*/pyproject.toml))))
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): Makefile pyproject.toml core/pyproject.toml $(wildcard plugins/*/pyproject.toml)
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11'"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e "core[test]" $(foreach p,$(PLUGINS),-e "$(p)[test]") \
	    "pytest>=8" "pytest-timeout>=2.3" "jsonschema>=4.20" "ruff>=0.6"
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p .work/demo
	cd .work/demo && ../../$(BIN)/python ../../examples/quickstart.py

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check core plugins tests benchmarks examples templates
	$(BIN)/ruff format --check core plugins tests benchmarks examples templates

bench: $(STAMP)
	$(BIN)/uv pip install -q --python $(BIN)/python -e "plugins/storage_gcs[test,bench]"
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .work
