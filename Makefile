# Every target that needs Python depends on .venv/.stamp: the virtualenv holds exactly the
# versions in requirements/dev.txt (hash-checked), then tokend itself, editable and without
# resolving anything. It is rebuilt when requirements/dev.txt or pyproject.toml changes, so
# `make run` / `make test` work on a fresh clone. The editable install covers the whole src/
# tree, the tokend-guard distribution's modules included (packages/guard builds them as a wheel).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# make test: the local PostgreSQL and Redis (.ci/components starts them) unless these are set.
TEST_DATABASE_URL := postgresql+asyncpg://postgres@127.0.0.1:5432/test
TEST_REDIS_URL := redis://127.0.0.1:6379/0

.PHONY: run test test-quick lint lock lock-upgrade fmt typecheck migrate secrets screenshots bench \
	bench-smoke bench-render profile faults account-screenshots clean

$(STAMP): requirements/dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The demo migrates the database it creates (and writes demo data into no other).
run: $(STAMP)
	$(BIN)/tokend serve --demo --host $(HOST) --port $(PORT)

migrate: $(STAMP)
	$(BIN)/tokend migrate

# The compose stack's secret key and static tokens, made here into deploy/envs/secrets.env
# (git-ignored, 0600); values already there are kept.
secrets:
	$(PYTHON) deploy/make_secrets.py

# Everything: unit, API, security, end-to-end (real tokend processes, a browser, openid-client
# on Node.js), deployment and fault-injection tests, on SQLite and PostgreSQL, with and without
# Redis. .ci/components first starts or installs what they drive, or says what is missing. Three
# pytest-xdist processes (each test file in one, so a module's server starts once; each process
# has its own PostgreSQL schema and Redis prefix), then the fault-injection suite without the
# rest: it loads and kills real components (a PostgreSQL, a Redis and upstreams of each
# scenario's own). Its six scenarios run in three processes: each waits on phases of a fault
# (measured: 57 s one after the other, 32 s in three; `make faults`, which records the
# committed table, still runs them one after the other).
test: export TOKEND_TEST_DATABASE_URL ?= $(TEST_DATABASE_URL)
test: export TOKEND_TEST_REDIS_URL ?= $(TEST_REDIS_URL)
test: $(STAMP)
	bash .ci/components
	# Bytecode for src/ once (into ignored __pycache__ folders): with PYTHONDONTWRITEBYTECODE
	# set, each of the suite's hundreds of tokend processes would compile every module again.
	$(BIN)/python -m compileall -q src
	# --no-loadscope-reorder: pytest-xdist (3.8) would otherwise hand out the files with the most
	# tests first, which puts the few-test, long end-to-end files last and leaves one core idle
	# while the other finishes them; tests/conftest.py orders the files longest first instead.
	# Three processes on two cores: the end-to-end files wait on their servers and browsers,
	# and a third process has work for the core they leave idle (measured: 13:15 → 11:58).
	$(BIN)/python -m pytest -n 3 --dist loadfile --no-loadscope-reorder -m "not faults" $(PYTEST_ARGS)
	$(BIN)/python -m pytest -n 3 --dist load -m faults tests/faults $(PYTEST_ARGS)

# The edit-test loop: unit and API tests on SQLite with the in-memory cache, in two processes;
# no PostgreSQL, Redis, browser, Node.js or network needed.
test-quick: $(STAMP)
	env -u TOKEND_TEST_DATABASE_URL -u TOKEND_TEST_REDIS_URL \
	  $(BIN)/python -m pytest -m "not postgres and not redis and not e2e and not faults" \
	  -n 2 tests/unit tests/api $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench .ci/lock.py
	$(BIN)/ruff format --check src tests bench .ci/lock.py
	$(MAKE) typecheck
	$(BIN)/python .ci/lock.py --check

# mypy --strict over src, tests and bench, and the import contracts (indirect imports counted).
typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/lint-imports

# requirements/*.txt from pyproject.toml and packages/guard/pyproject.toml, keeping the versions
# already pinned; after adding or changing a dependency, run this and commit both.
lock: $(STAMP)
	$(BIN)/python .ci/lock.py

# The newest versions the ranges allow, every package at once.
lock-upgrade: $(STAMP)
	$(BIN)/python .ci/lock.py --upgrade

fmt: $(STAMP)
	$(BIN)/ruff check --fix src tests bench .ci/lock.py
	$(BIN)/ruff format src tests bench .ci/lock.py

# The vault's refresh sweep needs PostgreSQL and Redis: the local ones unless these are set.
bench bench-smoke: export TOKEND_TEST_DATABASE_URL ?= $(TEST_DATABASE_URL)
bench bench-smoke: export TOKEND_TEST_REDIS_URL ?= $(TEST_REDIS_URL)

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
	bash .ci/components --bench
	TOKEND_FAULTS_RESULTS=bench/results/faults.json $(BIN)/python -m pytest -m faults tests/faults

# make profile SCENARIO=jwks: a py-spy profile of the server under that load, in bench/results/profiles/
profile: $(STAMP)
	$(BIN)/python -m bench --profile $(SCENARIO)

# The console's screenshots for the README: its browser tests take them (into var/screenshots/,
# never a tracked file); this copies them to docs/screenshots/, which is committed.
screenshots: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/e2e/test_console_browser.py
	mkdir -p docs/screenshots
	cp var/screenshots/console-*.png docs/screenshots/

# The account pages' screenshots the README shows: tests/e2e/test_accounts_browser.py and
# test_upstream_browser.py write them to var/screenshots/ (tests never write tracked files); this
# copies them to docs/screenshots/.
account-screenshots: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider -q tests/e2e/test_accounts_browser.py \
		tests/e2e/test_upstream_browser.py tests/e2e/test_sign_up_browser.py
	mkdir -p docs/screenshots
	cp var/screenshots/account-*.png docs/screenshots/

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
