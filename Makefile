# replydesk: `make run` and `make test` work on a fresh machine; everything they need is installed here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CAMPAIGN ?= demo
STAGE ?= dev
# e.g. RUN_ARGS=--json for the handlers' raw logs under make run
RUN_ARGS ?=
CHROMIUM ?= /usr/bin/chromium
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install run shell jq test test-fast lint typecheck bench package chromium clean

help:
	@echo "make run      - start the whole system locally on the embedded AWS emulator"
	@echo "make shell    - a shell with .venv active, so \`replydesk ...\` works as the README shows"
	@echo "make test     - install what is needed and run every test (unit, functional, integration, browser)"
	@echo "make bench    - print the benchmark figures"
	@echo "make lint     - ruff + mypy"
	@echo "make package  - CloudFormation template for CAMPAIGN=$(CAMPAIGN) STAGE=$(STAGE), offline"

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# Chalice's packager supports pip below 26.3: the newest pip would make the resolver complain.
	$(BIN)/python -m pip install -q --upgrade 'pip<26.3' 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -m pip install -q -r requirements-dev.txt 2>&1 | grep -v '^WARNING: Location' ; test $${PIPESTATUS[0]} -eq 0
	$(BIN)/python -m pip install -q --no-deps -e . 2>&1 | grep -v '^WARNING: Location' ; test $${PIPESTATUS[0]} -eq 0
	touch $(STAMP)

install: $(STAMP)

# Debian's chromium for the browser tests; quick when it is already there.
chromium:
	@test -x $(CHROMIUM) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@test -x $(CHROMIUM)

# jq for the README's checked examples (tests/integration/test_readme.py); quick when present.
jq:
	@command -v jq >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null; }
	@command -v jq >/dev/null

run: install
	@$(BIN)/replydesk local --campaign $(CAMPAIGN) --stage $(STAGE) $(RUN_ARGS)

# An interactive shell with the venv activated on top of your own ~/.bashrc.
shell: install
	@echo "replydesk: .venv is active in this shell (replydesk, pytest, ruff); 'exit' leaves it."
	@bash --rcfile <(echo 'test -f ~/.bashrc && . ~/.bashrc; . $(BIN)/activate') -i

test: install chromium jq
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	REPLYDESK_CHROMIUM=$(CHROMIUM) $(BIN)/pytest -q -p no:cacheprovider --durations=15

test-fast: install
	$(BIN)/pytest -q -m "unit"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

typecheck: install
	$(BIN)/mypy

bench: install
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done
	@echo "== bench/load_model.py (1 million contacts a day, peaks of 50/s)"; $(BIN)/python bench/load_model.py

package: install
	$(BIN)/replydesk package --campaign $(CAMPAIGN) --stage $(STAGE)

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
