# lookout: `make run` runs every function once on this machine; `make test` is the test command;
# `make deploy` puts the stack in your AWS account with SAM.

# The functions: one bootstrap (the `lookout` binary) serves them all; functions/<name>/main.rs give
# each its local name (target/debug/<name>).
FUNCTIONS := site-status speed-test kafka-lag heartbeat host-check
CARGO ?= cargo
PYTHON ?= python3
VENV := .venv
# arm64 (default) or x86_64: the functions' architecture, passed to the template too.
ARCH ?= arm64
STACK ?= lookout
# A function's logical id, for `make logs` and `make invoke` (SiteStatusFunction, SpeedTestFunction,
# KafkaLagFunction, HeartbeatFunction, HostCheckFunction, IngestFunction, StatusFunction).
FUNCTION ?= SiteStatusFunction

# The tests start moto_server (the AWS stand-in) from the project's own venv.
export MOTO_SERVER := $(CURDIR)/$(VENV)/bin/moto_server
export SAM_CLI_TELEMETRY := 0
SAM := $(CURDIR)/$(VENV)/bin/sam
# sam and cargo-lambda (which finds zig through the venv's python) run with the venv first on PATH.
WITH_VENV := PATH="$(CURDIR)/$(VENV)/bin:$$PATH"

ifeq ($(ARCH),arm64)
RUST_TARGET := aarch64-unknown-linux-gnu
CARGO_LAMBDA_ARCH := --arm64
ELF_MACHINE := aarch64
else ifeq ($(ARCH),x86_64)
RUST_TARGET := x86_64-unknown-linux-gnu
CARGO_LAMBDA_ARCH := --x86-64
ELF_MACHINE := x86-64
else
$(error ARCH must be arm64 or x86_64, not $(ARCH))
endif

.PHONY: help run demo agent docs test fmt fmt-check lint unit validate build build-check deploy logs invoke bench tools clean \
	build-SiteStatusFunction build-SpeedTestFunction build-KafkaLagFunction build-HeartbeatFunction \
	build-HostCheckFunction build-IngestFunction build-StatusFunction lambda-binary sshd chromium

help:
	@echo "make run       run every function once locally (reads .env when present; with nothing configured,"
	@echo "               shows lookout against built-in stand-ins; no AWS account needed)"
	@echo "make demo      replay six hours of an outage as a timeline of notices"
	@echo "make agent     build lookout-agent for x86_64 and aarch64 Linux servers (docs/agent.md)"
	@echo "make test      formatting, lints, every test, template checks and the SAM build (what CI runs)"
	@echo "make unit      just the Rust tests"
	@echo "make docs      the key tables of docs/configuration.md and the README, from the code"
	@echo "make bench     the benchmark table (speed, cold start, memory, size)"
	@echo "make deploy    sam build + sam deploy (guided the first time)"
	@echo "make validate  sam validate --lint and cfn-lint"
	@echo "make logs      tail a function's logs (FUNCTION=SiteStatusFunction)"
	@echo "make invoke    invoke a deployed function once (FUNCTION=..., with events/scheduled.json)"

## run: one local tick of each function. With nothing configured (no .env, no lookout.yaml, no
## LOOKOUT_CONFIG) it shows lookout against built-in stand-ins instead (`lookout first-run`). A
## function that is not configured is skipped with a line saying what would turn it on; the others
## still run.
run:
	@$(CARGO) build --quiet --bins
	@if [ ! -f .env ] && [ ! -f lookout.yaml ] && [ -z "$$LOOKOUT_CONFIG" ]; then \
	  exec ./target/debug/lookout first-run; \
	fi; \
	set -a; if [ -f .env ]; then . ./.env; fi; set +a; \
	unset AWS_LAMBDA_RUNTIME_API; \
	failed=""; \
	for f in $(FUNCTIONS); do \
	  echo "== $$f" >&2; \
	  ./target/debug/$$f || failed="$$failed $$f"; \
	done; \
	if [ -n "$$failed" ]; then echo "== did not finish:$$failed (see the errors above; .env.example names every variable)" >&2; exit 1; fi

## agent: lookout-agent for the user's servers, x86_64 and aarch64 Linux, linked by zig (from
## cargo-lambda in .venv) against glibc 2.17, which every distribution of the last decade has:
## target/agent/lookout-agent-<arch>-linux.
AGENT_ARCHS ?= x86_64 aarch64
agent: tools
	@mkdir -p target/agent
	@for arch in $(AGENT_ARCHS); do \
	  rustup target add $$arch-unknown-linux-gnu >/dev/null && \
	  $(WITH_VENV) $(CARGO) lambda build --quiet --release --bin lookout-agent \
	    --target $$arch-unknown-linux-gnu.2.17 --lambda-dir target/agent/build-$$arch && \
	  cp target/agent/build-$$arch/lookout-agent/bootstrap target/agent/lookout-agent-$$arch-linux && \
	  echo "target/agent/lookout-agent-$$arch-linux" || exit 1; \
	done

## demo: six hours of an outage of a stand-in site, replayed as a timeline of notices.
demo:
	@$(CARGO) build --quiet --bin lookout
	@./target/debug/lookout demo

test: fmt-check lint unit validate build-check

## docs: the key tables of docs/configuration.md and the README's settings index, written anew from
## the keys each check and channel type declares (a test fails when they are stale).
docs:
	@$(CARGO) run --quiet --bin lookout -- reference

fmt:
	$(CARGO) fmt

fmt-check:
	$(CARGO) fmt --check

lint:
	$(CARGO) clippy --all-targets -- -D warnings

unit: tools sshd chromium
	$(CARGO) test

## The OpenSSH server host-check's tests run against: Debian's openssh-server, installed when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
sshd:
	@test -x /usr/sbin/sshd || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server; }

## The headless browser the status page's test opens it in: Debian's chromium, installed when missing.
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

## The Python tools (moto_server, sam, cfn-lint, cargo-lambda, zig), installed from PyPI into .venv;
## redone when the list changes.
tools: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## validate: the template, and lookout.yaml when there is one (read as the functions read it, with
## .env for the variables it refers to), so a bad file never deploys.
validate: tools
	AWS_DEFAULT_REGION=us-east-1 $(SAM) validate --lint --template template.yaml
	$(VENV)/bin/cfn-lint template.yaml
	@# The same with the ingest behind CloudFront and WAF (IngestShield=waf).
	@mkdir -p .aws-sam && sed '/^  IngestShield:/,/Default:/ s/Default: none/Default: waf/' template.yaml > .aws-sam/template-waf.yaml
	@grep -A2 '^  IngestShield:' .aws-sam/template-waf.yaml | grep -q 'Default: waf'
	AWS_DEFAULT_REGION=us-east-1 $(SAM) validate --lint --template .aws-sam/template-waf.yaml
	$(VENV)/bin/cfn-lint .aws-sam/template-waf.yaml
	@if [ -f lookout.yaml ] || [ -n "$$LOOKOUT_CONFIG" ]; then \
	  $(CARGO) build --quiet --bin site-status && \
	  set -a && if [ -f .env ]; then . ./.env; fi && set +a && \
	  ./target/debug/site-status --check-config; \
	fi

## SAM's makefile build method calls these with ARTIFACTS_DIR set.
build-SiteStatusFunction:
	$(MAKE) lambda-binary
build-SpeedTestFunction:
	$(MAKE) lambda-binary
build-KafkaLagFunction:
	$(MAKE) lambda-binary
build-HeartbeatFunction:
	$(MAKE) lambda-binary
build-HostCheckFunction:
	$(MAKE) lambda-binary
build-IngestFunction:
	$(MAKE) lambda-binary
build-StatusFunction:
	$(MAKE) lambda-binary

## Every function is the one bootstrap (the `lookout` binary; the template's Handler picks the
## function): the first function's build links it, the others find it up to date.
lambda-binary: tools
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set: run this through sam build (make build)"; exit 1; }
	rustup target add $(RUST_TARGET)
	$(WITH_VENV) $(CARGO) lambda build --release $(CARGO_LAMBDA_ARCH) --bin lookout
	cp target/lambda/lookout/bootstrap $(ARTIFACTS_DIR)/bootstrap
	@# The monitors and channels, read next to bootstrap under Lambda.
	if [ -f lookout.yaml ]; then cp lookout.yaml $(ARTIFACTS_DIR)/lookout.yaml; fi

build: tools
	$(WITH_VENV) ARCH=$(ARCH) $(SAM) build --build-in-source --parameter-overrides Architecture=$(ARCH)

## The SAM build produces every function's bootstrap for the architecture: the same one file.
build-check: build
	@for f in SiteStatusFunction SpeedTestFunction KafkaLagFunction HeartbeatFunction HostCheckFunction IngestFunction StatusFunction; do \
	  b=.aws-sam/build/$$f/bootstrap; \
	  test -x $$b || { echo "$$b is missing"; exit 1; }; \
	  od -An -tx1 -j18 -N2 $$b | grep -q "$(if $(filter arm64,$(ARCH)),b7 00,3e 00)" \
	    || { echo "$$b is not a $(ELF_MACHINE) binary"; exit 1; }; \
	  cmp -s $$b .aws-sam/build/SiteStatusFunction/bootstrap || { echo "$$b is not the one bootstrap"; exit 1; }; \
	  echo "$$b: $(ELF_MACHINE), $$(stat -c %s $$b) bytes"; \
	done

## The stack's secret gets a random LOOKOUT_ACTION_KEY (the key answer links are signed with) when
## it has none: before the deploy for a stack that exists, after it for a new one.
deploy: build
	$(WITH_VENV) python tools/action_key.py --stack $(STACK)
	@if [ -f samconfig.toml ]; then \
	  $(WITH_VENV) $(SAM) deploy --parameter-overrides Architecture=$(ARCH); \
	else \
	  $(WITH_VENV) $(SAM) deploy --guided --stack-name $(STACK) --capabilities CAPABILITY_IAM; \
	fi
	$(WITH_VENV) python tools/action_key.py --stack $(STACK)

logs: tools
	$(WITH_VENV) $(SAM) logs --stack-name $(STACK) --name $(FUNCTION) --tail

invoke: tools
	$(WITH_VENV) $(SAM) remote invoke $(FUNCTION) --stack-name $(STACK) --event-file events/scheduled.json

## bench: the benchmark table (docs/performance.md) and the cost tables of docs/deploy.md. One
## build: the harness, and the bootstrap it runs under the Lambda emulator, in the bench profile (the
## release profile without cross-crate LTO, for this machine's architecture: an arm64 bootstrap
## cannot run on an x86_64 machine). The bootstrap of the last `make build` is sized when there is
## one. BENCH_ONLY=<part> runs one part (benches/bench.rs names them).
bench: tools sshd
	$(WITH_VENV) $(CARGO) bench --no-default-features --bench bench

clean:
	$(CARGO) clean
	rm -rf $(VENV) .aws-sam
