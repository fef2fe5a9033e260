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

# NetfilterQueue compiles against Debian's libnetfilter-queue-dev; without it the network-delay
# tests skip (and fail under CI=true, where .ci/run installs the library first).
$(VENV)/.netfilterqueue: $(VENV)/.installed-$(TEST_EXTRAS)
	$(PY) -m pip install --quiet --disable-pip-version-check NetfilterQueue==1.1.0 \
	  || echo "NetfilterQueue did not build (apt-get install libnetfilter-queue-dev): delay tests will skip"
	touch $@

demo: $(VENV)/.installed-$(DEMO_EXTRAS)
	$(PY) deploy/demo.py

test: $(VENV)/.installed-$(TEST_EXTRAS) $(VENV)/.netfilterqueue
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-$(TEST_EXTRAS)
	$(PY) -m ruff check agent checks collector tests bench deploy

bench: $(VENV)/.installed-$(TEST_EXTRAS)
	$(PY) bench/ingest.py
	$(PY) bench/agent_footprint.py

clean:
	rm -rf $(VENV) demo build *.egg-info .pytest_cache
