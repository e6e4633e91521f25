# Two commands matter: `make run` and `make test`. Both create .venv on first use and only
# reinstall when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test test-bare test-quick lint format docs bench bench-build clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing livepipe into $(VENV) (first run takes about a minute)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/livepipe check content/ --events
	$(BIN)/livepipe run content/ --out dist

test: lint
	$(BIN)/pytest

# The fast loop while working (about two minutes): no servers, browsers or client programs.
test-quick: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

# The test modules that use ../shared (corpus, history, validators), run as on a newcomer's
# clone with nothing beside it: they must skip or scale, never fail. CI runs this too.
SHARED_TESTS = $(shell grep -rlE 'CORPUS|HISTORY|VALIDATE|SHARED|corpus|history|validators' \
	tests --include='test_*.py' | grep -v '^tests/e2e/' | sort)

test-bare: $(STAMP)
	LIVEPIPE_SHARED=/nonexistent/shared $(BIN)/pytest -q -p no:cacheprovider $(SHARED_TESTS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench flows
	$(BIN)/ruff format --check src tests bench flows
	$(BIN)/mypy

# docs/settings.md and docs/cli.md are made from the code (a test fails when they are stale).
docs: $(STAMP)
	$(BIN)/python -m livepipe.reference docs

format: $(STAMP)
	$(BIN)/ruff check --fix src tests bench flows
	$(BIN)/ruff format src tests bench flows

bench: $(STAMP)
	$(BIN)/python bench/bench_check.py
	$(BIN)/python bench/bench_serve.py

bench-build: $(STAMP)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(BIN)/python bench/bench_build.py

clean:
	rm -rf $(VENV) dist preview test-artifacts .livepipe .pytest_cache .mypy_cache .ruff_cache
