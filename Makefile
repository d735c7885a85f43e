# Everyday verbs: install run test lint bench. Each one sets up what it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install system-deps run test lint format bench schemas clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

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
	$(VENV)/bin/mypy schemas services iaspipe bench
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) -m bench

schemas: install
	$(VENV)/bin/iaspipe schemas export

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
