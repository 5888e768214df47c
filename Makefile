# tlschain — see README.md. Targets: build check demo bench fuzz soak install clean size.
GO        ?= go
PREFIX    ?= /usr/local
DESTDIR   ?=
BIN       := $(CURDIR)/bin
GOFLAGS_RELEASE := -trimpath -ldflags='-s -w'
FUZZTIME  ?= 10s

# Debian packages the tests and benchmarks run against (real peers).
TEST_PKGS := openssl ucspi-tcp-ipv6 gnutls-bin swaks socat stunnel4 mailfront \
	popa3d cvm s6 execline testssl.sh hyperfine libio-socket-ssl-perl \
	libnet-ssleay-perl procps iproute2 haproxy util-linux postfix

.PHONY: all build check deps vet unit blackbox demo bench fuzz install clean size soak

all: build

build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_RELEASE) -o $(BIN)/ ./cmd/...

# deps installs the missing test peers with apt-get when run as root.
deps:
	@missing=""; for p in $(TEST_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else \
			echo "missing test packages (run as root to install):$$missing"; \
		fi; \
	fi

vet:
	@test -z "$$(gofmt -l cmd pkg t)" || { gofmt -l cmd pkg t; echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...

unit:
	CGO_ENABLED=0 $(GO) test -count=1 ./pkg/...

blackbox: build
	TLSCHAIN_BIN=$(BIN) TLSCHAIN_REQUIRE_TOOLS=1 CGO_ENABLED=0 $(GO) test -count=1 -timeout 12m ./t/

check: deps vet unit blackbox

demo: build
	@sh examples/demo/run.sh $(BIN)

bench: build deps
	@TLSCHAIN_BIN=$(BIN) sh t/bench/run.sh

# fuzz runs every fuzz target for FUZZTIME each. A target that fails is
# run once more: Go's fuzzer sometimes stops on "context deadline exceeded"
# with no crasher, while a real crasher is saved under testdata/fuzz and
# fails again on the replay.
fuzz:
	@for pkg in $$($(GO) list ./pkg/...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; \
			CGO_ENABLED=0 $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || \
			CGO_ENABLED=0 $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	for f in $(BIN)/*; do install -m 0755 $$f $(DESTDIR)$(PREFIX)/bin/; done

size: build
	@ls -l $(BIN) | awk 'NR>1 {printf "%-16s %8d\n", $$9, $$5}'

clean:
	rm -rf $(BIN)

# soak: thousands of TLS and STARTTLS sessions above the limits, with faults
# (loopback only, about 2 minutes; SOAK_DURATION sets the load phase).
soak: build
	@TLSCHAIN_BIN=$(BIN) sh t/soak/run.sh
