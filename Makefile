# One command per job on a fresh machine: `make demo`, `make test`, `make bench`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PROTOS := $(wildcard proto/prunecert/v1/*.proto)

.PHONY: install test demo bench proto lint clean

install: $(STAMP)

# Re-installs only when pyproject.toml changes; the editable install picks up code edits.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: install
	$(BIN)/python -m ruff check solver tests bench
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

demo: install
	$(BIN)/python bench/demo.py

bench: install
	$(BIN)/python bench/service.py
	$(BIN)/python bench/run.py
	$(BIN)/python bench/backends.py
	$(BIN)/python bench/batch.py
	$(BIN)/python bench/heuristics.py
	$(BIN)/python bench/large.py
	$(BIN)/python bench/soak.py --quick
	$(BIN)/python bench/formulations.py --time-limit 20
	$(BIN)/python bench/real.py
	$(BIN)/python bench/distributed.py --ns 96 --seeds 2 --time-limit 30

# Regenerates the checked-in Python code from proto/; tests/test_proto.py fails when it is stale.
proto: install
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=proto/python --pyi_out=proto/python \
		--grpc_python_out=proto/python $(PROTOS)

lint: install
	$(BIN)/python -m ruff check solver tests bench
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info
