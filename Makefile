# Two commands for a fresh machine: `make demo` (install + main job on the bundled example, no cloud
# account) and `make test` (install + the whole test suite). Both create ./.venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint bench clean

$(BIN)/layer-ci: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/layer-ci

install: $(BIN)/layer-ci

demo: install
	rm -rf .demo && cp -r examples/monorepo .demo
	cd .demo && ../$(BIN)/layer-ci run

test: install
	$(BIN)/python -m pytest -n 2 -q

lint: install
	$(BIN)/ruff check layer_ci tests bench entrypoint.py
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .demo .layer-ci
