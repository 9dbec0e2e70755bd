# virtaudit: every set-up step lives here, so a fresh machine needs only `make demo` or `make test`.
# Needs: a Rust toolchain (cargo, with clippy and rustfmt), Python >= 3.11 with venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all help setup build demo test test-rust lint format test-python test-fast catalog bench bench-quick fuzz clean ansible wheel wheel-check

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
	$(BIN)/ruff check python tests benches examples tools
	$(BIN)/ruff format --check python tests benches examples tools
	$(BIN)/mypy
	$(BIN)/python -m mypy.stubtest virtaudit._core

format: setup ## Format the Python and Rust code in place
	$(BIN)/ruff format python tests benches examples tools
	$(BIN)/ruff check --fix python tests benches examples tools
	cargo fmt --all

test-python: build ansible ## pytest (every test)
	$(BIN)/pytest -q

test-fast: build ## pytest without the load tests and the benchmark
	$(BIN)/pytest -q -m "not load and not bench"

# The polars-free copy of the rule catalog and docs/rules.md, both generated from the rule modules in
# python/virtaudit/rules/ (tests fail while either is stale).
catalog: setup ## Regenerate the polars-free rule catalog and docs/rules.md
	$(BIN)/python -m virtaudit.rules > python/virtaudit/_catalog_data.py.new
	mv python/virtaudit/_catalog_data.py.new python/virtaudit/_catalog_data.py
	$(BIN)/ruff format --quiet python/virtaudit/_catalog_data.py
	$(BIN)/python -m virtaudit.catalog > docs/rules.md


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

# ansible-core for the fleet playbook's end-to-end test (tests/test_ansible.py), in a venv of its own:
# it is not a dependency of virtaudit.
ANSIBLE_VENV := .venv-ansible
$(ANSIBLE_VENV)/.installed:
	$(PYTHON) -m venv $(ANSIBLE_VENV)
	$(ANSIBLE_VENV)/bin/pip install --quiet 'ansible-core>=2.16,<2.20'
	touch $@

ansible: $(ANSIBLE_VENV)/.installed ## ansible-core in .venv-ansible (for tests/test_ansible.py)

# The abi3 wheel for the central machine (one wheel for every Python >= 3.11), release build, stripped.
wheel: setup ## The abi3 wheel in dist/
	$(BIN)/maturin build --release --strip --out dist

# Installs the wheel into a fresh venv and runs the demo audit from it, outside the source tree.
wheel-check: wheel ## Install the wheel in a fresh venv and run the demo from it
	rm -rf dist/venv && $(PYTHON) -m venv dist/venv
	dist/venv/bin/pip install --quiet "$$(ls -t dist/virtaudit-*.whl | head -n 1)"
	cd dist && venv/bin/virtaudit audit ../examples/fleet --quiet --limit 3; rc=$$?; \
	  if [ $$rc -ne 1 ]; then echo "wheel-check: expected exit 1 (planted findings), got $$rc"; exit 1; fi

clean: ## Remove the venvs and the build
	rm -rf $(VENV) $(ANSIBLE_VENV) dist target

# The libvirt lab (tests/lab/, docs/lab.md): real libvirtd + QEMU, as root on Debian (installs them).
# Runs every scenario, checks libvirt and virtaudit live, keeps the run as the recording and renders
# docs/lab.md. Where it cannot run (not root, no apt, packages do not install) it says why in one line.
.PHONY: lab lab-upgrade
LAB_OUT ?= /tmp/virtaudit-lab
lab: build ## The libvirt lab (root, Debian): real libvirtd + QEMU scenarios
	rm -rf $(LAB_OUT) && mkdir -p $(LAB_OUT)
	@start=$$(date +%s); $(BIN)/python tests/lab/lab.py run --out $(LAB_OUT); rc=$$?; \
	  echo "lab harness: exit $$rc after $$(( $$(date +%s) - start )) s"; \
	  if [ $$rc -ne 0 ] && [ $$rc -ne 77 ]; then exit $$rc; fi
	@if [ -f $(LAB_OUT)/skipped.txt ]; then echo "live lab skipped: $$(cat $(LAB_OUT)/skipped.txt)"; \
	  else VIRTAUDIT_LAB_OUT=$(LAB_OUT) $(BIN)/pytest -q -p no:cacheprovider tests/lab/test_lab_live.py; fi
	@if [ -f $(LAB_OUT)/results-restart.json ]; then \
	  $(BIN)/python tests/lab/record.py keep $(LAB_OUT) && $(BIN)/python tests/lab/record.py render; fi
	$(BIN)/pytest -q -p no:cacheprovider tests/lab/test_lab.py

# Real package changes with guests running: bookworm's libvirt 9.0.0 <-> 11.3.0 from bookworm-backports.
# Always leaves the machine on 9.0.0 (what CI and `make lab` expect).
lab-upgrade: build ## Real libvirt 9.0.0 <-> 11.3.0 package changes with guests running
	rm -rf $(LAB_OUT)-up && mkdir -p $(LAB_OUT)-up
	@rc=0; \
	  $(BIN)/python tests/lab/lab.py upgrade --from 9.0.0 --to 11.3.0 --out $(LAB_OUT)-up || rc=$$?; \
	  if [ $$rc -eq 0 ]; then $(BIN)/python tests/lab/lab.py upgrade --from 11.3.0 --to 9.0.0 --out $(LAB_OUT)-up || rc=$$?; fi; \
	  $(BIN)/python tests/lab/lab.py switch 9.0.0 --out $(LAB_OUT)-up || rc=$$?; \
	  if [ $$rc -ne 0 ] && [ $$rc -ne 77 ]; then exit $$rc; fi
	@if ls $(LAB_OUT)-up/results-*.json >/dev/null 2>&1; then \
	  $(BIN)/python tests/lab/record.py keep $(LAB_OUT)-up && $(BIN)/python tests/lab/record.py render; fi
