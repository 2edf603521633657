# Zygarde: `make demo` runs the main job end to end on the local cloud; `make test` runs every test.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: setup demo test test-parallel unit down clean

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/zygarde demo

test: setup
	$(PY) -m pytest -q -p no:cacheprovider --durations=40

# The same tests on two pytest-xdist workers: one runs the emulator tests (one work unit, one emulator
# set), the other the unit tests, module by module, non-Spark first (tests/conftest.py).
test-parallel: setup
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadscope --no-loadscope-reorder

unit: setup
	$(PY) -m pytest -q tests/unit

down:
	$(VENV)/bin/zygarde local down

clean: down
	rm -rf .zygarde

schema: setup
	$(PY) -c "import json; from zygarde.domain.spec import json_schema; open('schemas/job_spec.schema.json','w').write(json.dumps(json_schema(), indent=2, sort_keys=True)+'\n')"
