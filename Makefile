# virtaudit: every set-up step lives here, so a fresh machine needs only `make demo` or `make test`.
# Needs: a Rust toolchain (cargo, with clippy and rustfmt), Python >= 3.11 with venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all help setup build demo test test-rust lint format test-python test-fast bench bench-quick fuzz clean

all: test

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# The dependencies are pyproject.toml's `dev` dependency group (pip >= 25.1 installs groups); the stamp is
# redone when pyproject.toml changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --group dev
	touch $(STAMP)

setup: $(STAMP) ## Make the venv with the dev dependency group

# Release build of the native module, installed into the venv (editable: python/ is used in place).
# The package's bytecode is compiled as pip compiles an installed one: where PYTHONDONTWRITEBYTECODE is
# set (this machine sets it) Python would otherwise compile every module a command imports, on every run
# (all of python/virtaudit: ~0.1 s). A stale .pyc is never used: Python checks it against the source.
build: setup ## Build the native module into the venv
	$(BIN)/maturin develop --release --quiet
	$(BIN)/python -m compileall -q python/virtaudit

# The main job: audit the example fleet that ships with the project. Exit code 1 means "findings at or
# above --fail-on" (the fleet has hazards planted on purpose), so the demo treats it as success.
demo: build ## Audit the example fleet
	$(BIN)/virtaudit audit examples/fleet; rc=$$?; \
	  if [ $$rc -eq 1 ]; then echo "(exit 1: findings at or above 'high', as planted in examples/fleet)"; exit 0; fi; exit $$rc

test-rust: ## cargo fmt, clippy, test
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	cargo test --workspace --quiet

lint: setup ## ruff, ruff format --check, mypy --strict, stubtest
	$(BIN)/ruff check python tests benches examples
	$(BIN)/ruff format --check python tests benches examples
	$(BIN)/mypy
	$(BIN)/python -m mypy.stubtest virtaudit._core

format: setup ## Format the Python and Rust code in place
	$(BIN)/ruff format python tests benches examples
	$(BIN)/ruff check --fix python tests benches examples
	cargo fmt --all

test-python: build ## pytest (every test)
	$(BIN)/pytest -q

test-fast: build ## pytest without the load tests and the benchmark
	$(BIN)/pytest -q -m "not load and not bench"

# Everything CI runs.
test: test-rust build lint test-python ## Every check and test

bench: build ## The benchmark (benches/RESULTS.md)
	$(BIN)/python benches/run.py

bench-quick: build ## The benchmark on tiny fleets
	$(BIN)/python benches/run.py --quick

# Fuzz the core parser (docs/fuzzing.md): FUZZ_SECONDS per target. Needs `cargo install cargo-fuzz`.
FUZZ_SECONDS ?= 600
fuzz: ## Fuzz the core parser (needs cargo-fuzz)
	rust/virtaudit-core/fuzz/run.sh parse_xml $(FUZZ_SECONDS)
	rust/virtaudit-core/fuzz/run.sh parse_bytes $(FUZZ_SECONDS)

clean: ## Remove the venv and the build
	rm -rf $(VENV) target
