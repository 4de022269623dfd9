# vpanel — two commands matter: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS := portal,desktop,node,dev

.PHONY: run test lint typecheck pytest portal bench bench-smoke package system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

## Start the main job: desktop app + embedded local portal (headless: the portal alone).
run: $(STAMP)
	$(BIN)/vpanel db upgrade >/dev/null
	$(BIN)/python -m vpanel_desktop

## The portal alone, served by waitress (DATABASE_URL / VPANEL_DATABASE_URL for PostgreSQL).
portal: $(STAMP)
	$(BIN)/vpanel-portal

system-deps:
	./scripts/install-system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy vpanel_core portal vpanel_node vpanel_desktop

pytest: $(STAMP) system-deps
	$(BIN)/python -m pytest -q

## Everything CI checks.
test: lint typecheck pytest

bench: $(STAMP) system-deps
	$(BIN)/python -m bench.run

package: $(STAMP)
	$(BIN)/pip install --quiet pyinstaller
	$(BIN)/pyinstaller --noconfirm build.spec

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
