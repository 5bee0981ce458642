# The two set-up commands (see README): `make app` opens the window, `make test` runs the tests.
# Both create or reuse the virtualenv in .venv and install what is missing.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: app test venv lint bench

venv:
	@bash packaging/bootstrap.sh

app: venv
	$(BIN)/steering-workbench

test: venv
	@bash packaging/run-tests.sh

lint: venv
	$(BIN)/ruff check workbench ui tests bench
	$(BIN)/ruff format --check workbench ui tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: venv
	$(BIN)/python bench/steering_overhead.py
	$(BIN)/python bench/panes.py
