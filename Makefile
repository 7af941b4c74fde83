# Two commands on a fresh Debian 12 machine with Python 3.11:
#   make run    set up .venv and start the monitor with config/default.yaml
#   make test   set up .venv (with test tools and the Debian packages the fixtures start) and test
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
CONFIG ?= config/default.yaml

.PHONY: run test bench setup setup-test clean

$(VENV)/.installed: pyproject.toml
	@bash deploy/setup-venv.sh "$(PYTHON)" "$(VENV)" .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

setup: $(VENV)/.installed

setup-test: $(VENV)/.installed-test
	@bash deploy/install-debian-packages.sh deploy/test-packages.txt

run: setup
	$(VENV)/bin/shouwang run --config $(CONFIG)

test: setup-test
	$(PY) -m pytest

bench: setup-test
	@bash deploy/install-debian-packages.sh deploy/bench-packages.txt
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit $$?; done

clean:
	rm -rf $(VENV) var .pytest_cache
