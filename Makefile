# pdekit: one-command set-up and the usual entry points.
#   make setup   build .venv (with FEniCSx from the system) and install pdekit  [default]
#   make test    run the fast test suite          (pytest args: make test ARGS="-m slow")
#   make demo    run the demo
#   make bench   run every benchmarks/*.py
#   make lint    ruff check (pyflakes, pycodestyle, import order, bugbear; settings in pyproject.toml)
#   make clean   remove caches and build outputs (make distclean also removes .venv)
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.pdekit-installed
ARGS  ?=

export DDE_BACKEND := pytorch

.DEFAULT_GOAL := setup
.PHONY: setup test demo bench lint clean distclean

setup: $(STAMP)

# Re-run the installer only when the package metadata or the installer changed.
$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	@touch $@

test: setup
	$(PY) -m pytest $(ARGS)

demo: setup
	$(PY) -m pdekit.demo $(ARGS)

# `ruff format` is configured in pyproject.toml but not yet applied to the code base: lint only checks.
lint: setup
	$(PY) -m ruff check .

bench: setup
	@set -e; shopt -s nullglob; files=(benchmarks/*.py); \
	if [ $${#files[@]} -eq 0 ]; then echo "no benchmarks/*.py"; fi; \
	for f in "$${files[@]}"; do echo "== $$f"; $(PY) "$$f"; done

clean:
	rm -rf build dist .pytest_cache *.egg-info
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) -type d -print0 | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV)
