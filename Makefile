# Two commands for a fresh machine: `make demo` (install + main job on the bundled example, no cloud
# account) and `make test` (install + the whole test suite). Both create ./.venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint bench clean image-check

$(BIN)/layer-ci: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/layer-ci

install: $(BIN)/layer-ci

# The main job twice on a copy of the example: the first run publishes v1 of both layers to the local
# registry and tests every function against them; then a change to the tools layer makes the second
# run publish v2, test its consumers against it and bump their pins in template.yaml.
demo: install
	rm -rf .demo && cp -r examples/monorepo .demo
	cd .demo && ../$(BIN)/layer-ci run
	@printf '\n== changing layers/tools/bin/slugify, then running the main job again ==\n\n'
	printf '\n# demo: a change to the tools layer\n' >> .demo/layers/tools/bin/slugify
	cd .demo && ../$(BIN)/layer-ci run
	@printf '\n== pins bumped in .demo/template.yaml ==\n'
	@diff -u examples/monorepo/template.yaml .demo/template.yaml || true

test: install
	$(BIN)/python -m pytest -n 2 -q

lint: install
	$(BIN)/ruff check layer_ci tests bench image entrypoint.py
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# Builds the Action's image with buildah (no Docker engine) and runs its entry point on a push of the
# example: see image/check.py. Slow (minutes, a download of every interpreter), so not part of `make test`.
image-check: install
	@if ! command -v buildah >/dev/null || ! command -v mmdebstrap >/dev/null; then \
		apt-get update && apt-get install --yes --no-install-recommends buildah mmdebstrap; fi
	$(BIN)/python image/check.py

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .demo .layer-ci .image-check.log
