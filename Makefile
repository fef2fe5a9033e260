# Wardround: `make demo` to see it work, `make test` to run the whole suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# demo: the agent and the collector; test: every extra the suite exercises
DEMO_EXTRAS ?= collector
TEST_EXTRAS ?= collector,db,ssh,dev

# make demo PORT=9000: the demo collector's port (else $WARDROUND_DEMO_PORT, else 8480)
PORT ?=
# make wheelhouse: every wheel an offline install needs (install-linux.sh --wheels wheelhouse/linux;
# the Windows agent: pip install --no-index --find-links wheelhouse\win_amd64 "wardround[db,ssh]")
WHEELHOUSE ?= wheelhouse
WHEEL_PYTHON ?= 3.11

.PHONY: demo test lint bench clean wheelhouse

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
	WARDROUND_DEMO_PORT=$(or $(PORT),$(WARDROUND_DEMO_PORT)) $(PY) deploy/demo.py

# Linux: this machine's platform and Python, the agent with every extra; Windows: win_amd64 for
# Python $(WHEEL_PYTHON), the agent with the database and SSH extras (no collector on Windows), and
# tzdata by name: pip judges the sys_platform marker by this machine, not by --platform.
wheelhouse: $(VENV)/.installed-$(DEMO_EXTRAS)
	rm -rf $(WHEELHOUSE) && mkdir -p $(WHEELHOUSE)/linux $(WHEELHOUSE)/win_amd64
	$(PY) -m pip wheel --quiet --no-deps -w $(WHEELHOUSE)/linux .
	cp $(WHEELHOUSE)/linux/wardround-*.whl $(WHEELHOUSE)/win_amd64/
	$(PY) -m pip download --quiet --only-binary=:all: -d $(WHEELHOUSE)/linux \
	  "$$(ls $(WHEELHOUSE)/linux/wardround-*.whl)[collector,db,ssh]"
	$(PY) -m pip download --quiet --only-binary=:all: --platform win_amd64 --python-version $(WHEEL_PYTHON) \
	  -d $(WHEELHOUSE)/win_amd64 "$$(ls $(WHEELHOUSE)/win_amd64/wardround-*.whl)[db,ssh]" tzdata
	@echo "wheelhouse: $(WHEELHOUSE)/linux ($$(ls $(WHEELHOUSE)/linux | wc -l) wheels), $(WHEELHOUSE)/win_amd64 ($$(ls $(WHEELHOUSE)/win_amd64 | wc -l) wheels)"

test: $(VENV)/.installed-$(TEST_EXTRAS) $(VENV)/.netfilterqueue
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-$(TEST_EXTRAS)
	$(PY) -m ruff check agent checks collector tests bench deploy

bench: $(VENV)/.installed-$(TEST_EXTRAS)
	$(PY) bench/ingest.py
	$(PY) bench/agent_footprint.py

clean:
	rm -rf $(VENV) demo build *.egg-info .pytest_cache $(WHEELHOUSE)
