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

# The merge gate: its stages in order, stopping at the first that fails; each names what broke and for whom.
gate = @echo "gate $(1)/5: $(2)"; $(3) || { echo "gate $(1)/5 FAILED: $(2) (what broke is listed above)"; exit 1; }

gates: gen
	$(call gate,1,buf lint,$(BUF) lint)
	$(call gate,2,buf breaking against the last published schemas,$(BUF) breaking --against registry/published/image.json)
	$(call gate,3,registry compatibility of every event subject,$(PY) -m registry check)
	$(call gate,4,every consumer contract verified against its provider,$(PY) -m tools.contracts verify)
	$(call gate,5,contracts and their page current and every pair covered,$(PY) -m tools.contracts stale)

# The consumers' side of the contracts: each example through the consumer's real handler, then the Pact
# files and their page written to consumers-contracts/ (commit them with the change that made them).
contracts: gen
	$(PY) -m tools.testenv -- $(PY) -m pytest -q tests/contracts/test_consumers.py
	$(PY) -m tools.contracts write

lint: gen
	$(BUF) lint
	$(PY) -m ruff check .
	$(PY) -m mypy services registry tools tests

breaking: setup
	$(BUF) breaking --against registry/published/image.json

clean:
	rm -rf gen .run .venv .pytest_cache .mypy_cache .ruff_cache
