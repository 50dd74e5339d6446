# The front door. `make up` runs the platform with demo data; `make test` runs every test.
# Both install what they need first (tools/setup.sh), so they work on a fresh machine.
PY := .venv/bin/python
BUF := .venv/bin/buf
PYTEST_WORKERS ?= 2

.PHONY: setup gen up test lint breaking clean

.venv/.setup-done: pyproject.toml uv.lock tools/setup.sh tools/kafka/pom.xml
	bash tools/setup.sh
	touch $@

setup: .venv/.setup-done

gen: setup
	$(PY) -m tools.gen

up: gen
	$(PY) -m tools.up

test: gen
	$(PY) -m tools.testenv -- $(PY) -m pytest -n $(PYTEST_WORKERS) -q

lint: gen
	$(BUF) lint
	$(PY) -m ruff check .
	$(PY) -m mypy services registry tools tests

breaking: setup
	$(BUF) breaking --against registry/published/image.json

clean:
	rm -rf gen .run .venv .pytest_cache .mypy_cache .ruff_cache
