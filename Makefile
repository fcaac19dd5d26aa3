# Switchboard: `make run` starts the whole local stack; `make test` installs
# what it needs and runs every check CI runs.
GO       ?= go
NPM      ?= npm
DEV_DEPS := dev/node_modules/.package-lock.json

.PHONY: all deps debs build run test check fmt-check vet unit bench package clean

all: build

# npm ci only when package-lock.json changed since the last install.
$(DEV_DEPS): dev/package.json dev/package-lock.json
	cd dev && $(NPM) ci --no-audit --no-fund
	@touch $@

deps: $(DEV_DEPS)
	$(GO) mod download

# Debian packages the tests run for real: coturn (the TURN server of the
# relay tests) and chromium (the browser the console's tests drive with
# playwright-core). Only what is missing is installed, after one apt-get
# update (CI is a fresh Debian machine, as root).
APT_GET ?= apt-get
debs:
	@missing=; \
	command -v turnserver >/dev/null 2>&1 || missing="$$missing coturn"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	[ -z "$$missing" ] || { \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		echo "installing Debian's$$missing (missing)"; \
		$$sudo $(APT_GET) update && DEBIAN_FRONTEND=noninteractive $$sudo $(APT_GET) install -y --no-install-recommends $$missing; \
	}

build:
	$(GO) build -o bin/handler ./handler

run: deps
	$(GO) run ./dev/cmd/devstack

test: deps debs fmt-check vet unit

fmt-check:
	@out=$$(find . -name '*.go' -not -path './dev/node_modules/*' -not -path './.git/*' | xargs gofmt -l); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

bench: deps
	$(GO) run ./dev/cmd/bench -doc docs/benchmarks.md

package:
	$(GO) run ./dev/cmd/package

clean:
	rm -rf bin dist
