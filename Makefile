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

# The portal's Node packages, pinned by services/portal/package-lock.json: the State design
# system (@gouvfr/dsfr, served by the portal) and the browser-test tools (axe-core,
# oidc-provider). npm ci writes node_modules/.package-lock.json, our stamp.
PORTAL := services/portal
PORTAL_ASSETS := $(PORTAL)/node_modules/.package-lock.json

.PHONY: install portal-assets system-deps run test lint format bench chaos schemas lock lock-upgrade clean

install: $(STAMP) portal-assets

portal-assets: $(PORTAL_ASSETS)

# --ignore-scripts: no package runs code at install (the DSFR's preinstall expects its CLI).
$(PORTAL_ASSETS): $(PORTAL)/package.json $(PORTAL)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the portal's assets (apt-get install npm)"; exit 1; }
	cd $(PORTAL) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

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

# Debian's prometheus (promtool and a real server for the dashboard and alert tests),
# docker-compose (validates deploy/compose.yaml) and chromium with its French locale (the
# portal's browser tests, driven by Playwright; dates typed as jj/mm/aaaa). Installed when
# missing and we are root.
system-deps:
	@if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null \
	    || ! command -v docker-compose >/dev/null || ! command -v chromium >/dev/null \
	    || [ ! -e /usr/lib/chromium/locales/fr.pak ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages: prometheus docker-compose chromium chromium-l10n"; \
	    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	      --no-install-recommends prometheus docker-compose chromium chromium-l10n \
	      fonts-liberation >/dev/null; \
	  else \
	    echo "prometheus, docker-compose or chromium missing and not root: their tests will skip"; \
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

# Every benchmark (docs/benchmarks.md), on the PostgreSQL of 127.0.0.1:5432; figures in
# .bench/results.json. One of them: BENCH_ARGS="--only cpias --cases 500".
bench: install
	$(PY) -m bench $(BENCH_ARGS)

# 10,000 declarations through the stack on a PostgreSQL of its own while each part is broken
# in turn; figures in .bench/chaos.json. Minutes long, so outside `make test`. Needs
# PostgreSQL's initdb/pg_ctl (Debian package postgresql). CHAOS_ARGS="--declarations 4800" (4,200 at least at 40/s).
chaos: install
	$(PY) -m bench.chaos $(CHAOS_ARGS)

schemas: install
	$(VENV)/bin/iaspipe schemas export

clean:
	rm -rf $(VENV) $(TOOLS) .data .pytest_cache .mypy_cache .ruff_cache .artifacts $(PORTAL)/node_modules
