# Two entry points (see README.md):
#   make demo   install only what the demo needs (core + the local engine) and run a real workflow
#   make test   install everything (all plugins, test servers' clients, tools) and run the suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PLUGINS := $(patsubst %/,%,$(sort $(dir $(wildcard plugins/*/pyproject.toml))))
STAMP  := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
# bytecode for the venv (uv installs without it) and for our own sources (installed editable):
# where PYTHONDONTWRITEBYTECODE is set, every process (each test's subprocess) compiled every
# module it imported from source again (a test module with subprocesses: 63 s -> 18 s compiled)
SOURCES := core/src $(PLUGINS:%=%/src)
# (an optimisation: a file that does not compile, as some packages ship, fails no install)
COMPILE = $(BIN)/python -m compileall -q -j 0

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

# the venv and uv, shared by both installs
define make_venv
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11'"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/python -m pip install -q --disable-pip-version-check uv
endef

$(STAMP): Makefile pyproject.toml core/pyproject.toml $(wildcard plugins/*/pyproject.toml)
	$(make_venv)
	$(BIN)/uv pip install -q --python $(BIN)/python -e "core[test]" $(foreach p,$(PLUGINS),-e "$(p)[test]") \
	    "pytest>=8" "pytest-timeout>=2.3" "jsonschema>=4.20" "ruff>=0.6" \
	    "mypy>=1.16" types-PyYAML types-paramiko
	$(COMPILE) $(VENV)/lib >/dev/null || true
	touch $(STAMP)

# the lean first run: core and the local engine, nothing else (a full install also serves)
$(DEMO_STAMP): Makefile core/pyproject.toml plugins/engine_local/pyproject.toml
	$(make_venv)
	$(BIN)/uv pip install -q --python $(BIN)/python -e core -e plugins/engine_local
	$(COMPILE) $(VENV)/lib >/dev/null || true
	touch $(DEMO_STAMP)

demo: $(if $(wildcard $(STAMP)),$(STAMP),$(DEMO_STAMP))
	mkdir -p .work/demo
	$(COMPILE) core/src plugins/engine_local/src >/dev/null
	cd .work/demo && $(abspath $(BIN))/python ../../examples/quickstart.py

test: $(STAMP)
	$(COMPILE) $(SOURCES) >/dev/null
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check core plugins tests benchmarks examples templates
	$(BIN)/ruff format --check core plugins tests benchmarks examples templates
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/uv pip install -q --python $(BIN)/python -e "plugins/storage_gcs[test,bench]"
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .work
