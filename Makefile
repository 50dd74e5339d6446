# The front door. `make up` runs the platform with demo data; `make test` runs every test.
# Both install what they need first (tools/setup.sh), so they work on a fresh machine.
PY := .venv/bin/python
BUF := .venv/bin/buf
PYTEST_WORKERS ?= 2

.PHONY: setup gen up test lint breaking gates contracts clean

.venv/.setup-done: pyproject.toml uv.lock tools/setup.sh tools/kafka/pom.xml
	bash tools/setup.sh
	touch $@

setup: .venv/.setup-done

gen: setup
	$(PY) -m tools.gen

up: gen
	$(PY) -m tools.up

test: lint gates
	$(PY) -m tools.testenv -- $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile -q

# The merge gate (tools/gates.py): five stages in order, stopping at the first that fails; each names what
# broke and for whom, and a table of the stages and their times ends it.
gates: gen
	$(PY) -m tools.gates

# The consumers' side of the contracts: each example through the consumer's real handler, then the Pact
# files and their page written to consumers-contracts/ (commit them with the change that made them).
contracts: gen
	$(PY) -m tools.testenv -- $(PY) -m pytest -q tests/contracts/test_consumers.py
	$(PY) -m tools.contracts write

lint: gen
	$(BUF) lint
	$(PY) -m ruff check .
	$(PY) -m mypy services registry tools tests sites

breaking: setup
	$(BUF) breaking --against registry/published/image.json

clean:
	rm -rf gen .run .venv .pytest_cache .mypy_cache .ruff_cache
