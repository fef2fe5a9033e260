# Wardround: `make demo` to see it work, `make test` to run the whole suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
EXTRAS ?= collector,dev

.PHONY: demo test lint bench clean

# (Re)install when pyproject.toml changes.
$(VENV)/.installed-$(EXTRAS): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS)]'
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(VENV)/.installed-$(EXTRAS)

demo: venv
	$(PY) deploy/demo.py

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(PY) -m ruff check agent checks collector tests bench deploy

bench: venv
	$(PY) bench/ingest.py
	$(PY) bench/agent_footprint.py

clean:
	rm -rf $(VENV) demo build *.egg-info .pytest_cache
