# handson — `make run` starts the platform, `make test` proves it.
# Both set up the host first (scripts/host-setup.sh: Docker engine, devices,
# kernel settings), then install what is missing (images, npm and Go deps).

SHELL := /bin/bash
GO ?= go
NPM ?= npm
BIN := bin/handson
FRONTEND_SRC := $(wildcard frontend/src/*) frontend/build.mjs frontend/package-lock.json

# make test runs every package once: with -race, except the system tests in
# ./tests (whole platforms, real sandboxes and Chromium), whose browser
# timings do not hold against a server that -race slows several times
# (TestTerminalBrowser lost its replay after a reload in 2 of 8 such runs on
# a loaded machine). The packages whose goroutines they drive (manager,
# terminal, preflight, preview, server) run their own tests under -race.
NORACE := handson/tests

.PHONY: run test bench build deps host images browser frontend lint clean

run: deps images build
	./$(BIN) serve

test: deps images browser build
	$(GO) vet ./...
	cd frontend && $(NPM) run check
	scripts/course-images-smoke.sh
	scripts/fresh-host-test.sh
	./$(BIN) lab lint labs
	$(GO) test -count=1 -timeout 30m -race $(filter-out $(NORACE),$(shell $(GO) list ./...))
	$(GO) test -count=1 -timeout 60m $(NORACE)
	./$(BIN) lab test labs

# The package benchmarks, then scripts/bench.sh: the platform's own on real
# sandboxes (cmd/handson-bench: up to 50 at once, about 15 minutes), whose
# results table goes to stdout. Last results: docs/benchmarks.md.
bench: deps images build
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...
	GO=$(GO) scripts/bench.sh

# go build is incremental itself; the bundle must exist first (it is embedded).
build: frontend/dist/app.js
	$(GO) build -o $(BIN) .

frontend: frontend/dist/app.js

frontend/dist/app.js: frontend/node_modules/.package-lock.json $(FRONTEND_SRC)
	cd frontend && $(NPM) run build

frontend/node_modules/.package-lock.json: frontend/package-lock.json
	cd frontend && $(NPM) ci --no-audit --no-fund

deps: host frontend/node_modules/.package-lock.json
	$(GO) mod download

host:
	scripts/host-setup.sh

# The platform's images, then the classroom registry's volume seeded with the
# course images (library/*; skipped in ~1 s when already seeded).
images: host
	scripts/build-images.sh
	scripts/seed-registry.sh

browser:
	scripts/ensure-browser.sh

lint:
	$(GO) vet ./...
	./$(BIN) lab lint labs

clean:
	rm -rf bin frontend/node_modules
	find frontend/dist -mindepth 1 -not -name .gitkeep -delete
