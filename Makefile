# credgraph — two commands for a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-out
DEMO_ENTERPRISES ?= 2000
DEMO_PERSONS ?= 3000
DEMO_GRAPH_PORT ?= 16379
DEMO_API_PORT ?= 8000

.PHONY: demo test lint typecheck pytest bench fixtures clean setup browser java screenshots graphiql-assets
CHROMIUM := $(firstword $(wildcard /usr/bin/chromium /usr/bin/chromium-browser))
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[test,spark]'
	touch $(STAMP)

# The packages' bytecode, compiled once as a wheel install would: an editable install leaves
# it to the first import, which never writes it where PYTHONDONTWRITEBYTECODE is set (every
# command would compile its modules again).
PACKAGES := credgraph resolver graph credit api fixtures tax
setup: $(STAMP)
	$(PY) -m compileall -q $(PACKAGES)

## demo: generate, check, link, evaluate and load a demo batch, then serve the API and the public page
demo: setup
	-$(VENV)/bin/credgraph graph stop --data-dir $(DEMO_DIR)/graph 2>/dev/null
	rm -rf $(DEMO_DIR)
	$(VENV)/bin/credgraph generate --out $(DEMO_DIR) --enterprises $(DEMO_ENTERPRISES) \
		--persons $(DEMO_PERSONS) --departments 32 --seed 7
	$(VENV)/bin/credgraph check $(DEMO_DIR)/batch --out $(DEMO_DIR)/check
	$(VENV)/bin/credgraph link $(DEMO_DIR)/batch --out $(DEMO_DIR)/run --state $(DEMO_DIR)/state
	$(VENV)/bin/credgraph evaluate $(DEMO_DIR)/run --truth $(DEMO_DIR)/truth
	$(VENV)/bin/credgraph graph start --data-dir $(DEMO_DIR)/graph --port $(DEMO_GRAPH_PORT)
	$(VENV)/bin/credgraph load $(DEMO_DIR)/run --data-dir $(DEMO_DIR)/graph
	@echo "demo batch: $(DEMO_DIR)/batch  (truth: $(DEMO_DIR)/truth)"
	@echo "quality report: $(DEMO_DIR)/check/quality.html   resolution run: $(DEMO_DIR)/run"
	@echo "graph server running on 127.0.0.1:$(DEMO_GRAPH_PORT); query it with"
	@echo "  $(VENV)/bin/credgraph show 有限公司 --data-dir $(DEMO_DIR)/graph --state $(DEMO_DIR)/state"
	@echo "  $(VENV)/bin/credgraph graph query 'MATCH (e:Enterprise) RETURN e.name AS name LIMIT 5' --data-dir $(DEMO_DIR)/graph"
	@echo "stop it with: $(VENV)/bin/credgraph graph stop --data-dir $(DEMO_DIR)/graph"
	-@[ -f .demo-api.pid ] && kill "$$(cat .demo-api.pid)" 2>/dev/null; rm -f .demo-api.pid; sleep 1
	@$(PY) -c "import socket; socket.socket().bind(('127.0.0.1', $(DEMO_API_PORT)))" 2>/dev/null || \
		{ echo "port $(DEMO_API_PORT) is taken: run make demo DEMO_API_PORT=8001 (or another free port)"; exit 1; }
	@mkdir -p $(DEMO_DIR)/api $(DEMO_DIR)/inbox
	@$(VENV)/bin/credgraph apikey create --role admin --name demo --data-dir $(DEMO_DIR)/api \
		> $(DEMO_DIR)/api/admin.token 2>/dev/null
	@chmod 600 $(DEMO_DIR)/api/admin.token
	@nohup $(VENV)/bin/credgraph serve --host 127.0.0.1 --port $(DEMO_API_PORT) \
		--graph-data-dir $(DEMO_DIR)/graph \
		--state $(DEMO_DIR)/state --data-dir $(DEMO_DIR)/api --inbox $(DEMO_DIR)/inbox \
		--log-file $(DEMO_DIR)/api/api.log > /dev/null 2>&1 & echo $$! > .demo-api.pid
	@for i in $$(seq 1 100); do kill -0 "$$(cat .demo-api.pid)" 2>/dev/null || { echo "the API exited: see $(DEMO_DIR)/api/api.log"; exit 1; }; \
		$(PY) -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$(DEMO_API_PORT)/readyz', timeout=1)" 2>/dev/null && break; \
		if [ $$i = 100 ]; then echo "the API did not become ready: see $(DEMO_DIR)/api/api.log"; exit 1; fi; sleep 0.2; done
	@echo "GraphQL API serving the demo data: http://127.0.0.1:$(DEMO_API_PORT)/graphql"
	@echo "public credit-lookup page (信用查询) on the demo data: http://127.0.0.1:$(DEMO_API_PORT)/"
	@echo "  admin API key (shown once, kept owner-only): $(DEMO_DIR)/api/admin.token"
	@echo "  try: curl -s http://127.0.0.1:$(DEMO_API_PORT)/graphql -H 'Content-Type: application/json' -H \"Authorization: Bearer \$$(cat $(DEMO_DIR)/api/admin.token)\" -d '{\"query\":\"{ enterprises(first: 3) { totalCount edges { node { uid name legalRepresentative { name } } } } }\"}'"
	@echo "stop the API with: kill \$$(cat .demo-api.pid)"

## test: lint, type check and every test
test: lint typecheck pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

## browser: Debian's chromium for the browser tests (Playwright downloads no browser here)
browser:
	@if [ -z "$(CHROMIUM)" ]; then \
		echo "installing chromium (apt-get)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; \
	fi
	@if [ -z "$$(fc-list :lang=zh 2>/dev/null)" ]; then \
		echo "installing a Chinese font for the page screenshots (apt-get fonts-wqy-microhei)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq fonts-wqy-microhei; \
	fi

## java: a Java runtime for the Spark tests (Debian's openjdk-17-jre-headless when missing)
java:
	@if ! command -v java >/dev/null 2>&1; then \
		echo "installing openjdk-17-jre-headless (apt-get)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq openjdk-17-jre-headless; \
	fi

pytest: setup browser java
	$(VENV)/bin/python -m pytest

## bench: benchmarks; figures go to bench/RESULTS.md
bench: $(STAMP)
	$(PIP) install --quiet -e '.[test,bench]'
	$(PY) -m bench.generate_1m --keep
	$(PY) -m bench.check_1m
	$(PY) -m bench.link_1m
	$(PY) -m bench.link_vs_splink
	$(PY) -m bench.link_vs_splink --enterprises 68000 --persons 100000
	$(PY) -m bench.incremental_10k
	$(PY) -m bench.incremental_vs_oneshot

## screenshots: the public page at desktop and phone widths (docs/page-desktop.png, docs/page-phone.png)
screenshots: $(STAMP) browser
	$(PY) -m tests.page_screenshots

## fixtures: regenerate the committed sample batch in fixtures/sample
fixtures: $(STAMP)
	rm -rf fixtures/sample
	$(VENV)/bin/credgraph generate --out fixtures/sample --enterprises 240 --persons 320 \
		--departments 32 --seed 2026 --batch-id sample-2026-11

## graphiql-assets: refresh the GraphiQL and React files the API serves (api/graphiql_assets) from npm
GRAPHIQL_NPM := graphiql@3.9.0 react@18.3.1 react-dom@18.3.1
graphiql-assets:
	rm -rf .graphiql-npm && mkdir .graphiql-npm
	cd .graphiql-npm && npm pack --silent $(GRAPHIQL_NPM) >/dev/null && \
		for f in *.tgz; do mkdir "$${f%.tgz}" && tar xzf "$$f" -C "$${f%.tgz}"; done
	cp .graphiql-npm/graphiql-*/package/graphiql.min.js .graphiql-npm/graphiql-*/package/graphiql.min.css \
		.graphiql-npm/react-1*/package/umd/react.production.min.js \
		.graphiql-npm/react-dom-*/package/umd/react-dom.production.min.js api/graphiql_assets/
	@echo "copied $(GRAPHIQL_NPM) into api/graphiql_assets: update LICENSES.txt's versions"
	rm -rf .graphiql-npm

clean:
	rm -rf $(VENV) $(DEMO_DIR) .mypy_cache .ruff_cache .pytest_cache
