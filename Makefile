# The platform's commands. `make setup` is idempotent and takes seconds when nothing changed;
# `make dev` and `make test` call it, so a fresh clone needs nothing but Python 3.11+.

SHELL := /bin/bash
.DEFAULT_GOAL := help

export DAGSTER_HOME ?= $(CURDIR)/.dagster
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export UV_COMPILE_BYTECODE := 1
# The one library warning printed before any project code loads: `dagster asset materialize`
# (what `make backfill` runs) pointing at `dg launch`. orchestration/library_warnings.py
# filters the others, in every process that loads the definitions.
comma := ,
export PYTHONWARNINGS := $(if $(PYTHONWARNINGS),$(PYTHONWARNINGS)$(comma))ignore:Function `asset_materialize_command` is superseded
DAGSTER_PORT ?= 3000

# uv: the one on PATH, else one installed earlier in ~/.local/bin, else the project's own.
TOOLS ?= $(CURDIR)/.tools
UV := $(or $(shell command -v uv 2>/dev/null),$(wildcard $(HOME)/.local/bin/uv),$(TOOLS)/bin/uv)
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
DBT_DIR := dbt_project
MANIFEST := $(DBT_DIR)/target/manifest.json
DBT_SOURCES := $(shell find $(DBT_DIR) -path $(DBT_DIR)/target -prune -o -path $(DBT_DIR)/logs -prune \
	-o -path $(DBT_DIR)/dbt_packages -prune \
	-o -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.yaml' \) -print)

.PHONY: help setup dev api serve serve-env test test-fast backfill digest defs bench lint format clean secrets

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# In a private venv (.tools/, git-ignored): Debian's and other externally-managed Pythons refuse
# `pip install --user` (PEP 668), and a venv of its own touches nothing of the system's Python.
$(TOOLS)/bin/uv:
	@python3 -m venv "$(TOOLS)" || { echo "make: python3 -m venv failed: install the venv module \
	(Debian: apt-get install python3-venv) or uv itself (https://docs.astral.sh/uv/)"; exit 1; }
	"$(TOOLS)/bin/python" -m pip install --quiet --disable-pip-version-check uv

$(BIN)/dagster: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode
	@touch $@

# dbt packages, when the project declares any: `dbt deps` runs when dbt_packages/ is missing or
# older than what declares them (or the lock dbt writes), so once installed, setup needs no network.
DBT_PACKAGE_FILES := $(wildcard $(DBT_DIR)/packages.yml $(DBT_DIR)/dependencies.yml)
ifneq ($(DBT_PACKAGE_FILES),)
DBT_PACKAGES := $(DBT_DIR)/dbt_packages
$(DBT_PACKAGES): $(DBT_PACKAGE_FILES) $(wildcard $(DBT_DIR)/package-lock.yml) | $(BIN)/dagster
	@echo "$(BIN)/dbt deps --project-dir $(DBT_DIR) --profiles-dir $(DBT_DIR)"
	@$(BIN)/dbt deps --project-dir $(DBT_DIR) --profiles-dir $(DBT_DIR) || { \
	  echo "make setup: \`dbt deps\` failed: the packages of $(DBT_PACKAGE_FILES) could not be installed"; \
	  echo "  (dbt Hub and git need the network). If $@/ already holds them, \`touch $@\`."; exit 1; }
	@touch $@
endif

$(MANIFEST): $(BIN)/dagster $(DBT_SOURCES) $(DBT_PACKAGES)
	$(BIN)/dbt parse --quiet --project-dir $(DBT_DIR) --profiles-dir $(DBT_DIR)
	@touch $@

# Compiled once here, so start-up is as fast where PYTHONDONTWRITEBYTECODE is set.
PROJECT_PACKAGES := settings.py warehouse.py core ingestion orchestration commands transform example jaffle_api
PROJECT_SOURCES := $(shell find $(PROJECT_PACKAGES) -name '*.py')
$(VENV)/.project-bytecode: $(BIN)/dagster $(PROJECT_SOURCES)
	$(BIN)/python -m compileall -q $(PROJECT_PACKAGES)
	@touch $@

# The instance config the project ships, in the (git-ignored) instance folder. A config that
# sets its own storage (deploy/dagster.yaml: Postgres) is the operator's and is left alone.
$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	@if grep -qs '^storage:' $@; then touch $@; else echo "cp dagster.yaml $@"; cp dagster.yaml $@; fi

# Its storage, created once here so that two runs started together never both create it.
$(DAGSTER_HOME)/.instance-ready: $(DAGSTER_HOME)/dagster.yaml $(BIN)/dagster
	$(BIN)/python -m commands.instance

setup: $(BIN)/dagster $(MANIFEST) $(VENV)/.project-bytecode $(DAGSTER_HOME)/.instance-ready ## Install the locked environment and prepare the dbt manifest

api: setup ## Run the local jaffle-shop API stand-in on 127.0.0.1:$API_PORT (default 8000)
	@$(BIN)/python -m commands.preflight --api-address
	$(BIN)/python -m jaffle_api

dev: setup ## Start the local API and `dagster dev` on 127.0.0.1:$DAGSTER_PORT (3000); Ctrl-C or SIGTERM stops both
	@exec $(BIN)/python -m commands.dev

# Checked before `setup`, so a fresh DAGSTER_HOME never gets the SQLite config by mistake.
SERVE_VARS := DAGSTER_PG_HOST DAGSTER_PG_PORT DAGSTER_PG_USERNAME DAGSTER_PG_PASSWORD DAGSTER_PG_DB
serve-env:
	@missing=""; for v in $(SERVE_VARS); do test -n "$${!v}" || missing="$$missing $$v"; done; \
	if [ -n "$$missing" ]; then echo "make serve: not set:$$missing (the Postgres instance of deploy/dagster.yaml)"; exit 2; fi
	@grep -qs '^  postgres:' "$(DAGSTER_HOME)/dagster.yaml" || { echo "make serve: DAGSTER_HOME=$(DAGSTER_HOME) has no Postgres dagster.yaml: mkdir -p DIR && cp deploy/dagster.yaml DIR/ && export DAGSTER_HOME=DIR"; exit 2; }

serve: serve-env setup ## Code server, webserver, daemon (+ local API) on one Postgres instance; needs DAGSTER_PG_*
	@exec $(BIN)/python -m commands.serve

# Two workers: most tests wait on real processes (dagster, dbt, a browser), not on the CPU.
# Four were ~7 % faster but made process-shutdown races in Dagster's own tools show up.
# `--dist loadscope`: each module runs whole on one worker, so a module's fixtures (a shared run,
# a started process) are built once, not once per worker; tests/conftest.py starts the slowest
# modules first so neither worker is left idle at the end.
PYTEST_WORKERS := -n 2 --dist loadscope
SYSTEM_TESTS := test_recovery test_concurrency test_topology test_postgres_warehouse \
	test_alerts_daemon test_ui test_ui_operate test_dg test_pools test_portable test_fork_project \
	test_interrupts test_quiet_alerts test_serve_alerts test_api_address test_preflight
test: setup ## Run the whole test suite (about 18 min on 2 cores); ends with its 15 slowest tests
	$(BIN)/pytest $(PYTEST_WORKERS) --durations=15

test-fast: setup ## The suite without the tests that drive whole processes (CLI, daemon, browser, Postgres)
	$(BIN)/pytest $(PYTEST_WORKERS) $(foreach t,$(SYSTEM_TESTS),--ignore=tests/$(t).py)

backfill: setup ## Materialize every asset for START..END (YYYY-MM-DD, inclusive); needs the API
	@test -n "$(START)" -a -n "$(END)" || { echo "usage: make backfill START=YYYY-MM-DD END=YYYY-MM-DD"; exit 2; }
	@exec $(BIN)/python -m commands.backfill "$(START)" "$(END)"

digest: setup ## Print the morning digest: yesterday's partitions, failing checks, dead letters, failed runs
	@$(BIN)/python -m orchestration.digest

defs: setup ## List the assets, checks, jobs, schedules and sensors (fits 100 columns)
	@$(BIN)/python -m commands.list_defs

# sqlfluff compiles the dbt project with dbt itself (.sqlfluff), so installed packages are needed.
lint: setup secrets ## ruff, sqlfluff and the secret scan, as CI runs them
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint $(DBT_DIR)

# detect-secrets over the git-tracked files: fails on any secret not in .secrets.baseline.
# A false positive gets an inline `# pragma: allowlist secret` comment.
secrets: setup ## Scan the tracked files for committed secrets (keys, tokens, passwords)
	$(BIN)/detect-secrets-hook --baseline .secrets.baseline $$(git ls-files)

format: setup ## Format Python and SQL in place
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIN)/sqlfluff fix $(DBT_DIR)

clean: ## Remove the warehouse, dbt build output and local Dagster run history
	rm -rf data $(DBT_DIR)/target $(DBT_DIR)/logs
	if [ -d "$(DAGSTER_HOME)" ]; then find "$(DAGSTER_HOME)" -mindepth 1 -not -name dagster.yaml -delete; fi

bench: setup ## Benchmark the orchestration tax into docs/benchmarks.md (BENCH_ARGS=--quick)
	$(BIN)/python -m bench $(BENCH_ARGS)
