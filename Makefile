# Every target installs what it needs on first use: a virtualenv with the pinned Python packages
# (.venv), and the pinned npm packages (node_modules): the CDK CLI and Node.js 22, which the CLI and the
# Python CDK app's jsii runtime run on (node_modules/.bin comes first on PATH).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CDK := node_modules/.bin/cdk
# The installer: uv (pinned, from PyPI) installs the pinned packages in about 15 s where pip takes about
# 90 s; pip installs them if uv cannot be had.
UV_VERSION := 0.13.8
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
export PYTHONDONTWRITEBYTECODE := 1
# make test-chaos: how many fault schedules, from which seed (README, Development).
CHAOS_SCHEDULES ?= 12
CHAOS_SEED ?= 1

.PHONY: help install browser test test-unit test-infra test-e2e test-chaos test-iam-mutations lint synth deploy destroy demo bench validate runs run clean

help:
	@echo "make demo     run the whole pipeline offline on the bundled sample dataset (JUDGE=1: with a judge; TYPE=: a customization type;"
	@echo "              TYPE=DISTILLATION LOGS=1: the teacher's invocation logs as the training data)"
	@echo "make test     lint (ruff, mypy) and run every test suite"
	@echo "make test-chaos [CHAOS_SCHEDULES=12 CHAOS_SEED=1]  seeded random fault schedules on the offline pipeline"
	@echo "make test-iam-mutations  a run without each enforced IAM statement, one at a time (all must fail)"
	@echo "make lint     ruff and mypy only"
	@echo "make bench    the benchmarks (figures as name: value lines)"
	@echo "make -s validate FILE=train.jsonl MODEL=<base model id> [TYPE= VALIDATION= TEST= HYPERPARAMETERS= FORMAT=json REGION= LIVE=1 DATA_BUCKET=]"
	@echo "              the pre-flight check of a dataset, on this machine, before uploading it"
	@echo "make runs     recent runs (OFFLINE=1: of a running offline demo); make run RUN=<id> shows one"
	@echo "              (both are bedrock-customize runs / show: .venv/bin/bedrock-customize --help)"
	@echo "make synth    synthesize the CloudFormation templates (no AWS credentials needed)"
	@echo "make deploy   deploy to the AWS account of your current credentials"
	@echo "make destroy  delete the deployed stack"

# The command line (cli/, `bedrock-customize`) is installed in editable mode after its pinned dependencies.
$(VENV)/.installed: requirements.txt requirements-dev.txt lambdas/requirements.txt cli/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	if $(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION) 2>/dev/null; then \
		$(VENV)/bin/uv pip install --quiet --python $(PY) -r requirements-dev.txt && \
		$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -e .; \
	else \
		echo "uv $(UV_VERSION) could not be installed: installing with pip (slower)" >&2; \
		$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt && \
		$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .; \
	fi
	touch $@

# The run browser's tests (tests/e2e/test_e2e_ui.py, bench/ui.py) drive Debian's chromium through chromium-driver: installed here where
# /usr/bin/chromium or /usr/bin/chromedriver is absent (apt-get, as root), else make says what to install.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing chromium and chromium-driver (Debian's packages) for the run browser's tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
		else \
			echo "the run browser's tests need /usr/bin/chromium and /usr/bin/chromedriver: apt-get install chromium chromium-driver (as root)" >&2; \
			exit 1; \
		fi; \
	fi

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint node_modules/.installed browser
	$(VENV)/bin/pytest -n 2 --dist loadfile

test-unit: $(VENV)/.installed
	$(VENV)/bin/pytest tests/unit

test-infra: $(VENV)/.installed node_modules/.installed
	$(VENV)/bin/pytest tests/infra

test-e2e: $(VENV)/.installed node_modules/.installed
	$(VENV)/bin/pytest tests/e2e

# Outside make test (pyproject's testpaths): N schedules of random faults, each a run of the whole pipeline.
test-chaos: $(VENV)/.installed node_modules/.installed
	CHAOS_SCHEDULES=$(CHAOS_SCHEDULES) CHAOS_SEED=$(CHAOS_SEED) $(VENV)/bin/pytest tests/chaos -p no:cacheprovider

# Outside make test's budget: a run of the pipeline without each enforced IAM statement (the functions' roles, the
# customization role, the key policy), one at a time.
test-iam-mutations: $(VENV)/.installed node_modules/.installed
	IAM_MUTATIONS=all $(VENV)/bin/pytest tests/e2e/test_e2e_iam.py -k removing -p no:cacheprovider

synth: $(VENV)/.installed node_modules/.installed
	$(CDK) synth --app "$(PY) app.py" --quiet

deploy: $(VENV)/.installed node_modules/.installed
	$(CDK) deploy --app "$(PY) app.py" --require-approval broadening

destroy: $(VENV)/.installed node_modules/.installed
	$(CDK) destroy --app "$(PY) app.py"

demo: $(VENV)/.installed node_modules/.installed
	$(PY) -m offline demo $(if $(DATA),--data $(DATA)) $(if $(MODEL),--base-model $(MODEL)) $(if $(TYPE),--type $(TYPE)) $(if $(JUDGE),--judge) $(if $(LOGS),--invocation-logs)

# Thin wrappers of the command line (README, "Starting a run"): `bedrock-customize runs` and `show --json`.
runs: $(VENV)/.installed
	@$(VENV)/bin/bedrock-customize $(if $(OFFLINE),--offline) runs

run: $(VENV)/.installed
	@test -n "$(RUN)" || { echo "usage: make run RUN=<execution name, run id or run name> [OFFLINE=1]" >&2; exit 2; }
	@$(VENV)/bin/bedrock-customize $(if $(OFFLINE),--offline) show "$(RUN)" --json

bench: $(VENV)/.installed
	$(PY) -m bench $(BENCH)

# The same check as the pipeline's first step. The tool exits 0 (valid), 1 (invalid) or 2 (usage); make
# itself reports any failure as 2, so scripts that need the difference call the tool directly (README).
validate: $(VENV)/.installed
	@PYTHONPATH=lambdas $(PY) -m customizer.validation $(if $(FILE),"$(FILE)") $(if $(MODEL),--model "$(MODEL)") \
		$(if $(TYPE),--type "$(TYPE)") $(if $(VALIDATION),--validation "$(VALIDATION)") $(if $(TEST),--test "$(TEST)") \
		$(if $(HYPERPARAMETERS),--hyperparameters '$(HYPERPARAMETERS)') $(if $(FORMAT),--format "$(FORMAT)") \
		$(if $(REGION),--region "$(REGION)") $(if $(LIVE),--live) $(if $(DATA_BUCKET),--data-bucket "$(DATA_BUCKET)")

clean:
	rm -rf $(VENV) node_modules cdk.out .offline .build
