# Switchboard: `make run` starts the whole local stack; `make test` installs
# what it needs and runs every check CI runs.
GO       ?= go
NPM      ?= npm
DEV_DEPS := dev/node_modules/.package-lock.json

.PHONY: all deps coturn chromium build run test check fmt-check vet unit bench package clean

all: build

# npm ci only when package-lock.json changed since the last install.
$(DEV_DEPS): dev/package.json dev/package-lock.json
	cd dev && $(NPM) ci --no-audit --no-fund
	@touch $@

deps: $(DEV_DEPS)
	$(GO) mod download

# coturn (Debian's package) is the TURN server the relay tests run; install
# it only when turnserver is missing (CI is a fresh Debian machine, as root).
coturn:
	@command -v turnserver >/dev/null 2>&1 || { \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		echo "turnserver is missing: installing Debian's coturn"; \
		$$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y --no-install-recommends coturn; \
	}

# chromium (Debian's package) is the browser the console's tests drive with
# playwright-core; install it only when it is missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		echo "chromium is missing: installing Debian's chromium"; \
		$$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y --no-install-recommends chromium; \
	}

build:
	$(GO) build -o bin/handler ./handler

run: deps
	$(GO) run ./dev/cmd/devstack

test: deps coturn chromium fmt-check vet unit

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
