# iris-predictor: every developer command. `make test` is the one CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP_COMPILE := $(abspath $(BIN))/pip-compile -q --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url

.PHONY: venv proto test lint format export run bench requirements clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r requirements/dev.txt
	touch $@

proto: venv
	$(BIN)/python proto/codegen.py

# Unit, integration and (with a Docker engine) end-to-end tests. REQUIRE_DOCKER=1 makes a
# missing engine a failure instead of a skip.
test: proto
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Train, convert and parity-check a new model version under artifacts/ (see docs/model-export.md).
export: proto
	$(BIN)/python -m export $(EXPORT_ARGS)

# Server and proxy on this machine, in the foreground (Ctrl-C stops both).
run: proto
	$(BIN)/python -m server --log-format text & \
	server=$$!; trap 'kill $$server' EXIT INT TERM; \
	$(BIN)/python -m proxy --log-format text

bench: proto
	$(BIN)/python -m bench $(BENCH_ARGS)

# Recompile the pinned, hashed requirements: dev first, then every image's set constrained
# by it, so all images share one protobuf (generated code must run on each of them).
requirements: venv
	cd requirements && rm -f dev.txt && $(PIP_COMPILE) -o dev.txt dev.in
	cd requirements && for f in export server proxy codegen; do \
		rm -f $$f.txt; $(PIP_COMPILE) -c dev.txt -o $$f.txt $$f.in || exit 1; done

clean:
	rm -rf iris_pb inference_pb .pytest_cache .ruff_cache bench/out
