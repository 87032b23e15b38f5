# Takos: `make up` runs the platform on the embedded default; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: up test lint fmt bench images clean-venv lock

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

up: $(STAMP)
	$(PY) manage.py up

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP)
	$(PY) scripts/bench_api.py
	$(PY) scripts/bench_hosts.py
	$(PY) scripts/bench_git.py
	$(PY) tests/agents/bench_runs.py --clients 500
	$(PY) scripts/bench_workflows.py
	$(PY) scripts/bench_dispatch.py

images:
	scripts/build_images.sh

# Re-pin requirements.lock from pyproject.toml (run after changing dependencies).
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv && .lockvenv/bin/pip install --quiet -e '.[dev]' \
	  && .lockvenv/bin/pip freeze --exclude-editable | sort > requirements.lock && rm -rf .lockvenv

clean-venv:
	rm -rf $(VENV)
