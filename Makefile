# Two commands do all the set-up: `make demo` and `make test` (see README).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo demo-ops test lint typecheck unit system-deps corpora quality bench bench-service bench-ops model clean

setup: $(STAMP)

$(STAMP): requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python -q -r requirements-dev.lock
	$(BIN)/uv pip install --python $(BIN)/python -q --no-deps -e .
	touch $@

demo: setup
	$(BIN)/triage run examples/inbox --config examples/config.yaml

# triage-ops against the whole service on loopback: the P0 runbook, the health check and
# the daily checklist, then the sandbox is stopped again (exit codes are printed, not fatal).
DEMO_SANDBOX := .cache/demo-sandbox
demo-ops: setup system-deps
	$(BIN)/triage-ops sandbox up --state-dir $(DEMO_SANDBOX)
	-$(BIN)/triage-ops --config $(DEMO_SANDBOX)/triage-ops.yaml incident p0; echo "exit $$?"
	-$(BIN)/triage-ops --config $(DEMO_SANDBOX)/triage-ops.yaml health; echo "exit $$?"
	-$(BIN)/triage-ops --config $(DEMO_SANDBOX)/triage-ops.yaml check daily; echo "exit $$?"
	$(BIN)/triage-ops sandbox down --state-dir $(DEMO_SANDBOX)

system-deps:
	bash scripts/install-system-deps.sh

corpora: setup system-deps
	$(BIN)/triage corpus fetch

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest

test: setup system-deps corpora lint typecheck unit

quality: corpora
	$(BIN)/triage model eval

model: corpora
	$(BIN)/triage model train --out triage_core/model/artifacts/embedded-v1.npz

bench: corpora
	$(BIN)/python benchmarks/pipeline_throughput.py --write benchmarks/results/pipeline.txt

bench-service: corpora
	$(BIN)/python benchmarks/api_load.py --write benchmarks/results/api_load.txt
	$(BIN)/python benchmarks/queue_throughput.py --write benchmarks/results/queue_throughput.txt

bench-ops: setup system-deps
	$(BIN)/python benchmarks/incident_p0.py --write benchmarks/results/incident_p0.txt
	$(BIN)/python benchmarks/cache_flush.py --write benchmarks/results/cache_flush.txt
	$(BIN)/python benchmarks/retention.py --write benchmarks/results/retention.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info
