# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Exact versions (with hashes) of everything the dev environment needs; `make lock` refreshes it.
LOCK := requirements-lock.txt

.PHONY: demo test check chaos load lint infra-lint bench lab report strip clean graphviz venv lock

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# The locked versions, hashes checked, then the project itself without resolving anything more.
$(STAMP): $(LOCK) pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP) graphviz

# Refresh $(LOCK) from pyproject.toml (the [dev] extra, transitively) with pip-tools, kept in
# its own virtualenv; it resolves for the running interpreter, so run it on Python 3.11, Linux
# x86_64. Pins that still satisfy pyproject.toml are kept; `make lock UPGRADE=1` takes the newest
# versions allowed, `make lock UPGRADE=moto` only moto's. Then `make venv` installs the result.
LOCK_VENV := .venv-lock
PIP_TOOLS := pip==26.3 pip-tools==7.6.2
lock:
	@python3 -c 'import platform, sys; sys.exit(sys.version_info[:2] != (3, 11) or sys.platform != "linux" or platform.machine() != "x86_64")' \
	  || { echo "make lock resolves for Python 3.11 on Linux x86_64: run it there"; exit 1; }
	[ -x $(LOCK_VENV)/bin/python ] || python3 -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet $(PIP_TOOLS)
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet --extra dev \
	  --generate-hashes --no-strip-extras --no-emit-index-url --no-emit-find-links \
	  --no-allow-unsafe --unsafe-package order-pipeline-workbench \
	  $(if $(filter 1,$(UPGRADE)),--upgrade,$(if $(UPGRADE),--upgrade-package $(UPGRADE))) \
	  --output-file $(LOCK) pyproject.toml
	@# The [dev] extra's `order-pipeline-workbench[local]` comes back as an unpinned note: drop it.
	$(LOCK_VENV)/bin/python -c 'import pathlib, re; p = pathlib.Path("$(LOCK)"); \
	  p.write_text(re.sub(r"\n+# WARNING: The following packages were not pinned.*", "\n", p.read_text(), flags=re.S))'
	@echo "$(LOCK) refreshed (pip-compile's WARNING was about the project itself: note removed)"

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
	$(PY) -m pipeline demo --orders 300

# Tests run in WORKERS processes (pytest-xdist; `auto`: one per core, `WORKERS=0` runs them in
# this one). A module, or a notebook's cells, stays in one worker (--dist loadfile).
WORKERS ?= auto
PYTEST_WORKERS := -n $(WORKERS) --dist loadfile

# Lint, types, the import contract, then every test (unit and system tiers) and the notebooks.
test: venv
	$(VENV)/bin/ruff check pipeline tests benchmarks
	$(VENV)/bin/ruff format --check pipeline tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest -q $(PYTEST_WORKERS) --nbval-lax tests notebooks

# The quick gate (under a minute): lint, types, the import contract and the unit tier only
# (tests/conftest.py marks every test not marked `system` as `unit`).
check: venv
	$(VENV)/bin/ruff check pipeline tests benchmarks
	$(VENV)/bin/ruff format --check pipeline tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest -q $(PYTEST_WORKERS) -m unit tests

# Every fault scenario on the local cloud, 100 orders each, with the invariants report.
chaos: venv
	$(PY) -m pipeline chaos --orders 100

# A bounded load test on loopback: `python -m pipeline serve` loaded by Locust (default 2,000
# orders from 20 users, offered at 10 orders/s; ORDERS=, USERS=, RATE= to change, RATE=0
# unpaced), then the invariants; the figures go to .bench/load.json.
ORDERS ?= 2000
USERS ?= 20
RATE ?= 10
load: venv
	$(PY) -m benchmarks.load $(ORDERS) $(USERS) $(RATE)

lint: venv
	$(VENV)/bin/ruff check pipeline tests benchmarks
	$(VENV)/bin/ruff format --check pipeline tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/cfn-lint infra/template.yaml
	$(VENV)/bin/checkov -d infra --quiet --compact --skip-download

bench: venv
	$(PY) -m benchmarks

# JupyterLab on loopback only (LAB_PORT=8890 make lab when 8888 is taken); the link with its
# token is printed once it is up; Ctrl-C twice stops it.
LAB_PORT ?= 8888
lab: venv
	@echo "JupyterLab serves notebooks/ on http://127.0.0.1:$(LAB_PORT)/lab (open the link with the token printed below)"
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --port=$(LAB_PORT) --ServerApp.port_retries=0 \
	  --ServerApp.root_dir=notebooks $$([ "$$(id -u)" = 0 ] && echo --allow-root)

# The design report: every notebook executed (outputs to the site only, notebooks/ stays
# stripped), one HTML page each, the diagrams and an index: open build/report/index.html.
report: venv
	$(PY) -m pipeline.report --out build/report

# Clear outputs and execution counts before committing notebooks (a test checks it).
strip: venv
	$(PY) notebooks/strip.py

clean:
	rm -rf $(VENV) $(LOCK_VENV) .pytest_cache .ruff_cache build *.egg-info
