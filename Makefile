# Common tasks. Every target bootstraps the pinned .venv on first use, so a fresh clone needs only
# python3.11 and make. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BUILD_DIR := .aws-sam/build
SAM := $(VENV)/bin/sam
export SAM_CLI_TELEMETRY := 0
# Quiet pip: these machines' pip config names local mirrors that may be absent.
PIP_QUIET := --disable-pip-version-check -q

.PHONY: venv demo test unit lint lint-python lint-template build invoke deploy deploy-prod clean bench replay fmt check-routing routing route

venv: $(STAMP)
$(STAMP): requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_QUIET) -r requirements-dev.txt 2>&1 | grep -v 'is ignored' || true
	$(VENV)/bin/pip install $(PIP_QUIET) --no-deps -e . 2>&1 | grep -v 'is ignored' || true
	$(PY) -c "import samcli, moto, pytest, aws_lambda_powertools" # fail here, not later, if an install broke
	touch $(STAMP)

# The runtime venv: boto3 ONLY, pinned near what Lambda's python3.11 runtime ships. local/runtime.py
# runs built functions with it (isolated interpreter: the built function, the built layer, boto3),
# so a dependency missing from the layer fails locally as it would in Lambda.
RUNTIME_VENV := .venv-runtime
BOTO3_RUNTIME := 1.40.4
# The pin is in the stamp's name, so changing it rebuilds the venv.
RUNTIME_STAMP := $(RUNTIME_VENV)/.installed-boto3-$(BOTO3_RUNTIME)
$(RUNTIME_STAMP): | $(STAMP)
	rm -rf $(RUNTIME_VENV)
	$(PYTHON) -m venv --without-pip $(RUNTIME_VENV)
	$(VENV)/bin/pip install $(PIP_QUIET) --no-warn-conflicts --target $(RUNTIME_VENV)/lib/python3.11/site-packages \
		boto3==$(BOTO3_RUNTIME) botocore==$(BOTO3_RUNTIME) 2>&1 | grep -v 'is ignored' || true
	$(RUNTIME_VENV)/bin/python -I -c "import boto3" # fail here, not later, if the install broke
	touch $(RUNTIME_STAMP)

# Just `sam build`: the layer's and functions' build step (layers/shared/Makefile, which SAM runs)
# installs, prunes and precompiles, so `sam build` alone, as users run it, gives what ships.
# --cached: a layer or function whose folder did not change is copied from .aws-sam/cache.
build: $(STAMP)
	$(PY) scripts/build_routing.py --check
	$(SAM) build --parallel --cached

demo: build $(RUNTIME_STAMP)
	$(PY) -m local.demo

test: lint build $(RUNTIME_STAMP)
	$(PY) -m pytest

unit: $(STAMP)
	$(PY) -m pytest tests/unit

lint: lint-python lint-template

lint-python: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

lint-template: $(STAMP)
	$(SAM) validate --lint
	$(VENV)/bin/cfn-lint template.yaml -a cfn_lint_serverless.rules
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --quiet --compact --skip-download

# checkov pins boto3==1.35.49 and packaging<24 while aws-sam-cli pins boto3[crt]==1.43.108, so they
# cannot share .venv (pip check fails, and the tests would run on checkov's older boto3): checkov
# gets its own venv. Note cfn-lint's -a takes several values, so the template must come before it.
# --skip-download: checkov otherwise fetches guideline links from Prisma Cloud (no internet here).
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
lint-template: $(CHECKOV_STAMP)
$(CHECKOV_STAMP): requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install $(PIP_QUIET) -r requirements-checkov.txt 2>&1 | grep -v 'is ignored' || true
	$(CHECKOV_VENV)/bin/checkov --version >/dev/null # fail here, not later, if the install broke
	touch $(CHECKOV_STAMP)

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Run one built function on one event without Docker, as Lambda loads it:
#   make invoke FN=SlackRelayFunction EVENT=events/cpu_alarm.json
invoke: $(STAMP) $(RUNTIME_STAMP)
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=<LogicalId> EVENT=events/<file>.json"; exit 2; }
	@test -d $(BUILD_DIR)/$(FN) || $(MAKE) build
	$(PY) -m local.invoke $(FN) $(EVENT)

deploy: build
	$(SAM) deploy

deploy-prod: build
	$(SAM) deploy --config-env prod

# Send failed notifications back through a function once the cause is fixed (README: replay).
# Each message is deleted only after its invocation succeeded; the functions deliver once per SNS
# MessageId, so replaying never repeats a delivery. FN may be left out for a failure queue (each
# record names its function); an SNS dead-letter queue needs it. Uses your AWS credentials.
#   make replay QUEUE=<queue url> [FN=<function name>] [DRY_RUN=1] [MAX=<n>]
replay: $(STAMP)
	@test -n "$(QUEUE)" || { echo "usage: make replay QUEUE=<queue url> [FN=<function name>] [DRY_RUN=1] [MAX=<n>]"; exit 2; }
	$(VENV)/bin/alert-replay --queue-url '$(QUEUE)' $(if $(FN),--function '$(FN)') $(if $(filter-out 0,$(DRY_RUN)),--dry-run) $(if $(MAX),--max $(MAX))

# Check every routing file of the repository (routing*.yaml) with the layer's checker and the JSON
# Schema; errors name the file and line (README: Routing).
check-routing: $(STAMP)
	$(PY) scripts/build_routing.py --check

# routing.yaml -> layers/shared/routing.json, what the layer ships (sam build cannot read YAML).
routing: $(STAMP)
	$(PY) scripts/build_routing.py --sync

# Who would get what for a sample event, with the repository's routing.yaml (README: Routing):
#   make route EVENT=events/cpu_alarm.json [SEVERITY=critical] [RULES=routing.example.yaml]
RULES ?= routing.yaml
route: $(STAMP)
	@test -n "$(EVENT)" || { echo "usage: make route EVENT=events/<file>.json [SEVERITY=<tag>] [RULES=<file>]"; exit 2; }
	$(VENV)/bin/alert-route '$(EVENT)' --rules '$(RULES)' $(if $(SEVERITY),--severity '$(SEVERITY)')

bench: build $(RUNTIME_STAMP)
	$(PY) -m bench

clean:
	rm -rf .aws-sam $(VENV) .venv-runtime* .venv-checkov .pytest_cache .ruff_cache .hypothesis demo-output
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
