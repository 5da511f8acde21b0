# handson — `make run` starts the platform, `make test` proves it.
# Both set up the host first (scripts/host-setup.sh: Docker engine, devices,
# kernel settings), then install what is missing (images, npm and Go deps).

SHELL := /bin/bash
GO ?= go
NPM ?= npm
BIN := bin/handson
FRONTEND_SRC := $(wildcard frontend/src/*) frontend/build.mjs frontend/package-lock.json

.PHONY: run test bench build deps host images browser frontend lint clean

run: deps images build
	./$(BIN) serve

test: deps images browser build
	$(GO) vet ./...
	scripts/course-images-smoke.sh
	scripts/fresh-host-test.sh
	./$(BIN) lab lint labs
	$(GO) test -count=1 -timeout 30m ./...

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
