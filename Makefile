# lookout: `make run` runs every function once on this machine; `make test` is the test command.

# The functions built so far; each is a binary of the one package (functions/<name>/main.rs).
FUNCTIONS := site-status speed-test kafka-lag
CARGO ?= cargo
PYTHON ?= python3
VENV := .venv
# The tests start moto_server (the AWS stand-in) from the project's own venv.
export MOTO_SERVER := $(CURDIR)/$(VENV)/bin/moto_server

.PHONY: help run test fmt fmt-check lint unit build clean

help:
	@echo "make run    run every function once locally (reads .env when present; no AWS account needed)"
	@echo "make test   formatting, lints and every test (what CI runs)"
	@echo "make fmt    format the code"

## run: one local tick of each function. A function that is not configured says which variables to
## set, and the others still run.
run:
	@$(CARGO) build --quiet --bins
	@set -a; if [ -f .env ]; then . ./.env; fi; set +a; \
	unset AWS_LAMBDA_RUNTIME_API; \
	for f in $(FUNCTIONS); do \
	  echo "== $$f" >&2; \
	  ./target/debug/$$f || echo "== $$f did not run: set the variables named above (see .env.example)" >&2; \
	done

test: fmt-check lint unit

fmt:
	$(CARGO) fmt

fmt-check:
	$(CARGO) fmt --check

lint:
	$(CARGO) clippy --all-targets -- -D warnings

unit: $(VENV)/.installed
	$(CARGO) test

## The Python tools (moto_server), installed from PyPI into .venv; redone when the list changes.
$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

build:
	$(CARGO) build --release --bins

clean:
	$(CARGO) clean
	rm -rf $(VENV)
