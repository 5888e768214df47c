# tlschain — see README.md. Targets: build check demo bench fuzz soak install deb clean size.
GO        ?= go
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
MANDIR    ?= $(PREFIX)/share/man
DOCDIR    ?= $(PREFIX)/share/doc/tlschain
DESTDIR   ?=
BIN       := $(CURDIR)/bin
# build/: generated man pages (build/man/man1) and the .deb (doc/building.md).
OUT       := $(CURDIR)/build
VERSION   := $(shell cat $(CURDIR)/VERSION)
GOFLAGS_RELEASE := -trimpath -ldflags='-s -w -X github.com/tlschain/tlschain/pkg/version.Version=$(VERSION)'
PROGS     := $(notdir $(wildcard $(CURDIR)/cmd/*))
MD2MAN    ?= go-md2man
FUZZTIME  ?= 10s

# Debian packages the tests and benchmarks run against (real peers).
TEST_PKGS := openssl ucspi-tcp-ipv6 gnutls-bin swaks socat stunnel4 mailfront \
	popa3d cvm s6 execline testssl.sh hyperfine libio-socket-ssl-perl \
	libnet-ssleay-perl procps iproute2 haproxy util-linux postfix \
	go-md2man man-db debhelper dpkg-dev fakeroot lintian tlswrapper

# Debian packages the man pages (go-md2man) and `make deb` need; installed
# when missing by the targets that use them, as deps does (doc/building.md).
MAN_PKGS  := go-md2man
DEB_PKGS  := go-md2man debhelper dpkg-dev fakeroot lintian

.PHONY: all build check deps vet unit blackbox demo bench fuzz install install-bin install-man install-doc man man-deps deb deb-deps apt-install FORCE clean size soak

all: build

build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_RELEASE) -o $(BIN)/ ./cmd/...

# deps installs the missing test peers with apt-get when run as root, one
# package at a time if the whole set fails, and never removes or replaces
# an installed package (--no-remove: on a qmail host postfix stays out
# rather than taking the MTA's place). What it could not install is named;
# the tests that need it are skipped, or fail under TLSCHAIN_REQUIRE_TOOLS=1
# (CI: .ci/run sets it).
deps:
	@missing=""; for p in $(TEST_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "test peers: the $(words $(TEST_PKGS)) packages are installed"; exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "test peers missing (make check as root installs them; their tests are skipped):$$missing"; exit 0; \
	fi; \
	echo "installing test peers:$$missing"; \
	apt-get update -qq >/dev/null 2>&1 || echo "apt-get update failed; installing from the current lists"; \
	apt="apt-get install -y -qq --no-install-recommends --no-remove"; failed=""; \
	if ! DEBIAN_FRONTEND=noninteractive $$apt $$missing >/dev/null 2>&1; then \
		for p in $$missing; do DEBIAN_FRONTEND=noninteractive $$apt $$p >/dev/null 2>&1 || failed="$$failed $$p"; done; \
	fi; \
	if [ -n "$$failed" ]; then \
		echo "not installed (apt-get failed, or would remove or replace an installed package; the tests that need them are skipped):$$failed"; \
	else echo "test peers: installed"; fi

vet:
	@test -z "$$(gofmt -l cmd pkg t)" || { gofmt -l cmd pkg t; echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...

unit:
	CGO_ENABLED=0 $(GO) test -count=1 ./pkg/... ./cmd/...

# -timeout catches a hang only: t/ takes about 5 minutes on an idle 2-CPU
# machine, 7.5 with two CPU-burning loops beside it.
blackbox: build
	TLSCHAIN_BIN=$(BIN) CGO_ENABLED=0 $(GO) test -count=1 -timeout 30m ./t/

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
	@for pkg in $$($(GO) list ./pkg/... ./cmd/...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; \
			CGO_ENABLED=0 $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || \
			CGO_ENABLED=0 $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# install: the programs in BINDIR, their man pages in MANDIR/man1, README,
# doc/ and examples/ in DOCDIR (the README's links work there too).
install: install-bin install-man install-doc

install-bin: build
	install -d $(DESTDIR)$(BINDIR)
	for f in $(BIN)/*; do install -m 0755 $$f $(DESTDIR)$(BINDIR)/; done

install-man: man
	install -d $(DESTDIR)$(MANDIR)/man1
	install -m 0644 $(PROGS:%=$(OUT)/man/man1/%.1) $(DESTDIR)$(MANDIR)/man1/

install-doc:
	install -d $(DESTDIR)$(DOCDIR)/doc
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 doc/*.md $(DESTDIR)$(DOCDIR)/doc/
	cp -R examples $(DESTDIR)$(DOCDIR)/

# man: one page per program, doc/<prog>.md through go-md2man (doc/man.sh).
man: $(PROGS:%=$(OUT)/man/man1/%.1)

$(OUT)/man/man1/%.1: doc/%.md doc/man.sh VERSION $(OUT)/man/docdir | man-deps
	@mkdir -p $(@D)
	MD2MAN=$(MD2MAN) sh doc/man.sh $* $(VERSION) $(DOCDIR) < $< > $@.tmp
	@mv $@.tmp $@

# The pages name DOCDIR: rebuilt when it changes.
$(OUT)/man/docdir: FORCE
	@mkdir -p $(@D); echo '$(DOCDIR)' | cmp -s - $@ || echo '$(DOCDIR)' > $@

FORCE:

# man-deps and deb-deps install what is missing with apt-get when run as
# root and stop with the package names otherwise; nothing is removed.
man-deps:
	@command -v $(MD2MAN) >/dev/null || $(MAKE) -s apt-install PKGS="$(MAN_PKGS)"

deb-deps:
	@$(MAKE) -s apt-install PKGS="$(DEB_PKGS)"

apt-install:
	@missing=""; for p in $(PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends --no-remove $$missing >/dev/null; \
		else \
			echo "missing:$$missing (apt-get install$$missing, as root)" >&2; exit 1; \
		fi; \
	fi

# deb: build/tlschain_$(VERSION)_<arch>.deb with dpkg-buildpackage, from a
# copy of the sources in build/deb (the work tree gets no debian/tlschain,
# no ../*.deb), then lintian on it. debian/changelog must be at VERSION.
deb: deb-deps
	@v=$$(dpkg-parsechangelog -S Version); [ "$$v" = "$(VERSION)" ] || \
		{ echo "debian/changelog is at $$v, VERSION at $(VERSION): add a changelog entry (dch -v $(VERSION))" >&2; exit 1; }
	rm -rf $(OUT)/deb
	mkdir -p $(OUT)/deb/tlschain-$(VERSION)
	cp -R cmd pkg doc examples debian go.mod go.sum Makefile README.md VERSION $(OUT)/deb/tlschain-$(VERSION)/
	cd $(OUT)/deb/tlschain-$(VERSION) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u OUT -u DESTDIR \
		-u PREFIX -u BINDIR -u MANDIR -u DOCDIR dpkg-buildpackage -b -us -uc
	cp $(OUT)/deb/tlschain_$(VERSION)_*.deb $(OUT)/
	lintian --fail-on error $(OUT)/deb/tlschain_$(VERSION)_*.deb
	@ls $(OUT)/tlschain_$(VERSION)_*.deb

size: build
	@ls -l $(BIN) | awk 'NR>1 {printf "%-16s %8d\n", $$9, $$5}'

clean:
	rm -rf $(BIN) $(OUT)

# soak: thousands of TLS and STARTTLS sessions above the limits, with faults
# (loopback only, about 2 minutes; SOAK_DURATION sets the load phase).
soak: build
	@TLSCHAIN_BIN=$(BIN) sh t/soak/run.sh
