# virtaudit: every set-up step lives here, so a fresh machine needs only `make demo` or `make test`.
# Needs: a Rust toolchain (cargo, with clippy and rustfmt), Python >= 3.11 with venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYDEPS := 'maturin>=1.9,<2' 'polars>=1.20' 'typer>=0.12,<0.29' 'rich>=13' 'pytest>=8' 'ruff>=0.6' 'mypy>=1.11' 'lxml>=5' 'hypothesis>=6.100'

.PHONY: all setup build demo test test-rust lint test-python catalog bench bench-quick fuzz clean

all: test

$(STAMP):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(PYDEPS)
	touch $(STAMP)

setup: $(STAMP)

# Release build of the native module, installed into the venv (editable: python/ is used in place).
# The package's bytecode is compiled as pip compiles an installed one: where PYTHONDONTWRITEBYTECODE is
# set (this machine sets it) Python would otherwise compile every module a command imports, on every run
# (all of python/virtaudit: ~0.1 s). A stale .pyc is never used: Python checks it against the source.
build: setup
	$(BIN)/maturin develop --release --quiet
	$(BIN)/python -m compileall -q python/virtaudit

# The main job: audit the example fleet that ships with the project. Exit code 1 means "findings at or
# above --fail-on" (the fleet has hazards planted on purpose), so the demo treats it as success.
demo: build
	$(BIN)/virtaudit audit examples/fleet; rc=$$?; \
	  if [ $$rc -eq 1 ]; then echo "(exit 1: findings at or above 'high', as planted in examples/fleet)"; exit 0; fi; exit $$rc

test-rust:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	cargo test --workspace --quiet

lint: setup
	$(BIN)/ruff check python tests benches examples tools
	$(BIN)/ruff format --check python tests benches examples tools
	$(BIN)/mypy
	$(BIN)/python -m mypy.stubtest virtaudit._core

test-python: build
	$(BIN)/pytest -q

# Everything CI runs.
test: test-rust build lint test-python

# The polars-free copy of the rule catalog and docs/rules.md, both generated from the rule modules in
# python/virtaudit/rules/ (tests fail while either is stale).
catalog: setup
	$(BIN)/python -m virtaudit.rules > python/virtaudit/_catalog_data.py.new
	mv python/virtaudit/_catalog_data.py.new python/virtaudit/_catalog_data.py
	$(BIN)/ruff format --quiet python/virtaudit/_catalog_data.py
	$(BIN)/python -m virtaudit.catalog > docs/rules.md

bench: build
	$(BIN)/python benches/run.py

bench-quick: build
	$(BIN)/python benches/run.py --quick

# Fuzz the core parser (docs/fuzzing.md): FUZZ_SECONDS per target. Needs `cargo install cargo-fuzz`.
FUZZ_SECONDS ?= 600
fuzz:
	rust/virtaudit-core/fuzz/run.sh parse_xml $(FUZZ_SECONDS)
	rust/virtaudit-core/fuzz/run.sh parse_bytes $(FUZZ_SECONDS)

clean:
	rm -rf $(VENV) target
