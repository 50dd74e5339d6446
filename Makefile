# The front door. `make up` runs the platform with demo data; `make test` runs every test.
# Both install what they need first (tools/setup.sh), so they work on a fresh machine.
PY := .venv/bin/python
BUF := .venv/bin/buf
PYTEST_WORKERS ?= 2

.PHONY: setup gen up test lint breaking gates clean

.venv/.setup-done: pyproject.toml uv.lock tools/setup.sh tools/kafka/pom.xml
	bash tools/setup.sh
	touch $@

setup: .venv/.setup-done

gen: setup
	$(PY) -m tools.gen

up: gen
	$(PY) -m tools.up

test: lint gates
	$(PY) -m tools.testenv -- $(PY) -m pytest -n $(PYTEST_WORKERS) -q

# The merge gate: stops at the first failing stage with what broke.
gates: gen
	@echo "gate 1/3: buf lint"; $(BUF) lint
	@echo "gate 2/3: buf breaking against the last published schemas"; $(BUF) breaking --against registry/published/image.json
	@echo "gate 3/3: registry compatibility of every event subject"; $(PY) -m registry check

lint: gen
	$(BUF) lint
	$(PY) -m ruff check .
	$(PY) -m mypy services registry tools tests

breaking: setup
	$(BUF) breaking --against registry/published/image.json

clean:
	rm -rf gen .run .venv .pytest_cache .mypy_cache .ruff_cache
