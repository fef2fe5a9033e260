# Wardround: `make demo` to see it work, `make test` to run the whole suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# demo: the agent and the collector; test: every extra the suite exercises
DEMO_EXTRAS ?= collector
TEST_EXTRAS ?= collector,db,ssh,dev

.PHONY: demo test lint bench clean

# (Re)install when pyproject.toml changes; one stamp per set of extras.
$(VENV)/.installed-%: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[$*]'
	touch $@

demo: $(VENV)/.installed-$(DEMO_EXTRAS)
	$(PY) deploy/demo.py

test: $(VENV)/.installed-$(TEST_EXTRAS)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-$(TEST_EXTRAS)
	$(PY) -m ruff check agent checks collector tests bench deploy

bench: $(VENV)/.installed-$(TEST_EXTRAS)
	$(PY) bench/ingest.py
	$(PY) bench/agent_footprint.py

clean:
	rm -rf $(VENV) demo build *.egg-info .pytest_cache
