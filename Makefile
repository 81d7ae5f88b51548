# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

# The tiers are derived from what each test uses (tests/conftest.py).
FAST := not integration and not orthanc and not postgres and not slow
# Test processes (pytest-xdist); tests marked serial run after, alone.
JOBS ?= 2
PYTEST_PARALLEL := -n $(JOBS) --dist loadgroup

.PHONY: demo test test-fast test-integration lint typecheck clean-data

$(BIN)/python:
	$(shell command -v $(PYTHON) || command -v python3) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(STAMP)
	scripts/ensure-ocr
	$(BIN)/pacslabel demo

# Everything (CI's command): lint, types, then every test of every tier.
test: $(TEST_STAMP)
	scripts/ensure-postgres
	scripts/ensure-tools
	scripts/ensure-ocr
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_PARALLEL) -m "not serial" --durations=25
	$(BIN)/pytest -m serial --durations=25 || [ $$? -eq 5 ]  # 5: no test is marked serial

# The inner loop (about 3 minutes): lint and the tests of no tier, fewer examples.
test-fast: $(TEST_STAMP)
	scripts/ensure-ocr
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest $(PYTEST_PARALLEL) -m "$(FAST)" --hypothesis-profile=dev --fuzz-inputs=200 \
		--durations=10

# The tests against real peers only (Orthanc, dcmtk, PostgreSQL).
test-integration: $(TEST_STAMP)
	scripts/ensure-postgres
	scripts/ensure-tools
	scripts/ensure-ocr
	$(BIN)/pytest $(PYTEST_PARALLEL) -m "integration or orthanc or postgres" --durations=25

lint: $(TEST_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean-data:
	rm -rf pacslabel-data
