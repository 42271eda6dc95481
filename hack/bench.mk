# make bench: restart-workloads against the baselines of issue 4 (the upstream
# shell loop, kubectl rollout restart per namespace, an unthrottled client-go
# loop), measured in one run on a local control plane that the benchmark starts
# and stops itself. Not part of make test. About 10 minutes on 2 cores.
# BENCH_FLAGS passes flags through, e.g. BENCH_FLAGS="-namespaces 50 -repeat 1".
BENCH_FLAGS ?=

# The benchmarks measure the plugin as it ships: built with the flags of
# .goreleaser.yaml (static, -trimpath, symbols and DWARF stripped), not the
# developer build of "make build". Keep the two in step.
BENCH_PLUGIN := $(CURDIR)/_output/bench/kubectl-carotate

.PHONY: bench bench-plugin
bench-plugin:
	mkdir -p $(dir $(BENCH_PLUGIN))
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $(BENCH_PLUGIN) ./cmd/kubectl-carotate

bench: tools build bench-plugin bench-verify bench-copies ## benchmark restart-workloads, verify and the copies pass; results in _output/bench/ (see docs/benchmarks.md)
	go build -o $(BIN)/carotate-bench ./hack/bench
	$(BIN)/carotate-bench -plugin $(BENCH_PLUGIN) $(BENCH_FLAGS)
