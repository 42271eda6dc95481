# kubectl-carotate. Two commands on a fresh machine (Go, git, apt):
#   make demo   the plugin on a local control plane it builds and starts
#   make test   unit tests, then e2e tests against that control plane
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c

BIN      := $(CURDIR)/_output/bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
E2E_TIMEOUT ?= 45m
export CAROTATE_BIN_DIR := $(BIN)

.PHONY: all build tools cluster-up cluster-down playground shellcheck demo test unit lint e2e reap bench clean bench-scale

all: build

build: ## the plugin binary, _output/bin/kubectl-carotate
	go build -ldflags "$(LDFLAGS)" -o $(BIN)/kubectl-carotate ./cmd/kubectl-carotate
	install -m 0755 kubectl_complete-carotate $(BIN)/  # kubectl's plugin completion finds it on PATH

tools: ## the control-plane binaries from the pinned modules in hack/tools
	bash hack/build-tools.sh

$(BIN)/cluster: $(shell find hack/cluster test/localcluster -name '*.go') go.mod go.sum
	go build -o $@ ./hack/cluster

_output/bin/cluster: $(BIN)/cluster

cluster-up: tools build $(BIN)/cluster ## start the local cluster in the background (reuses a running one); KUBEADM=1: with the kubeadm node
	$(BIN)/cluster up $(if $(filter 1 true yes,$(KUBEADM)),--kubeadm)

playground: tools build $(BIN)/cluster ## a root shell on the kubeadm node, started if not running (exit leaves it running)
	$(BIN)/cluster up --kubeadm
	$(BIN)/cluster shell

cluster-down: $(BIN)/cluster ## stop exactly what cluster-up started and delete its state
	$(BIN)/cluster down

demo: tools build $(BIN)/cluster ## a whole CA rotation on a local cluster, narrated; KUBEADM=1: on the kubeadm node, through the printed scripts
	bash hack/demo.sh $(if $(filter 1 true yes,$(KUBEADM)),--kubeadm)

lint: $(BIN)/shellcheck ## formatting, vet, a tidy go.mod, and ShellCheck over the repo's own scripts
	$(BIN)/shellcheck hack/*.sh .ci/run
	@test -z "$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go'))" || { gofmt -l $$(git ls-files -co --exclude-standard '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	go vet ./...
	go vet -tags e2e ./test/...
	go mod tidy -diff
	cd hack/tools && go mod tidy -diff

FUZZTIME ?= 10s
# Under make, the tests that lint printed scripts fail without ShellCheck
# instead of skipping.
unit: $(BIN)/shellcheck ## unit tests (no cluster; printed scripts linted with ShellCheck), and a short fuzz run of the PEM parser (longer: make unit FUZZTIME=10m)
	CAROTATE_REQUIRE_SHELLCHECK=1 go test -count=1 ./...
	go test -run='^$$' -fuzz=FuzzParseCertificates -fuzztime=$(FUZZTIME) ./pkg/checks/

e2e: tools build $(BIN)/cluster $(BIN)/shellcheck ## e2e tests against a local control plane; always reaps what they started
	mkdir -p _output; status=0; CAROTATE_REQUIRE_SHELLCHECK=1 go test -count=1 -tags e2e -timeout $(E2E_TIMEOUT) -v ./test/e2e/... 2>&1 | tee _output/e2e.log || status=$$?; \
	$(BIN)/cluster reap; \
	if [ $$status -ne 0 ]; then echo "== e2e failures (full log: _output/e2e.log)"; grep -E '^(--- FAIL|FAIL|panic:)|^\s+--- FAIL' _output/e2e.log | head -40 || true; \
	  echo "== what each failed test printed at file:line (the last lines each)"; bash hack/e2e-failures.sh _output/e2e.log | head -60 || true; fi; \
	exit $$status

reap: $(BIN)/cluster ## stop any process a test run left behind (by recorded pid)
	$(BIN)/cluster reap

# Tools Debian ships, unpacked into _output (apt-get download + dpkg -x),
# never installed into the machine.
SHELLCHECK_VERSION := 0.9.0-1
shellcheck: $(BIN)/shellcheck ## ShellCheck 0.9.0 from Debian's package into _output/bin (not installed)

$(BIN)/shellcheck: hack/debian-tool.sh
	bash hack/debian-tool.sh shellcheck $(SHELLCHECK_VERSION) usr/bin/shellcheck

test: lint unit e2e release-check ## everything CI runs

include hack/release.mk
include hack/bench.mk
include hack/bench-verify.mk
include hack/bench-copies.mk
include hack/bench-scale.mk

clean: cluster-down
	rm -rf _output dist
