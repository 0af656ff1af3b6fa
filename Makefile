# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test chaos load lint infra-lint bench lab strip clean graphviz venv

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP) graphviz

# Graphviz (`dot`) draws the diagrams; install it when missing and we are root, else say how.
graphviz:
	@if ! command -v dot >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Graphviz with apt-get"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null); \
	  else \
	    echo "Graphviz is missing: run 'sudo apt-get install -y graphviz' (or 'brew install graphviz')"; \
	  fi; \
	fi

demo: venv
	$(PY) -m pipeline demo --orders 1000

test: venv
	$(VENV)/bin/ruff check pipeline tests benchmarks
	$(VENV)/bin/pytest -q --nbval-lax tests notebooks

# Every fault scenario on the local cloud, 100 orders each, with the invariants report.
chaos: venv
	$(PY) -m pipeline chaos --orders 100

# A bounded load test on loopback (default 20,000 orders; ORDERS=2000 for a shorter one).
ORDERS ?= 20000
load: venv
	$(PY) -m benchmarks.load $(ORDERS)

lint: venv
	$(VENV)/bin/ruff check pipeline tests benchmarks
	$(VENV)/bin/cfn-lint infra/template.yaml
	$(VENV)/bin/checkov -d infra --quiet --compact --skip-download

bench: venv
	$(PY) -m benchmarks

lab: venv
	$(VENV)/bin/jupyter lab notebooks

# Clear outputs and execution counts before committing notebooks (a test checks it).
strip: venv
	$(PY) notebooks/strip.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
