# Everyday verbs: install run test lint bench. Each one sets up what it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# uv installs exactly what uv.lock pins, with hashes; it lives in its own small venv.
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
export UV_PROJECT_ENVIRONMENT := $(VENV)
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml uv.lock | cksum | cut -d' ' -f1)

.PHONY: install system-deps run test lint format bench schemas lock lock-upgrade clean

install: $(STAMP)

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --all-extras --python $(PYTHON) --quiet
	rm -f $(VENV)/.installed-* && touch $@

# After a change to pyproject.toml's dependencies: pin the new set in uv.lock.
lock: $(UV)
	$(UV) lock

# Move every dependency to its newest version allowed by pyproject.toml.
lock-upgrade: $(UV)
	$(UV) lock --upgrade

run: install
	$(VENV)/bin/iaspipe stack

test: install system-deps
	$(PY) -m pytest

# Debian's prometheus (promtool and a real server for the dashboard and alert tests) and
# docker-compose (validates deploy/compose.yaml). Installed when missing and we are root.
system-deps:
	@if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null \
	    || ! command -v docker-compose >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages: prometheus docker-compose"; \
	    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	      --no-install-recommends prometheus docker-compose >/dev/null; \
	  else \
	    echo "prometheus or docker-compose missing and not root: their tests will skip"; \
	  fi; \
	fi

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy schemas services iaspipe cli bench
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) -m bench

schemas: install
	$(VENV)/bin/iaspipe schemas export

clean:
	rm -rf $(VENV) $(TOOLS) .data .pytest_cache .mypy_cache .ruff_cache
