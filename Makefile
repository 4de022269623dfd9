# vpanel — two commands matter: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS := portal,desktop,node,dev

.PHONY: run test lint typecheck audit pytest portal bench package docs-screenshots system-deps lock clean

# Installs exactly the versions in requirements.lock (the lock file pins every dependency).
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[$(EXTRAS)]'
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
	$(BIN)/mypy vpanel_core portal vpanel_node vpanel_desktop bench

pytest: $(STAMP) system-deps
	$(BIN)/python -m pytest -q

## Known vulnerabilities in the locked dependencies (reported as skipped when offline).
audit: $(STAMP)
	$(BIN)/python scripts/audit.py

## Everything CI checks.
test: lint typecheck audit pytest

## Re-pin requirements.lock from the current virtualenv.
lock: $(STAMP)
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e ' > requirements.lock

bench: $(STAMP) system-deps
	$(BIN)/python -m bench.run

## Refresh the screenshots in docs/ from the desktop tests.
docs-screenshots: $(STAMP)
	VPANEL_UPDATE_DOCS=1 QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q tests/desktop

package: $(STAMP)
	$(BIN)/pyinstaller --noconfirm build.spec

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
