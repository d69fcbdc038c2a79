# Every target that needs Python depends on .venv/.stamp, which is rebuilt whenever
# pyproject.toml changes, so `make run` / `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint fmt typecheck migrate bench bench-smoke bench-render profile faults clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tokend migrate
	$(BIN)/tokend serve --demo --host $(HOST) --port $(PORT)

migrate: $(STAMP)
	$(BIN)/tokend migrate

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

# The vault's refresh sweep needs PostgreSQL and Redis: the local ones unless these are set.
bench bench-smoke: export TOKEND_TEST_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test
bench bench-smoke: export TOKEND_TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

bench: $(STAMP)
	bash .ci/components --bench
	$(BIN)/python -m bench

# Every scenario at tiny sizes, 1 s each: results, log, charts and README section in var/bench-smoke/.
bench-smoke: $(STAMP)
	bash .ci/components --bench
	$(BIN)/python -m bench --smoke

# Redraw the README's performance section and bench/results/charts/ from bench/results/runs.jsonl.
bench-render: $(STAMP)
	$(BIN)/python -m bench --render

# The fault-injection suite alone, recording its table in the committed bench/results/faults.json
# (the normal test run writes it to var/test-results/, never to a tracked file).
faults: $(STAMP)
	bash .ci/components
	TOKEND_FAULTS_RESULTS=bench/results/faults.json $(BIN)/python -m pytest -m faults tests/faults

# make profile SCENARIO=jwks: a py-spy profile of the server under that load, in bench/results/profiles/
profile: $(STAMP)
	$(BIN)/python -m bench --profile $(SCENARIO)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
