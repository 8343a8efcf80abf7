# branchgw — see README.md. `make test` and `make demo` need root; run as a
# normal user they re-run themselves with sudo where it exists.

SHELL   := /bin/bash
GO      ?= go
PKG     := github.com/branchgw/branchgw
# The toolchain every build and test here uses: go.mod asks for 1.26 (what
# Buildroot's Go builds), but 1.26.8 has standard-library vulnerabilities
# govulncheck reports (net/http, crypto/tls, crypto/x509). The go command
# fetches this toolchain from the module proxy once (76 MB).
export GOTOOLCHAIN := go1.27.3
TOOLS   := $(CURDIR)/.tools/bin-$(GOTOOLCHAIN)
BIN     := $(CURDIR)/bin
export PATH := $(TOOLS):$(PATH)

# Reproducible builds: the date is the commit's, not the build's.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell git log -1 --format=%cd --date=format:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X $(PKG)/gateway/version.Version=$(VERSION) \
	-X $(PKG)/gateway/version.Commit=$(COMMIT) -X $(PKG)/gateway/version.Date=$(DATE)
GOBUILD := $(GO) build -trimpath -ldflags '$(LDFLAGS)'

# Debian packages the tests and the demo use; `deps` installs only missing ones.
DEB_PACKAGES := gcc libc6-dev file systemd iproute2 nftables mosquitto mosquitto-clients \
	qemu-user qemu-system-arm qemu-system-x86 genimage dosfstools mtools fdisk e2fsprogs gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
	gcc-arm-linux-gnueabihf libc6-dev-armhf-cross iperf3 busybox-static ieee-data tcpdump tshark chromium
STATICCHECK_VERSION := v0.8.2
GOVULNCHECK_VERSION := v1.9.0
# Go's vulnerability database, as the OSV files of the golang.org/x/vulndb
# module: fetched through the module proxy like any module and indexed here,
# so govulncheck never goes to the network and gives the same answer on
# every machine until this moves (move it to take newer reports).
VULNDB_VERSION := v0.0.0-20261105234957-e22db6528018
VULNDB := $(CURDIR)/.tools/vulndb-$(VULNDB_VERSION)

# as-root runs a sub-make as root: directly, through sudo, or not at all.
define as-root
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory $(1); \
	elif command -v sudo >/dev/null; then echo "make $(1): needs root, re-running with sudo"; \
		sudo -E env "PATH=$$PATH" $(MAKE) --no-print-directory $(1); \
	else echo "make $(1) needs root (network namespaces, tc, nftables, apt-get): run it as root" >&2; exit 1; fi
endef

.PHONY: all build cross gwctl-cross deps test bench soak lint demo clean vendor fuzz \
	test-root demo-root deps-root bench-root soak-root image-smoke image-smoke-root smoke-fetch vm-kernel

all: build

build:
	@mkdir -p $(BIN)
	$(GOBUILD) -o $(BIN)/ ./cmd/...

# Cross builds with cgo (SQLite) through the Debian cross compilers; gwctl,
# which a technician or head office runs on a laptop, is plain Go for macOS
# and Windows too (its pcap and fleet paths have no Linux-only imports).
GWCTL_PLATFORMS := darwin/arm64 darwin/amd64 windows/amd64
cross: $(BIN)/gatewayd-linux-amd64 $(BIN)/gatewayd-linux-arm64 $(BIN)/gatewayd-linux-armv7 gwctl-cross
gwctl-cross:
	@mkdir -p $(BIN)
	@for p in $(GWCTL_PLATFORMS); do os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		echo "gwctl $$os/$$arch"; CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GOBUILD) -o $(BIN)/gwctl-$$os-$$arch$$ext ./cmd/gwctl || exit 1; done
$(BIN)/gatewayd-linux-amd64: FORCE
	CGO_ENABLED=1 GOOS=linux GOARCH=amd64 CC=gcc $(GOBUILD) -o $@ ./cmd/gatewayd
$(BIN)/gatewayd-linux-arm64: FORCE
	CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc $(GOBUILD) -o $@ ./cmd/gatewayd
$(BIN)/gatewayd-linux-armv7: FORCE
	CGO_ENABLED=1 GOOS=linux GOARCH=arm GOARM=7 CC=arm-linux-gnueabihf-gcc $(GOBUILD) -o $@ ./cmd/gatewayd
FORCE:

deps:
	$(call as-root,deps-root)
deps-root:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing:" $$missing; apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; fi
	@test -x $(TOOLS)/staticcheck || GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@test -x $(TOOLS)/govulncheck || GOBIN=$(TOOLS) $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)
	@test -x $(TOOLS)/indexdb || GOBIN=$(TOOLS) $(GO) install golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION)
	$(GO) mod download
	@test -f $(VULNDB)/index/db.json || { dir=$$(cd / && $(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | \
		sed -n 's/^\t"Dir": "\(.*\)",$$/\1/p') && rm -rf $(VULNDB).new && \
		$(TOOLS)/indexdb -vulns $$dir/data/osv -out $(VULNDB).new && mv $(VULNDB).new $(VULNDB); }

lint:
	@out=$$(gofmt -l cmd gateway netctl telemetry buildroot); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...
	$(TOOLS)/govulncheck -db file://$(VULNDB) ./...

# Every test; CI runs this through .ci/run with CI=true, where a test that
# lacks root or a package fails instead of skipping. The test binaries are
# built in parallel first, then run one package at a time: the lab tests
# measure timing, and two of them at once on 2 cores would skew it.
test:
	$(call as-root,test-root)
test-root: deps-root lint cross smoke-fetch vm-kernel
	$(GO) test -count=1 -run '^$$' ./... >/dev/null
	BRANCHGW_VM_KERNEL=$(VM_KERNEL) $(GO) test -count=1 -p 1 -timeout 25m ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=10s

# Coverage-guided fuzzing of every packet decoder path and of config loading;
# `make test` runs each target briefly, `make fuzz FUZZTIME=10m` runs them long.
FUZZTIME ?= 60s
FUZZ_TARGETS := ./netctl/inspect/wire:FuzzDecode ./netctl/inspect/wire:FuzzParseClientHello \
	./netctl/inspect/wire:FuzzParseHTTPRequest ./netctl/inspect:FuzzInspector ./gateway/config:FuzzLoad
# Minimising a new 128 KiB config input may take the default 60 s, in which
# nothing is fuzzed: a few seconds keep the run fuzzing.
fuzz:
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; echo "fuzz $$fn ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 3s $$pkg || exit 1; done

bench:
	$(call as-root,bench-root)
bench-root: deps-root cross build vm-kernel
	@ls -l $(BIN)/gatewayd-linux-* | awk '{printf "binary %-24s %6.1f MiB\n", $$9, $$5/1048576}' | sed 's|$(BIN)/||'
	$(GO) test -run '^$$' -bench . -benchtime 5x ./cmd/gatewayd
	$(GO) test -run '^$$' -bench Append -benchtime 2s ./telemetry/store
	$(GO) test -run '^$$' -bench Replay -benchtime 200000x ./telemetry/uplink
	$(GO) test -run '^$$' -bench SlowLine -benchtime 1x ./telemetry/uplink
	$(GO) test -run '^$$' -bench . -benchtime 2s ./netctl/inspect/...
	$(GO) test -run '^$$' -bench . ./netctl/zones/
	BRANCHGW_LOAD_SECONDS=60 $(GO) test -run '^$$' -bench 'Load|PageWeight' -benchtime 1x ./gateway/web
	$(GO) test -run '^$$' -bench 'StatusBuild|StatusAPI|SSEFanout' -benchtime 2s ./gateway/web
	$(BIN)/gwlab bench failover -n 20
	$(BIN)/gwlab bench qos -vm on -kernel $(VM_KERNEL)

soak:
	$(call as-root,soak-root)
soak-root: deps-root build
	$(BIN)/gwlab scenario -gatewayd $(BIN)/gatewayd -json $(BIN)/soak-verdict.json -artifacts $(BIN)/soak

demo:
	$(call as-root,demo-root)
demo-root: deps-root build
	$(BIN)/gwlab demo -gatewayd $(BIN)/gatewayd

# The arm64 image smoke test (buildroot/smoke): Debian's arm64 kernel and
# busybox come from apt into a cache here, never at test time; the test boots
# bin/gatewayd-linux-arm64 under qemu-system-aarch64 and asks /healthz.
SMOKE_CACHE := $(CURDIR)/.tools/image-smoke
smoke-fetch:
	bash netctl/netlab/vm/fetch-kernel.sh arm64 $(SMOKE_CACHE)
image-smoke:
	$(call as-root,image-smoke-root)
image-smoke-root: deps-root cross smoke-fetch
	BRANCHGW_SMOKE_CACHE=$(SMOKE_CACHE) $(GO) test -count=1 -v -run '^TestImageSmoke$$' ./buildroot/smoke

# `gwlab vm` and `gwlab bench qos` boot Debian's amd64 kernel (it has
# fq_codel, cake and netem, which the lab's host kernel may lack): fetched
# from apt into a cache here, never at test time.
VM_KERNEL := $(CURDIR)/.tools/vm-kernel
vm-kernel:
	bash netctl/netlab/vm/fetch-kernel.sh amd64 $(VM_KERNEL)

# Buildroot builds Go offline with -mod=vendor: this prepares that tree.
vendor:
	$(GO) mod vendor

clean:
	rm -rf $(BIN) vendor
